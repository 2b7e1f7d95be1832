package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/csv"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/crypto/ssh"

	"github.com/eventexport/eventexport/delivery/sftptest"
	"github.com/eventexport/eventexport/events"
	"github.com/eventexport/eventexport/events/eventstest"
)

// updOK runs a command that must succeed and returns its stdout.
func updOK(t *testing.T, f *fixture, args ...string) string {
	t.Helper()
	out, errOut, code := cli(t, f.env, args...)
	if code != 0 {
		t.Fatalf("%v: exit %d\nstdout:\n%s\nstderr:\n%s", args, code, out, errOut)
	}
	return out
}

// updShow returns "destinations show ID --json" exactly as printed.
func updShow(t *testing.T, f *fixture, id string) string {
	t.Helper()
	return updOK(t, f, "destinations", "show", id, "--json")
}

// updView returns the destination's view as "destinations show --json" prints it.
func updView(t *testing.T, f *fixture, id string) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(updShow(t, f, id)), &v); err != nil {
		t.Fatalf("destinations show --json: %v", err)
	}
	return v
}

// updFile writes a file of the test and returns its path.
func updFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

var updRunLine = regexp.MustCompile(`^(/\S*/courseCompletion-\d+_\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-[0-9a-z]{7}\.(json|csv))\t(\d+) events\t(\d+) bytes$`)

// updRun delivers a day now with "run" and returns the remote path of the file.
func updRun(t *testing.T, f *fixture, id, date string) string {
	t.Helper()
	out := updOK(t, f, "run", "--destination", id, "--date", date)
	m := updRunLine.FindStringSubmatch(strings.TrimSpace(out))
	if m == nil {
		t.Fatalf("run printed %q; want the remote path, event count and bytes", out)
	}
	return m[1]
}

// updRunFails runs "run", which must fail to deliver (exit 1), and returns its stderr.
func updRunFails(t *testing.T, f *fixture, id, date string) string {
	t.Helper()
	out, errOut, code := cli(t, f.env, "run", "--destination", id, "--date", date)
	if code != 1 {
		t.Fatalf("run: exit %d, want 1 (delivery failed)\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	return errOut
}

// updOwnTarget returns the id of the target a destination delivers to, from the database.
func updOwnTarget(t *testing.T, f *fixture, id string) string {
	t.Helper()
	var target string
	if err := f.db.Pool.QueryRow(context.Background(), `SELECT coalesce(target_id::text, '') FROM destinations WHERE id = $1`, id).Scan(&target); err != nil {
		t.Fatal(err)
	}
	return target
}

// updSecretCount counts the stored secrets of a target.
func updSecretCount(t *testing.T, f *fixture, target string) int {
	t.Helper()
	var n int
	if err := f.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM target_secrets WHERE target_id = $1`, target).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func updTargetExists(t *testing.T, f *fixture, target string) bool {
	t.Helper()
	var ok bool
	if err := f.db.Pool.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM targets WHERE id = $1)`, target).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	return ok
}

// updOtherPin is the SHA256 fingerprint of a key no server in the test has.
func updOtherPin(t *testing.T) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return ssh.FingerprintSHA256(k)
}

// A new --url moves the destination to another server and directory: the next delivery goes
// there, logging in with the new URL's password; a URL on the same server keeps the pinned
// host key.
func TestDestinationsUpdateURL(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.addDestination(t, "json", "--name", "Acme")
	first := updRun(t, f, id, "2026-03-02")
	if !strings.HasPrefix(first, "/inbox/") {
		t.Fatalf("first delivery went to %s, want /inbox", first)
	}

	// Another directory on the same server: the pin still holds.
	out := updOK(t, f, "destinations", "update", id, "--url", f.srv.URL("/moved"))
	if !strings.Contains(out, id) || !strings.Contains(out, "/moved") || strings.Contains(out, allSpecial) {
		t.Errorf("update printed %q; want the id and the new redacted URL", out)
	}
	p := updRun(t, f, id, "2026-03-03")
	if !strings.HasPrefix(p, "/moved/") {
		t.Errorf("delivery after --url went to %s, want /moved", p)
	}
	if _, err := os.Stat(filepath.Join(f.srv.Root(), p)); err != nil {
		t.Errorf("file in the new directory: %v", err)
	}

	// Another server, which takes only its own password.
	other := sftptest.NewServer(t, sftptest.Options{User: "beta", Password: "b3ta pw/@:x"})
	updOK(t, f, "destinations", "update", id, "--url", other.URL("/drop"), "--host-key", other.HostKeyPin())
	v := updView(t, f, id)
	if v["port"] != float64(other.Port()) || v["user"] != "beta" || v["host_key"] != other.HostKeyPin() ||
		v["has_password"] != true || v["name"] != "Acme" || v["format"] != "json" {
		t.Errorf("after --url to another server, show = %v", v)
	}
	p = updRun(t, f, id, "2026-03-04")
	if !strings.HasPrefix(p, "/drop/") {
		t.Errorf("delivery after --url to another server went to %s, want /drop", p)
	}
	if _, err := os.Stat(filepath.Join(other.Root(), p)); err != nil {
		t.Errorf("file on the new server: %v", err)
	}
	if _, err := os.Stat(filepath.Join(f.srv.Root(), p)); err == nil {
		t.Errorf("file %s arrived on the old server", p)
	}
	show := updOK(t, f, "destinations", "show", id)
	if strings.Contains(show, "b3ta pw") || strings.Contains(show, "b3ta%20pw") {
		t.Errorf("show prints the new password:\n%s", show)
	}
}

// --password-file replaces the stored password: a wrong one makes the next delivery fail
// with "authentication failed", the right one makes it succeed.
func TestDestinationsUpdatePasswordFile(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.addDestination(t, "json")
	target := updOwnTarget(t, f, id)
	wrong := updFile(t, "wrong", "not the password\n")
	right := updFile(t, "right", "pw"+allSpecial+"\n")

	updOK(t, f, "destinations", "update", id, "--password-file", wrong)
	if updOwnTarget(t, f, id) != target {
		t.Errorf("a password change replaced the destination's target")
	}
	errOut := updRunFails(t, f, id, "2026-03-02")
	if !strings.Contains(errOut, "authentication failed") {
		t.Errorf("run with the wrong password: stderr %q; want authentication failed", errOut)
	}
	var sealed []byte
	if err := f.db.Pool.QueryRow(context.Background(), `SELECT sealed FROM target_secrets WHERE target_id = $1 AND name = 'password'`, target).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("not the password")) {
		t.Errorf("the new password is stored in the clear")
	}

	updOK(t, f, "destinations", "update", id, "--password-file", right)
	p := updRun(t, f, id, "2026-03-03")
	if _, err := os.Stat(filepath.Join(f.srv.Root(), p)); err != nil {
		t.Errorf("delivery after fixing the password: %v", err)
	}
	if v := updView(t, f, id); v["has_password"] != true {
		t.Errorf("show after the password change: %v", v)
	}
}

// --private-key (with --key-passphrase-file) adds a key the server accepts; a file that is
// not a key is refused and changes nothing.
func TestDestinationsUpdatePrivateKey(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte("open sesame"))
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	keyed := sftptest.NewServer(t, sftptest.Options{User: "keyed", AuthorizedKeys: []ssh.PublicKey{sshPub}})
	keyFile := updFile(t, "id_ed25519", string(pem.EncodeToMemory(block)))
	passFile := updFile(t, "passphrase", "open sesame\n")
	notKey := updFile(t, "not-a-key", "-----BEGIN OPENSSH PRIVATE KEY-----\nnope\n-----END OPENSSH PRIVATE KEY-----\n")

	url := strings.Replace(keyed.URL("/drop"), "keyed@", "keyed:guess@", 1)
	out := updOK(t, f, "destinations", "add", "--company", f.company, "--url", url, "--format", "json", "--host-key", keyed.HostKeyPin())
	id := strings.TrimSpace(out)
	if errOut := updRunFails(t, f, id, "2026-03-02"); !strings.Contains(errOut, "authentication failed") {
		t.Errorf("run with only a password the server refuses: %q", errOut)
	}

	before := updShow(t, f, id)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"not a key", []string{"--private-key", notKey}, "--private-key:"},
		{"wrong passphrase", []string{"--private-key", keyFile, "--key-passphrase-file", updFile(t, "wrong", "nope")}, "--private-key:"},
		{"missing file", []string{"--private-key", "/nonexistent/key"}, "--private-key"},
		{"passphrase alone", []string{"--key-passphrase-file", passFile}, "--key-passphrase-file:"},
	} {
		_, errOut, code := cli(t, f.env, append([]string{"destinations", "update", id}, tc.args...)...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want 2 and %q", tc.name, code, errOut, tc.want)
		}
		if after := updShow(t, f, id); after != before {
			t.Errorf("%s: show changed from\n%s\nto\n%s", tc.name, before, after)
		}
	}

	updOK(t, f, "destinations", "update", id, "--private-key", keyFile, "--key-passphrase-file", passFile)
	if v := updView(t, f, id); v["has_private_key"] != true || v["has_password"] != true {
		t.Errorf("after --private-key, show = %v; want a password and a private key", v)
	}
	p := updRun(t, f, id, "2026-03-03")
	if _, err := os.Stat(filepath.Join(keyed.Root(), p)); err != nil {
		t.Errorf("delivery with the new key: %v", err)
	}
	if n := updSecretCount(t, f, updOwnTarget(t, f, id)); n != 3 {
		t.Errorf("%d secrets stored, want 3 (password, key, passphrase)", n)
	}
}

// --host-key changes the pin: a wrong fingerprint refuses delivery, an empty one unpins
// (test-send says the key is unknown), and test-send --accept-host-key pins the server's key again.
func TestDestinationsUpdateHostKey(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.addDestination(t, "json")

	updOK(t, f, "destinations", "update", id, "--host-key", updOtherPin(t))
	if errOut := updRunFails(t, f, id, "2026-03-02"); !strings.Contains(errOut, "HOST KEY MISMATCH") || !strings.Contains(errOut, f.srv.HostKeyPin()) {
		t.Errorf("run with another pin: stderr %q; want a host key mismatch naming the presented key", errOut)
	}

	_, errOut, code := cli(t, f.env, "destinations", "update", id, "--host-key", "")
	if code != 0 || !strings.Contains(errOut, "no host key is pinned") {
		t.Fatalf("update --host-key '': exit %d, stderr %q; want 0 and a note that nothing is pinned", code, errOut)
	}
	if v := updView(t, f, id); v["host_key"] != "" {
		t.Errorf("after unpinning, host_key = %v", v["host_key"])
	}
	out, _, code := cli(t, f.env, "test-send", id)
	if code != 1 || !strings.Contains(out, "is not known") || !strings.Contains(out, f.srv.HostKeyPin()) || !strings.Contains(out, "--accept-host-key") {
		t.Errorf("test-send unpinned: exit %d, %q; want 1, the key unknown, the presented key and how to accept it", code, out)
	}
	if entries, _ := os.ReadDir(filepath.Join(f.srv.Root(), "inbox")); len(entries) != 0 {
		t.Errorf("files arrived without a pinned key: %v", entries)
	}

	out = updOK(t, f, "test-send", id, "--accept-host-key")
	if !strings.Contains(out, "pinned host key "+f.srv.HostKeyPin()) {
		t.Errorf("test-send --accept-host-key printed %q", out)
	}
	if v := updView(t, f, id); v["host_key"] == "" {
		t.Errorf("no key pinned after --accept-host-key: %v", v)
	}
	updRun(t, f, id, "2026-03-03")

	// The server's fingerprint pinned by update works as well.
	updOK(t, f, "destinations", "update", id, "--host-key", f.srv.HostKeyPin())
	if v := updView(t, f, id); v["host_key"] != f.srv.HostKeyPin() {
		t.Errorf("host_key = %v, want %s", v["host_key"], f.srv.HostKeyPin())
	}
	updRun(t, f, id, "2026-03-04")
}

// --format takes effect from the next run: a json destination changed to csv delivers a .csv
// with a header row; the earlier run keeps its .json file.
func TestDestinationsUpdateFormat(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.addDestination(t, "json")
	ny, _ := time.LoadLocation("America/New_York")
	for _, d := range []events.Day{{Year: 2026, Month: time.March, Day: 2}, {Year: 2026, Month: time.March, Day: 3}} {
		eventstest.Generate(t, f.db.Pool, f.company, d.Window(ny), 4)
	}

	first := updRun(t, f, id, "2026-03-02")
	if !strings.HasSuffix(first, ".json") {
		t.Fatalf("first run wrote %s", first)
	}
	updOK(t, f, "destinations", "update", id, "--format", "csv")
	if v := updView(t, f, id); v["format"] != "csv" {
		t.Errorf("format after update = %v", v["format"])
	}
	p := updRun(t, f, id, "2026-03-03")
	if !strings.HasSuffix(p, ".csv") {
		t.Fatalf("run after --format csv wrote %s", p)
	}
	body, err := os.ReadFile(filepath.Join(f.srv.Root(), p))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("the file is not CSV: %v\n%s", err, body)
	}
	if len(recs) != 5 || len(recs[0]) != len(events.CourseComplete.Columns) || recs[0][0] != "id" || recs[0][1] != "source" {
		t.Errorf("CSV has %d records, header %v; want a header row and 4 events", len(recs), recs[0])
	}

	out := updOK(t, f, "runs", "list", "--destination", id, "--json")
	var runs []map[string]any
	if err := json.Unmarshal([]byte(out), &runs); err != nil || len(runs) != 2 {
		t.Fatalf("runs list: %v, %s", err, out)
	}
	if runs[1]["remote_path"] != first || !strings.HasSuffix(runs[1]["file_name"].(string), ".json") {
		t.Errorf("the earlier run = %v; want its .json file unchanged", runs[1])
	}
}

// --name, --start-date, --alert-url (an empty one removes it) and --events change only
// themselves.
func TestDestinationsUpdateSettings(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.addDestination(t, "csv", "--name", "Acme", "--start-date", "2026-03-01")
	start := updView(t, f, id)

	check := func(what string, want map[string]any, gone ...string) {
		t.Helper()
		v := updView(t, f, id)
		for k, w := range want {
			if v[k] != w {
				t.Errorf("%s: %s = %v, want %v", what, k, v[k], w)
			}
		}
		for _, k := range gone {
			if _, ok := v[k]; ok {
				t.Errorf("%s: %s = %v, want none", what, k, v[k])
			}
		}
		for k, was := range start {
			if _, changed := want[k]; changed {
				continue
			}
			if !jsonEqual(v[k], was) {
				t.Errorf("%s changed %s from %v to %v", what, k, was, v[k])
			}
		}
	}

	updOK(t, f, "destinations", "update", id, "--name", "Acme payroll")
	check("--name", map[string]any{"name": "Acme payroll"})
	updOK(t, f, "destinations", "update", id, "--start-date", "2026-02-15")
	check("--start-date", map[string]any{"name": "Acme payroll", "start_date": "2026-02-15"})
	updOK(t, f, "destinations", "update", id, "--alert-url", "https://hooks.example.com/services/T1/B1/secret-part")
	check("--alert-url", map[string]any{"name": "Acme payroll", "start_date": "2026-02-15", "alert_url": "https://hooks.example.com/…"})
	if out := updOK(t, f, "destinations", "show", id); strings.Contains(out, "secret-part") {
		t.Errorf("show prints the webhook's secret path:\n%s", out)
	}
	var stored string
	if err := f.db.Pool.QueryRow(context.Background(), `SELECT alert_url FROM destinations WHERE id = $1`, id).Scan(&stored); err != nil ||
		stored != "https://hooks.example.com/services/T1/B1/secret-part" {
		t.Errorf("stored alert_url = %q (%v)", stored, err)
	}
	updOK(t, f, "destinations", "update", id, "--alert-url", "")
	check("--alert-url ''", map[string]any{"name": "Acme payroll", "start_date": "2026-02-15"}, "alert_url")
	updOK(t, f, "destinations", "update", id, "--events", "courseComplete", "--name", "Acme all")
	v := updView(t, f, id)
	if ev, _ := v["event_types"].([]any); len(ev) != 1 || ev[0] != "courseComplete" || v["name"] != "Acme all" {
		t.Errorf("--events courseComplete --name: %v", v)
	}
	updOK(t, f, "destinations", "update", id, "--name", "")
	check("--name ''", map[string]any{"name": "", "start_date": "2026-02-15"})
}

func jsonEqual(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// Bad input to update exits 2 with a message naming the flag, and changes nothing.
func TestDestinationsUpdateBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.addDestination(t, "json", "--name", "Acme", "--alert-url", "https://hooks.example.com/a/b")
	target := updOwnTarget(t, f, id)
	notKey := updFile(t, "not-a-key", "this is not a key\n")
	before := updShow(t, f, id)
	counts := func() [4]int {
		return [4]int{f.countRows(t, "targets"), f.countRows(t, "target_secrets"), f.countRows(t, "destinations"), f.countRows(t, "runs")}
	}
	rows := counts()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown id", []string{"destinations", "update", uuid.NewString(), "--name", "x"}, "no destination with id"},
		{"not a uuid", []string{"destinations", "update", "acme", "--name", "x"}, "no destination with id"},
		{"no flags", []string{"destinations", "update", id}, "nothing to update"},
		{"no id", []string{"destinations", "update", "--name", "x"}, "argument"},
		{"malformed url", []string{"destinations", "update", id, "--url", "sftp://u:p@[::1/inbox"}, "--url:"},
		{"url without host", []string{"destinations", "update", id, "--url", "sftp://u:p@:22/x"}, "--url:"},
		{"bad scheme", []string{"destinations", "update", id, "--url", "ftp://u:p@host/x"}, "--url:"},
		{"empty url", []string{"destinations", "update", id, "--url", ""}, "--url:"},
		{"bad port", []string{"destinations", "update", id, "--url", "sftp://u:p@127.0.0.1:70000/x"}, "--url:"},
		{"port not a number", []string{"destinations", "update", id, "--url", "sftp://u:p@127.0.0.1:ssh/x"}, "--url:"},
		{"port flag", []string{"destinations", "update", id, "--port", "2222"}, "-port"},
		{"unknown format", []string{"destinations", "update", id, "--format", "xml"}, "--format:"},
		{"empty format", []string{"destinations", "update", id, "--format", ""}, "--format:"},
		{"bad date", []string{"destinations", "update", id, "--start-date", "2026-02-30"}, "--start-date:"},
		{"empty date", []string{"destinations", "update", id, "--start-date", ""}, "--start-date:"},
		{"not a key", []string{"destinations", "update", id, "--private-key", notKey}, "--private-key:"},
		{"missing password file", []string{"destinations", "update", id, "--password-file", "/nonexistent/pw"}, "--password-file"},
		{"bad pin", []string{"destinations", "update", id, "--host-key", "SHA256:nope"}, "--host-key:"},
		{"bad alert url", []string{"destinations", "update", id, "--alert-url", "mailto:ops@example.com"}, "--alert-url:"},
		{"unknown event type", []string{"destinations", "update", id, "--events", "courseStarted"}, "--events:"},
		{"no event type", []string{"destinations", "update", id, "--events", ""}, "--events:"},
		{"company", []string{"destinations", "update", id, "--company", uuid.NewString()}, "--company:"},
		{"path without target", []string{"destinations", "update", id, "--path", "sub"}, "--path:"},
		{"unknown target", []string{"destinations", "update", id, "--target", uuid.NewString()}, "--target:"},
		{"target not a uuid", []string{"destinations", "update", id, "--target", "acme"}, "--target:"},
		{"target and url", []string{"destinations", "update", id, "--target", uuid.NewString(), "--url", f.srv.URL("/x")}, "--target:"},
		{"one bad among good", []string{"destinations", "update", id, "--name", "Changed", "--url", f.srv.URL("/changed"), "--format", "xml"}, "--format:"},
		{"lockout", []string{"destinations", "update", id, "--password-file", ""}, "--password-file:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := cli(t, f.env, tc.args...)
			if code != 2 || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and a message naming %q", code, errOut, tc.want)
			}
			if out != "" {
				t.Errorf("printed %q on bad input", out)
			}
			if after := updShow(t, f, id); after != before {
				t.Errorf("show --json changed from\n%s\nto\n%s", before, after)
			}
			if got := counts(); got != rows {
				t.Errorf("rows (targets, secrets, destinations, runs) went from %v to %v", rows, got)
			}
			if updOwnTarget(t, f, id) != target {
				t.Errorf("the destination's target changed")
			}
		})
	}
	// Still delivers as before.
	updRun(t, f, id, "2026-03-02")
}

// --target moves a destination onto a shared target, and its own target and secrets go; a
// target cannot be removed while a destination uses it, and can once the last one left.
func TestDestinationsUpdateTarget(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	addTarget := func(name, dir string) string {
		out := updOK(t, f, "targets", "add", "--name", name, "--url", f.srv.URL(dir), "--host-key", f.srv.HostKeyPin())
		return strings.TrimSpace(out)
	}
	a, b := addTarget("A", "/shared-a"), addTarget("B", "/shared-b")

	moved := f.addDestination(t, "json")
	own := updOwnTarget(t, f, moved)
	if n := updSecretCount(t, f, own); n != 1 {
		t.Fatalf("own target has %d secrets, want 1", n)
	}
	updOK(t, f, "destinations", "update", moved, "--target", a, "--path", "payroll")
	v := updView(t, f, moved)
	if v["target_id"] != a || v["path"] != "/shared-a/payroll" {
		t.Errorf("after --target, show = %v", v)
	}
	if updTargetExists(t, f, own) || updSecretCount(t, f, own) != 0 {
		t.Errorf("the destination's former own target or its secrets are still stored")
	}
	if p := updRun(t, f, moved, "2026-03-02"); !strings.HasPrefix(p, "/shared-a/payroll/") {
		t.Errorf("delivery on target A went to %s", p)
	}

	// On a shared target, the server's settings are the target's.
	pw := updFile(t, "pw", "other\n")
	for _, args := range [][]string{{"--password-file", pw}, {"--host-key", ""}, {"--host-key", updOtherPin(t)}} {
		before := updShow(t, f, moved)
		_, errOut, code := cli(t, f.env, append([]string{"destinations", "update", moved}, args...)...)
		if code != 2 || !strings.Contains(errOut, "targets update "+a) {
			t.Errorf("update %v on a shared target: exit %d, %q; want 2 and the advice to change the target", args, code, errOut)
		}
		if after := updShow(t, f, moved); after != before {
			t.Errorf("update %v on a shared target changed the destination:\n%s\n%s", args, before, after)
		}
	}

	stays := updOK(t, f, "destinations", "add", "--company", f.company, "--target", a, "--path", "absences", "--format", "csv")
	stays = strings.TrimSpace(stays)

	// From A to B: A is still used by the other destination only.
	updOK(t, f, "destinations", "update", moved, "--target", b, "--path", "payroll")
	if p := updRun(t, f, moved, "2026-03-03"); !strings.HasPrefix(p, "/shared-b/payroll/") {
		t.Errorf("delivery on target B went to %s", p)
	}
	_, errOut, code := cli(t, f.env, "targets", "remove", a)
	if code != 2 || !strings.Contains(errOut, stays) || strings.Contains(errOut, moved) {
		t.Errorf("targets remove A: exit %d, %q; want 2 naming %s and not %s", code, errOut, stays, moved)
	}
	_, errOut, code = cli(t, f.env, "targets", "remove", b)
	if code != 2 || !strings.Contains(errOut, moved) {
		t.Errorf("targets remove B: exit %d, %q; want 2 naming %s", code, errOut, moved)
	}

	// The last destination on A gets a server of its own; then A can go.
	updOK(t, f, "destinations", "update", stays, "--url", f.srv.URL("/own"), "--host-key", f.srv.HostKeyPin())
	v = updView(t, f, stays)
	if _, shared := v["target_id"]; shared || v["path"] != "/own" {
		t.Errorf("after --url, show = %v; want no shared target and the URL's directory", v)
	}
	if p := updRun(t, f, stays, "2026-03-03"); !strings.HasPrefix(p, "/own/") {
		t.Errorf("delivery after leaving the target went to %s", p)
	}
	updOK(t, f, "targets", "remove", a)
	if updTargetExists(t, f, a) {
		t.Errorf("target A is still stored after remove")
	}
	if !updTargetExists(t, f, b) || updSecretCount(t, f, b) != 1 {
		t.Errorf("target B or its secret went with moving destinations")
	}
}

// remove deletes a destination and its secrets: it is no longer shown or listed, its earlier
// runs stay readable, and a re-send queued before fails saying the destination was removed.
func TestDestinationsRemove(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.addDestination(t, "json", "--name", "Leaving")
	keep := f.addDestination(t, "csv", "--name", "Staying")
	target := updOwnTarget(t, f, id)
	if n := updSecretCount(t, f, target); n == 0 {
		t.Fatalf("the destination has no stored secrets before remove")
	}
	updRun(t, f, id, "2026-03-02")
	queued := strings.TrimSpace(updOK(t, f, "resend", "--destination", id, "--from", "2026-03-03"))
	if _, err := uuid.Parse(queued); err != nil {
		t.Fatalf("resend printed %q", queued)
	}

	out := updOK(t, f, "destinations", "remove", id)
	if !strings.Contains(out, id) || !strings.Contains(out, "removed") {
		t.Errorf("remove printed %q", out)
	}
	_, errOut, code := cli(t, f.env, "destinations", "show", id)
	if code != 2 || !strings.Contains(errOut, "no destination with id") {
		t.Errorf("show after remove: exit %d, %q; want 2 and no destination with id", code, errOut)
	}
	for _, args := range [][]string{{"destinations", "list"}, {"destinations", "list", "--json"}} {
		out := updOK(t, f, args...)
		if strings.Contains(out, id) || !strings.Contains(out, keep) {
			t.Errorf("%v after remove:\n%s", args, out)
		}
	}

	out = updOK(t, f, "runs", "list", "--destination", id, "--json")
	var runs []map[string]any
	if err := json.Unmarshal([]byte(out), &runs); err != nil || len(runs) != 2 {
		t.Fatalf("runs list --destination of a removed destination: %v\n%s", err, out)
	}
	var delivered string
	for _, r := range runs {
		switch r["kind"] {
		case "manual":
			delivered = r["id"].(string)
			if r["status"] != "delivered" {
				t.Errorf("the delivered run became %v", r)
			}
		case "resend":
			if r["id"] != queued || r["status"] != "failed" || !strings.Contains(r["last_error"].(string), "destination was removed") ||
				r["next_attempt_at"] != nil {
				t.Errorf("the queued re-send after remove = %v; want failed, saying the destination was removed", r)
			}
		}
	}
	if out := updOK(t, f, "runs", "list", "--destination", id); !strings.Contains(out, queued) {
		t.Errorf("runs list (text) lacks the re-send:\n%s", out)
	}
	out = updOK(t, f, "runs", "show", delivered)
	if !strings.Contains(out, "delivered") || !strings.Contains(out, id) || !strings.Contains(out, "attempts (1)") {
		t.Errorf("runs show of a removed destination's run:\n%s", out)
	}
	out = updOK(t, f, "runs", "show", queued)
	if !strings.Contains(out, "failed") || !strings.Contains(out, "destination was removed") {
		t.Errorf("runs show of the re-send:\n%s", out)
	}

	if n := updSecretCount(t, f, target); n != 0 {
		t.Errorf("%d secrets of the removed destination's target remain", n)
	}
	if updTargetExists(t, f, target) {
		t.Errorf("the removed destination's own target remains")
	}
	if n := updSecretCount(t, f, updOwnTarget(t, f, keep)); n != 1 {
		t.Errorf("the other destination has %d secrets, want 1", n)
	}

	for _, args := range [][]string{
		{"destinations", "remove", id},
		{"destinations", "remove", uuid.NewString()},
		{"destinations", "remove", "acme"},
		{"destinations", "update", id, "--name", "back"},
		{"destinations", "enable", id},
		{"run", "--destination", id, "--date", "2026-03-04"},
		{"resend", "--destination", id, "--from", "2026-03-04"},
		{"test-send", id},
	} {
		runsBefore := f.countRows(t, "runs")
		_, errOut, code := cli(t, f.env, args...)
		if code != 2 || !strings.Contains(errOut, "no destination") {
			t.Errorf("%v: exit %d, %q; want 2 and no destination", args, code, errOut)
		}
		if n := f.countRows(t, "runs"); n != runsBefore {
			t.Errorf("%v made runs", args)
		}
	}
	if _, errOut, code := cli(t, f.env, "destinations", "remove"); code != 2 {
		t.Errorf("remove without an id: exit %d, %q", code, errOut)
	}
	updRun(t, f, keep, "2026-03-02")
}

// Removing a destination on a shared target leaves the target and its secrets, and frees it
// for removal.
func TestDestinationsRemoveOnSharedTarget(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	target := strings.TrimSpace(updOK(t, f, "targets", "add", "--name", "shared", "--url", f.srv.URL("/shared"), "--host-key", f.srv.HostKeyPin()))
	id := strings.TrimSpace(updOK(t, f, "destinations", "add", "--company", f.company, "--target", target, "--path", "x", "--format", "json"))
	updRun(t, f, id, "2026-03-02")
	if _, errOut, code := cli(t, f.env, "targets", "remove", target); code != 2 || !strings.Contains(errOut, id) {
		t.Errorf("targets remove in use: exit %d, %q", code, errOut)
	}
	updOK(t, f, "destinations", "remove", id)
	if n := updSecretCount(t, f, target); n != 1 {
		t.Errorf("the shared target has %d secrets after a destination on it was removed, want 1", n)
	}
	if out := updOK(t, f, "targets", "show", target); !strings.Contains(out, "shared") {
		t.Errorf("targets show after removing its destination:\n%s", out)
	}
	updOK(t, f, "targets", "remove", target)
	out := updOK(t, f, "runs", "list", "--destination", id, "--json")
	if !strings.Contains(out, `"delivered"`) {
		t.Errorf("runs of the removed destination after its target went:\n%s", out)
	}
}
