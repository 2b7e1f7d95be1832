package main

import (
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// A destination on a customer's web service: its token header and signing secret are given
// by flags, never shown, and a test send posts a signed file with the token.
func TestHTTPSWebserviceDestination(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const token, secret = "Bearer tok-5be2c8a1", "whsec-77f0d3e9"
	var mu sync.Mutex
	var got []http.Header
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		got = append(got, r.Header.Clone())
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	dir := t.TempDir()
	ca, sec := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "secret")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600)
	os.WriteFile(sec, []byte(secret+"\n"), 0o600)

	var outputs []string
	run := func(args ...string) string {
		t.Helper()
		out, errOut, code := cli(t, f.env, args...)
		outputs = append(outputs, out, errOut)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", args, code, out, errOut)
		}
		return out
	}
	id := strings.TrimSpace(run("destinations", "add", "--company", f.company, "--url", srv.URL+"/hooks/events",
		"--format", "json", "--header", "Authorization: "+token, "--header", "X-Tenant: acme",
		"--signing-secret-file", sec, "--tls-ca", ca))
	run("test-send", id)
	run("destinations", "show", id)
	show := run("destinations", "show", id, "--json")
	run("destinations", "list", "--json")
	if !strings.Contains(show, "Authorization") || !strings.Contains(show, `"has_signing_secret": true`) {
		t.Errorf("show --json names no header or signing secret: %s", show)
	}
	for _, o := range outputs {
		if strings.Contains(o, "tok-5be2c8a1") || strings.Contains(o, secret) {
			t.Errorf("an output shows a secret: %s", o)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 {
		t.Fatalf("%d requests, want 1", len(got))
	}
	h := got[0]
	if h.Get("Authorization") != token || h.Get("X-Tenant") != "acme" || !strings.HasPrefix(h.Get("Eventexport-Signature"), "t=") ||
		h.Get("Idempotency-Key") == "" || h.Get("Content-Type") != "application/json" {
		t.Errorf("request headers: %v", h)
	}
}
