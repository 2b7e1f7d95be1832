package file_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/eventexport/eventexport/events"
	"github.com/eventexport/eventexport/export/file"
)

// A CSV file has a header row of the type's columns and a row per event, with nested fields
// under dotted names. Lines end with CRLF; the example shows them with LF.
func ExampleNewEncoder_csv() {
	var buf bytes.Buffer
	enc, err := file.NewEncoder(file.FormatCSV, events.CourseComplete, &buf)
	if err != nil {
		panic(err)
	}
	tricky := `{"id": "5d1c8a51-8f6e-4a53-9f41-2f0a0c8f2b7e", "title": "Fire Safety, \"Level 2\"", "user": "zoë@example.com", "userDetail": {"id": 42, "ref1": {"team": "B"}, "ref2": true}}`
	for _, p := range []string{string(seedPayload), tricky} {
		if err := enc.Encode([]byte(p)); err != nil {
			panic(err)
		}
	}
	if err := enc.Close(); err != nil {
		panic(err)
	}
	fmt.Print(strings.ReplaceAll(buf.String(), "\r\n", "\n"))
	// Output:
	// id,source,timestamp,type,user,companyId,event,notifiableId,title,userDetail.id,userDetail.firstName,userDetail.lastName,userDetail.externalCustomerId,userDetail.sfContactId,userDetail.sfAccountId,userDetail.client,userDetail.ref1,userDetail.ref2,userDetail.ref3
	// 32ed16df-27cb-5f72-90ff-4eaf39346f86,course_completed,2019-10-17T20:50:53.103Z,status_change,bob.johnson@example.com,3aabdfb8-3891-5011-ad35-8e2351c5fdaf,courseCompletion,7670fdbe-15ed-504b-a680-d404fa4b0eb4,New Student Orientation,61149b2c-3f37-5032-be63-f5d984de10b6,Bob,Johnson,111222333444,,,00f928f4-8718-5043-9164-32398b165c60,111222333444,Department,...
	// 5d1c8a51-8f6e-4a53-9f41-2f0a0c8f2b7e,,,,zoë@example.com,,,,"Fire Safety, ""Level 2""",42,,,,,,,"{""team"":""B""}",true,
}

func encodeCSV(t testing.TB, typ events.Type, payloads ...[]byte) string {
	t.Helper()
	var buf bytes.Buffer
	enc, err := file.NewEncoder(file.FormatCSV, typ, &buf)
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
	return buf.String()
}

func TestCSVHeaderOnlyWhenEmpty(t *testing.T) {
	t.Parallel()
	got := encodeCSV(t, events.CourseComplete)
	want := strings.Join(events.CourseComplete.Columns, ",") + "\r\n"
	if got != want {
		t.Errorf("empty file = %q, want %q", got, want)
	}
}

// TestCSVCells checks the text of each kind of JSON value, exactly as written.
func TestCSVCells(t *testing.T) {
	t.Parallel()
	typ := events.Type{Name: "test", FilePrefix: "test", Columns: []string{
		"str", "int", "float", "exp", "yes", "no", "null", "missing", "empty", "obj", "arr", "emptyObj",
		"nested.str", "nested.deep.x", "nested.missing", "nested.obj", "scalar.x", "nullObj.x", "esc", "uni", "nested",
	}}
	payload := `{"str": "plain", "int": 42, "float": -1.50, "exp": 1e+21, "yes": true, "no": false,
		"null": null, "empty": "", "obj": {"a": 1, "b": [1, {"c": null}], "d": "x y"}, "arr": [1, "two", null],
		"emptyObj": {}, "nested": {"str": "inner", "deep": {"x": 7}, "obj": {"k": "v"}, "ignored": 1},
		"scalar": "not an object", "nullObj": null, "esc": "tab\there \u00e9 \"q\" \\ \/ \ud83d\ude00",
		"uni": "Ødegård — 日本語", "extra": "not a column"}`
	got := encodeCSV(t, typ, []byte(payload))
	rows := strings.Split(got, "\r\n")
	if len(rows) != 3 || rows[2] != "" {
		t.Fatalf("got %q, want a header, one row and a final CRLF", got)
	}
	want := []string{
		`plain`, `42`, `-1.50`, `1e+21`, `true`, `false`, ``, ``, ``,
		`"{""a"":1,""b"":[1,{""c"":null}],""d"":""x y""}"`, `"[1,""two"",null]"`, `{}`,
		`inner`, `7`, ``, `"{""k"":""v""}"`, ``, ``, "\"tab\there é \"\"q\"\" \\ / 😀\"", `Ødegård — 日本語`,
		`"{""str"":""inner"",""deep"":{""x"":7},""obj"":{""k"":""v""},""ignored"":1}"`,
	}
	if rows[1] != strings.Join(want, ",") {
		t.Errorf("row =\n%s\nwant\n%s", rows[1], strings.Join(want, ","))
	}
}

func TestCSVRejectsNonObjects(t *testing.T) {
	t.Parallel()
	for _, p := range []string{`[1, 2]`, `"x"`, `null`, ``, `42`} {
		enc, _ := file.NewEncoder(file.FormatCSV, events.CourseComplete, io.Discard)
		if err := enc.Encode([]byte(p)); err == nil {
			t.Errorf("Encode(%q) succeeded, want an error", p)
		}
	}
}

// TestCSVQuoting checks that values survive exactly, and parse back with encoding/csv.
func TestCSVQuoting(t *testing.T) {
	t.Parallel()
	values := []string{
		"plain", "", " leading and trailing ", "comma, inside", `quote " inside`, `"quoted"`, `""`,
		"line\nbreak", "crlf\r\ninside", "bare\rcr", "\n", "\r", "\r\n", "trailing cr\r", ",", `"`,
		"Ødegård — 日本語 😀", "tab\tinside", "semicolon; inside", "=1+2", "nul?\x01",
	}
	for _, v := range values {
		t.Run(fmt.Sprintf("%q", v), func(t *testing.T) {
			out := encodeCSV(t, events.CourseComplete, payloadWith(t, v, v, v))
			// The exact bytes: quoted when needed, quotes doubled, nothing rewritten.
			cell := v
			if strings.ContainsAny(v, ",\"\r\n") {
				cell = `"` + strings.ReplaceAll(v, `"`, `""`) + `"`
			}
			if !strings.HasPrefix(strings.SplitN(out, "\r\n", 2)[1], cell+",") {
				t.Errorf("row %q: want it to start with %q", out, cell+",")
			}
			checkRoundTrip(t, out, v, v, v)
		})
	}
}

// payloadWith returns a courseComplete payload with id, title and userDetail.ref1 set.
func payloadWith(t testing.TB, id, title, ref1 string) []byte {
	t.Helper()
	p, err := json.Marshal(map[string]any{
		"id": id, "title": title, "source": nil,
		"userDetail": map[string]any{"ref1": ref1, "ref2": nil},
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// checkRoundTrip parses out with encoding/csv and checks that the row holds id, title and ref1
// and nothing else. The reader turns CRLF inside a quoted field into LF.
func checkRoundTrip(t testing.TB, out, id, title, ref1 string) {
	t.Helper()
	r := csv.NewReader(strings.NewReader(out))
	records, err := r.ReadAll()
	if err != nil {
		t.Fatalf("parse %q: %v", out, err)
	}
	if len(records) != 2 {
		t.Fatalf("parse %q: %d records, want 2", out, len(records))
	}
	if !slices.Equal(records[0], events.CourseComplete.Columns) {
		t.Fatalf("header = %q", records[0])
	}
	want := make([]string, len(events.CourseComplete.Columns))
	norm := func(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }
	want[0], want[8], want[16] = norm(id), norm(title), norm(ref1)
	if !slices.Equal(records[1], want) {
		t.Fatalf("row = %q, want %q (file %q)", records[1], want, out)
	}
}

func FuzzCSVRoundTrip(f *testing.F) {
	f.Add("32ed16df", "New Student Orientation", "111222333444")
	f.Add("a,b", `say "hi"`, "line\r\nbreak")
	f.Add("\r", "\n", "\"")
	f.Add(" x ", "Ødegård — 日本語", "\x00\xff")
	f.Add("<&>", `\u0041`, "\u2028")
	f.Fuzz(func(t *testing.T, id, title, ref1 string) {
		p := payloadWith(t, id, title, ref1)
		// The values as the JSON holds them: invalid UTF-8 becomes U+FFFD.
		var v struct {
			ID, Title  string
			UserDetail struct{ Ref1 string }
		}
		if err := json.Unmarshal(p, &v); err != nil {
			t.Fatal(err)
		}
		checkRoundTrip(t, encodeCSV(t, events.CourseComplete, p), v.ID, v.Title, v.UserDetail.Ref1)
	})
}

// BenchmarkEncodeCSV flattens realistic courseComplete events, about 680 bytes each.
//
//	go test ./export -run '^$' -bench Encode
func BenchmarkEncodeCSV(b *testing.B) {
	benchmarkEncode(b, file.FormatCSV)
}

func TestCSVOfRealisticPayloads(t *testing.T) {
	t.Parallel()
	out := encodeCSV(t, events.CourseComplete, realisticPayload(7), seedPayload)
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(recs) != 3 {
		t.Fatalf("parse: %d records, %v", len(recs), err)
	}
	var p struct {
		ID, Title  string
		UserDetail struct {
			LastName    string
			SfContactID *string
			Ref3        string
		}
	}
	if err := json.Unmarshal(realisticPayload(7), &p); err != nil {
		t.Fatal(err)
	}
	if got := recs[1]; got[0] != p.ID || got[8] != p.Title || got[11] != p.UserDetail.LastName || got[13] != "" || got[18] != p.UserDetail.Ref3 {
		t.Errorf("row = %q, want id %q, title %q, lastName %q, empty sfContactId, ref3 %q", got, p.ID, p.Title, p.UserDetail.LastName, p.UserDetail.Ref3)
	}
}
