package file_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/eventexport/eventexport/events"
	"github.com/eventexport/eventexport/export/file"
)

func TestParseFormat(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want file.Format
		ext  string
	}{
		{"json", file.FormatJSON, ".json"},
		{"csv", file.FormatCSV, ".csv"},
	} {
		got, err := file.ParseFormat(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseFormat(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
		if got.Ext() != tt.ext {
			t.Errorf("%q.Ext() = %q, want %q", got, got.Ext(), tt.ext)
		}
	}
	for _, in := range []string{"xml", "", "JSON", " csv", "json,csv"} {
		_, err := file.ParseFormat(in)
		if !errors.Is(err, file.ErrUnknownFormat) {
			t.Errorf("ParseFormat(%q) error = %v, want ErrUnknownFormat", in, err)
		}
	}
	_, err := file.ParseFormat("xml")
	if want := `unknown format "xml": want json, csv, jsonl or json-flat`; err == nil || err.Error() != want {
		t.Errorf("ParseFormat(xml) error = %v, want %q", err, want)
	}
}

func TestNewEncoderUnknownFormat(t *testing.T) {
	t.Parallel()
	if _, err := file.NewEncoder("xml", events.CourseComplete, &bytes.Buffer{}); !errors.Is(err, file.ErrUnknownFormat) {
		t.Errorf("NewEncoder(xml) error = %v, want ErrUnknownFormat", err)
	}
}

// TestEncoderLifecycle checks, for both formats, that Close flushes and does not close the
// writer, that nothing is written before Close for small files, and that an encoder refuses
// to be used after Close.
func TestEncoderLifecycle(t *testing.T) {
	t.Parallel()
	for _, f := range []file.Format{file.FormatJSON, file.FormatCSV} {
		t.Run(string(f), func(t *testing.T) {
			var w closeRecorder
			enc, err := file.NewEncoder(f, events.CourseComplete, &w)
			if err != nil {
				t.Fatal(err)
			}
			if err := enc.Encode(seedPayload); err != nil {
				t.Fatal(err)
			}
			if w.Len() != 0 {
				t.Errorf("%d bytes written before Close, want them buffered", w.Len())
			}
			if err := enc.Close(); err != nil {
				t.Fatal(err)
			}
			if w.Len() == 0 || w.closed {
				t.Errorf("after Close: %d bytes written, writer closed %v; want the file flushed and the writer open", w.Len(), w.closed)
			}
			if err := enc.Encode(seedPayload); err == nil {
				t.Errorf("Encode after Close succeeded, want an error")
			}
			if err := enc.Close(); err == nil {
				t.Errorf("second Close succeeded, want an error")
			}
		})
	}
}

// TestEncoderWriteErrors checks that a failing writer fails the encoder, at an Encode once the
// buffer fills or at Close.
func TestEncoderWriteErrors(t *testing.T) {
	t.Parallel()
	errBroken := errors.New("broken pipe")
	for _, f := range []file.Format{file.FormatJSON, file.FormatCSV} {
		t.Run(string(f), func(t *testing.T) {
			enc, err := file.NewEncoder(f, events.CourseComplete, failingWriter{errBroken})
			if err != nil {
				t.Fatal(err)
			}
			var encErr error
			for i := 0; i < 1000 && encErr == nil; i++ {
				encErr = enc.Encode(realisticPayload(i))
			}
			if !errors.Is(encErr, errBroken) {
				t.Errorf("Encode error = %v, want the writer's", encErr)
			}
			if err := enc.Close(); !errors.Is(err, errBroken) {
				t.Errorf("Close error = %v, want the writer's", err)
			}
		})
	}
}

type closeRecorder struct {
	bytes.Buffer
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

type failingWriter struct{ err error }

func (f failingWriter) Write([]byte) (int, error) { return 0, f.err }
