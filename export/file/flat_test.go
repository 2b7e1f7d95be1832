package file_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/eventexport/eventexport/events"
	"github.com/eventexport/eventexport/export/file"
)

// A flat JSON file is an array of one object per event, keyed by the CSV columns in their
// order: nested fields come up under dotted names, and what an event lacks is null.
func ExampleNewEncoder_jsonFlat() {
	typ := events.Type{Name: "example", FilePrefix: "example", Columns: []string{
		"id", "title", "score", "userDetail.firstName", "userDetail.ref1", "userDetail.ref2", "missing",
	}}
	enc, err := file.NewEncoder(file.FormatJSONFlat, typ, os.Stdout)
	if err != nil {
		panic(err)
	}
	for _, p := range []string{
		`{"id": "32ed16df", "title": "New Student Orientation", "score": 9.50, "userDetail": {"firstName": "Bob", "ref1": "111222333444", "ref2": null}}`,
		`{"title": "Fire Safety, \"Level 2\" \u2014 zoë", "userDetail": {"ref1": {"team": "B"}, "ref2": [1, 2]}, "extra": true}`,
	} {
		if err := enc.Encode([]byte(p)); err != nil {
			panic(err)
		}
	}
	if err := enc.Close(); err != nil {
		panic(err)
	}
	// Output:
	// [{"id":"32ed16df","title":"New Student Orientation","score":9.50,"userDetail.firstName":"Bob","userDetail.ref1":"111222333444","userDetail.ref2":null,"missing":null},{"id":null,"title":"Fire Safety, \"Level 2\" \u2014 zoë","score":null,"userDetail.firstName":null,"userDetail.ref1":{"team": "B"},"userDetail.ref2":[1, 2],"missing":null}]
}

// cellsType has a column for each kind of value, nested ones, overlapping ones (nested and
// nested.str), and names that JSON must escape.
var cellsType = events.Type{Name: "test", FilePrefix: "test", Columns: []string{
	"str", "int", "float", "exp", "yes", "no", "null", "missing", "empty", "obj", "arr", "emptyObj",
	"nested.str", "nested.deep.x", "nested.missing", "nested.obj", "scalar.x", "nullObj.x", "esc", "uni", "nested",
	`quo"te`, `back\slash`, "<html>&", "日本", "tab\tkey",
}}

const cellsPayload = `{"str": "plain", "int": 42, "float": -1.50, "exp": 1e+21, "yes": true, "no": false,
	"null": null, "empty": "", "obj": {"a": 1, "b": [1, {"c": null}], "d": "x y"}, "arr": [1, "two", null],
	"emptyObj": {}, "nested": {"str": "inner", "deep": {"x": 7}, "obj": {"k": "v"}, "ignored": 1},
	"scalar": "not an object", "nullObj": null, "esc": "tab\there \u00e9 \"q\" \\ \/ \ud83d\ude00 \u0000 \n",
	"uni": "Ødegård — 日本語 ` + "\u2028" + `", "extra": "not a column", "quo\"te": 1, "back\\slash": 2,
	"<html>&": 3, "\u65e5\u672c": 4, "tab\tkey": 5}`

// TestFlatValues checks the exact bytes of an object: keys in column order, escaped as JSON
// needs and no more, each value as the payload spells it, null for what is missing.
func TestFlatValues(t *testing.T) {
	t.Parallel()
	out := encodeFormat(t, file.FormatJSONFlat, cellsType, []byte(cellsPayload))
	want := `[{"str":"plain","int":42,"float":-1.50,"exp":1e+21,"yes":true,"no":false,"null":null,` +
		`"missing":null,"empty":"","obj":{"a": 1, "b": [1, {"c": null}], "d": "x y"},"arr":[1, "two", null],` +
		`"emptyObj":{},"nested.str":"inner","nested.deep.x":7,"nested.missing":null,"nested.obj":{"k": "v"},` +
		`"scalar.x":null,"nullObj.x":null,"esc":"tab\there \u00e9 \"q\" \\ \/ \ud83d\ude00 \u0000 \n",` +
		`"uni":"Ødegård — 日本語 ` + "\u2028" + `",` +
		`"nested":{"str": "inner", "deep": {"x": 7}, "obj": {"k": "v"}, "ignored": 1},` +
		`"quo\"te":1,"back\\slash":2,"<html>&":3,"日本":4,"tab\tkey":5}]` + "\n"
	if string(out) != want {
		t.Fatalf("file =\n%s\nwant\n%s", out, want)
	}
	objs := parseFlat(t, out, cellsType.Columns)
	checkFlat(t, objs[0], []byte(cellsPayload), cellsType.Columns)
	if got := objs[0]["esc"]; got != "tab\there é \"q\" \\ / 😀 \x00 \n" {
		t.Errorf("esc = %q", got)
	}
}

// TestFlatOfRealisticPayloads checks many events against what encoding/json finds at each path.
func TestFlatOfRealisticPayloads(t *testing.T) {
	t.Parallel()
	payloads := [][]byte{seedPayload}
	for i := range 500 {
		payloads = append(payloads, realisticPayload(i))
	}
	payloads = append(payloads, []byte(`{"id": "only an id", "userDetail": "not an object"}`), []byte(`{}`))
	out := encodeFormat(t, file.FormatJSONFlat, events.CourseComplete, payloads...)
	objs := parseFlat(t, out, events.CourseComplete.Columns)
	if len(objs) != len(payloads) {
		t.Fatalf("%d objects, want %d", len(objs), len(payloads))
	}
	for i, p := range payloads {
		checkFlat(t, objs[i], p, events.CourseComplete.Columns)
	}
	if last := objs[len(objs)-1]; len(last) != len(events.CourseComplete.Columns) || slices.ContainsFunc(slices.Collect(mapValues(last)), func(v any) bool { return v != nil }) {
		t.Errorf("object of {} = %v, want every column, null", last)
	}
}

func mapValues(m map[string]any) func(func(any) bool) {
	return func(yield func(any) bool) {
		for _, v := range m {
			if !yield(v) {
				return
			}
		}
	}
}

func TestFlatFraming(t *testing.T) {
	t.Parallel()
	typ := events.Type{Name: "t", FilePrefix: "t", Columns: []string{"a", "b.c"}}
	for _, tt := range []struct {
		payloads []string
		want     string
	}{
		{nil, "[]\n"},
		{[]string{`{"a": 1}`}, `[{"a":1,"b.c":null}]` + "\n"},
		{[]string{`{"a": 1}`, ` {"b": {"c": "x"}} `, "\t{}\n"}, `[{"a":1,"b.c":null},{"a":null,"b.c":"x"},{"a":null,"b.c":null}]` + "\n"},
	} {
		var ps [][]byte
		for _, p := range tt.payloads {
			ps = append(ps, []byte(p))
		}
		if out := encodeFormat(t, file.FormatJSONFlat, typ, ps...); string(out) != tt.want {
			t.Errorf("%q: file = %q, want %q", tt.payloads, out, tt.want)
		}
	}
	noColumns := events.Type{Name: "t", FilePrefix: "t"}
	if out := encodeFormat(t, file.FormatJSONFlat, noColumns, []byte(`{"a": 1}`), []byte(`{}`)); string(out) != "[{},{}]\n" {
		t.Errorf("type without columns: file = %q, want %q", out, "[{},{}]\n")
	}
}

// TestFlatRepeatedKeys checks that a repeated key counts as its last occurrence, nested columns
// included, as for jsonb and encoding/json.
func TestFlatRepeatedKeys(t *testing.T) {
	t.Parallel()
	typ := events.Type{Name: "t", FilePrefix: "t", Columns: []string{"a", "a.x", "a.y", "b"}}
	for _, tt := range []struct{ payload, want string }{
		{`{"b": 1, "b": 2}`, `{"a":null,"a.x":null,"a.y":null,"b":2}`},
		{`{"a": {"x": 1, "y": 2}, "a": 3}`, `{"a":3,"a.x":null,"a.y":null,"b":null}`},
		{`{"a": {"x": 1}, "a": {"y": 2}}`, `{"a":{"y": 2},"a.x":null,"a.y":2,"b":null}`},
		{`{"a": 3, "a": {"x": 1}}`, `{"a":{"x": 1},"a.x":1,"a.y":null,"b":null}`},
		{`{"a": {"x": 1, "x": 2}}`, `{"a":{"x": 1, "x": 2},"a.x":2,"a.y":null,"b":null}`},
	} {
		out := encodeFormat(t, file.FormatJSONFlat, typ, []byte(tt.payload))
		if want := "[" + tt.want + "]\n"; string(out) != want {
			t.Errorf("%s: file = %s, want %s", tt.payload, out, want)
		}
		checkFlat(t, parseFlat(t, out, typ.Columns)[0], []byte(tt.payload), typ.Columns)
	}
}

// TestFlatRejects checks that a payload that is empty or not a JSON object is refused, and that
// the encoder goes on afterwards.
func TestFlatRejects(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	enc, err := file.NewEncoder(file.FormatJSONFlat, events.CourseComplete, &buf)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ payload, want string }{
		{"", "encode json-flat: empty payload"},
		{"  ", "encode json-flat: payload is not a JSON object"},
		{`[{"id": 1}]`, "encode json-flat: payload is not a JSON object"},
		{`"x"`, "encode json-flat: payload is not a JSON object"},
		{`null`, "encode json-flat: payload is not a JSON object"},
		{`42`, "encode json-flat: payload is not a JSON object"},
		{`true`, "encode json-flat: payload is not a JSON object"},
	} {
		if err := enc.Encode([]byte(tt.payload)); err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("Encode(%q) error = %v, want %q", tt.payload, err, tt.want)
		}
	}
	if err := enc.Encode([]byte(`{"id": 1}`)); err != nil {
		t.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	if objs := parseFlat(t, buf.Bytes(), events.CourseComplete.Columns); len(objs) != 1 || objs[0]["id"] != json.Number("1") {
		t.Errorf("file = %s, want the accepted payload only", buf.Bytes())
	}
}

// parseFlat parses a json-flat file with encoding/json, checking that it is an array of objects
// whose keys are exactly columns, in order.
func parseFlat(t testing.TB, out []byte, columns []string) []map[string]any {
	t.Helper()
	if !json.Valid(out) {
		t.Fatalf("file is not valid JSON: %.300q", out)
	}
	if !bytes.HasPrefix(out, []byte("[")) || !bytes.HasSuffix(out, []byte("]\n")) {
		t.Fatalf("file %.300q: want [ … ] and a newline", out)
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		t.Fatalf("file starts with %v, %v; want [", tok, err)
	}
	var objs []map[string]any
	for dec.More() {
		if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
			t.Fatalf("element %d starts with %v, %v; want {", len(objs), tok, err)
		}
		obj := make(map[string]any)
		var keys []string
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				t.Fatal(err)
			}
			key := tok.(string)
			var v any
			if err := dec.Decode(&v); err != nil {
				t.Fatal(err)
			}
			keys = append(keys, key)
			obj[key] = v
		}
		if _, err := dec.Token(); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(keys, columns) {
			t.Fatalf("element %d has keys %q, want the columns %q", len(objs), keys, columns)
		}
		objs = append(objs, obj)
	}
	return objs
}

// checkFlat checks that obj holds, at each column, what encoding/json finds at its path in the
// payload, nil for nothing.
func checkFlat(t testing.TB, obj map[string]any, payload []byte, columns []string) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	for _, col := range columns {
		want := doc
		for key := range strings.SplitSeq(col, ".") {
			m, ok := want.(map[string]any)
			if !ok {
				want = nil
				break
			}
			want = m[key]
		}
		if got := obj[col]; !reflect.DeepEqual(got, want) {
			t.Fatalf("payload %.200q: %q = %#v, want %#v", payload, col, got, want)
		}
	}
}

// FuzzFlat checks that any JSON object yields valid JSON, an object whose keys are exactly the
// columns in order, and whose values are those encoding/json finds at the columns' paths.
func FuzzFlat(f *testing.F) {
	f.Add(string(seedPayload))
	f.Add(string(realisticPayload(3)))
	f.Add(cellsPayload)
	f.Add(`{}`)
	f.Add(` {"nested": {"str": "a\"b", "deep": {"x": [1, {"y": 2}]}}, "nested": null} `)
	f.Add(`{"str": "\ud800", "int": -0, "float": 1E-7, "\u0073tr": "escaped key", "uni": "\xff"}`)
	f.Add(`{"a": {"x": 1}, "a": 2, "quo\"te": {"": ""}, "": 3}`)
	f.Add("{\"esc\":\n\t\"x\"\r}")
	f.Fuzz(func(t *testing.T, payload string) {
		if !json.Valid([]byte(payload)) || !strings.HasPrefix(strings.TrimLeft(payload, " \t\r\n"), "{") {
			t.Skip()
		}
		out := encodeFormat(t, file.FormatJSONFlat, cellsType, []byte(payload))
		objs := parseFlat(t, out, cellsType.Columns)
		if len(objs) != 1 {
			t.Fatalf("%d objects, want 1", len(objs))
		}
		checkFlat(t, objs[0], []byte(payload), cellsType.Columns)
	})
}

// BenchmarkEncodeJSONFlat flattens realistic courseComplete events, about 680 bytes each.
//
//	go test ./export/file -run '^$' -bench Encode
func BenchmarkEncodeJSONFlat(b *testing.B) {
	benchmarkEncode(b, file.FormatJSONFlat)
}

// TestFlatMatchesCSV checks that a flat object holds what the CSV row holds, typed.
func TestFlatMatchesCSV(t *testing.T) {
	t.Parallel()
	p := realisticPayload(42)
	objs := parseFlat(t, encodeFormat(t, file.FormatJSONFlat, events.CourseComplete, p), events.CourseComplete.Columns)
	recs, err := csv.NewReader(bytes.NewReader(encodeFormat(t, file.FormatCSV, events.CourseComplete, p))).ReadAll()
	if err != nil || len(recs) != 2 {
		t.Fatalf("parse CSV: %d records, %v", len(recs), err)
	}
	for i, col := range events.CourseComplete.Columns {
		s := ""
		if v := objs[0][col]; v != nil {
			s = fmt.Sprint(v)
		}
		if s != recs[1][i] {
			t.Errorf("%s: flat %q, CSV %q", col, s, recs[1][i])
		}
	}
}
