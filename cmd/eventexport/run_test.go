package main

import (
	"net"
	"strings"
	"testing"
)

// A manual run is one attempt: when it fails, its message names the side that failed and does
// not promise a retry that nothing will make; the stored history says the same.
func TestRunFailureNamesTheServerAndPromisesNoRetry(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: connections are refused
	id := f.addDestination(t, "json")
	if _, errOut, code := cli(t, f.env, "destinations", "update", id, "--url", "sftp://acme:pw@"+addr+"/inbox",
		"--host-key", f.srv.HostKeyPin()); code != 0 {
		t.Fatalf("update: exit %d: %s", code, errOut)
	}
	_, errOut, code := cli(t, f.env, "run", "--destination", id, "--date", "2026-11-01")
	if code != exitFailed {
		t.Fatalf("run to a closed port: exit %d, want %d\n%s", code, exitFailed, errOut)
	}
	if !strings.Contains(errOut, "could not connect to "+addr) || strings.Contains(errOut, "will be retried") ||
		!strings.Contains(errOut, "not retried") || strings.Contains(errOut, "read events") {
		t.Errorf("run's message: %q; want the server named, no promise of a retry", errOut)
	}
	out, _, _ := cli(t, f.env, "runs", "list", "--destination", id, "--json")
	if strings.Contains(out, "will be retried") || !strings.Contains(out, "could not connect") {
		t.Errorf("the history of the manual run: %s; want its error without a promised retry", out)
	}
}
