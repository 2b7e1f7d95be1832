package main

import (
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
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
	sent := run("test-send", id, "--json")
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
		h.Get("Content-Type") != "application/json" {
		t.Errorf("request headers: %v", h)
	}
	// The test file's request names its run, file, event type, window and count, as a
	// scheduled file's does.
	var res struct {
		Files []struct {
			EventType  string `json:"event_type"`
			RunID      string `json:"run_id"`
			RemotePath string `json:"remote_path"`
			Events     int64  `json:"events"`
		} `json:"files"`
	}
	if err := json.Unmarshal([]byte(sent), &res); err != nil || len(res.Files) != 1 {
		t.Fatalf("test-send --json: %v\n%s", err, sent)
	}
	tf := res.Files[0]
	name := h.Get("Eventexport-File-Name")
	start, serr := time.Parse(time.RFC3339, h.Get("Eventexport-Window-Start"))
	end, eerr := time.Parse(time.RFC3339, h.Get("Eventexport-Window-End"))
	if h.Get("Eventexport-Run") != tf.RunID || h.Get("Eventexport-Event-Type") != tf.EventType ||
		h.Get("Eventexport-Events") != strconv.FormatInt(tf.Events, 10) || tf.Events == 0 ||
		h.Get("Idempotency-Key") != tf.RunID+"/"+name || !strings.HasSuffix(name, ".json") ||
		serr != nil || eerr != nil || !end.After(start) {
		t.Errorf("the test file's headers do not describe it (test-send said %+v): %v", tf, h)
	}
}
