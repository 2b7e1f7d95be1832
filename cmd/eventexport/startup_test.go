package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eventexport/eventexport/export/store"
)

// serve refuses to start, saying why and changing nothing, when stored secrets cannot be
// opened: every delivery would fail. With no secrets stored, it needs no key.
func TestServeRefusesSecretsItCannotOpen(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	admin := "EVENTEXPORT_ADMIN_ADDR=off"
	otherKey := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 32)))

	// Nothing stored: the key is not needed yet.
	p := startServe(t, withEnv(f.env, "EVENTEXPORT_SECRET_KEY=", admin))
	waitForLog(t, p, `"msg":"serving"`)
	p.stop(t, syscall.SIGTERM, 10*time.Second)

	f.addDestination(t, "json")
	for _, tc := range []struct {
		name, key, want string
	}{
		{"missing key", "", "EVENTEXPORT_SECRET_KEY is not set"},
		{"malformed key", "c2hvcnQ=", "decodes to 5 bytes, want 32"},
		{"another key", otherKey, "sealed with a different EVENTEXPORT_SECRET_KEY"},
	} {
		_, errOut, code := cli(t, withEnv(f.env, "EVENTEXPORT_SECRET_KEY="+tc.key, admin, "EVENTEXPORT_SCHEDULE=@every 1s"), "serve")
		if code != exitBadUsage || !strings.Contains(errOut, tc.want) || !strings.Contains(errOut, "cannot be opened") {
			t.Errorf("%s: serve exited %d with %q; want %d and a message with %q", tc.name, code, errOut, exitBadUsage, tc.want)
		}
	}
	// The old key during a rotation opens them: serve starts.
	p = startServe(t, withEnv(f.env, "EVENTEXPORT_SECRET_KEY="+otherKey, "EVENTEXPORT_SECRET_KEY_OLD="+envValue(f.env, "EVENTEXPORT_SECRET_KEY"), admin))
	waitForLog(t, p, `"msg":"serving"`)
	p.stop(t, syscall.SIGTERM, 10*time.Second)
}

// /readyz is not ready while the stored secrets cannot be opened, and says why.
func TestReadyzNeedsTheSecrets(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.addDestination(t, "json")
	c, err := loadConfig(envOf(withEnv(f.env, "EVENTEXPORT_SECRET_KEY="+base64.StdEncoding.EncodeToString([]byte(strings.Repeat("x", 32))))))
	if err != nil {
		t.Fatal(err)
	}
	wrong := store.NewStore(f.db.Pool, c.Sealer, c.SealerErr)
	srv, err := startAdmin(adminConfig{Addr: "127.0.0.1:0", AddrSet: true}, newService(c, wrong, nil, nil), nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	status, body := get(t, "http://"+srv.ln.Addr().String()+"/readyz")
	if status != http.StatusServiceUnavailable || !strings.Contains(body["reason"], "cannot be opened") {
		t.Errorf("/readyz with a key that opens no secret: %d %v; want 503 saying the secrets cannot be opened", status, body)
	}

	c, err = loadConfig(envOf(f.env))
	if err != nil {
		t.Fatal(err)
	}
	right := store.NewStore(f.db.Pool, c.Sealer, c.SealerErr)
	srv2, err := startAdmin(adminConfig{Addr: "127.0.0.1:0", AddrSet: true}, newService(c, right, nil, nil), nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer srv2.Stop()
	if status, body := get(t, "http://"+srv2.ln.Addr().String()+"/readyz"); status != http.StatusOK {
		t.Errorf("/readyz with the right key: %d %v; want 200", status, body)
	}
}

func get(t *testing.T, url string) (int, map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var body map[string]string
	_ = json.Unmarshal(b, &body)
	return resp.StatusCode, body
}

func envValue(env []string, name string) string {
	for _, l := range env {
		if k, v, ok := strings.Cut(l, "="); ok && k == name {
			return v
		}
	}
	return ""
}

// waitForLog waits until serve's log holds s.
func waitForLog(t *testing.T, p *serveProc, s string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(p.stderr.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("serve did not log %s within 30s", s)
		}
		select {
		case <-p.done:
			t.Fatalf("serve exited (%v) before logging %s", p.err, s)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
