package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/eventexport/eventexport/delivery/sftptest"
)

// A destination added without a pinned key: the first test send is refused and shows the
// presented fingerprint; with --accept-host-key it is pinned, and later sends just work.
func TestTestSendTrustOnFirstUse(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	out, errOut, code := cli(t, f.env, "destinations", "add", "--company", f.company, "--url", f.srv.URL("/inbox"), "--format", "json")
	if code != 0 {
		t.Fatalf("add: %d %s", code, errOut)
	}
	id := strings.TrimSpace(out)

	out, _, code = cli(t, f.env, "test-send", id)
	if code != 1 || !strings.Contains(out, f.srv.HostKeyPin()) || !strings.Contains(out, "--accept-host-key") {
		t.Fatalf("test-send with no pinned key: exit %d, output %q; want 1, the presented fingerprint and how to accept it", code, out)
	}
	if entries, _ := os.ReadDir(filepath.Join(f.srv.Root(), "inbox")); len(entries) != 0 {
		t.Fatalf("a file arrived although the host key was unknown: %v", entries)
	}

	out, errOut, code = cli(t, f.env, "test-send", id, "--accept-host-key")
	if code != 0 {
		t.Fatalf("test-send --accept-host-key: exit %d\n%s%s", code, out, errOut)
	}
	m := regexp.MustCompile(`test file delivered: (/inbox/test-courseCompletion-\d+_[0-9T-]+-[0-9a-z]{7}\.json)`).FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "pinned host key "+f.srv.HostKeyPin()) {
		t.Fatalf("test-send --accept-host-key printed %q; want the pinned key and the test file's path", out)
	}
	body, err := os.ReadFile(filepath.Join(f.srv.Root(), m[1]))
	if err != nil {
		t.Fatal(err)
	}
	var arr []map[string]any
	if err := json.Unmarshal(body, &arr); err != nil || len(arr) == 0 {
		t.Fatalf("test file is not a JSON array of events: %v\n%s", err, body)
	}
	if arr[0]["source"] != "test" || !strings.Contains(arr[0]["title"].(string), "TEST") {
		t.Errorf("test event %v is not marked as test data", arr[0])
	}

	if out, _, code := cli(t, f.env, "test-send", id); code != 0 {
		t.Errorf("test-send after pinning: exit %d, %s", code, out)
	}
	if _, errOut, code := cli(t, f.env, "test-send", id, "--accept-host-key"); code != 2 || !strings.Contains(errOut, "already has a pinned host key") {
		t.Errorf("--accept-host-key with a key pinned: exit %d, %q; want 2 and why", code, errOut)
	}
	var kinds int
	if err := f.db.Pool.QueryRow(context.Background(), "SELECT count(*) FROM runs WHERE kind = 'test'").Scan(&kinds); err != nil || kinds != 3 {
		t.Errorf("%d test runs recorded (%v), want 3", kinds, err)
	}
}

// The reason a test send failed reads in plain words.
func TestTestSendSaysWhy(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	locked := sftptest.NewServer(t, sftptest.Options{User: "acme", Password: "right"})
	wrong := strings.Replace(locked.URL("/inbox"), "right", "wrong", 1)
	for _, tc := range []struct {
		name, url, pin, want string
	}{
		{"authentication", wrong, locked.HostKeyPin(), "authentication"},
		{"changed host key", f.srv.URL("/inbox"), locked.HostKeyPin(), "host key"},
		{"refused", "sftp://u:p@127.0.0.1:1/inbox", locked.HostKeyPin(), "refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, errOut, code := cli(t, f.env, "destinations", "add", "--company", f.company, "--url", tc.url, "--format", "csv", "--host-key", tc.pin)
			if code != 0 {
				t.Fatalf("add: %d %s", code, errOut)
			}
			out, _, code = cli(t, f.env, "test-send", strings.TrimSpace(out))
			if code != 1 || !strings.Contains(strings.ToLower(out), tc.want) {
				t.Errorf("exit %d, output %q; want 1 and %q", code, out, tc.want)
			}
		})
	}
}
