package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/eventexport/eventexport/delivery/sftptest"
	"github.com/eventexport/eventexport/events"
	"github.com/eventexport/eventexport/events/eventstest"
	"github.com/eventexport/eventexport/migrations/pgtest"
)

// binary is the eventexport command built once for the tests that run it as a process.
var binary string

func TestMain(m *testing.M) {
	// Most tests here wait on processes, servers and timers rather than compute: run more of
	// them at once than there are CPUs, unless -parallel says how many.
	flag.Parse()
	parallelSet := false
	flag.Visit(func(f *flag.Flag) { parallelSet = parallelSet || f.Name == "test.parallel" })
	if !parallelSet {
		_ = flag.Set("test.parallel", strconv.Itoa(4*runtime.GOMAXPROCS(0)))
	}
	dir, err := os.MkdirTemp("", "eventexport-bin-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "eventexport")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		panic("build eventexport: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	// The tests' schemas are dropped, and a throwaway cluster stopped, once they have run.
	if err := pgtest.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// cli runs the built binary with env (and nothing of the test process's environment but PATH
// and HOME) and returns its stdout, stderr and exit code.
func cli(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return stdout.String(), stderr.String(), code
}

type fixture struct {
	db      *pgtest.DB
	srv     *sftptest.Server
	env     []string
	company string
}

// allSpecial is a password made of every character the vendor documentation says to
// percent-encode.
const allSpecial = "][?/<~#`!@$%^&*}+=:\";',>{ "

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db := pgtest.New(t)
	srv := sftptest.NewServer(t, sftptest.Options{User: "acme", Password: "pw" + allSpecial})
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i * 7)
	}
	return &fixture{
		db:  db,
		srv: srv,
		env: []string{
			"DATABASE_URL=" + db.URL,
			"EVENTEXPORT_TIMEZONE=America/New_York",
			"EVENTEXPORT_SECRET_KEY=" + base64.StdEncoding.EncodeToString(key),
			"TZ=Asia/Tokyo", // the process zone must not matter
		},
		company: uuid.NewString(),
	}
}

func (f *fixture) addDestination(t *testing.T, format string, extra ...string) string {
	t.Helper()
	args := append([]string{"destinations", "add", "--company", f.company, "--url", f.srv.URL("/inbox"),
		"--format", format, "--host-key", f.srv.HostKeyPin()}, extra...)
	out, errOut, code := cli(t, f.env, args...)
	if code != 0 {
		t.Fatalf("destinations add: exit %d\n%s", code, errOut)
	}
	id := strings.TrimSpace(out)
	if _, err := uuid.Parse(id); err != nil || strings.Count(out, "\n") != 1 {
		t.Fatalf("destinations add printed %q; want the id alone on one line", out)
	}
	return id
}

func (f *fixture) countRows(t *testing.T, table string) int {
	t.Helper()
	var n int
	if err := f.db.Pool.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

var runLine = regexp.MustCompile(`^(/inbox/courseCompletion-(\d+)_\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-[0-9a-z]{7}\.(json|csv))\t(\d+) events\t(\d+) bytes$`)

// The whole path from the command line: a destination is added, a DST day's events are
// exported exactly, delivered over SFTP with percent-encoded credentials, and recorded.
func TestRunDeliversTheDayEndToEnd(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	jsonID := f.addDestination(t, "json", "--name", "Acme JSON")
	csvID := f.addDestination(t, "csv")

	ny, _ := time.LoadLocation("America/New_York")
	day := events.Day{Year: 2026, Month: time.November, Day: 1} // 25 hours in New York
	w := day.Window(ny)
	if w.End.Sub(w.Start) != 25*time.Hour {
		t.Fatalf("window %v is not 25h", w)
	}
	eventstest.Generate(t, f.db.Pool, f.company, w, 50)
	// Around the day, and other companies and types: none of these may be delivered.
	edge := []events.Event{
		{CompanyID: f.company, Type: "courseComplete", OccurredAt: w.Start.Add(-time.Microsecond), Payload: []byte(`{"id":"before"}`)},
		{CompanyID: f.company, Type: "courseComplete", OccurredAt: w.End, Payload: []byte(`{"id":"after"}`)},
		{CompanyID: uuid.NewString(), Type: "courseComplete", OccurredAt: w.Start.Add(time.Hour), Payload: []byte(`{"id":"other company"}`)},
		{CompanyID: f.company, Type: "courseStarted", OccurredAt: w.Start.Add(time.Hour), Payload: []byte(`{"id":"other type"}`)},
		{CompanyID: f.company, Type: "courseComplete", OccurredAt: w.End.Add(-time.Microsecond), Payload: []byte(`{"id":"last","title":"a, \"quoted\"\r\nline"}`)},
	}
	eventstest.Insert(t, f.db.Pool, edge...)

	for _, tc := range []struct{ id, ext string }{{jsonID, "json"}, {csvID, "csv"}} {
		out, errOut, code := cli(t, f.env, "run", "--destination", tc.id, "--date", "2026-11-01")
		if code != 0 {
			t.Fatalf("run %s: exit %d, stderr:\n%s", tc.ext, code, errOut)
		}
		m := runLine.FindStringSubmatch(strings.TrimSpace(out))
		if m == nil {
			t.Fatalf("run %s printed %q; want remote path, event count and bytes", tc.ext, out)
		}
		if m[2] != "1793505600" { // 2026-11-01T00:00:00-04:00
			t.Errorf("file name day start = %s, want 1793505600", m[2])
		}
		if m[3] != tc.ext || m[4] != "51" {
			t.Errorf("run %s: ext %s, %s events; want %s, 51", tc.ext, m[3], m[4], tc.ext)
		}
		body, err := os.ReadFile(filepath.Join(f.srv.Root(), m[1]))
		if err != nil {
			t.Fatalf("delivered file: %v", err)
		}
		if m[5] != itoa(len(body)) {
			t.Errorf("reported %s bytes, file has %d", m[5], len(body))
		}
		var ids []string
		switch tc.ext {
		case "json":
			var arr []map[string]any
			if err := json.Unmarshal(body, &arr); err != nil {
				t.Fatalf("delivered JSON is not valid: %v", err)
			}
			for _, e := range arr {
				ids = append(ids, e["id"].(string))
			}
		case "csv":
			recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
			if err != nil {
				t.Fatalf("delivered CSV is not valid: %v", err)
			}
			if recs[0][0] != "id" || len(recs[0]) != len(events.CourseComplete.Columns) {
				t.Errorf("CSV header = %v", recs[0])
			}
			for _, r := range recs[1:] {
				ids = append(ids, r[0])
			}
			if last := recs[len(recs)-1]; last[8] != "a, \"quoted\"\nline" {
				t.Errorf("CSV title cell = %q; want the value with its comma, quotes and line break", last[8])
			}
		}
		if len(ids) != 51 || ids[50] != "last" {
			t.Errorf("%s file holds %d events ending %q; want 51 ending with the day's last", tc.ext, len(ids), ids[len(ids)-1])
		}
		for _, id := range ids {
			if id == "before" || id == "after" || id == "other company" || id == "other type" {
				t.Errorf("%s file holds event %q from outside the day, company or type", tc.ext, id)
			}
		}
		matches, _ := filepath.Glob(filepath.Join(f.srv.Root(), "inbox", "*"))
		for _, p := range matches {
			if strings.Contains(filepath.Base(p), ".part") || strings.Contains(filepath.Base(p), ".tmp") {
				t.Errorf("temporary file left behind: %s", p)
			}
		}
	}

	var status, kind string
	var attempts int
	err := f.db.Pool.QueryRow(context.Background(),
		"SELECT status, kind, attempts FROM runs WHERE destination_id = $1", jsonID).Scan(&status, &kind, &attempts)
	if err != nil || status != "delivered" || kind != "manual" || attempts != 1 {
		t.Errorf("run record = %s/%s/%d attempts (%v); want delivered/manual/1", status, kind, attempts, err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// Bad usage and bad configuration exit 2 and change nothing.
func TestRunBadUsageChangesNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.addDestination(t, "json")
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"unknown destination", nil, []string{"run", "--destination", uuid.NewString(), "--date", "2026-11-01"}, "no destination"},
		{"not a uuid", nil, []string{"run", "--destination", "acme", "--date", "2026-11-01"}, "no destination"},
		{"bad date", nil, []string{"run", "--destination", id, "--date", "2026-02-30"}, "2026-02-30"},
		{"no date", nil, []string{"run", "--destination", id}, "--date"},
		{"unknown zone", []string{"EVENTEXPORT_TIMEZONE=Mars/Olympus"}, []string{"run", "--destination", id, "--date", "2026-11-01"}, "Mars/Olympus"},
		{"secret key missing", []string{"EVENTEXPORT_SECRET_KEY="}, []string{"run", "--destination", id, "--date", "2026-11-01"}, "EVENTEXPORT_SECRET_KEY"},
		{"secret key malformed", []string{"EVENTEXPORT_SECRET_KEY=c2hvcnQ="}, []string{"run", "--destination", id, "--date", "2026-11-01"}, "32"},
		{"unknown command", nil, []string{"frobnicate"}, "unknown command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			runsBefore := f.countRows(t, "runs")
			_, errOut, code := cli(t, append(append([]string{}, f.env...), tc.env...), tc.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2; stderr:\n%s", code, errOut)
			}
			if !strings.Contains(errOut, tc.want) {
				t.Errorf("stderr %q does not name the problem (%q)", errOut, tc.want)
			}
			if n := f.countRows(t, "runs"); n != runsBefore {
				t.Errorf("runs: %d before, %d after; bad usage must change nothing", runsBefore, n)
			}
		})
	}
}

// Adding a destination validates everything first; a bad flag stores nothing.
func TestDestinationsAddRejectsBadInput(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	good := []string{"--company", f.company, "--url", f.srv.URL("/inbox"), "--format", "json"}
	with := func(flag, value string) []string {
		out := append([]string{"destinations", "add"}, good...)
		for i := 2; i < len(out); i += 2 {
			if out[i] == flag {
				out[i+1] = value
				return out
			}
		}
		return append(out, flag, value)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"bad company", with("--company", "acme"), "--company"},
		{"bad scheme", with("--url", "ftp://u:p@host/x"), "sftp"},
		{"malformed url", with("--url", "sftp://u:p@:22/x"), "--url"},
		{"unknown format", with("--format", "xml"), "xml"},
		{"unknown event type", with("--events", "courseStarted"), "courseStarted"},
		{"bad host key", with("--host-key", "SHA256:nope"), "--host-key"},
		{"bad start date", with("--start-date", "yesterday"), "--start-date"},
		{"missing key file", with("--private-key", "/nonexistent/key"), "--private-key"},
		{"no credentials", with("--url", "sftp://user@127.0.0.1:22/x"), "password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, errOut, code := cli(t, f.env, tc.args...)
			if code != 2 || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and a message naming %q", code, errOut, tc.want)
			}
			if n := f.countRows(t, "destinations"); n != 0 {
				t.Errorf("%d destinations stored after a rejected add", n)
			}
		})
	}
}

// Secrets are stored encrypted and never printed.
func TestDestinationsNeverShowSecrets(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.addDestination(t, "csv", "--name", "Acme CSV", "--alert-url", "https://hooks.example.com/services/T1/B1/hook-secret")
	password := "pw" + allSpecial

	var sealed []byte
	if err := f.db.Pool.QueryRow(context.Background(), "SELECT sealed FROM target_secrets WHERE name = 'password'").Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	if len(sealed) == 0 || bytes.Contains(sealed, []byte(password)) {
		t.Errorf("password stored as %q; want it sealed", sealed)
	}
	for _, args := range [][]string{
		{"destinations", "list"}, {"destinations", "list", "--json"},
		{"destinations", "show", id}, {"destinations", "show", id, "--json"},
	} {
		out, errOut, code := cli(t, f.env, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
		for _, secret := range []string{password, url.QueryEscape(password), url.PathEscape(password), "hook-secret"} {
			if strings.Contains(out, secret) || strings.Contains(errOut, secret) {
				t.Errorf("%v printed a secret (%q)", args, secret)
			}
		}
		if !strings.Contains(out, id) || !strings.Contains(out, "acme:") || !strings.Contains(out, "@127.0.0.1:") {
			t.Errorf("%v output lacks the id or the redacted URL:\n%s", args, out)
		}
	}
	out, _, _ := cli(t, f.env, "destinations", "show", id, "--json")
	var v map[string]any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("show --json: %v", err)
	}
	if v["format"] != "csv" || v["has_password"] != true || v["enabled"] != true || v["name"] != "Acme CSV" {
		t.Errorf("show --json = %v", v)
	}

	if _, errOut, code := cli(t, f.env, "destinations", "disable", id); code != 0 {
		t.Fatalf("disable: %d %s", code, errOut)
	}
	out, _, _ = cli(t, f.env, "destinations", "show", id, "--json")
	if !strings.Contains(out, `"enabled": false`) {
		t.Errorf("after disable, show = %s", out)
	}
	if _, _, code := cli(t, f.env, "destinations", "disable", uuid.NewString()); code != 2 {
		t.Errorf("disable of an unknown destination: exit %d, want 2", code)
	}
}

// A delivery that fails exits 1 with the reason in plain words, records the failed attempt,
// and leaves no file.
func TestRunDeliveryFailureExits1(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	other := sftptest.NewServer(t, sftptest.Options{User: "x", Password: "y"})
	out, errOut, code := cli(t, f.env, "destinations", "add", "--company", f.company, "--url", f.srv.URL("/inbox"),
		"--format", "json", "--host-key", other.HostKeyPin())
	if code != 0 {
		t.Fatalf("add: %d %s", code, errOut)
	}
	id := strings.TrimSpace(out)
	_, errOut, code = cli(t, f.env, "run", "--destination", id, "--date", "2026-03-08")
	if code != 1 {
		t.Fatalf("run against a server with another host key: exit %d, want 1; stderr:\n%s", code, errOut)
	}
	if !strings.Contains(strings.ToLower(errOut), "host key") {
		t.Errorf("stderr %q does not say the host key is the problem", errOut)
	}
	var status, lastErr string
	var attempts int
	if err := f.db.Pool.QueryRow(context.Background(), "SELECT status, attempts, last_error FROM runs").Scan(&status, &attempts, &lastErr); err != nil {
		t.Fatal(err)
	}
	if status != "failed" || attempts != 1 || lastErr == "" {
		t.Errorf("run = %s, %d attempts, error %q; want failed after 1 attempt with the error", status, attempts, lastErr)
	}
	if entries, _ := os.ReadDir(filepath.Join(f.srv.Root(), "inbox")); len(entries) != 0 {
		t.Errorf("files on the server after a refused host key: %v", entries)
	}
}

// Against a database never migrated, commands say what to do instead of failing on a missing
// table, and migrate is idempotent.
func TestCommandsNeedMigratedSchema(t *testing.T) {
	t.Parallel()
	// An empty schema of the test's own, dropped when it ends.
	env := []string{"DATABASE_URL=" + pgtest.Empty(t).URL}
	if _, errOut, code := cli(t, env, "destinations", "list"); code != 2 || !strings.Contains(errOut, "eventexport migrate") {
		t.Errorf("list on an unmigrated schema: exit %d, %q; want 2 and the advice to migrate", code, errOut)
	}
	for i := 0; i < 2; i++ {
		if out, errOut, code := cli(t, env, "migrate"); code != 0 || !strings.Contains(out, "schema is current") {
			t.Fatalf("migrate #%d: exit %d, %s%s", i+1, code, out, errOut)
		}
	}
	if _, errOut, code := cli(t, env, "destinations", "list"); code != 0 {
		t.Errorf("list after migrate: exit %d, %s", code, errOut)
	}
}
