package file_test

import (
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/google/uuid"

	"github.com/eventexport/eventexport/events"
	"github.com/eventexport/eventexport/export/file"
)

// sampleVars are the values of one run, as the service gives them.
func sampleVars() file.Vars {
	return file.Vars{
		Prefix:      events.CourseComplete.FilePrefix,
		Type:        events.CourseComplete.Name,
		Day:         "2020-05-12",
		StartUnix:   1589259213,
		Created:     time.Date(2020, 5, 18, 18, 0, 13, 0, time.UTC),
		Rand:        "7vcph2i",
		Destination: "0f8e0b36-4a3c-4d7e-9a51-2b1c9d0e6f70",
		Company:     "5d2c7a1e-93b4-4f0a-8c6d-e1f2a3b4c5d6",
		Ext:         ".json",
	}
}

func mustParse(t *testing.T, s string) file.Template {
	t.Helper()
	tpl, err := file.ParseTemplate(s)
	if err != nil {
		t.Fatalf("ParseTemplate(%q): %v", s, err)
	}
	return tpl
}

// TestTemplateVariables renders each variable alone between literals.
func TestTemplateVariables(t *testing.T) {
	t.Parallel()
	kolkata, err := time.LoadLocation("Asia/Kolkata")
	if err != nil {
		t.Fatal(err)
	}
	v := sampleVars()
	// The creation time is rendered in UTC whatever its location.
	v.Created = v.Created.In(kolkata)
	tests := []struct{ template, want string }{
		{"a{prefix}b{ext}", "acourseCompletionb.json"},
		{"a{type}b{ext}", "acourseCompleteb.json"},
		{"a{day}b{ext}", "a2020-05-12b.json"},
		{"a{start_unix}b{ext}", "a1589259213b.json"},
		{"a{created}b{ext}", "a2020-05-18T18-00-13b.json"},
		{"a{rand}b{ext}", "a7vcph2ib.json"},
		{"a{destination}b{ext}", "a0f8e0b36-4a3c-4d7e-9a51-2b1c9d0e6f70b.json"},
		{"a{company}b{ext}", "a5d2c7a1e-93b4-4f0a-8c6d-e1f2a3b4c5d6b.json"},
		{"a{ext}b", "a.jsonb"},
		{"a{part}b{ext}", "ab.json"},
		{"{prefix}{ext}", "courseCompletion.json"},
		{"{company}_{day}{ext}", "5d2c7a1e-93b4-4f0a-8c6d-e1f2a3b4c5d6_2020-05-12.json"},
		{"{prefix} {day} (ünïcode){ext}", "courseCompletion 2020-05-12 (ünïcode).json"},
		{"{type}{type}{ext}{ext}", "courseCompletecourseComplete.json.json"},
		{
			"{prefix}_{type}_{day}_{start_unix}_{created}_{rand}_{destination}_{company}{part}{ext}",
			"courseCompletion_courseComplete_2020-05-12_1589259213_2020-05-18T18-00-13_7vcph2i_" +
				"0f8e0b36-4a3c-4d7e-9a51-2b1c9d0e6f70_5d2c7a1e-93b4-4f0a-8c6d-e1f2a3b4c5d6.json",
		},
	}
	for _, tt := range tests {
		if got := mustParse(t, tt.template).Name(v); got != tt.want {
			t.Errorf("%s: Name = %q, want %q", tt.template, got, tt.want)
		}
	}

	// A multi-part extension, a negative start (a window before 1970) and a zero creation time.
	v.Ext, v.StartUnix, v.Created = ".csv.gz.pgp", -86400, time.Time{}
	if got, want := mustParse(t, "{start_unix}_{created}{ext}").Name(v), "-86400_0001-01-01T00-00-00.csv.gz.pgp"; got != want {
		t.Errorf("Name = %q, want %q", got, want)
	}
}

// TestParseTemplateRefusals checks each refusal and that its error names the problem.
func TestParseTemplateRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, template, want string }{
		{"empty", "", "the name is empty"},
		{"too long", strings.Repeat("a", 196) + "{ext}", "201 bytes long, at most 200"},
		{"unknown variable", "{prefix}-{date}{ext}", "unknown variable {date} at character 10: the variables are {prefix}, {type}, {day}, {start_unix}, {created}, {rand}, {destination}, {company}, {ext} or {part}"},
		{"variable in capitals", "{Prefix}{ext}", "unknown variable {Prefix}"},
		{"variable with spaces", "{ prefix }{ext}", "unknown variable { prefix }"},
		{"empty braces", "a{}{ext}", "empty braces {} at character 2"},
		{"unclosed brace", "{prefix{ext}", "\"{\" at character 8 inside the variable opened at character 1: variables cannot be nested"},
		{"nested braces", "{{prefix}}{ext}", "variables cannot be nested"},
		{"brace never closed", "{prefix}{ext}{day", "the \"{\" at character 14 is not closed"},
		{"lone closing brace", "prefix}{ext}", "\"}\" at character 7 closes no \"{\""},
		{"closing brace after a variable", "{prefix}}{ext}", "\"}\" at character 9 closes no \"{\""},
		{"slash", "{company}/{prefix}{ext}", "'/' at character 10: a file name cannot hold a path separator"},
		{"backslash", "{company}\\{prefix}{ext}", "'\\\\' at character 10: a file name cannot hold a path separator"},
		{"slash in braces", "{pre/fix}{ext}", "path separator"},
		{"NUL", "a\x00{ext}", "control character U+0000 at character 2"},
		{"newline", "a\n{ext}", "control character U+000A"},
		{"tab", "a\t{ext}", "control character U+0009"},
		{"DEL", "a\x7f{ext}", "control character U+007F"},
		{"C1 control", "a\u0085{ext}", "control character U+0085"},
		{"invalid UTF-8", "a\xff{ext}", "not valid UTF-8"},
		{"no extension", "{prefix}-{rand}.json", "the name must carry its extension: add {ext}"},
		{"leading dot", ".{prefix}{ext}", "the name starts with \".\", which hides the file"},
		{"leading extension", "{ext}", "the name would start with {ext}"},
		{"leading extension after a part", "{part}{ext}", "the name would start with {ext}"},
		{"leading dot after a part", "{part}.x{ext}", "the name starts with \".\""},
		{"leading dot after parts", "{part}{part}.{prefix}{ext}", "the name starts with \".\""},
	}
	for _, tt := range tests {
		tpl, err := file.ParseTemplate(tt.template)
		if err == nil {
			t.Errorf("%s: ParseTemplate(%q) = %q, want an error", tt.name, tt.template, tpl.String())
			continue
		}
		if !errors.Is(err, file.ErrInvalidTemplate) {
			t.Errorf("%s: ParseTemplate(%q): %v, not ErrInvalidTemplate", tt.name, tt.template, err)
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: ParseTemplate(%q): %v\nwant it to say %s", tt.name, tt.template, err, tt.want)
		}
		if !reflect.DeepEqual(tpl, file.Template{}) {
			t.Errorf("%s: ParseTemplate(%q) returned a template with its error", tt.name, tt.template)
		}
	}

	// The longest template is accepted; the error of a longer one does not repeat it.
	mustParse(t, strings.Repeat("a", file.MaxTemplateLen-len("{ext}"))+"{ext}")
	_, err := file.ParseTemplate(strings.Repeat("a", 10_000) + "{ext}")
	if err == nil || len(err.Error()) > 200 {
		t.Errorf("ParseTemplate of 10,005 bytes: %v, want a short error", err)
	}
}

// TestTemplateAccepts checks templates at the edges of the rules.
func TestTemplateAccepts(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"a{ext}",
		"{part}a{ext}",        // a part that may be empty before a literal
		"{part}{prefix}{ext}", // ... or a variable
		"x.{prefix}{ext}",     // a dot, not leading
		"{prefix}{ext}.done",  // text after the extension
		"{prefix}..{ext}",
		"{prefix}-{day}{ext}", // no uniqueness: accepted, see HasUniqueness
		"ünïcode {prefix}{ext}",
		"{prefix}{part}{ext}{part}", // {part} twice
	} {
		tpl := mustParse(t, s)
		if tpl.String() != s {
			t.Errorf("ParseTemplate(%q).String() = %q", s, tpl.String())
		}
	}
}

// TestTemplatePart checks where the part of a split run goes, with and without {part}.
func TestTemplatePart(t *testing.T) {
	t.Parallel()
	tests := []struct {
		template, part, want string
	}{
		// Without {part}, the part goes just before the extension.
		{"{prefix}-{day}{ext}", "", "courseCompletion-2020-05-12.csv.gz.pgp"},
		{"{prefix}-{day}{ext}", "_part0001", "courseCompletion-2020-05-12_part0001.csv.gz.pgp"},
		// ... before the first {ext} only.
		{"{prefix}{ext}.done{ext}", "_part0002", "courseCompletion_part0002.csv.gz.pgp.done.csv.gz.pgp"},
		// ... even when text follows it.
		{"{prefix}{ext}.tmp", "_part0003", "courseCompletion_part0003.csv.gz.pgp.tmp"},
		// With {part}, where it says, and nowhere else.
		{"{prefix}{part}-{day}{ext}", "", "courseCompletion-2020-05-12.csv.gz.pgp"},
		{"{prefix}{part}-{day}{ext}", "_part0001", "courseCompletion_part0001-2020-05-12.csv.gz.pgp"},
		{"{part}a{ext}", "_part0001", "_part0001a.csv.gz.pgp"},
		{"{part}a{ext}", "", "a.csv.gz.pgp"},
		{"{prefix}{ext}{part}", "_part0009", "courseCompletion.csv.gz.pgp_part0009"},
		{"{part}{prefix}{part}{ext}", "_p1", "_p1courseCompletion_p1.csv.gz.pgp"},
	}
	v := sampleVars()
	v.Ext = ".csv.gz.pgp"
	for _, tt := range tests {
		v.Part = tt.part
		if got := mustParse(t, tt.template).Name(v); got != tt.want {
			t.Errorf("%s with part %q: Name = %q, want %q", tt.template, tt.part, got, tt.want)
		}
	}
}

// TestDefaultTemplate checks that DefaultTemplate renders what Name builds, given Name's random
// part, and that the zero Template is DefaultTemplate.
func TestDefaultTemplate(t *testing.T) {
	t.Parallel()
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := file.DefaultTemplate.String(), "{prefix}-{start_unix}_{created}-{rand}{ext}"; got != want {
		t.Errorf("DefaultTemplate = %q, want %q", got, want)
	}
	random := regexp.MustCompile(`-([0-9a-z]{7})$`)
	springForward := events.Day{Year: 2026, Month: time.March, Day: 8}.Window(ny).Start
	for _, f := range file.Formats() {
		for _, tc := range []struct{ dayStart, created time.Time }{
			{time.Unix(1589259213, 0), time.Date(2020, 5, 18, 18, 0, 13, 0, time.UTC)},
			{springForward, time.Date(2026, 3, 9, 2, 0, 0, 999_000_000, ny)},
			{springForward, time.Date(2026, 3, 9, 2, 0, 0, 0, ny).Local()},
			{time.Unix(-1, 0), time.Unix(0, 0)},
		} {
			name := file.Name(events.CourseComplete, f, tc.dayStart, tc.created)
			m := random.FindStringSubmatch(strings.TrimSuffix(name, f.Ext()))
			if m == nil {
				t.Fatalf("Name = %q: no random part", name)
			}
			v := file.Vars{
				Prefix:    events.CourseComplete.FilePrefix,
				StartUnix: tc.dayStart.Unix(),
				Created:   tc.created,
				Rand:      m[1],
				Ext:       f.Ext(),
			}
			if got := file.DefaultTemplate.Name(v); got != name {
				t.Errorf("DefaultTemplate.Name = %q, Name = %q", got, name)
			}
			if got := (file.Template{}).Name(v); got != name {
				t.Errorf("Template{}.Name = %q, Name = %q", got, name)
			}
			if got, want := "test-"+file.DefaultTemplate.Name(v), "test-"+name; got != want {
				t.Errorf("test send: %q, want %q", got, want)
			}
		}
	}
	var zero file.Template
	if zero.String() != file.DefaultTemplate.String() || !zero.HasUniqueness() {
		t.Errorf("Template{} = %q (uniqueness %v), want DefaultTemplate", zero.String(), zero.HasUniqueness())
	}
	if !reflect.DeepEqual(mustParse(t, file.DefaultTemplate.String()), file.DefaultTemplate) {
		t.Error("DefaultTemplate parsed again differs")
	}
}

// TestTemplateHasUniqueness checks which templates render a new name for each run.
func TestTemplateHasUniqueness(t *testing.T) {
	t.Parallel()
	tests := []struct {
		template string
		unique   bool
	}{
		{"{prefix}-{start_unix}_{created}-{rand}{ext}", true},
		{"{prefix}-{rand}{ext}", true},
		{"{prefix}-{created}{ext}", true},
		{"{prefix}-{day}{ext}", false},
		{"{prefix}-{start_unix}-{destination}-{company}-{type}{part}{ext}", false},
		{"rand created{ext}", false}, // literal text, not variables
	}
	for _, tt := range tests {
		if got := mustParse(t, tt.template).HasUniqueness(); got != tt.unique {
			t.Errorf("%s: HasUniqueness = %v, want %v", tt.template, got, tt.unique)
		}
	}

	// Without uniqueness, two runs of a day name their files alike, and a re-send replaces the
	// earlier file; with it, they differ.
	v1, v2 := sampleVars(), sampleVars()
	v2.Created, v2.Rand = v1.Created.Add(time.Hour), file.RandomPart()
	if a, b := mustParse(t, "{prefix}-{day}{ext}").Name(v1), mustParse(t, "{prefix}-{day}{ext}").Name(v2); a != b {
		t.Errorf("without uniqueness: %q and %q, want the same name", a, b)
	}
	if a, b := file.DefaultTemplate.Name(v1), file.DefaultTemplate.Name(v2); a == b {
		t.Errorf("with uniqueness: %q twice, want two names", a)
	}
}

// TestTemplateTestPrefix checks that a test send's name, "test-" and a rendered name, is still
// a valid name, and what the template with "test-" before it renders.
func TestTemplateTestPrefix(t *testing.T) {
	t.Parallel()
	v := sampleVars()
	v.Part = "_part0001"
	for _, s := range []string{
		file.DefaultTemplate.String(),
		"{part}{prefix}{ext}",
		"{company}_{day}{ext}",
		"a{ext}",
	} {
		name := "test-" + mustParse(t, s).Name(v)
		checkSafeName(t, s, name)
		if got := mustParse(t, "test-"+s).Name(v); got != name {
			t.Errorf("%s: test-%s renders %q, want %q", s, s, got, name)
		}
	}
}

// TestTemplateValuesAreSafe checks that the values of runs hold nothing Name would replace: no
// path separators, control characters or leading dots (but the extension's).
func TestTemplateValuesAreSafe(t *testing.T) {
	t.Parallel()
	var values []string
	for _, typ := range events.Types() {
		values = append(values, typ.Name, typ.FilePrefix)
	}
	for range 100 {
		values = append(values, uuid.NewString(), file.RandomPart())
	}
	for _, d := range []events.Day{{Year: 2020, Month: time.May, Day: 12}, {Year: 1, Month: time.January, Day: 1}, {Year: 9999, Month: time.December, Day: 31}} {
		values = append(values, d.String())
	}
	values = append(values, "_part0001", "_part9999")
	for _, v := range values {
		if v == "" || v[0] == '.' || strings.ContainsFunc(v, unsafeRune) {
			t.Errorf("value %q is not safe in a file name", v)
		}
	}
	for _, f := range file.Formats() {
		ext := f.Ext()
		if !strings.HasPrefix(ext, ".") || strings.ContainsFunc(ext, unsafeRune) {
			t.Errorf("format %s: extension %q is not safe in a file name", f, ext)
		}
	}

	// Rendered as they are.
	v := sampleVars()
	v.Company, v.Destination, v.Rand = uuid.NewString(), uuid.NewString(), file.RandomPart()
	tpl := mustParse(t, "{company}_{destination}_{rand}{ext}")
	if got, want := tpl.Name(v), v.Company+"_"+v.Destination+"_"+v.Rand+v.Ext; got != want {
		t.Errorf("Name = %q, want %q", got, want)
	}
}

// TestTemplateSafeguard checks that values that should never occur still render a file name.
func TestTemplateSafeguard(t *testing.T) {
	t.Parallel()
	v := file.Vars{Prefix: "../etc", Type: "a\\b", Company: "x\x00y\nz", Destination: "\xffq", Ext: ".json"}
	tests := []struct{ template, want string }{
		{"{prefix}{ext}", "_.._etc.json"},
		{"{type}{ext}", "a_b.json"},
		{"{company}{ext}", "x_y_z.json"},
		{"{destination}{ext}", "_q.json"},
		{"{day}{ext}", "_.json"}, // an empty day would hide the file
		{"{part}{rand}{ext}", "_.json"},
	}
	for _, tt := range tests {
		got := mustParse(t, tt.template).Name(v)
		if got != tt.want {
			t.Errorf("%s: Name = %q, want %q", tt.template, got, tt.want)
		}
		checkSafeName(t, tt.template, got)
	}
	if got := mustParse(t, "{prefix}{ext}").Name(file.Vars{}); got != "_" {
		t.Errorf("empty values: Name = %q, want %q", got, "_")
	}
}

// TestRandomPart checks the random part's length and alphabet.
func TestRandomPart(t *testing.T) {
	t.Parallel()
	valid := regexp.MustCompile(`^[0-9a-z]{7}$`)
	seen := map[string]bool{}
	for range 1000 {
		r := file.RandomPart()
		if !valid.MatchString(r) {
			t.Fatalf("RandomPart = %q, want 7 of [0-9a-z]", r)
		}
		if seen[r] {
			t.Fatalf("RandomPart %q repeated", r)
		}
		seen[r] = true
	}
}

func unsafeRune(r rune) bool {
	return r == '/' || r == '\\' || r == unicode.ReplacementChar || unicode.IsControl(r)
}

// checkSafeName fails the test when name is not a safe file name.
func checkSafeName(t *testing.T, template, name string) {
	t.Helper()
	if name == "" || name[0] == '.' || strings.ContainsFunc(name, unsafeRune) {
		t.Errorf("%s: name %q is not a safe file name", template, name)
	}
}
