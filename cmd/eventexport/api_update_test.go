package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/eventexport/eventexport/delivery/sftptest"
)

// getRaw returns the body of a GET exactly as served.
func (f *apiFixture) getRaw(t *testing.T, path string) (int, []byte) {
	t.Helper()
	return f.raw(t, "GET", path, nil, map[string]string{"Authorization": "Bearer " + testToken})
}

// testSendFile makes a test send and returns its one file's outcome.
func (f *apiFixture) testSendFile(t *testing.T, id string, body any) map[string]any {
	t.Helper()
	status, res, _ := f.call(t, "POST", "/v1/destinations/"+id+"/test-send", body)
	files, _ := res["files"].([]any)
	if status != http.StatusOK || len(files) != 1 {
		t.Fatalf("test-send: %d %v", status, res)
	}
	return files[0].(map[string]any)
}

// PATCH changes only the fields given and answers the changed view, the one GET then serves;
// a new URL, password, private key or pin reaches the next delivery; target_id moves the
// destination onto a shared target.
func TestAPIUpdateDestination(t *testing.T) {
	t.Parallel()
	f := newAPIFixture(t, testToken)
	other := sftptest.NewServer(t, sftptest.Options{User: "beta", Password: "other-pw-4711"})
	f.secrets = append(f.secrets, "other-pw-4711", "hook-path-secret")

	status, d, _ := f.call(t, "POST", "/v1/destinations", map[string]any{"company_id": f.company, "url": f.srv.URL("/inbox"),
		"format": "json", "host_key": f.srv.HostKeyPin(), "name": "Acme", "start_date": "2026-03-01"})
	if status != http.StatusCreated {
		t.Fatalf("POST destination: %d %v", status, d)
	}
	id := d["id"].(string)
	path := "/v1/destinations/" + id
	own := updOwnTarget(t, f.fixture, id)

	patch := func(what string, body map[string]any) map[string]any {
		t.Helper()
		status, raw := f.raw(t, "PATCH", path, bytes.NewReader(mustJSON(t, body)),
			map[string]string{"Authorization": "Bearer " + testToken, "Content-Type": "application/json"})
		if status != http.StatusOK {
			t.Fatalf("PATCH %s: %d %s", what, status, raw)
		}
		if _, got := f.getRaw(t, path); !bytes.Equal(got, raw) {
			t.Errorf("PATCH %s answered\n%s\nbut GET serves\n%s", what, raw, got)
		}
		var v map[string]any
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatal(err)
		}
		return v
	}

	v := patch("settings", map[string]any{"name": "Acme payroll", "format": "csv", "start_date": "2026-02-15",
		"event_types": []string{"courseComplete"}, "alert_url": "https://hooks.example.com/services/hook-path-secret"})
	if v["name"] != "Acme payroll" || v["format"] != "csv" || v["start_date"] != "2026-02-15" ||
		v["alert_url"] != "https://hooks.example.com/…" || v["company_id"] != f.company || v["host_key"] != f.srv.HostKeyPin() ||
		v["created_at"] != d["created_at"] || v["url"] != d["url"] {
		t.Errorf("PATCH settings: %v", v)
	}
	if file := f.testSendFile(t, id, nil); file["delivered"] != true || !strings.HasSuffix(file["remote_path"].(string), ".csv") {
		t.Errorf("test-send after format csv: %v", file)
	}
	v = patch("alert_url ''", map[string]any{"alert_url": ""})
	if _, ok := v["alert_url"]; ok || v["name"] != "Acme payroll" {
		t.Errorf("PATCH alert_url '': %v; want no alert_url and the rest unchanged", v)
	}

	// Another server: its URL's password and its pin reach the next delivery.
	v = patch("url", map[string]any{"url": other.URL("/drop"), "host_key": other.HostKeyPin()})
	if v["user"] != "beta" || v["port"] != float64(other.Port()) || v["path"] != "/drop" || v["has_password"] != true {
		t.Errorf("PATCH url: %v", v)
	}
	if updOwnTarget(t, f.fixture, id) != own {
		t.Errorf("a URL of the same kind replaced the destination's own target")
	}
	file := f.testSendFile(t, id, nil)
	if file["delivered"] != true || !strings.HasPrefix(file["remote_path"].(string), "/drop/") {
		t.Fatalf("test-send to the new server: %v", file)
	}
	if _, err := os.Stat(filepath.Join(other.Root(), file["remote_path"].(string))); err != nil {
		t.Errorf("the file on the new server: %v", err)
	}

	// A wrong password fails the delivery, the right one mends it.
	patch("wrong password", map[string]any{"password": "s3cret-of-the-patch"})
	if file := f.testSendFile(t, id, nil); file["delivered"] != false || file["error_class"] != "auth failed" ||
		!strings.Contains(file["error"].(string), "authentication failed") {
		t.Errorf("test-send with the wrong password: %v", file)
	}
	patch("right password", map[string]any{"password": "other-pw-4711"})
	if file := f.testSendFile(t, id, nil); file["delivered"] != true {
		t.Errorf("test-send with the right password: %v", file)
	}

	// Pins: a wrong one is refused, none is unknown, accept pins again.
	patch("wrong pin", map[string]any{"host_key": updOtherPin(t)})
	if file := f.testSendFile(t, id, nil); file["delivered"] != false || file["error_class"] != "host key mismatch" {
		t.Errorf("test-send with another pin: %v", file)
	}
	if v := patch("unpin", map[string]any{"host_key": ""}); v["host_key"] != "" {
		t.Errorf("PATCH host_key '': %v", v)
	}
	if file := f.testSendFile(t, id, nil); file["error_class"] != "host key unknown" || file["presented_host_key"] != other.HostKeyPin() {
		t.Errorf("test-send unpinned: %v", file)
	}
	if file := f.testSendFile(t, id, map[string]any{"accept_host_key": true}); file["delivered"] != true || file["pinned_host_key"] != other.HostKeyPin() {
		t.Errorf("test-send accepting the key: %v", file)
	}

	// A private key with its passphrase, on a server that takes only the key.
	v = patch("private key", map[string]any{"url": f.keySrv.URL("/keyed"), "private_key": f.keyPEM,
		"private_key_passphrase": "key passphrase 42", "host_key": f.keySrv.HostKeyPin()})
	if v["has_private_key"] != true || v["user"] != "keyed" {
		t.Errorf("PATCH private key: %v", v)
	}
	if file := f.testSendFile(t, id, nil); file["delivered"] != true || !strings.HasPrefix(file["remote_path"].(string), "/keyed/") {
		t.Errorf("test-send with the private key: %v", file)
	}

	// Onto a shared target: the destination's own target and secrets go.
	status, tgt, _ := f.call(t, "POST", "/v1/targets", map[string]any{"name": "shared", "url": f.srv.URL("/shared"), "host_key": f.srv.HostKeyPin()})
	if status != http.StatusCreated {
		t.Fatalf("POST target: %d %v", status, tgt)
	}
	v = patch("target_id", map[string]any{"target_id": tgt["id"], "path": "acme"})
	if v["target_id"] != tgt["id"] || v["path"] != "/shared/acme" || v["user"] != "acme" {
		t.Errorf("PATCH target_id: %v", v)
	}
	if updTargetExists(t, f.fixture, own) || updSecretCount(t, f.fixture, own) != 0 {
		t.Errorf("the former own target or its secrets remain after moving onto a shared target")
	}
	if file := f.testSendFile(t, id, nil); file["delivered"] != true || !strings.HasPrefix(file["remote_path"].(string), "/shared/acme/") {
		t.Errorf("test-send on the shared target: %v", file)
	}
	status, body, _ := f.call(t, "PATCH", path, map[string]any{"password": "s3cret-of-the-patch"})
	wantError(t, "PATCH password on a shared target", status, body, 400, "invalid", "targets update")
	status, body, _ = f.call(t, "DELETE", "/v1/targets/"+tgt["id"].(string), nil)
	wantError(t, "DELETE the target in use", status, body, 409, "target_in_use", id)
}

// Bad input to PATCH is a 400 naming the field (404 for an unknown id), and changes nothing.
func TestAPIUpdateDestinationBadInput(t *testing.T) {
	t.Parallel()
	f := newAPIFixture(t, testToken)
	status, d, _ := f.call(t, "POST", "/v1/destinations", map[string]any{"company_id": f.company, "url": f.srv.URL("/inbox"),
		"format": "json", "host_key": f.srv.HostKeyPin(), "name": "Acme", "alert_url": "https://hooks.example.com/x"})
	if status != http.StatusCreated {
		t.Fatalf("POST destination: %d %v", status, d)
	}
	id := d["id"].(string)
	path := "/v1/destinations/" + id
	_, before := f.getRaw(t, path)
	rows := f.counts(t)
	secrets := f.countRows(t, "target_secrets")

	for _, tc := range []struct {
		name        string
		path        string
		body        any
		status      int
		code, field string
		words       string
	}{
		{"nothing", path, map[string]any{}, 400, "invalid", "", "nothing to update"},
		{"malformed url", path, map[string]any{"url": "sftp://u:p@[::1/inbox"}, 400, "invalid", "url", "url"},
		{"bad scheme", path, map[string]any{"url": "ftp://u:p@h/x"}, 400, "invalid", "url", "url"},
		{"bad port in url", path, map[string]any{"url": "sftp://u:p@127.0.0.1:70000/x"}, 400, "invalid", "url", "70000"},
		{"bad port", path, map[string]any{"port": 70000}, 400, "invalid", "port", "70000"},
		{"port type", path, map[string]any{"port": "22"}, 400, "invalid", "port", "port"},
		{"unknown format", path, map[string]any{"format": "xml"}, 400, "invalid", "format", "xml"},
		{"format type", path, map[string]any{"format": 1}, 400, "invalid", "format", "format"},
		{"bad date", path, map[string]any{"start_date": "2026-02-30"}, 400, "invalid", "start_date", "start_date"},
		{"bad key", path, map[string]any{"private_key": "not a key"}, 400, "invalid", "private_key", "private_key"},
		{"passphrase alone", path, map[string]any{"private_key_passphrase": "x"}, 400, "invalid", "private_key_passphrase", "private_key"},
		{"bad pin", path, map[string]any{"host_key": "MD5:zz"}, 400, "invalid", "host_key", "host_key"},
		{"bad alert url", path, map[string]any{"alert_url": "mailto:ops@example.com"}, 400, "invalid", "alert_url", "alert_url"},
		{"no event types", path, map[string]any{"event_types": []string{}}, 400, "invalid", "event_types", "event type"},
		{"unknown event type", path, map[string]any{"event_types": []string{"courseStarted"}}, 400, "invalid", "event_types", "courseStarted"},
		{"company", path, map[string]any{"company_id": uuid.NewString()}, 400, "invalid", "company_id", "cannot change"},
		{"kind", path, map[string]any{"kind": "sftp"}, 400, "invalid", "kind", "kind"},
		{"lockout", path, map[string]any{"password": ""}, 400, "invalid", "password", "no password"},
		{"path without target", path, map[string]any{"path": "x"}, 400, "invalid", "path", "path"},
		{"target not a uuid", path, map[string]any{"target_id": "acme"}, 400, "invalid", "target_id", "target"},
		{"target and url", path, map[string]any{"target_id": uuid.NewString(), "url": f.srv.URL("/x")}, 400, "invalid", "target_id", "either a target or a URL"},
		{"unknown target", path, map[string]any{"target_id": uuid.NewString()}, 422, "unknown_target", "target_id", "no shared target"},
		{"one bad among good", path, map[string]any{"name": "Changed", "url": f.srv.URL("/changed"), "start_date": "soon"}, 400, "invalid", "start_date", "start_date"},
		{"unknown field", path, map[string]any{"name": "x", "passwd": "s3cret-of-the-patch"}, 400, "unknown_field", "passwd", "passwd"},
		{"not json", path, `{"name": "x",`, 400, "invalid_json", "", "JSON"},
		{"empty", path, ``, 400, "invalid_json", "", "empty"},
		{"array", path, `[]`, 400, "invalid_json", "", "object"},
		{"unknown id", "/v1/destinations/" + uuid.NewString(), map[string]any{"name": "x"}, 404, "not_found", "", "no destination"},
		{"not a uuid", "/v1/destinations/acme", map[string]any{"name": "x"}, 404, "not_found", "", "no destination"},
	} {
		status, body, _ := f.call(t, "PATCH", tc.path, tc.body)
		wantError(t, tc.name, status, body, tc.status, tc.code, tc.words)
		if e, _ := body["error"].(map[string]any); tc.field != "" && (e == nil || e["field"] != tc.field) {
			t.Errorf("%s: error %v; want field %q", tc.name, e, tc.field)
		}
		if _, after := f.getRaw(t, path); !bytes.Equal(after, before) {
			t.Errorf("%s changed the destination:\n%s\n%s", tc.name, before, after)
		}
		if got := f.counts(t); got != rows || f.countRows(t, "target_secrets") != secrets {
			t.Errorf("%s: rows went from %v to %v", tc.name, rows, got)
		}
	}
	if file := f.testSendFile(t, id, nil); file["delivered"] != true || !strings.HasPrefix(file["remote_path"].(string), "/inbox/") {
		t.Errorf("test-send after rejected patches: %v", file)
	}
}

// DELETE removes a destination and its secrets (204); it is then not found, but its runs stay
// listed, and a re-send queued before fails saying the destination was removed.
func TestAPIRemoveDestination(t *testing.T) {
	t.Parallel()
	f := newAPIFixture(t, testToken)
	status, d, _ := f.call(t, "POST", "/v1/destinations", map[string]any{"company_id": f.company, "url": f.keySrv.URL("/k"),
		"private_key": f.keyPEM, "private_key_passphrase": "key passphrase 42", "host_key": f.keySrv.HostKeyPin(), "format": "json"})
	if status != http.StatusCreated {
		t.Fatalf("POST destination: %d %v", status, d)
	}
	id := d["id"].(string)
	status, keep, _ := f.call(t, "POST", "/v1/destinations", map[string]any{"company_id": f.company, "url": f.srv.URL("/inbox"),
		"format": "csv", "host_key": f.srv.HostKeyPin()})
	if status != http.StatusCreated {
		t.Fatalf("POST destination: %d %v", status, keep)
	}
	target := updOwnTarget(t, f.fixture, id)
	if n := updSecretCount(t, f.fixture, target); n != 2 {
		t.Fatalf("%d secrets stored, want 2 (key and passphrase)", n)
	}
	sent := f.testSendFile(t, id, nil)
	if sent["delivered"] != true {
		t.Fatalf("test-send: %v", sent)
	}
	status, queued, _ := f.call(t, "POST", "/v1/destinations/"+id+"/resend", map[string]any{"from": "2026-03-07"})
	runIDs, _ := queued["runs"].([]any)
	if status != http.StatusAccepted || len(runIDs) != 1 {
		t.Fatalf("resend: %d %v", status, queued)
	}

	status, raw := f.raw(t, "DELETE", "/v1/destinations/"+id, nil, map[string]string{"Authorization": "Bearer " + testToken})
	if status != http.StatusNoContent || len(raw) != 0 {
		t.Fatalf("DELETE: %d %q; want 204 and no body", status, raw)
	}
	status, body, _ := f.call(t, "GET", "/v1/destinations/"+id, nil)
	wantError(t, "GET after DELETE", status, body, 404, "not_found", "no destination")
	if status, _, list := f.call(t, "GET", "/v1/destinations", nil); status != 200 || len(list) != 1 || list[0].(map[string]any)["id"] != keep["id"] {
		t.Errorf("GET destinations after DELETE: %d %v", status, list)
	}

	status, _, runs := f.call(t, "GET", "/v1/runs?destination="+id, nil)
	if status != http.StatusOK || len(runs) != 2 {
		t.Fatalf("GET runs of the removed destination: %d %v", status, runs)
	}
	for _, r := range runs {
		run := r.(map[string]any)
		switch run["kind"] {
		case "test":
			if run["status"] != "delivered" || run["id"] != sent["run_id"] {
				t.Errorf("the test run after DELETE: %v", run)
			}
		case "resend":
			if run["id"] != runIDs[0] || run["status"] != "failed" || !strings.Contains(run["last_error"].(string), "destination was removed") {
				t.Errorf("the queued re-send after DELETE: %v; want failed, saying the destination was removed", run)
			}
		default:
			t.Errorf("unexpected run %v", run)
		}
	}
	if status, run, _ := f.call(t, "GET", "/v1/runs/"+runIDs[0].(string), nil); status != 200 || run["status"] != "failed" || run["destination_id"] != id {
		t.Errorf("GET the re-send's run: %d %v", status, run)
	}
	if n := updSecretCount(t, f.fixture, target); n != 0 || updTargetExists(t, f.fixture, target) {
		t.Errorf("%d secrets of the removed destination remain (target kept: %v)", n, updTargetExists(t, f.fixture, target))
	}

	for _, tc := range []struct {
		method, path string
		body         any
	}{
		{"DELETE", "/v1/destinations/" + id, nil},
		{"PATCH", "/v1/destinations/" + id, map[string]any{"name": "back"}},
		{"POST", "/v1/destinations/" + id + "/enable", nil},
		{"POST", "/v1/destinations/" + id + "/test-send", nil},
		{"POST", "/v1/destinations/" + id + "/resend", map[string]any{"from": "2026-03-08"}},
		{"DELETE", "/v1/destinations/" + uuid.NewString(), nil},
		{"DELETE", "/v1/destinations/acme", nil},
	} {
		before := f.counts(t)
		status, body, _ := f.call(t, tc.method, tc.path, tc.body)
		wantError(t, tc.method+" "+tc.path, status, body, 404, "not_found", "no destination")
		if after := f.counts(t); after != before {
			t.Errorf("%s %s: rows went from %v to %v", tc.method, tc.path, before, after)
		}
	}
	if file := f.testSendFile(t, keep["id"].(string), nil); file["delivered"] != true {
		t.Errorf("the other destination after DELETE: %v", file)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
