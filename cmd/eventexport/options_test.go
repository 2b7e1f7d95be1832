package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/eventexport/eventexport/events"
	"github.com/eventexport/eventexport/events/eventstest"
)

// optionGPG is a GnuPG home of one test's own, where keys are made as customers make them.
type optionGPG struct{ home string }

func newOptionGPG(t *testing.T) *optionGPG {
	t.Helper()
	for _, tool := range []string{"gpg", "gpgconf"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the encryption options are tested with keys GnuPG makes, and %s is not installed: install gnupg (apt-get install gnupg): %v", tool, err)
		}
	}
	// Not t.TempDir: gpg-agent's socket lives in the home, and its path must stay short.
	home, err := os.MkdirTemp("", "pgp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("gpgconf", "--homedir", home, "--kill", "all").CombinedOutput(); err != nil {
			t.Logf("gpgconf --homedir %s --kill all: %v: %s", home, err, out)
		}
		os.RemoveAll(home)
	})
	return &optionGPG{home: home}
}

func (g *optionGPG) run(t *testing.T, stdin []byte, args ...string) []byte {
	t.Helper()
	c := exec.Command("gpg", append([]string{"--homedir", g.home, "--batch", "--no-tty",
		"--pinentry-mode", "loopback", "--passphrase", ""}, args...)...)
	c.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		t.Fatalf("gpg %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return out
}

// keyFile makes a key from gpg's key parameters, writes its public key, armored, into a file,
// and returns the file and the key's fingerprint.
func (g *optionGPG) keyFile(t *testing.T, name, params string) (path, fpr string) {
	t.Helper()
	spec := "%no-protection\n" + params + "\nName-Real: " + name + "\nName-Email: files@customer.example\n%commit\n"
	for line := range strings.Lines(string(g.run(t, []byte(spec), "--status-fd", "1", "--gen-key"))) {
		if f := strings.Fields(line); len(f) == 4 && f[1] == "KEY_CREATED" {
			fpr = f[3]
		}
	}
	if fpr == "" {
		t.Fatalf("gpg --gen-key made no key for %s", name)
	}
	path = filepath.Join(t.TempDir(), strings.ReplaceAll(name, " ", "-")+".asc")
	if err := os.WriteFile(path, g.run(t, nil, "--armor", "--export", fpr), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, fpr
}

// optionEvents inserts n courseComplete events of the fixture's company on day, an hour apart
// from its start in New York, and returns their ids in order.
func optionEvents(t *testing.T, f *fixture, day events.Day, n int) []string {
	t.Helper()
	ny, _ := time.LoadLocation("America/New_York")
	w := day.Window(ny)
	var evs []events.Event
	var ids []string
	for i := range n {
		id := uuid.NewString()
		ids = append(ids, id)
		evs = append(evs, events.Event{ID: id, CompanyID: f.company, Type: events.CourseComplete.Name,
			OccurredAt: w.Start.Add(time.Duration(i) * time.Hour), Payload: eventstest.CourseCompletePayload(i, id, f.company)})
	}
	eventstest.Insert(t, f.db.Pool, evs...)
	return ids
}

// showJSON returns destinations show ID --json.
func showJSON(t *testing.T, f *fixture, id string) map[string]any {
	t.Helper()
	out, errOut, code := cli(t, f.env, "destinations", "show", id, "--json")
	if code != 0 {
		t.Fatalf("destinations show %s --json: exit %d\n%s", id, code, errOut)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("destinations show --json: %v\n%s", err, out)
	}
	return v
}

// serverFiles lists the files in the SFTP server's inbox.
func serverFiles(t *testing.T, f *fixture) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(f.srv.Root(), "inbox"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func gunzip(t *testing.T, name string, b []byte) []byte {
	t.Helper()
	c := exec.Command("gzip", "-d", "-c")
	c.Stdin = bytes.NewReader(b)
	out, err := c.Output()
	if err != nil {
		t.Fatalf("gzip -d %s: %v", name, err)
	}
	return out
}

// jsonlIDs returns the ids of the events of a JSON Lines file.
func jsonlIDs(t *testing.T, name string, b []byte) []string {
	t.Helper()
	var ids []string
	for line := range strings.Lines(string(b)) {
		var e struct{ ID string }
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("%s: a line is not JSON: %v: %.60q", name, err, line)
		}
		ids = append(ids, e.ID)
	}
	return ids
}

// The options given to destinations add shape the files run delivers: gzipped JSON Lines parts
// of at most 2 events named by the template, and a manifest last; runs show lists them with the
// sha256 of what is on the server; update changes the next run's files.
func TestOptionsFromTheCommandLineShapeTheFiles(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const template = "{type}-{day}-{rand}{ext}"
	id := f.addDestination(t, "jsonl", "--compress", "gzip", "--max-rows", "2", "--manifest", "--name-template", template)
	day := events.Day{Year: 2026, Month: time.November, Day: 1}
	ids := optionEvents(t, f, day, 5)

	out, errOut, code := cli(t, f.env, "run", "--destination", id, "--date", "2026-11-01")
	if code != 0 {
		t.Fatalf("run: exit %d\n%s", code, errOut)
	}
	files := serverFiles(t, f)
	// The parts in order, then the manifest, as they were uploaded.
	isManifest := func(name string) int {
		if strings.HasSuffix(name, ".manifest.json") {
			return 1
		}
		return 0
	}
	slices.SortFunc(files, func(a, b string) int {
		return cmp.Or(cmp.Compare(isManifest(a), isManifest(b)), strings.Compare(a, b))
	})
	if len(files) != 4 {
		t.Fatalf("the server holds %v; want three parts and a manifest", files)
	}
	partRe := regexp.MustCompile(`^courseComplete-2026-11-01-([0-9a-z]{7})_part000([1-3])\.jsonl\.gz$`)
	m := regexp.MustCompile(`^courseComplete-2026-11-01-([0-9a-z]{7})\.manifest\.json$`).FindStringSubmatch(files[3])
	if m == nil {
		t.Fatalf("%s is not the manifest named by the template", files[3])
	}
	rnd := m[1]
	var got []string
	for i, name := range files[:3] {
		pm := partRe.FindStringSubmatch(name)
		if pm == nil || pm[1] != rnd || pm[2] != fmt.Sprint(i+1) {
			t.Fatalf("%s is not part %d of courseComplete-2026-11-01-%s", name, i+1, rnd)
		}
		b, err := os.ReadFile(filepath.Join(f.srv.Root(), "inbox", name))
		if err != nil {
			t.Fatal(err)
		}
		evs := jsonlIDs(t, name, gunzip(t, name, b))
		if len(evs) == 0 || len(evs) > 2 {
			t.Errorf("%s holds %d events; want 1 or 2", name, len(evs))
		}
		got = append(got, evs...)
	}
	if !slices.Equal(got, ids) {
		t.Errorf("the parts hold %v; want the day's events in order, %v", got, ids)
	}
	if want := "/inbox/" + files[3] + "\t5 events\t"; !strings.HasPrefix(out, want) {
		t.Errorf("run printed %q; want it to start %q", out, want)
	}

	// runs show lists the files with the sha256 of what the server holds.
	out, errOut, code = cli(t, f.env, "runs", "list", "--destination", id, "--json")
	if code != 0 {
		t.Fatalf("runs list: exit %d\n%s", code, errOut)
	}
	var runs []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(out), &runs); err != nil || len(runs) != 1 {
		t.Fatalf("runs list --json: %v, %d runs\n%s", err, len(runs), out)
	}
	out, errOut, code = cli(t, f.env, "runs", "show", runs[0].ID, "--json")
	if code != 0 {
		t.Fatalf("runs show: exit %d\n%s", code, errOut)
	}
	var run struct {
		Status string `json:"status"`
		Files  []struct {
			Name   string `json:"name"`
			Bytes  int64  `json:"bytes"`
			SHA256 string `json:"sha256"`
			Events int64  `json:"events"`
		} `json:"files"`
	}
	if err := json.Unmarshal([]byte(out), &run); err != nil {
		t.Fatalf("runs show --json: %v\n%s", err, out)
	}
	if run.Status != "delivered" || len(run.Files) != 4 {
		t.Fatalf("runs show: %s with %d files; want delivered with 4\n%s", run.Status, len(run.Files), out)
	}
	for i, rf := range run.Files {
		b, err := os.ReadFile(filepath.Join(f.srv.Root(), "inbox", rf.Name))
		if err != nil {
			t.Errorf("runs show lists %s, not on the server: %v", rf.Name, err)
			continue
		}
		sum := sha256.Sum256(b)
		if rf.Name != files[i] || rf.SHA256 != hex.EncodeToString(sum[:]) || rf.Bytes != int64(len(b)) {
			t.Errorf("runs show lists %+v; want %s, %d bytes, sha256 %x", rf, files[i], len(b), sum)
		}
	}
	text, _, _ := cli(t, f.env, "runs", "show", runs[0].ID)
	for _, name := range files {
		if !strings.Contains(text, name) {
			t.Errorf("runs show does not list %s:\n%s", name, text)
		}
	}

	// show gives the options; the names are unique, so no warning.
	v := showJSON(t, f, id)
	if v["compress"] != "gzip" || v["max_rows"] != 2.0 || v["manifest"] != true || v["name_template"] != template ||
		v["unique_names"] != true {
		t.Errorf("show --json: compress %v, max_rows %v, manifest %v, name_template %v, unique_names %v; want gzip, 2, true, %s, true",
			v["compress"], v["max_rows"], v["manifest"], v["name_template"], template, v["unique_names"])
	}
	if _, ok := v["encrypt_to"]; ok {
		t.Errorf("show --json gives a key, none was set: %v", v["encrypt_to"])
	}

	// update takes effect on the next run: one plain file, no manifest.
	if _, errOut, code := cli(t, f.env, "destinations", "update", id, "--compress", "none", "--max-rows", "0", "--manifest=false"); code != 0 {
		t.Fatalf("update: exit %d\n%s", code, errOut)
	}
	v = showJSON(t, f, id)
	if v["compress"] != "none" || v["manifest"] != false || v["max_rows"] != nil {
		t.Errorf("after update, show --json: compress %v, manifest %v, max_rows %v; want none, false, absent", v["compress"], v["manifest"], v["max_rows"])
	}
	if _, errOut, code := cli(t, f.env, "run", "--destination", id, "--date", "2026-11-01"); code != 0 {
		t.Fatalf("run after update: exit %d\n%s", code, errOut)
	}
	var added []string
	for _, name := range serverFiles(t, f) {
		if !slices.Contains(files, name) {
			added = append(added, name)
		}
	}
	if len(added) != 1 || !regexp.MustCompile(`^courseComplete-2026-11-01-[0-9a-z]{7}\.jsonl$`).MatchString(added[0]) {
		t.Fatalf("the run after update added %v; want one plain courseComplete-2026-11-01-<rand>.jsonl", added)
	}
	b, err := os.ReadFile(filepath.Join(f.srv.Root(), "inbox", added[0]))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
		t.Errorf("%s is gzipped after --compress none", added[0])
	}
	if got := jsonlIDs(t, added[0], b); !slices.Equal(got, ids) {
		t.Errorf("%s holds %v; want %v", added[0], got, ids)
	}
}

// --encrypt-to takes a public key file GnuPG exported: show --json gives its fingerprint, and the files
// delivered are encrypted to it. A key that is expired or cannot encrypt, or a file that is no
// key, is refused with exit 2 naming the flag, and nothing changes.
func TestOptionsEncryptTo(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	g := newOptionGPG(t)
	good, fpr := g.keyFile(t, "Customer", "Key-Type: EDDSA\nKey-Curve: ed25519\nKey-Usage: sign\n"+
		"Subkey-Type: ECDH\nSubkey-Curve: cv25519\nSubkey-Usage: encrypt\nExpire-Date: 1y")
	expired, _ := g.keyFile(t, "Expired", "Key-Type: EDDSA\nKey-Curve: ed25519\nKey-Usage: sign\n"+
		"Subkey-Type: ECDH\nSubkey-Curve: cv25519\nSubkey-Usage: encrypt\nCreation-Date: 20200101T000000\nExpire-Date: 1d")
	signOnly, _ := g.keyFile(t, "Signer", "Key-Type: EDDSA\nKey-Curve: ed25519\nKey-Usage: sign\nExpire-Date: 1y")
	notKey := filepath.Join(t.TempDir(), "id_ed25519.pub")
	if err := os.WriteFile(notKey, []byte("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO0 user@host\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	id := f.addDestination(t, "jsonl", "--encrypt-to", good, "--compress", "gzip")
	v := showJSON(t, f, id)
	if enc, _ := v["encrypt_to"].(map[string]any); enc == nil || enc["fingerprint"] != fpr {
		t.Errorf("show --json encrypt_to = %v; want fingerprint %s", v["encrypt_to"], fpr)
	}

	// The day's file is encrypted to the key: gpg decrypts it, gzip -d decompresses it.
	ids := optionEvents(t, f, events.Day{Year: 2026, Month: time.November, Day: 1}, 3)
	if _, errOut, code := cli(t, f.env, "run", "--destination", id, "--date", "2026-11-01"); code != 0 {
		t.Fatalf("run: exit %d\n%s", code, errOut)
	}
	files := serverFiles(t, f)
	if len(files) != 1 || !strings.HasSuffix(files[0], ".jsonl.gz.pgp") {
		t.Fatalf("the server holds %v; want one .jsonl.gz.pgp file", files)
	}
	b, err := os.ReadFile(filepath.Join(f.srv.Root(), "inbox", files[0]))
	if err != nil {
		t.Fatal(err)
	}
	plain := g.run(t, b, "--decrypt")
	if got := jsonlIDs(t, files[0], gunzip(t, files[0], plain)); !slices.Equal(got, ids) {
		t.Errorf("the decrypted file holds %v; want %v", got, ids)
	}

	before := showJSON(t, f, id)
	for _, c := range []struct {
		name, file string
		want       string
	}{
		{"expired", expired, "expired"},
		{"signing only", signOnly, "encrypt"},
		{"not a key", notKey, "key"},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := f.countRows(t, "destinations")
			_, errOut, code := cli(t, f.env, "destinations", "add", "--company", f.company, "--url", f.srv.URL("/inbox"),
				"--format", "json", "--host-key", f.srv.HostKeyPin(), "--encrypt-to", c.file)
			if code != 2 || !strings.Contains(errOut, "--encrypt-to:") || !strings.Contains(errOut, c.want) {
				t.Errorf("add --encrypt-to %s: exit %d, stderr %q; want 2, naming --encrypt-to: and %q", c.name, code, errOut, c.want)
			}
			if got := f.countRows(t, "destinations"); got != n {
				t.Errorf("a refused add stored a destination: %d before, %d after", n, got)
			}
			_, errOut, code = cli(t, f.env, "destinations", "update", id, "--encrypt-to", c.file)
			if code != 2 || !strings.Contains(errOut, "--encrypt-to:") {
				t.Errorf("update --encrypt-to %s: exit %d, stderr %q; want 2, naming --encrypt-to:", c.name, code, errOut)
			}
			if after := showJSON(t, f, id); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Errorf("a refused update changed the destination:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

// Sizes, templates and compressions are checked when given: a refused value exits 2 naming
// its flag and stores nothing.
func TestOptionsRefusedOrStored(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.addDestination(t, "json", "--max-file-size", "15MB")
	if v := showJSON(t, f, id); v["max_file_size"] != 15e6 {
		t.Errorf("--max-file-size 15MB: show --json max_file_size = %v; want 15000000", v["max_file_size"])
	}
	if id := f.addDestination(t, "json", "--max-file-size", "64KiB"); showJSON(t, f, id)["max_file_size"] != 65536.0 {
		t.Errorf("--max-file-size 64KiB is not stored as 65536")
	}
	// Without {rand} or {created} every run of a day has the same name: show --json says so.
	fixed := f.addDestination(t, "csv", "--name-template", "{prefix}-{day}{ext}")
	if v := showJSON(t, f, fixed); v["unique_names"] != false || v["name_template"] != "{prefix}-{day}{ext}" {
		t.Errorf("show --json: unique_names %v, name_template %v; want false, {prefix}-{day}{ext}", v["unique_names"], v["name_template"])
	}
	before := showJSON(t, f, id)
	for _, c := range []struct {
		flag, value, want string
	}{
		{"--max-file-size", "10kB", "64 KiB"},
		{"--max-file-size", "3XB", "XB"},
		{"--name-template", "a/{ext}", "/"},
		{"--name-template", "{nope}{ext}", "{nope}"},
		{"--name-template", "{prefix}", "{ext}"},
		{"--compress", "zip", "zip"},
	} {
		t.Run(c.flag+"="+c.value, func(t *testing.T) {
			t.Parallel()
			_, errOut, code := cli(t, f.env, "destinations", "add", "--company", f.company, "--url", f.srv.URL("/inbox"),
				"--format", "json", "--host-key", f.srv.HostKeyPin(), c.flag, c.value)
			if code != 2 || !strings.Contains(errOut, c.flag+":") || !strings.Contains(errOut, c.want) {
				t.Errorf("add %s %s: exit %d, stderr %q; want 2, naming %s: and %q", c.flag, c.value, code, errOut, c.flag, c.want)
			}
			_, errOut, code = cli(t, f.env, "destinations", "update", id, c.flag, c.value)
			if code != 2 || !strings.Contains(errOut, c.flag+":") {
				t.Errorf("update %s %s: exit %d, stderr %q; want 2, naming %s:", c.flag, c.value, code, errOut, c.flag)
			}
			if after := showJSON(t, f, id); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Errorf("a refused update changed the destination:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
	t.Cleanup(func() {
		// Every refused add stored nothing: the three destinations added above remain.
		if n := countDestinations(f); n != 3 {
			t.Errorf("%d destinations after the refused adds; want the 3 accepted", n)
		}
	})
}

func countDestinations(f *fixture) int {
	var n int
	_ = f.db.Pool.QueryRow(context.Background(), "SELECT count(*) FROM destinations").Scan(&n)
	return n
}
