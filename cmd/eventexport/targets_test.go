package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Destinations on one shared target: a password change on the target reaches all of them,
// and the target cannot be removed while they use it.
func TestSharedTargets(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	dir := t.TempDir()
	wrongPw := filepath.Join(dir, "wrong")
	rightPw := filepath.Join(dir, "right")
	os.WriteFile(wrongPw, []byte("not the password\n"), 0o600)
	os.WriteFile(rightPw, []byte("pw"+allSpecial+"\n"), 0o600)

	out, errOut, code := cli(t, f.env, "targets", "add", "--name", "Acme SFTP", "--host", "127.0.0.1",
		"--port", itoa(f.srv.Port()), "--user", "acme", "--password-file", wrongPw, "--base-dir", "/acme",
		"--host-key", f.srv.HostKeyPin())
	if code != 0 {
		t.Fatalf("targets add: %d %s", code, errOut)
	}
	target := strings.TrimSpace(out)

	var dests []string
	for _, sub := range []string{"salaries", "absences"} {
		out, errOut, code := cli(t, f.env, "destinations", "add", "--company", f.company, "--target", target,
			"--path", sub, "--format", "csv")
		if code != 0 {
			t.Fatalf("destinations add --target: %d %s", code, errOut)
		}
		dests = append(dests, strings.TrimSpace(out))
	}
	for _, d := range dests {
		if _, _, code := cli(t, f.env, "test-send", d); code != 1 {
			t.Fatalf("test-send with the wrong password: exit %d, want 1", code)
		}
	}

	if _, errOut, code := cli(t, f.env, "targets", "update", target, "--password-file", rightPw); code != 0 {
		t.Fatalf("targets update: %d %s", code, errOut)
	}
	for i, sub := range []string{"salaries", "absences"} {
		out, errOut, code := cli(t, f.env, "test-send", dests[i])
		if code != 0 || !strings.Contains(out, "/acme/"+sub+"/test-courseCompletion-") {
			t.Fatalf("test-send after the password change: exit %d\n%s%s", code, out, errOut)
		}
	}

	_, errOut, code = cli(t, f.env, "targets", "remove", target)
	if code != 2 || !strings.Contains(errOut, dests[0]) || !strings.Contains(errOut, dests[1]) {
		t.Errorf("remove of a target in use: exit %d, %q; want 2 and the destinations using it", code, errOut)
	}
	out, _, _ = cli(t, f.env, "targets", "list", "--json")
	if !strings.Contains(out, target) || strings.Contains(out, allSpecial) || !strings.Contains(out, `"has_password": true`) {
		t.Errorf("targets list --json = %s", out)
	}
}

// A target with no destinations can be removed; unknown ids are bad usage.
func TestTargetsRemoveAndErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	out, errOut, code := cli(t, f.env, "targets", "add", "--name", "spare", "--url", f.srv.URL("/spare"))
	if code != 0 {
		t.Fatalf("targets add: %d %s", code, errOut)
	}
	id := strings.TrimSpace(out)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"targets", "add", "--url", f.srv.URL("/x")}, "--name"},
		{[]string{"targets", "add", "--name", "x", "--url", "sftp://u@h/x"}, "password"},
		{[]string{"targets", "update", id}, "nothing to update"},
		{[]string{"targets", "update", id, "--port", "70000"}, "--port"},
		{[]string{"targets", "show", "8c1c5e34-7ad4-4f6e-9df4-6f8b0f3f7a11"}, "no target"},
		{[]string{"destinations", "add", "--company", f.company, "--target", "8c1c5e34-7ad4-4f6e-9df4-6f8b0f3f7a11", "--format", "json"}, "no shared target"},
		{[]string{"destinations", "add", "--company", f.company, "--target", id, "--url", f.srv.URL("/x"), "--format", "json"}, "either a target or a URL"},
	} {
		if _, errOut, code := cli(t, f.env, tc.args...); code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
	if n := f.countRows(t, "destinations"); n != 0 {
		t.Errorf("%d destinations after rejected adds", n)
	}
	if _, errOut, code := cli(t, f.env, "targets", "remove", id); code != 0 {
		t.Fatalf("targets remove: %d %s", code, errOut)
	}
	if _, _, code := cli(t, f.env, "targets", "show", id); code != 2 {
		t.Errorf("show after remove: exit %d, want 2", code)
	}
}
