package file_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eventexport/eventexport/events"
	"github.com/eventexport/eventexport/export/file"
)

// A JSON Lines file has each event's payload on a line of its own, as the database returns it.
func ExampleNewEncoder_jsonl() {
	enc, err := file.NewEncoder(file.FormatJSONL, events.CourseComplete, os.Stdout)
	if err != nil {
		panic(err)
	}
	for _, p := range []string{
		`{"id": "32ed16df-27cb-5f72-90ff-4eaf39346f86", "title": "New Student Orientation", "userDetail": {"firstName": "Bob"}}`,
		`{"id": "5d1c8a51-8f6e-4a53-9f41-2f0a0c8f2b7e", "title": "Fire Safety, \"Level 2\"\n", "user": "zoë@example.com"}`,
	} {
		if err := enc.Encode([]byte(p)); err != nil {
			panic(err)
		}
	}
	if err := enc.Close(); err != nil {
		panic(err)
	}
	// Output:
	// {"id": "32ed16df-27cb-5f72-90ff-4eaf39346f86", "title": "New Student Orientation", "userDetail": {"firstName": "Bob"}}
	// {"id": "5d1c8a51-8f6e-4a53-9f41-2f0a0c8f2b7e", "title": "Fire Safety, \"Level 2\"\n", "user": "zoë@example.com"}
}

func encodeFormat(t testing.TB, f file.Format, typ events.Type, payloads ...[]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc, err := file.NewEncoder(f, typ, &buf)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range payloads {
		if err := enc.Encode(p); err != nil {
			t.Fatalf("Encode(%q): %v", p, err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestJSONLIsThePayloadsALine checks the exact bytes, and that a JSON Lines reader, a line at a
// time, gets the payloads back.
func TestJSONLIsThePayloadsALine(t *testing.T) {
	t.Parallel()
	many := make([][]byte, 1000)
	for i := range many {
		many[i] = realisticPayload(i)
	}
	for _, tt := range []struct {
		name     string
		payloads [][]byte
	}{
		{"empty", nil},
		{"one", [][]byte{seedPayload}},
		{"many", many},
		{"escapes and unicode", [][]byte{
			[]byte(`{"title": "Ødegård — 日本語 \u2028 \u00e9", "esc": "tab\there \"q\" \\ \/ \ud83d\ude00 line\nbreak\r\n", "raw": "  \t "}`),
			[]byte(`{"nested": {"a": [1, {"b": null}], "c": {}}, "n": -1.50e+21}`),
		}},
		{"not objects", [][]byte{[]byte(`[1, 2]`), []byte(`null`), []byte(`"x"`), []byte(`42`)}},
		{"spaces kept", [][]byte{[]byte(`  {"a" :  1 }  `), []byte("\t{}\t")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out := encodeFormat(t, file.FormatJSONL, events.CourseComplete, tt.payloads...)
			var want []byte
			for _, p := range tt.payloads {
				want = append(want, p...)
				want = append(want, '\n')
			}
			if !bytes.Equal(out, want) {
				t.Fatalf("file = %.300q\nwant   %.300q", out, want)
			}
			sc := bufio.NewScanner(bytes.NewReader(out))
			sc.Buffer(nil, 1<<20)
			n := 0
			for sc.Scan() {
				if n >= len(tt.payloads) {
					t.Fatalf("more than %d lines", len(tt.payloads))
				}
				var got, want any
				if err := json.Unmarshal(sc.Bytes(), &got); err != nil {
					t.Fatalf("line %d: %v", n+1, err)
				}
				if err := json.Unmarshal(tt.payloads[n], &want); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("line %d = %v, want %v", n+1, got, want)
				}
				n++
			}
			if err := sc.Err(); err != nil {
				t.Fatal(err)
			}
			if n != len(tt.payloads) {
				t.Fatalf("%d lines, want %d", n, len(tt.payloads))
			}
		})
	}
}

func TestJSONLEmptyDayIsAnEmptyFile(t *testing.T) {
	t.Parallel()
	if out := encodeFormat(t, file.FormatJSONL, events.CourseComplete); len(out) != 0 {
		t.Errorf("empty file = %q, want no bytes", out)
	}
}

// TestJSONLRejects checks that a payload that is empty or would span several lines is refused,
// and that the encoder goes on afterwards.
func TestJSONLRejects(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	enc, err := file.NewEncoder(file.FormatJSONL, events.CourseComplete, &buf)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ payload, want string }{
		{"", "empty payload"},
		{"{\"a\":\n1}", "several lines"},
		{"{\"a\": 1}\n", "several lines"},
		{"{\"a\": 1}\r\n", "several lines"},
		{"{\"a\":\r1}", "several lines"},
	} {
		err := enc.Encode([]byte(tt.payload))
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "encode jsonl: ") {
			t.Errorf("Encode(%q) error = %v, want %q", tt.payload, err, tt.want)
		}
	}
	if err := enc.Encode([]byte(`{"a": 1}`)); err != nil {
		t.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); got != "{\"a\": 1}\n" {
		t.Errorf("file = %q, want only the accepted payload", got)
	}
}

// TestNewFormatsRegistered checks the two formats' names, extensions and media types, and that
// listings and error messages include them.
func TestNewFormatsRegistered(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in         string
		want       file.Format
		ext, ctype string
	}{
		{"jsonl", file.FormatJSONL, ".jsonl", "application/x-ndjson"},
		{"json-flat", file.FormatJSONFlat, ".json", "application/json"},
	} {
		got, err := file.ParseFormat(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseFormat(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
		if got.Ext() != tt.ext || got.ContentType() != tt.ctype {
			t.Errorf("%q: Ext %q, ContentType %q; want %q, %q", got, got.Ext(), got.ContentType(), tt.ext, tt.ctype)
		}
		now := time.Date(2026, 3, 9, 7, 0, 0, 0, time.UTC)
		if name := file.Name(events.CourseComplete, got, now, now); !strings.HasSuffix(name, tt.ext) || strings.Count(name, ".") != 1 {
			t.Errorf("%q: Name = %q, want it to end with %q", got, name, tt.ext)
		}
	}
	if got, want := file.Formats(), []file.Format{"json", "csv", "jsonl", "json-flat"}; !slices.Equal(got, want) {
		t.Errorf("Formats() = %q, want %q", got, want)
	}
	for _, in := range []string{"JSONL", "ndjson", "json_flat", "jsonflat", "flat"} {
		_, err := file.ParseFormat(in)
		if want := `want json, csv, jsonl or json-flat`; !errors.Is(err, file.ErrUnknownFormat) || !strings.HasSuffix(err.Error(), want) {
			t.Errorf("ParseFormat(%q) error = %v, want ErrUnknownFormat, ending %q", in, err, want)
		}
	}
}

// TestNewFormatsLifecycle checks, for jsonl and json-flat, what TestEncoderLifecycle does for
// the others: Close flushes without closing the writer, small files are written at Close, and
// the encoder refuses to be used after Close.
func TestNewFormatsLifecycle(t *testing.T) {
	t.Parallel()
	for _, f := range []file.Format{file.FormatJSONL, file.FormatJSONFlat} {
		t.Run(string(f), func(t *testing.T) {
			t.Parallel()
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
			n := w.Len()
			if err := enc.Encode(seedPayload); err == nil || err.Error() != "encoder is closed" {
				t.Errorf("Encode after Close: %v, want encoder is closed", err)
			}
			if err := enc.Close(); err == nil || err.Error() != "encoder is closed" {
				t.Errorf("second Close: %v, want encoder is closed", err)
			}
			if w.Len() != n {
				t.Errorf("%d bytes written after Close", w.Len()-n)
			}
		})
	}
}

// TestNewFormatsWriteErrors checks that a failing writer fails the encoder, at an Encode once the
// buffer fills and at Close.
func TestNewFormatsWriteErrors(t *testing.T) {
	t.Parallel()
	errBroken := errors.New("broken pipe")
	for _, f := range []file.Format{file.FormatJSONL, file.FormatJSONFlat} {
		t.Run(string(f), func(t *testing.T) {
			t.Parallel()
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

// TestNewFormatsWriteInLargeChunks checks that the writer downstream receives large writes.
func TestNewFormatsWriteInLargeChunks(t *testing.T) {
	t.Parallel()
	for _, f := range []file.Format{file.FormatJSONL, file.FormatJSONFlat} {
		t.Run(string(f), func(t *testing.T) {
			t.Parallel()
			var w writeCounter
			enc, err := file.NewEncoder(f, events.CourseComplete, &w)
			if err != nil {
				t.Fatal(err)
			}
			const n = 2000
			for i := range n {
				if err := enc.Encode(realisticPayload(i)); err != nil {
					t.Fatal(err)
				}
			}
			if err := enc.Close(); err != nil {
				t.Fatal(err)
			}
			if w.writes == 0 || w.bytes/w.writes < 32<<10 {
				t.Errorf("%d events: %d bytes in %d writes, want writes of 32 KiB or more", n, w.bytes, w.writes)
			}
		})
	}
}

// BenchmarkEncodeJSONL writes realistic courseComplete events, about 680 bytes each, a line each.
//
//	go test ./export/file -run '^$' -bench Encode
func BenchmarkEncodeJSONL(b *testing.B) {
	benchmarkEncode(b, file.FormatJSONL)
}
