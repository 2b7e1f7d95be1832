package file_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"reflect"
	"testing"

	"github.com/eventexport/eventexport/events"
	"github.com/eventexport/eventexport/events/eventstest"
	"github.com/eventexport/eventexport/export/file"
)

// seedPayload is the sample courseComplete event of the product's documentation.
var seedPayload = []byte(`{"id": "32ed16df-27cb-5f72-90ff-4eaf39346f86", "source": "course_completed", "timestamp": "2019-10-17T20:50:53.103Z", "type": "status_change", "user": "bob.johnson@example.com", "companyId": "3aabdfb8-3891-5011-ad35-8e2351c5fdaf", "event": "courseCompletion", "notifiableId": "7670fdbe-15ed-504b-a680-d404fa4b0eb4", "title": "New Student Orientation", "userDetail": {"id": "61149b2c-3f37-5032-be63-f5d984de10b6", "firstName": "Bob", "lastName": "Johnson", "externalCustomerId": "111222333444", "sfContactId": null, "sfAccountId": null, "client": "00f928f4-8718-5043-9164-32398b165c60", "ref1": "111222333444", "ref2": "Department", "ref3": "..."}}`)

func realisticPayload(i int) []byte {
	return eventstest.CourseCompletePayload(i, fmt.Sprintf("32ed16df-27cb-5f72-90ff-%012d", i), "3aabdfb8-3891-5011-ad35-8e2351c5fdaf")
}

// A JSON file is one array of the events' payloads, written through as the database returns them.
func ExampleNewEncoder_json() {
	enc, err := file.NewEncoder(file.FormatJSON, events.CourseComplete, os.Stdout)
	if err != nil {
		panic(err)
	}
	for _, p := range [][]byte{seedPayload, []byte(`{"id": "5d1c8a51-8f6e-4a53-9f41-2f0a0c8f2b7e", "title": "Fire Safety"}`)} {
		if err := enc.Encode(p); err != nil {
			panic(err)
		}
	}
	if err := enc.Close(); err != nil {
		panic(err)
	}
	// Output:
	// [{"id": "32ed16df-27cb-5f72-90ff-4eaf39346f86", "source": "course_completed", "timestamp": "2019-10-17T20:50:53.103Z", "type": "status_change", "user": "bob.johnson@example.com", "companyId": "3aabdfb8-3891-5011-ad35-8e2351c5fdaf", "event": "courseCompletion", "notifiableId": "7670fdbe-15ed-504b-a680-d404fa4b0eb4", "title": "New Student Orientation", "userDetail": {"id": "61149b2c-3f37-5032-be63-f5d984de10b6", "firstName": "Bob", "lastName": "Johnson", "externalCustomerId": "111222333444", "sfContactId": null, "sfAccountId": null, "client": "00f928f4-8718-5043-9164-32398b165c60", "ref1": "111222333444", "ref2": "Department", "ref3": "..."}},{"id": "5d1c8a51-8f6e-4a53-9f41-2f0a0c8f2b7e", "title": "Fire Safety"}]
}

func encodeJSON(t *testing.T, payloads ...[]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc, err := file.NewEncoder(file.FormatJSON, events.CourseComplete, &buf)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range payloads {
		if err := enc.Encode(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestJSONIsAnArrayOfThePayloads(t *testing.T) {
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
		{"scalars and unicode", [][]byte{[]byte(`{"title": "Ødegård — 日本語 \u2028"}`), []byte(`[1, 2]`), []byte(`null`), []byte(`"x"`)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := encodeJSON(t, tt.payloads...)
			if !json.Valid(out) {
				t.Fatalf("output is not valid JSON: %.200q", out)
			}
			var got []any
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatal(err)
			}
			if got == nil || len(got) != len(tt.payloads) {
				t.Fatalf("array of %d elements (nil %v), want %d", len(got), got == nil, len(tt.payloads))
			}
			for i, p := range tt.payloads {
				var want any
				if err := json.Unmarshal(p, &want); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got[i], want) {
					t.Fatalf("element %d = %v, want %v", i, got[i], want)
				}
			}
		})
	}
	if out := encodeJSON(t); string(out) != "[]\n" {
		t.Errorf("empty file = %q, want %q", out, "[]\n")
	}
	if out := encodeJSON(t, []byte(`{"a": 1}`), []byte(`{"b": 2}`)); string(out) != "[{\"a\": 1},{\"b\": 2}]\n" {
		t.Errorf("payloads are not written through as they are: %q", out)
	}
}

func TestJSONRejectsEmptyPayload(t *testing.T) {
	t.Parallel()
	enc, _ := file.NewEncoder(file.FormatJSON, events.CourseComplete, io.Discard)
	if err := enc.Encode(nil); err == nil {
		t.Errorf("Encode(nil) succeeded, want an error")
	}
}

// TestEncodersWriteInLargeChunks checks that the writer downstream, a pipe into an upload,
// receives large writes rather than one per event.
func TestEncodersWriteInLargeChunks(t *testing.T) {
	t.Parallel()
	for _, f := range []file.Format{file.FormatJSON, file.FormatCSV} {
		t.Run(string(f), func(t *testing.T) {
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

type writeCounter struct{ writes, bytes int }

func (w *writeCounter) Write(p []byte) (int, error) {
	w.writes++
	w.bytes += len(p)
	return len(p), nil
}

// BenchmarkEncodeJSON encodes realistic courseComplete events, about 680 bytes each.
//
//	go test ./export -run '^$' -bench Encode
func BenchmarkEncodeJSON(b *testing.B) {
	benchmarkEncode(b, file.FormatJSON)
}

func benchmarkEncode(b *testing.B, f file.Format) {
	payloads := make([][]byte, 1024)
	var size int64
	for i := range payloads {
		payloads[i] = realisticPayload(i)
		size += int64(len(payloads[i]))
	}
	enc, err := file.NewEncoder(f, events.CourseComplete, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size / int64(len(payloads)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := enc.Encode(payloads[i%len(payloads)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	if err := enc.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
