package export

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/eventexport/eventexport/events"
	"github.com/eventexport/eventexport/export/file"
	"github.com/eventexport/eventexport/export/store"
	"github.com/eventexport/eventexport/migrations/pgtest"
)

// combinationGPG is the GnuPG home holding the one key the combination tests encrypt to and
// decrypt with: made once per test binary, its gpg-agent stopped and the home removed when the
// test that made it ends (after all its subtests).
var combinationGPG = new(gnupgKeyring)

type gnupgKeyring struct {
	once sync.Once
	home string // short: gpg-agent's socket lives in it
	fpr  string
	pub  string // the public key, armored, as a customer gives it
	err  error
}

// combinationKey returns the GnuPG home and the armored public key of a Cv25519 encryption
// subkey under an Ed25519 primary key, made by gpg.
func combinationKey(t *testing.T) (home, pub string) {
	t.Helper()
	g := combinationGPG
	g.once.Do(func() {
		for _, tool := range []string{"gpg", "gpgconf", "gzip"} {
			if _, err := exec.LookPath(tool); err != nil {
				g.err = fmt.Errorf("the file option tests decrypt with GnuPG and decompress with gzip, and %s is not installed: install it (apt-get install gnupg gzip): %v", tool, err)
				return
			}
		}
		// Not t.TempDir: gpg-agent's socket path must stay short.
		home, err := os.MkdirTemp("", "pgp")
		if err != nil {
			g.err = err
			return
		}
		g.home = home
		t.Cleanup(func() {
			if out, err := exec.Command("gpgconf", "--homedir", home, "--kill", "all").CombinedOutput(); err != nil {
				t.Logf("gpgconf --homedir %s --kill all: %v: %s", home, err, out)
			}
			os.RemoveAll(home)
			// A later run of the test in this binary (-count) makes a key again.
			combinationGPG = new(gnupgKeyring)
		})
		// Created in the past and never expiring, so that the runner's fake clock sees it valid.
		spec := "%no-protection\nKey-Type: EDDSA\nKey-Curve: ed25519\nKey-Usage: sign\n" +
			"Subkey-Type: ECDH\nSubkey-Curve: cv25519\nSubkey-Usage: encrypt\n" +
			"Creation-Date: 20250101T000000\nExpire-Date: 0\n" +
			"Name-Real: Customer\nName-Email: files@customer.example\n%commit\n"
		out, err := gpgRun(home, []byte(spec), "--status-fd", "1", "--gen-key")
		if err != nil {
			g.err = err
			return
		}
		for line := range strings.Lines(string(out)) {
			if f := strings.Fields(line); len(f) == 4 && f[1] == "KEY_CREATED" {
				g.fpr = f[3]
			}
		}
		if g.fpr == "" {
			g.err = fmt.Errorf("gpg --gen-key said no KEY_CREATED:\n%s", out)
			return
		}
		armored, err := gpgRun(home, nil, "--armor", "--export", g.fpr)
		if err != nil {
			g.err = err
			return
		}
		g.pub = string(armored)
	})
	if g.err != nil {
		t.Fatal(g.err)
	}
	return g.home, g.pub
}

// gpgRun runs gpg in home, without a terminal, with stdin, and returns its standard output.
func gpgRun(home string, stdin []byte, args ...string) ([]byte, error) {
	c := exec.Command("gpg", append([]string{"--homedir", home, "--batch", "--no-tty",
		"--pinentry-mode", "loopback", "--passphrase", ""}, args...)...)
	c.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		return nil, fmt.Errorf("gpg %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return out, nil
}

// combinationSink stores the files put into it in a directory, in the order they arrive.
type combinationSink struct {
	dir   string
	mu    sync.Mutex
	order []string
}

func (s *combinationSink) Put(_ context.Context, name string, r io.Reader) (string, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return "", err
	}
	if strings.ContainsAny(name, `/\`) {
		return "", fmt.Errorf("file name %q is a path", name)
	}
	if err := os.WriteFile(filepath.Join(s.dir, name), b, 0o644); err != nil {
		return "", err
	}
	s.mu.Lock()
	s.order = append(s.order, name)
	s.mu.Unlock()
	return "/inbox/" + name, nil
}

// combinationPayloads makes n courseComplete payloads of about size bytes, numbered in order:
// with a title that CSV must quote (a comma, quotes, a line break, non-ASCII) and random base64
// that gzip cannot shrink much, so that size limits still cut a compressed day into parts.
func combinationPayloads(n, size int) [][]byte {
	rng := rand.New(rand.NewPCG(uint64(n), uint64(size)))
	out := make([][]byte, n)
	for i := range out {
		noise := make([]byte, max(size-260, 0)*3/4)
		for j := range noise {
			noise[j] = byte(rng.Uint32())
		}
		out[i] = fmt.Appendf(nil, `{"id":"c%06d","source":"course_completed","type":"status_change",`+
			`"title":"Course %d, \"Welcome\"\nø — part %d","companyId":"acme",`+
			`"userDetail":{"id":%d,"firstName":"Ann","lastName":"Ødegård","ref1":%q},"extra":[1,2,{"x":null}]}`,
			i, i, i%7, 1000+i, base64.StdEncoding.EncodeToString(noise))
	}
	return out
}

// combinationEvent is an event read back from a delivered file.
type combinationEvent struct {
	id, title string
	raw       []byte // the payload's bytes, for json and jsonl, whose files hold them as they are
}

// Every format, with and without gzip, with and without encryption to a GnuPG key, in one file
// or in parts cut by rows or by size, with and without a manifest, round-trips: gpg decrypts
// what is delivered, gzip -d decompresses it, and it parses to the events given, in order, each
// once; no part holds more rows or, as stored, more bytes than allowed; the manifest and the
// outcome give each file's size and sha256 as stored.
func TestFileOptionCombinations(t *testing.T) {
	t.Parallel()
	home, pub := combinationKey(t)
	db := pgtest.New(t)
	st := store.NewStore(db.Pool, nil, nil)
	typ := mustType(t)

	type split struct {
		name    string
		rows    int64
		size    int64
		events  int
		evBytes int
	}
	splits := []split{
		{"one file", 0, 0, 40, 1000},
		{"max rows", 8, 0, 50, 600}, // 6 parts of 8 and one of 2
		{"max size", 0, file.MinFileSize, 300, 1024},
	}
	for _, format := range []file.Format{file.FormatJSON, file.FormatJSONL, file.FormatCSV, file.FormatJSONFlat} {
		for _, compress := range []string{"", file.CompressGzip} {
			for _, encrypt := range []bool{false, true} {
				for _, sp := range splits {
					for _, manifest := range []bool{false, true} {
						name := fmt.Sprintf("%s/compress=%s/encrypt=%v/%s/manifest=%v", format, cmp.Or(compress, "none"), encrypt, sp.name, manifest)
						opts := file.Options{Compress: compress, MaxRows: sp.rows, MaxFileSize: sp.size, Manifest: manifest}
						if encrypt {
							opts.EncryptTo = pub
						}
						t.Run(name, func(t *testing.T) {
							t.Parallel()
							d := addTestDestination(t, st, day("2026-06-09"), format)
							d.Options = opts
							ps := combinationPayloads(sp.events, sp.evBytes)
							checkCombination(t, st, d, typ, home, ps)
						})
					}
				}
			}
		}
	}
}

// checkCombination delivers ps through a run of d and checks what was stored.
func checkCombination(t *testing.T, st *store.Store, d store.Destination, typ events.Type, home string, ps [][]byte) {
	t.Helper()
	opts, format := d.Options, d.Format
	clk := &clock{t: wall("2026-06-10 02:00")}
	run, err := st.CreateRun(context.Background(), store.NewRun{Destination: d, Type: typ, Day: day("2026-06-09"),
		Kind: store.KindManual, Location: newYork, Now: clk.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(run.FileName, opts.Ext(format)) {
		t.Fatalf("the run's file %s does not end in %s", run.FileName, opts.Ext(format))
	}
	sink := &combinationSink{dir: t.TempDir()}
	runner := NewRunner(RunnerConfig{Store: st, Location: newYork, Now: clk.Now,
		Connect: func(context.Context, store.Destination) (Sink, error) { return sink, nil }})
	src := func(ctx context.Context, fn func([]byte) error) (int64, error) {
		for i, p := range ps {
			if err := fn(p); err != nil {
				return int64(i), err
			}
		}
		return int64(len(ps)), nil
	}
	out, err := runner.Attempt(context.Background(), d, run, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	if out.Err != nil {
		t.Fatalf("delivery: %v", out.Err)
	}

	// The files, in the order they arrived: the data files, then the manifest.
	names := slices.Clone(sink.order)
	manifestName := file.ManifestName(run.FileName, format, opts)
	if opts.Manifest {
		if len(names) < 2 || names[len(names)-1] != manifestName {
			t.Fatalf("delivered %v; want the data files, then %s last", names, manifestName)
		}
		names = names[:len(names)-1]
	} else if slices.Contains(names, manifestName) {
		t.Fatalf("delivered %v: a manifest without being asked", names)
	}
	switch {
	case !opts.Splits():
		if len(names) != 1 || names[0] != run.FileName {
			t.Fatalf("delivered %v; want %s alone", names, run.FileName)
		}
	case opts.MaxRows > 0:
		if want := (len(ps) + int(opts.MaxRows) - 1) / int(opts.MaxRows); len(names) != want {
			t.Fatalf("delivered %d parts (%v); want %d of at most %d events for %d events", len(names), names, want, opts.MaxRows, len(ps))
		}
	case len(names) < 2:
		t.Fatalf("delivered %v; want several parts of at most %d bytes for %d events of ~%d bytes", names, opts.MaxFileSize, len(ps), len(ps[0]))
	}
	if opts.Splits() && len(names) > 1 {
		for i, name := range names {
			if want := file.PartName(run.PartPattern, i+1); name != want || !strings.Contains(name, fmt.Sprintf("_part%04d", i+1)) ||
				!strings.HasSuffix(name, opts.Ext(format)) {
				t.Errorf("part %d is named %s, want %s", i+1, name, want)
			}
		}
	}

	stored := map[string][]byte{}
	var got []combinationEvent
	var total int64
	perFile := map[string]int{}
	for _, name := range names {
		b, err := os.ReadFile(filepath.Join(sink.dir, name))
		if err != nil {
			t.Fatal(err)
		}
		stored[name] = b
		total += int64(len(b))
		if opts.MaxFileSize > 0 && int64(len(b)) > opts.MaxFileSize {
			t.Errorf("%s is %d bytes as stored, over the limit of %d", name, len(b), opts.MaxFileSize)
		}
		evs := decodeCombinationFile(t, home, name, b, format, opts)
		if opts.MaxRows > 0 && int64(len(evs)) > opts.MaxRows {
			t.Errorf("%s holds %d events, over the limit of %d", name, len(evs), opts.MaxRows)
		}
		if len(evs) == 0 {
			t.Errorf("%s holds no event: an empty part", name)
		}
		perFile[name] = len(evs)
		got = append(got, evs...)
	}

	// Every event once, in order, as given.
	if len(got) != len(ps) {
		t.Errorf("the files hold %d events, %d were given", len(got), len(ps))
	}
	seen := map[string]bool{}
	for i, e := range got {
		if seen[e.id] {
			t.Errorf("event %s delivered twice", e.id)
		}
		seen[e.id] = true
		if i >= len(ps) {
			continue
		}
		var want struct {
			ID    string `json:"id"`
			Title string `json:"title"`
		}
		if err := json.Unmarshal(ps[i], &want); err != nil {
			t.Fatal(err)
		}
		if e.id != want.ID || e.title != want.Title {
			t.Errorf("event %d is %q titled %q; want %q titled %q", i, e.id, e.title, want.ID, want.Title)
		}
		if (format == file.FormatJSON || format == file.FormatJSONL) && !bytes.Equal(e.raw, ps[i]) {
			t.Errorf("event %d: the file holds %.80q; want the payload as given, %.80q", i, e.raw, ps[i])
		}
	}
	if out.Events != int64(len(ps)) || out.Bytes != total {
		t.Errorf("outcome: %d events, %d bytes; want %d events, %d bytes as stored", out.Events, out.Bytes, len(ps), total)
	}

	// The outcome lists each file as stored; the manifest too, and its own entry last.
	wantFiles := len(names)
	if opts.Manifest {
		wantFiles++
	}
	if len(out.Files) != wantFiles {
		t.Fatalf("outcome lists %d files, %d were delivered: %+v", len(out.Files), wantFiles, out.Files)
	}
	for i, name := range names {
		checkPartInfo(t, "outcome", out.Files[i], name, stored[name], perFile[name])
	}
	if !opts.Manifest {
		return
	}
	mb, err := os.ReadFile(filepath.Join(sink.dir, manifestName))
	if err != nil {
		t.Fatal(err)
	}
	mi := out.Files[len(out.Files)-1]
	if sum := sha256.Sum256(mb); mi.Name != manifestName || mi.Bytes != int64(len(mb)) || mi.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("outcome's manifest entry %+v; want %s, %d bytes, sha256 %x", mi, manifestName, len(mb), sum)
	}
	if out.RemotePath != "/inbox/"+manifestName {
		t.Errorf("remote path %s; want the manifest's", out.RemotePath)
	}
	var m Manifest
	if err := json.Unmarshal(mb, &m); err != nil {
		t.Fatalf("manifest: %v\n%s", err, mb)
	}
	if m.Run != run.ID || m.Destination != d.ID || m.EventType != typ.Name || m.Events != int64(len(ps)) ||
		m.Window.Start == "" || m.Window.End == "" {
		t.Errorf("manifest %+v; want run %s, destination %s, %d events", m, run.ID, d.ID, len(ps))
	}
	if len(m.Files) != len(names) {
		t.Fatalf("the manifest lists %d files, %d were delivered before it", len(m.Files), len(names))
	}
	for i, name := range names {
		checkPartInfo(t, "manifest", m.Files[i], name, stored[name], perFile[name])
	}
}

func checkPartInfo(t *testing.T, where string, got file.PartInfo, name string, b []byte, events int) {
	t.Helper()
	sum := sha256.Sum256(b)
	if got.Name != name || got.Bytes != int64(len(b)) || got.SHA256 != hex.EncodeToString(sum[:]) || got.Events != int64(events) {
		t.Errorf("%s lists %+v; want %s, %d bytes, sha256 %x, %d events", where, got, name, len(b), sum, events)
	}
}

// decodeCombinationFile reads a delivered file back as a customer would: gpg --decrypt, then
// gzip -d, then the format's parser.
func decodeCombinationFile(t *testing.T, home, name string, b []byte, format file.Format, opts file.Options) []combinationEvent {
	t.Helper()
	if opts.EncryptTo != "" {
		if len(b) == 0 || b[0]&0x80 == 0 || bytes.HasPrefix(b, []byte("-----BEGIN")) {
			t.Fatalf("%s does not start with a binary OpenPGP packet: %.20q", name, b)
		}
		c := exec.Command("gpg", "--homedir", home, "--batch", "--no-tty", "--pinentry-mode", "loopback",
			"--passphrase", "", "--status-fd", "2", "--decrypt")
		c.Stdin = bytes.NewReader(b)
		var stderr bytes.Buffer
		c.Stderr = &stderr
		plain, err := c.Output()
		if err != nil {
			t.Fatalf("gpg --decrypt %s: %v\n%s", name, err, stderr.Bytes())
		}
		if s := stderr.String(); !strings.Contains(s, "DECRYPTION_OKAY") || !strings.Contains(s, "GOODMDC") {
			t.Errorf("gpg --decrypt %s: no DECRYPTION_OKAY and GOODMDC:\n%s", name, s)
		}
		b = plain
	}
	gzipped := bytes.HasPrefix(b, []byte{0x1f, 0x8b})
	if gzipped != (opts.Compress == file.CompressGzip) {
		t.Fatalf("%s: gzip magic %v, compress %q", name, gzipped, opts.Compress)
	}
	if gzipped {
		c := exec.Command("gzip", "-d", "-c")
		c.Stdin = bytes.NewReader(b)
		var stderr bytes.Buffer
		c.Stderr = &stderr
		plain, err := c.Output()
		if err != nil {
			t.Fatalf("gzip -d %s: %v\n%s", name, err, stderr.Bytes())
		}
		b = plain
	}

	var out []combinationEvent
	fromPayload := func(raw []byte) combinationEvent {
		var e struct {
			ID    string `json:"id"`
			Title string `json:"title"`
		}
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatalf("%s: an event is not JSON: %v: %.80q", name, err, raw)
		}
		return combinationEvent{id: e.ID, title: e.Title, raw: raw}
	}
	switch format {
	case file.FormatJSON:
		var arr []json.RawMessage
		if err := json.Unmarshal(b, &arr); err != nil {
			t.Fatalf("%s is not a JSON array: %v", name, err)
		}
		for _, raw := range arr {
			out = append(out, fromPayload(raw))
		}
	case file.FormatJSONL:
		if len(b) > 0 && b[len(b)-1] != '\n' {
			t.Errorf("%s does not end with a line break", name)
		}
		for line := range bytes.Lines(b) {
			out = append(out, fromPayload(bytes.TrimSuffix(line, []byte("\n"))))
		}
	case file.FormatCSV:
		r := csv.NewReader(bytes.NewReader(b))
		recs, err := r.ReadAll()
		if err != nil {
			t.Fatalf("%s is not CSV: %v", name, err)
		}
		if len(recs) == 0 || !slices.Equal(recs[0], events.CourseComplete.Columns) {
			t.Fatalf("%s: header %v; want the columns %v", name, recs[:min(len(recs), 1)], events.CourseComplete.Columns)
		}
		title := slices.Index(recs[0], "title")
		if !bytes.Contains(b, []byte("\r\n")) {
			t.Errorf("%s: rows do not end in CRLF", name)
		}
		for _, rec := range recs[1:] {
			out = append(out, combinationEvent{id: rec[0], title: rec[title]})
		}
	case file.FormatJSONFlat:
		dec := json.NewDecoder(bytes.NewReader(b))
		var arr []map[string]json.RawMessage
		if err := dec.Decode(&arr); err != nil {
			t.Fatalf("%s is not a JSON array: %v", name, err)
		}
		for _, obj := range arr {
			if len(obj) != len(events.CourseComplete.Columns) {
				t.Errorf("%s: an object has %d keys; want the %d columns", name, len(obj), len(events.CourseComplete.Columns))
			}
			var e combinationEvent
			if err := json.Unmarshal(obj["id"], &e.id); err != nil {
				t.Fatalf("%s: id %s: %v", name, obj["id"], err)
			}
			if err := json.Unmarshal(obj["title"], &e.title); err != nil {
				t.Fatalf("%s: title %s: %v", name, obj["title"], err)
			}
			if string(obj["userDetail.firstName"]) != `"Ann"` {
				t.Errorf("%s: userDetail.firstName is %s", name, obj["userDetail.firstName"])
			}
			out = append(out, e)
		}
	default:
		t.Fatalf("no parser for format %s", format)
	}
	return out
}
