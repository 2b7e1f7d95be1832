package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/crypto/ssh"

	"github.com/eventexport/eventexport/delivery/sftptest"
	"github.com/eventexport/eventexport/export/admin"
	"github.com/eventexport/eventexport/export/store"
)

// lockedBuffer collects log lines written from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// envOf turns KEY=VALUE lines into a getenv.
func envOf(lines []string) env {
	m := map[string]string{}
	for _, l := range lines {
		k, v, _ := strings.Cut(l, "=")
		m[k] = v
	}
	return func(k string) string { return m[k] }
}

const testToken = "test-token-0123456789abcdef"

// apiFixture is the admin server of a service on a real listener, against a real database
// and a real SFTP server that accepts a password and a private key. Every response body and
// log line it sees is checked for secrets when the test ends.
type apiFixture struct {
	*fixture
	base    string
	st      *store.Store
	logs    *lockedBuffer
	secrets []string // must never appear in a response or a log line
	keyPEM  string   // an OpenSSH private key the SFTP server accepts
	keySrv  *sftptest.Server

	mu     sync.Mutex
	bodies []string
}

func newAPIFixture(t *testing.T, token string) *apiFixture {
	t.Helper()
	f := &apiFixture{fixture: newFixture(t), logs: &lockedBuffer{}}
	key, err := apiKey()
	if err != nil {
		t.Fatal(err)
	}
	f.keyPEM = key.pem
	f.keySrv = sftptest.NewServer(t, sftptest.Options{User: "keyed", AuthorizedKeys: []ssh.PublicKey{key.pub}})
	body := strings.Split(strings.TrimSpace(f.keyPEM), "\n")
	f.secrets = []string{f.srv.Password(), "pw" + allSpecial, "key passphrase 42", body[1], body[len(body)/2], "s3cret-of-the-patch"}

	c, err := loadConfig(envOf(f.env))
	if err != nil {
		t.Fatal(err)
	}
	f.st = store.NewStore(f.db.Pool, c.Sealer, c.SealerErr)
	logger := slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	reg, metrics, err := newMetrics(f.st, logger)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := startAdmin(adminConfig{Addr: "127.0.0.1:0", AddrSet: true, Token: token},
		newService(c, f.st, logger, metrics.ObserveAttempt), reg, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	f.base = "http://" + srv.ln.Addr().String()
	t.Cleanup(func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		findSecrets(t, "a response body or a log line", strings.Join(f.bodies, "\n")+f.logs.String(), f.secrets)
		if t.Failed() {
			t.Logf("log:\n%s", f.logs.String())
		}
	})
	return f
}

// apiKey returns a passphrase-protected OpenSSH private key and its public key, made once for
// every fixture: sealing a key with its passphrase (bcrypt) takes more than a second under the
// race detector.
var apiKey = sync.OnceValues(func() (keyPair, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return keyPair{}, err
	}
	block, err := ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte("key passphrase 42"))
	if err != nil {
		return keyPair{}, err
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return keyPair{}, err
	}
	return keyPair{pem: string(pem.EncodeToMemory(block)), pub: sshPub}, nil
})

type keyPair struct {
	pem string
	pub ssh.PublicKey
}

// call makes a request with the token and returns the status and the decoded JSON body.
func (f *apiFixture) call(t *testing.T, method, path string, body any) (int, map[string]any, []any) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		r = bytes.NewReader(j)
	}
	status, raw := f.raw(t, method, path, r, map[string]string{"Authorization": "Bearer " + testToken, "Content-Type": "application/json"})
	var obj map[string]any
	var arr []any
	if len(raw) > 0 {
		if raw[0] == '[' {
			if err := json.Unmarshal(raw, &arr); err != nil {
				t.Fatalf("%s %s: body is not JSON: %v\n%s", method, path, err, raw)
			}
		} else if err := json.Unmarshal(raw, &obj); err != nil {
			t.Fatalf("%s %s: body is not JSON: %v\n%s", method, path, err, raw)
		}
	}
	return status, obj, arr
}

// raw makes a request with exactly the given headers.
func (f *apiFixture) raw(t *testing.T, method, path string, body io.Reader, headers map[string]string) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, f.base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.bodies = append(f.bodies, string(raw))
	f.mu.Unlock()
	if len(raw) > 0 && !strings.HasPrefix(path, "/metrics") && resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("%s %s: Content-Type %q, want application/json", method, path, resp.Header.Get("Content-Type"))
	}
	return resp.StatusCode, raw
}

// wantError checks an error response: its status, code and words.
func wantError(t *testing.T, what string, status int, body map[string]any, wantStatus int, wantCode, wantWords string) {
	t.Helper()
	e, _ := body["error"].(map[string]any)
	if status != wantStatus || e == nil || e["code"] != wantCode || !strings.Contains(fmt.Sprint(e["message"]), wantWords) {
		t.Errorf("%s: %d %v; want %d, code %q and a message with %q", what, status, body, wantStatus, wantCode, wantWords)
	}
}

func (f *apiFixture) counts(t *testing.T) [3]int {
	return [3]int{f.countRows(t, "targets"), f.countRows(t, "destinations"), f.countRows(t, "runs")}
}

// Every endpoint refuses a request without the token or with a wrong one; health, readiness,
// metrics and the OpenAPI document need none.
func TestAPIAuthentication(t *testing.T) {
	t.Parallel()
	f := newAPIFixture(t, testToken)
	id := uuid.NewString()
	routes := []string{"GET /v1/targets", "POST /v1/targets", "GET /v1/targets/" + id, "PATCH /v1/targets/" + id,
		"DELETE /v1/targets/" + id, "GET /v1/destinations", "POST /v1/destinations", "GET /v1/destinations/" + id,
		"POST /v1/destinations/" + id + "/disable", "POST /v1/destinations/" + id + "/enable",
		"POST /v1/destinations/" + id + "/test-send", "POST /v1/destinations/" + id + "/resend",
		"GET /v1/runs", "GET /v1/runs/" + id, "GET /v1/nothing-here", "PUT /v1/targets"}
	for _, rt := range routes {
		method, path, _ := strings.Cut(rt, " ")
		for _, auth := range []string{"", "Bearer wrong-token-0123456789", "Bearer " + testToken + "x", "Basic " + testToken, testToken} {
			status, raw := f.raw(t, method, path, strings.NewReader(`{}`), map[string]string{"Authorization": auth, "Content-Type": "application/json"})
			var body map[string]any
			_ = json.Unmarshal(raw, &body)
			wantError(t, fmt.Sprintf("%s with Authorization %q", rt, auth), status, body, http.StatusUnauthorized, "unauthorized", "token")
		}
	}
	if c := f.counts(t); c != [3]int{} {
		t.Errorf("rows after unauthenticated requests: %v", c)
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/v1/openapi.json"} {
		if status, raw := f.raw(t, "GET", path, nil, nil); status != http.StatusOK {
			t.Errorf("GET %s without a token: %d %s; want 200", path, status, raw)
		}
	}

	// Without a configured token the API is off, whatever is sent.
	off := newAPIFixture(t, "")
	for _, auth := range []string{"", "Bearer ", "Bearer " + testToken} {
		status, raw := off.raw(t, "GET", "/v1/targets", nil, map[string]string{"Authorization": auth})
		var body map[string]any
		_ = json.Unmarshal(raw, &body)
		wantError(t, "API without a token, Authorization "+auth, status, body, http.StatusUnauthorized, "unauthorized", "EVENTEXPORT_ADMIN_TOKEN")
	}
	if status, _ := off.raw(t, "GET", "/healthz", nil, nil); status != http.StatusOK {
		t.Errorf("healthz with the API off: %d", status)
	}
}

// Targets over HTTP: added with secrets that never come back, changed, refused when in use,
// removed; bad input changes nothing.
func TestAPITargets(t *testing.T) {
	t.Parallel()
	f := newAPIFixture(t, testToken)
	status, tgt, _ := f.call(t, "POST", "/v1/targets", map[string]any{
		"name": "Acme SFTP", "host": "127.0.0.1", "port": f.srv.Port(), "user": "acme", "password": "pw" + allSpecial,
		"private_key": f.keyPEM, "private_key_passphrase": "key passphrase 42", "host_key": f.srv.HostKeyPin(), "base_dir": "/acme",
	})
	if status != http.StatusCreated || tgt["has_password"] != true || tgt["has_private_key"] != true || tgt["base_dir"] != "/acme" {
		t.Fatalf("POST /v1/targets: %d %v", status, tgt)
	}
	id := tgt["id"].(string)
	if status, got, _ := f.call(t, "GET", "/v1/targets/"+id, nil); status != 200 || got["name"] != "Acme SFTP" {
		t.Errorf("GET target: %d %v", status, got)
	}
	if status, _, list := f.call(t, "GET", "/v1/targets", nil); status != 200 || len(list) != 1 {
		t.Errorf("GET targets: %d %v", status, list)
	}

	before := f.counts(t)
	for _, tc := range []struct {
		name, method, path string
		body               any
		status             int
		code, words        string
	}{
		{"no name", "POST", "/v1/targets", map[string]any{"url": f.srv.URL("/x")}, 400, "invalid", "name"},
		{"bad url", "POST", "/v1/targets", map[string]any{"name": "x", "url": "ftp://h/x"}, 400, "invalid", "url"},
		{"no credentials", "POST", "/v1/targets", map[string]any{"name": "x", "url": "sftp://u@h/x"}, 400, "invalid", "password"},
		{"bad key", "POST", "/v1/targets", map[string]any{"name": "x", "url": "sftp://u@h/x", "private_key": "not a key"}, 400, "invalid", "private_key"},
		{"bad pin", "POST", "/v1/targets", map[string]any{"name": "x", "url": f.srv.URL("/x"), "host_key": "MD5:zz"}, 400, "invalid", "host_key"},
		{"port", "POST", "/v1/targets", map[string]any{"name": "x", "host": "h", "user": "u", "password": "p", "port": 70000}, 400, "invalid", "70000"},
		{"port type", "POST", "/v1/targets", map[string]any{"name": "x", "host": "h", "user": "u", "password": "p", "port": "22"}, 400, "invalid", "port"},
		{"unknown field", "POST", "/v1/targets", map[string]any{"name": "x", "url": f.srv.URL("/x"), "passwd": "p"}, 400, "unknown_field", "passwd"},
		{"not json", "POST", "/v1/targets", `{"name": "x",`, 400, "invalid_json", "JSON"},
		{"two values", "POST", "/v1/targets", `{"name": "x"} {}`, 400, "invalid_json", "one"},
		{"array", "POST", "/v1/targets", `[]`, 400, "invalid_json", "object"},
		{"empty", "POST", "/v1/targets", ``, 400, "invalid_json", "empty"},
		{"patch nothing", "PATCH", "/v1/targets/" + id, map[string]any{}, 400, "invalid", "nothing to update"},
		{"patch port", "PATCH", "/v1/targets/" + id, map[string]any{"port": 0}, 400, "invalid", "port"},
		{"patch both", "PATCH", "/v1/targets/" + id, map[string]any{"url": f.srv.URL("/y"), "host": "h"}, 400, "invalid", "either a URL"},
		{"patch lockout", "PATCH", "/v1/targets/" + id, map[string]any{"password": "", "private_key": ""}, 400, "invalid", "no password and no private key"},
		{"patch passphrase alone", "PATCH", "/v1/targets/" + id, map[string]any{"private_key_passphrase": "x"}, 400, "invalid", "private_key"},
		{"patch bad pin", "PATCH", "/v1/targets/" + id, map[string]any{"host_key": "nope"}, 400, "invalid", "host_key"},
		{"patch unknown", "PATCH", "/v1/targets/" + uuid.NewString(), map[string]any{"name": "y"}, 404, "not_found", "no target"},
		{"patch not a uuid", "PATCH", "/v1/targets/acme", map[string]any{"name": "y"}, 404, "not_found", "no target"},
		{"get unknown", "GET", "/v1/targets/" + uuid.NewString(), nil, 404, "not_found", "no target"},
		{"delete unknown", "DELETE", "/v1/targets/acme", nil, 404, "not_found", "no target"},
		{"method", "PUT", "/v1/targets/" + id, map[string]any{}, 405, "method_not_allowed", "PUT"},
		{"path", "GET", "/v1/targetz", nil, 404, "not_found", "no such endpoint"},
	} {
		status, body, _ := f.call(t, tc.method, tc.path, tc.body)
		wantError(t, tc.name, status, body, tc.status, tc.code, tc.words)
	}
	if after := f.counts(t); after != before {
		t.Errorf("rows (targets, destinations, runs) went from %v to %v on bad input", before, after)
	}
	if status, got, _ := f.call(t, "GET", "/v1/targets/"+id, nil); status != 200 || got["port"] != float64(f.srv.Port()) || got["has_password"] != true || got["host_key"] != f.srv.HostKeyPin() {
		t.Errorf("target changed by rejected patches: %v", got)
	}

	// Media type and size.
	status, raw := f.raw(t, "POST", "/v1/targets", strings.NewReader(`{"name":"x"}`), map[string]string{"Authorization": "Bearer " + testToken, "Content-Type": "text/plain"})
	var body map[string]any
	_ = json.Unmarshal(raw, &body)
	wantError(t, "text/plain", status, body, 415, "unsupported_media_type", "application/json")
	status, raw = f.raw(t, "POST", "/v1/targets", strings.NewReader(`{"name":"x"}`), map[string]string{"Authorization": "Bearer " + testToken})
	_ = json.Unmarshal(raw, &body)
	wantError(t, "no Content-Type", status, body, 415, "unsupported_media_type", "application/json")
	huge := `{"name":"` + strings.Repeat("x", admin.MaxRequestBody) + `"}`
	status, body, _ = f.call(t, "POST", "/v1/targets", huge)
	wantError(t, "2 MiB body", status, body, 413, "too_large", "larger")
	status, raw = f.raw(t, "PUT", "/v1/targets", nil, map[string]string{"Authorization": "Bearer " + testToken})
	if status != 405 || !bytes.Contains(raw, []byte(`"method_not_allowed"`)) {
		t.Errorf("PUT /v1/targets: %d %s", status, raw)
	}
	if after := f.counts(t); after != before {
		t.Errorf("rows went from %v to %v on refused requests", before, after)
	}

	status, got, _ := f.call(t, "PATCH", "/v1/targets/"+id, map[string]any{"name": "Acme main", "password": "s3cret-of-the-patch", "port": f.srv.Port()})
	if status != 200 || got["name"] != "Acme main" || got["has_password"] != true {
		t.Errorf("PATCH: %d %v", status, got)
	}

	status, dest, _ := f.call(t, "POST", "/v1/destinations", map[string]any{"company_id": f.company, "target_id": id, "path": "salaries", "format": "csv"})
	if status != 201 || dest["target_id"] != id || dest["path"] != "/acme/salaries" {
		t.Fatalf("POST destination on the target: %d %v", status, dest)
	}
	status, body, _ = f.call(t, "DELETE", "/v1/targets/"+id, nil)
	wantError(t, "delete in use", status, body, 409, "target_in_use", dest["id"].(string))

	status, spare, _ := f.call(t, "POST", "/v1/targets", map[string]any{"name": "spare", "url": f.srv.URL("/spare")})
	if status != 201 {
		t.Fatalf("POST spare: %d %v", status, spare)
	}
	if status, raw := f.raw(t, "DELETE", "/v1/targets/"+spare["id"].(string), nil, map[string]string{"Authorization": "Bearer " + testToken}); status != 204 || len(raw) != 0 {
		t.Errorf("DELETE: %d %q; want 204 and no body", status, raw)
	}
	if status, _, _ := f.call(t, "GET", "/v1/targets/"+spare["id"].(string), nil); status != 404 {
		t.Errorf("GET after DELETE: %d", status)
	}
}

// Destinations over HTTP, with the command line's validation: every kind of bad input gets a
// 400 naming the field and changes nothing.
func TestAPIDestinations(t *testing.T) {
	t.Parallel()
	f := newAPIFixture(t, testToken)
	good := func() map[string]any {
		return map[string]any{"company_id": f.company, "url": f.srv.URL("/inbox"), "format": "json", "host_key": f.srv.HostKeyPin(),
			"name": "Acme JSON", "event_types": []string{"courseComplete"}, "start_date": "2026-03-01",
			"alert_url": "https://hooks.example.com/services/T0001/B0001/webhook-secret-path"}
	}
	f.secrets = append(f.secrets, "webhook-secret-path")
	with := func(k string, v any) map[string]any {
		m := good()
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	for _, tc := range []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"no company", with("company_id", nil), "company_id"},
		{"bad company", with("company_id", "acme"), "company_id"},
		{"no format", with("format", nil), "format"},
		{"unknown format", with("format", "xml"), "format"},
		{"unknown event type", with("event_types", []string{"courseStarted"}), "event_types"},
		{"malformed url", with("url", "sftp://u:p@[::1/inbox"), "url"},
		{"no url", with("url", nil), "url"},
		{"bad key", with("private_key", "-----BEGIN OPENSSH PRIVATE KEY-----\nnope\n-----END OPENSSH PRIVATE KEY-----\n"), "private_key"},
		{"bad date", with("start_date", "2026-02-30"), "start_date"},
		{"bad alert url", with("alert_url", "mailto:ops@example.com"), "alert_url"},
		{"target and url", with("target_id", uuid.NewString()), "target_id"},
		{"path without target", with("path", "x"), "path"},
	} {
		before := f.counts(t)
		status, body, _ := f.call(t, "POST", "/v1/destinations", tc.body)
		wantError(t, tc.name, status, body, 400, "invalid", tc.field)
		if e, _ := body["error"].(map[string]any); e != nil && e["field"] != tc.field {
			t.Errorf("%s: field %v, want %s", tc.name, e["field"], tc.field)
		}
		if after := f.counts(t); after != before {
			t.Errorf("%s: rows went from %v to %v", tc.name, before, after)
		}
	}
	status, body, _ := f.call(t, "POST", "/v1/destinations", map[string]any{"company_id": f.company, "target_id": uuid.NewString(), "format": "csv"})
	wantError(t, "unknown target", status, body, 422, "unknown_target", "no shared target")

	status, d, _ := f.call(t, "POST", "/v1/destinations", good())
	if status != 201 || d["company_id"] != f.company || d["start_date"] != "2026-03-01" || d["has_password"] != true || d["enabled"] != true {
		t.Fatalf("POST destination: %d %v", status, d)
	}
	if d["alert_url"] != "https://hooks.example.com/…" {
		t.Errorf("alert_url %q, want it cut to its host", d["alert_url"])
	}
	if !strings.Contains(d["url"].(string), "acme:xxxxx@127.0.0.1") {
		t.Errorf("url %q is not redacted", d["url"])
	}
	id := d["id"].(string)
	if status, got, _ := f.call(t, "GET", "/v1/destinations/"+id, nil); status != 200 || got["name"] != "Acme JSON" {
		t.Errorf("GET destination: %d %v", status, got)
	}
	if status, _, list := f.call(t, "GET", "/v1/destinations", nil); status != 200 || len(list) != 1 {
		t.Errorf("GET destinations: %d %v", status, list)
	}
	if status, got, _ := f.call(t, "POST", "/v1/destinations/"+id+"/disable", nil); status != 200 || got["enabled"] != false {
		t.Errorf("disable: %d %v", status, got)
	}
	if status, got, _ := f.call(t, "POST", "/v1/destinations/"+id+"/enable", nil); status != 200 || got["enabled"] != true {
		t.Errorf("enable: %d %v", status, got)
	}
	for _, path := range []string{"/v1/destinations/" + uuid.NewString(), "/v1/destinations/acme"} {
		status, body, _ := f.call(t, "GET", path, nil)
		wantError(t, "GET "+path, status, body, 404, "not_found", "no destination")
		status, body, _ = f.call(t, "POST", path+"/disable", nil)
		wantError(t, "disable "+path, status, body, 404, "not_found", "no destination")
	}
	status, body, _ = f.call(t, "DELETE", "/v1/destinations/"+id, nil)
	if status != 204 {
		t.Errorf("DELETE destination: %d %v; want 204", status, body)
	}
	status, body, _ = f.call(t, "GET", "/v1/destinations/"+id, nil)
	wantError(t, "GET a removed destination", status, body, 404, "not_found", "no destination")
	status, body, _ = f.call(t, "DELETE", "/v1/destinations/"+id, nil)
	wantError(t, "DELETE a removed destination", status, body, 404, "not_found", "no destination")
}

// A test send over HTTP says whether the file arrived and why not; trust on first use needs
// the explicit accept_host_key; re-sends are queued and the history shows them; /metrics
// follows the attempts. Secrets of a key-authenticated destination stay out of the log.
func TestAPITestSendResendAndRuns(t *testing.T) {
	t.Parallel()
	f := newAPIFixture(t, testToken)
	status, d, _ := f.call(t, "POST", "/v1/destinations", map[string]any{"company_id": f.company, "url": f.srv.URL("/inbox"), "format": "json"})
	if status != 201 || d["host_key"] != "" {
		t.Fatalf("POST destination: %d %v", status, d)
	}
	id := d["id"].(string)

	status, res, _ := f.call(t, "POST", "/v1/destinations/"+id+"/test-send", nil)
	files, _ := res["files"].([]any)
	if status != 200 || res["delivered"] != false || len(files) != 1 {
		t.Fatalf("test-send without a pinned key: %d %v", status, res)
	}
	file := files[0].(map[string]any)
	if file["error_class"] != "host key unknown" || file["presented_host_key"] != f.srv.HostKeyPin() ||
		!strings.Contains(file["hint"].(string), "accept_host_key") || !strings.Contains(file["error"].(string), "not known") {
		t.Errorf("test-send failure: %v; want the class, the presented key, the reason and how to accept it", file)
	}

	status, res, _ = f.call(t, "POST", "/v1/destinations/"+id+"/test-send", map[string]any{"accept_host_key": true})
	files, _ = res["files"].([]any)
	if status != 200 || res["delivered"] != true || len(files) != 1 || files[0].(map[string]any)["pinned_host_key"] != f.srv.HostKeyPin() {
		t.Fatalf("test-send accepting the key: %d %v", status, res)
	}
	remote := files[0].(map[string]any)["remote_path"].(string)
	if _, err := os.Stat(filepath.Join(f.srv.Root(), remote)); err != nil || !strings.Contains(remote, "/inbox/test-courseCompletion-") {
		t.Errorf("test file %q: %v", remote, err)
	}
	status, body, _ := f.call(t, "POST", "/v1/destinations/"+id+"/test-send", map[string]any{"accept_host_key": true})
	wantError(t, "accept with a key pinned", status, body, 409, "host_key_pinned", "already has a pinned host key")
	status, body, _ = f.call(t, "POST", "/v1/destinations/"+id+"/test-send", map[string]any{"accept": true})
	wantError(t, "test-send unknown field", status, body, 400, "unknown_field", "accept")
	status, body, _ = f.call(t, "POST", "/v1/destinations/"+uuid.NewString()+"/test-send", nil)
	wantError(t, "test-send unknown destination", status, body, 404, "not_found", "no destination")

	// A destination with a password and a passphrase-protected key, on a server that refuses
	// the password but takes the key; then one whose server is gone.
	status, keyed, _ := f.call(t, "POST", "/v1/destinations", map[string]any{"company_id": f.company,
		"url": f.keySrv.URL("/drop"), "password": f.srv.Password(), "private_key": f.keyPEM,
		"private_key_passphrase": "key passphrase 42", "host_key": f.keySrv.HostKeyPin(), "format": "csv"})
	if status != 201 || keyed["has_private_key"] != true {
		t.Fatalf("POST keyed destination: %d %v", status, keyed)
	}
	status, res, _ = f.call(t, "POST", "/v1/destinations/"+keyed["id"].(string)+"/test-send", map[string]any{})
	if status != 200 || res["delivered"] != true {
		t.Errorf("test-send with a private key: %d %v", status, res)
	}
	status, gone, _ := f.call(t, "POST", "/v1/destinations", map[string]any{"company_id": f.company,
		"url": "sftp://acme:" + "pw%5D%5B@127.0.0.1:1/inbox", "private_key": f.keyPEM, "private_key_passphrase": "key passphrase 42",
		"host_key": f.srv.HostKeyPin(), "format": "json"})
	if status != 201 {
		t.Fatalf("POST destination: %d %v", status, gone)
	}
	status, res, _ = f.call(t, "POST", "/v1/destinations/"+gone["id"].(string)+"/test-send", nil)
	files, _ = res["files"].([]any)
	if status != 200 || res["delivered"] != false || len(files) != 1 || files[0].(map[string]any)["error_class"] != "refused" {
		t.Errorf("test-send to a closed port: %d %v", status, res)
	}

	// The attempts show in /metrics.
	metrics := f.metrics(t)
	for _, want := range []string{
		`eventexport_attempts_total{error_class="",kind="test",outcome="delivered"} 2`,
		`eventexport_attempts_total{error_class="host key unknown",kind="test",outcome="failed"} 1`,
		`eventexport_attempts_total{error_class="refused",kind="test",outcome="failed"} 1`,
		`eventexport_delivered_events_total{kind="test"} 6`,
		`eventexport_runs{kind="test",status="delivered"} 2`,
		`eventexport_runs{kind="test",status="failed"} 2`,
		`eventexport_attempt_duration_seconds_count{outcome="failed"} 2`,
		`eventexport_database_up 1`,
	} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// Re-sends.
	before := f.counts(t)
	for _, tc := range []struct {
		name  string
		body  any
		field string
	}{
		{"no from", map[string]any{"to": "2026-03-01"}, "from"},
		{"bad from", map[string]any{"from": "2026-02-30"}, "from"},
		{"bad to", map[string]any{"from": "2026-02-01", "to": "03/01/2026"}, "to"},
		{"to before from", map[string]any{"from": "2026-03-09", "to": "2026-03-08"}, "to"},
		{"over a year", map[string]any{"from": "2025-01-01", "to": "2026-01-01"}, "to"},
		{"number", map[string]any{"from": 20260301}, "from"},
	} {
		status, body, _ := f.call(t, "POST", "/v1/destinations/"+id+"/resend", tc.body)
		wantError(t, "resend "+tc.name, status, body, 400, "invalid", tc.field)
	}
	status, body, _ = f.call(t, "POST", "/v1/destinations/"+uuid.NewString()+"/resend", map[string]any{"from": "2026-03-01"})
	wantError(t, "resend unknown destination", status, body, 404, "not_found", "no destination")
	if after := f.counts(t); after != before {
		t.Errorf("rows went from %v to %v on rejected re-sends", before, after)
	}
	status, queued, _ := f.call(t, "POST", "/v1/destinations/"+id+"/resend", map[string]any{"from": "2026-03-07", "to": "2026-03-09"})
	ids, _ := queued["runs"].([]any)
	if status != 202 || len(ids) != 3 {
		t.Fatalf("resend: %d %v", status, queued)
	}
	if m := f.metrics(t); !strings.Contains(m, `eventexport_queue_runs{state="due"} 3`+"\n") {
		t.Errorf("/metrics after queueing 3 re-sends lacks the due queue of 3:\n%s", grepLines(m, "eventexport_queue"))
	}

	// History.
	status, _, runs := f.call(t, "GET", "/v1/runs?destination="+id, nil)
	if status != 200 || len(runs) != 5 { // 3 re-sends and 2 test sends
		t.Fatalf("GET runs: %d, %d runs", status, len(runs))
	}
	first := runs[0].(map[string]any)
	if got := sortedKeys(first); !slices.Equal(got, apiRunKeys) {
		t.Errorf("run keys %v, want %v", got, apiRunKeys)
	}
	status, _, failed := f.call(t, "GET", "/v1/runs?status=failed&limit=10", nil)
	if status != 200 || len(failed) != 2 {
		t.Errorf("GET runs?status=failed: %d %d", status, len(failed))
	}
	status, _, one := f.call(t, "GET", "/v1/runs?limit=1", nil)
	if status != 200 || len(one) != 1 {
		t.Errorf("GET runs?limit=1: %d %d", status, len(one))
	}
	testRun := files[0].(map[string]any)["run_id"].(string)
	status, run, _ := f.call(t, "GET", "/v1/runs/"+testRun, nil)
	attempts, _ := run["attempts"].([]any)
	if status != 200 || run["kind"] != "test" || run["status"] != "failed" || len(attempts) != 1 ||
		attempts[0].(map[string]any)["error_class"] != "refused" || !strings.Contains(run["last_error"].(string), "could not connect") {
		t.Errorf("GET run: %d %v", status, run)
	}
	if got := sortedKeys(attempts[0].(map[string]any)); !slices.Equal(got, apiAttemptKeys) {
		t.Errorf("attempt keys %v, want %v", got, apiAttemptKeys)
	}
	for _, tc := range []struct {
		path, code, words string
		status            int
	}{
		{"/v1/runs?status=lost", "invalid", "status", 400},
		{"/v1/runs?limit=0", "invalid", "limit", 400},
		{"/v1/runs?limit=many", "invalid", "limit", 400},
		{"/v1/runs?destination=acme", "invalid", "UUID", 400},
		{"/v1/runs?destination=" + uuid.NewString(), "not_found", "no destination", 404},
		{"/v1/runs?dest=" + id, "unknown_parameter", "dest", 400},
		{"/v1/runs/" + uuid.NewString(), "not_found", "no run", 404},
		{"/v1/runs/acme", "not_found", "no run", 404},
	} {
		status, body, _ := f.call(t, "GET", tc.path, nil)
		wantError(t, tc.path, status, body, tc.status, tc.code, tc.words)
	}

	// One log line per attempt, with the run's identity.
	var lines int
	for _, l := range strings.Split(f.logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) != nil || (m["msg"] != "delivered" && m["msg"] != "delivery failed") {
			continue
		}
		lines++
		for _, k := range []string{"run", "destination", "day", "attempt", "outcome", "duration", "bytes", "event_type", "kind"} {
			if _, ok := m[k]; !ok {
				t.Errorf("attempt log line lacks %q: %s", k, l)
			}
		}
	}
	if lines != 4 {
		t.Errorf("%d attempt log lines, want 4 (one per attempt)", lines)
	}
}

var apiRunKeys = runKeys

var apiAttemptKeys = []string{"bytes", "error", "error_class", "events", "finished_at", "number", "outcome", "permanent", "started_at"}

func sortedKeys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func (f *apiFixture) metrics(t *testing.T) string {
	t.Helper()
	status, raw := f.raw(t, "GET", "/metrics", nil, nil)
	if status != 200 {
		t.Fatalf("/metrics: %d %s", status, raw)
	}
	return string(raw)
}

func grepLines(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// /readyz fails while the schema is behind this version, and says what to do.
func TestAPIReadiness(t *testing.T) {
	t.Parallel()
	f := newAPIFixture(t, testToken)
	if status, raw := f.raw(t, "GET", "/readyz", nil, nil); status != 200 || !bytes.Contains(raw, []byte(`"ready"`)) {
		t.Fatalf("/readyz: %d %s", status, raw)
	}
	ctx := context.Background()
	if _, err := f.db.Pool.Exec(ctx, `UPDATE eventexport_schema_version SET version = version - 1`); err != nil {
		t.Fatal(err)
	}
	if status, raw := f.raw(t, "GET", "/readyz", nil, nil); status != 503 || !bytes.Contains(raw, []byte("eventexport migrate")) {
		t.Errorf("/readyz with an old schema: %d %s; want 503 and what to run", status, raw)
	}
	for _, v := range []string{"current again", "newer (an upgrade rolling out)"} {
		if _, err := f.db.Pool.Exec(ctx, `UPDATE eventexport_schema_version SET version = version + 1`); err != nil {
			t.Fatal(err)
		}
		if status, raw := f.raw(t, "GET", "/readyz", nil, nil); status != 200 {
			t.Errorf("/readyz with the schema %s: %d %s", v, status, raw)
		}
	}
	if status, raw := f.raw(t, "GET", "/healthz", nil, nil); status != 200 || !bytes.Contains(raw, []byte(`"ok"`)) {
		t.Errorf("/healthz: %d %s", status, raw)
	}
}

// The OpenAPI document names exactly the routes the API serves.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(admin.OpenAPI(), &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi %q, want 3.x", doc.OpenAPI)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			if method != "parameters" {
				documented = append(documented, strings.ToUpper(method)+" "+path)
			}
		}
	}
	served := slices.Clone(admin.Routes())
	sort.Strings(documented)
	sort.Strings(served)
	if !slices.Equal(documented, served) {
		t.Errorf("documented routes:\n%s\nserved routes:\n%s", strings.Join(documented, "\n"), strings.Join(served, "\n"))
	}
	refs := regexp.MustCompile(`"\$ref": "#/components/(schemas|responses)/(\w+)"`).FindAllStringSubmatch(string(admin.OpenAPI()), -1)
	var comps struct {
		Components map[string]map[string]json.RawMessage `json:"components"`
	}
	_ = json.Unmarshal(admin.OpenAPI(), &comps)
	for _, m := range refs {
		if _, ok := comps.Components[m[1]][m[2]]; !ok {
			t.Errorf("$ref to missing %s/%s", m[1], m[2])
		}
	}
}

func TestLoadAdminConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		addr, token string
		wantAddr    string
		wantErr     string
	}{
		{"", "", defaultAdminAddr, ""},
		{"off", "", "", ""},
		{"127.0.0.1:9090", "", "127.0.0.1:9090", ""},
		{"[::1]:9090", "", "[::1]:9090", ""},
		{"localhost:9090", "", "localhost:9090", ""},
		{"0.0.0.0:8080", "", "", "not a loopback address"},
		{":8080", "", "", "not a loopback address"},
		{"10.0.0.5:8080", "", "", "EVENTEXPORT_ADMIN_TOKEN"},
		{"0.0.0.0:8080", testToken, "0.0.0.0:8080", ""},
		{"127.0.0.1:8080", "short", "", "at least 16"},
		{"8080", "", "", "host:port"},
	} {
		ac, err := loadAdminConfig(envOf([]string{"EVENTEXPORT_ADMIN_ADDR=" + tc.addr, "EVENTEXPORT_ADMIN_TOKEN=" + tc.token}))
		switch {
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("addr %q token %q: error %v, want one with %q", tc.addr, tc.token, err, tc.wantErr)
		case tc.wantErr == "" && (err != nil || ac.Addr != tc.wantAddr):
			t.Errorf("addr %q token %q: %q, %v; want %q", tc.addr, tc.token, ac.Addr, err, tc.wantAddr)
		}
	}
}

// serve refuses to expose the API beyond loopback without a token; with one it serves the
// API, health and metrics on the configured address, logging as asked.
func TestServeAdminServer(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	_, errOut, code := cli(t, append(f.env, "EVENTEXPORT_ADMIN_ADDR=0.0.0.0:0"), "serve")
	if code != 2 || !strings.Contains(errOut, "EVENTEXPORT_ADMIN_TOKEN") {
		t.Errorf("serve on 0.0.0.0 without a token: exit %d, %q; want 2 and why", code, errOut)
	}

	cmd := serveCommand(t, append(f.env, "EVENTEXPORT_ADMIN_ADDR=127.0.0.1:0", "EVENTEXPORT_ADMIN_TOKEN="+testToken,
		"EVENTEXPORT_LOG_FORMAT=text", "EVENTEXPORT_SCHEDULE=@every 1h"))
	addr := regexp.MustCompile(`msg="admin server listening" .*addr=(127\.0\.0\.1:\d+)`)
	var m []string
	deadline := time.Now().Add(30 * time.Second)
	for m == nil && time.Now().Before(deadline) {
		m = addr.FindStringSubmatch(cmd.log.String())
		time.Sleep(20 * time.Millisecond)
	}
	if m == nil {
		t.Fatalf("no admin address in the log:\n%s", cmd.log.String())
	}
	get := func(path, token string) int {
		req, _ := http.NewRequest("GET", "http://"+m[1]+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/metrics": 200, "/v1/openapi.json": 200, "/v1/destinations": 401} {
		if got := get(path, ""); got != want {
			t.Errorf("GET %s: %d, want %d", path, got, want)
		}
	}
	if got := get("/v1/destinations", testToken); got != 200 {
		t.Errorf("GET /v1/destinations with the token: %d", got)
	}
	cmd.stop(t)
	if !strings.Contains(cmd.log.String(), `level=INFO msg=serving`) {
		t.Errorf("EVENTEXPORT_LOG_FORMAT=text did not give text lines:\n%s", cmd.log.String())
	}
}

type serveCmd struct {
	cmd  *exec.Cmd
	log  *lockedBuffer
	done chan error
}

func serveCommand(t *testing.T, env []string) *serveCmd {
	t.Helper()
	s := &serveCmd{log: &lockedBuffer{}, done: make(chan error, 1)}
	s.cmd = exec.Command(binary, "serve")
	s.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	s.cmd.Stderr, s.cmd.Stdout = s.log, io.Discard
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	})
	return s
}

func (s *serveCmd) stop(t *testing.T) {
	t.Helper()
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-s.done:
		s.done <- err
		if err != nil {
			t.Errorf("serve exited with %v\n%s", err, s.log.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not stop within 30s of SIGINT")
	}
}
