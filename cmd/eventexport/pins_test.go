package main

import (
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"
)

// randomPin is the fingerprint of a key no server has.
func randomPin(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(b)
}

// A customer rotating host keys: several keys may be pinned at once, from repeated --host-key
// flags; update adds and drops pins one by one, and deliveries follow.
func TestSeveralPinnedHostKeys(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	oldKey, right := randomPin(t), f.srv.HostKeyPin()
	out, errOut, code := cli(t, f.env, "destinations", "add", "--company", f.company, "--url", f.srv.URL("/inbox"),
		"--format", "json", "--host-key", oldKey, "--host-key", right)
	if code != 0 {
		t.Fatalf("add with two pins: exit %d: %s", code, errOut)
	}
	id := strings.TrimSpace(out)
	run := func() (int, string) {
		_, errOut, code := cli(t, f.env, "run", "--destination", id, "--date", "2026-11-01")
		return code, errOut
	}
	if code, errOut := run(); code != 0 {
		t.Fatalf("run with the server's key among two pins: exit %d: %s", code, errOut)
	}
	if _, errOut, code := cli(t, f.env, "destinations", "update", id, "--drop-host-key", right); code != 0 {
		t.Fatalf("drop a pin: exit %d: %s", code, errOut)
	}
	if code, errOut := run(); code != exitFailed || !strings.Contains(errOut, "HOST KEY MISMATCH") {
		t.Errorf("run once the server's key was unpinned: exit %d: %s; want a host key mismatch", code, errOut)
	}
	if _, errOut, code := cli(t, f.env, "destinations", "update", id, "--add-host-key", right); code != 0 {
		t.Fatalf("add a pin: exit %d: %s", code, errOut)
	}
	if code, errOut := run(); code != 0 {
		t.Errorf("run once the server's key is pinned again: exit %d: %s", code, errOut)
	}
	show, _, _ := cli(t, f.env, "destinations", "show", id, "--json")
	if !strings.Contains(show, oldKey) || !strings.Contains(show, right) {
		t.Errorf("show: %s; want both pins", show)
	}
	for _, args := range [][]string{
		{"--drop-host-key", randomPin(t)}, // not pinned
		{"--add-host-key", "SHA256:short"},
	} {
		before, _, _ := cli(t, f.env, "destinations", "show", id, "--json")
		_, errOut, code := cli(t, f.env, append([]string{"destinations", "update", id}, args...)...)
		after, _, _ := cli(t, f.env, "destinations", "show", id, "--json")
		if code != exitBadUsage || !strings.Contains(errOut, args[0]+":") || before != after {
			t.Errorf("update %v: exit %d: %s; want 2 naming the flag, and nothing changed", args, code, errOut)
		}
	}
}
