package main

import (
	"regexp"
	"strings"
	"testing"
)

// destinations show states the options as words: compression, row limit, manifest, template,
// and no warning while names are unique.
func TestOptionsShownByDestinationsShow(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const template = "{type}-{day}-{rand}{ext}"
	id := f.addDestination(t, "jsonl", "--compress", "gzip", "--max-rows", "2", "--manifest", "--name-template", template)
	text := showText(t, f, id)
	for _, want := range []string{"gzip", template} {
		if !strings.Contains(text, want) {
			t.Errorf("destinations show does not say %q:\n%s", want, text)
		}
	}
	if re := regexp.MustCompile(`(?m)^compress:\s+gzip$`); !re.MatchString(text) {
		t.Errorf("destinations show has no line compress: gzip:\n%s", text)
	}
	if re := regexp.MustCompile(`(?m)^max rows:\s+2$`); !re.MatchString(text) {
		t.Errorf("destinations show has no line max rows: 2:\n%s", text)
	}
	if re := regexp.MustCompile(`(?m)^manifest:\s+true$`); !re.MatchString(text) {
		t.Errorf("destinations show has no line manifest: true:\n%s", text)
	}
	if strings.Contains(text, "re-send") || strings.Contains(text, "unique") {
		t.Errorf("destinations show warns of names that are unique:\n%s", text)
	}

	// Without {rand} or {created} every run of a day has the same name: show says so.
	fixed := f.addDestination(t, "csv", "--name-template", "{prefix}-{day}{ext}")
	text = showText(t, f, fixed)
	if !strings.Contains(text, "{prefix}-{day}{ext}") || !strings.Contains(text, "a re-send replaces") {
		t.Errorf("destinations show of a template without {rand} or {created} does not warn that a re-send replaces the file:\n%s", text)
	}

	// A key given with --encrypt-to is shown by its fingerprint.
	g := newOptionGPG(t)
	key, fpr := g.keyFile(t, "Customer", "Key-Type: EDDSA\nKey-Curve: ed25519\nKey-Usage: sign\n"+
		"Subkey-Type: ECDH\nSubkey-Curve: cv25519\nSubkey-Usage: encrypt\nExpire-Date: 1y")
	encrypted := f.addDestination(t, "json", "--encrypt-to", key)
	if text := showText(t, f, encrypted); !strings.Contains(text, fpr) {
		t.Errorf("destinations show does not give the key's fingerprint %s:\n%s", fpr, text)
	}
}

func showText(t *testing.T, f *fixture, id string) string {
	t.Helper()
	out, errOut, code := cli(t, f.env, "destinations", "show", id)
	if code != 0 {
		t.Fatalf("destinations show %s: exit %d\n%s", id, code, errOut)
	}
	return out
}
