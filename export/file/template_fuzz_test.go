package file_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/eventexport/eventexport/export/file"
)

// FuzzParseTemplate checks that ParseTemplate never panics, and that a template it accepts
// parses again from its String, and never renders a name that is empty, starts with ".", or
// holds "/", "\", a control character or invalid UTF-8: neither with the values of a run nor
// with arbitrary values.
func FuzzParseTemplate(f *testing.F) {
	for _, s := range []string{
		file.DefaultTemplate.String(),
		"{prefix}-{day}{ext}",
		"{part}{prefix}{part}{ext}{part}",
		"{company}_{destination}_{type}_{start_unix}_{created}_{rand}{ext}",
		"{ext}", "{part}{ext}", ".{ext}", "{part}.{ext}",
		"{", "}", "{}", "{{ext}}", "{ext", "a/{ext}", "a\\{ext}", "a\x00{ext}", "\xff{ext}",
		"{prefix}", "", "ünïcode{ext}",
	} {
		f.Add(s, "courseCompletion", "2020-05-12", "0f8e0b36-4a3c-4d7e-9a51-2b1c9d0e6f70", ".json", "_part0001", int64(1589259213))
	}
	f.Add("{day}{prefix}{company}{part}{ext}", "", "", "", "", "", int64(0))
	f.Add("{company}{ext}", "..", "/", "\x00", "\\", ".", int64(-1))

	f.Fuzz(func(t *testing.T, s, a, b, c, ext, part string, n int64) {
		tpl, err := file.ParseTemplate(s)
		if err != nil {
			if !errors.Is(err, file.ErrInvalidTemplate) {
				t.Fatalf("ParseTemplate(%q): %v, not ErrInvalidTemplate", s, err)
			}
			if !reflect.DeepEqual(tpl, file.Template{}) {
				t.Fatalf("ParseTemplate(%q) returned a template with its error", s)
			}
			return
		}
		if tpl.String() != s {
			t.Fatalf("ParseTemplate(%q).String() = %q", s, tpl.String())
		}
		again, err := file.ParseTemplate(tpl.String())
		if err != nil {
			t.Fatalf("ParseTemplate(%q) succeeded, and failed on its String: %v", s, err)
		}
		if !reflect.DeepEqual(again, tpl) {
			t.Fatalf("ParseTemplate(%q) parsed again differs: %#v, then %#v", s, tpl, again)
		}
		if len(s) > file.MaxTemplateLen || !strings.Contains(s, "{ext}") {
			t.Fatalf("ParseTemplate(%q) accepted a template longer than %d bytes or without {ext}", s, file.MaxTemplateLen)
		}
		if got, want := tpl.HasUniqueness(), strings.Contains(s, "{rand}") || strings.Contains(s, "{created}"); got != want {
			t.Fatalf("%q: HasUniqueness = %v, want %v", s, got, want)
		}

		created := time.Unix(n, 0)
		// The values of a run: safe, rendered as they are.
		safe := sampleVars()
		safe.Created, safe.StartUnix, safe.Rand = created, n, file.RandomPart()
		for _, p := range []string{"", "_part0001"} {
			safe.Part = p
			for _, e := range []string{".json", ".csv.gz.pgp"} {
				safe.Ext = e
				name := tpl.Name(safe)
				checkFuzzedName(t, s, name)
				if name[0] == '_' && !strings.HasPrefix(s, "_") && !strings.HasPrefix(s, "{part}") {
					t.Fatalf("%q: Name = %q, the safeguard changed a run's values", s, name)
				}
				if !strings.Contains(name, e) || (p != "" && !strings.Contains(name, p+e) && !strings.Contains(s, "{part}")) {
					t.Fatalf("%q with part %q: Name = %q, want the part before the extension %q", s, p, name, e)
				}
			}
		}
		// Arbitrary values.
		v := file.Vars{
			Prefix: a, Type: b, Day: c, StartUnix: n, Created: created,
			Rand: a + b, Destination: b, Company: c, Ext: ext, Part: part,
		}
		checkFuzzedName(t, s, tpl.Name(v))
		checkFuzzedName(t, s, "test-"+tpl.Name(v))
	})
}

func checkFuzzedName(t *testing.T, template, name string) {
	t.Helper()
	if name == "" || name[0] == '.' || !utf8.ValidString(name) || strings.ContainsAny(name, "/\\\x00") {
		t.Fatalf("%q: Name = %q, not a safe file name", template, name)
	}
	for _, r := range name {
		if r < 0x20 || (r >= 0x7f && r < 0xa0) {
			t.Fatalf("%q: Name = %q holds control character %U", template, name, r)
		}
	}
}
