package export

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/eventexport/eventexport/export/file"
	"github.com/eventexport/eventexport/export/store"
	"github.com/eventexport/eventexport/migrations/pgtest"
)

// recordingSink stores files in a directory in the order they arrive; it can fail after some.
type recordingSink struct {
	dir       string
	mu        sync.Mutex
	order     []string
	failAfter int // fail every Put after this many; 0 never
}

func (s *recordingSink) Put(_ context.Context, name string, r io.Reader) (string, error) {
	s.mu.Lock()
	n := len(s.order)
	s.mu.Unlock()
	if s.failAfter > 0 && n >= s.failAfter {
		_, _ = io.Copy(io.Discard, r)
		return "", errDown
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(s.dir, name), b, 0o644); err != nil {
		return "", err
	}
	s.mu.Lock()
	s.order = append(s.order, name)
	s.mu.Unlock()
	return "/" + name, nil
}

// Remove deletes delivered files, as a server would.
func (s *recordingSink) Remove(_ context.Context, names ...string) error {
	for _, n := range names {
		if err := os.Remove(filepath.Join(s.dir, n)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// payloads makes n courseComplete payloads of about size bytes each, numbered in order.
func payloads(n, size int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		pad := strings.Repeat("é", max(size/2-60, 0)) // two bytes each
		out[i] = []byte(fmt.Sprintf(`{"id":"e%06d","title":"Course %d %s","userDetail":{"firstName":"Ann"}}`, i, i, pad))
	}
	return out
}

type fileFixture struct {
	st   *store.Store
	dest store.Destination
	clk  *clock
}

func newFileFixture(t *testing.T, format file.Format, o file.Options) *fileFixture {
	t.Helper()
	db := pgtest.New(t)
	st := store.NewStore(db.Pool, nil, nil)
	d := addTestDestination(t, st, day("2026-06-09"), format)
	d.Options = o
	return &fileFixture{st: st, dest: d, clk: &clock{t: wall("2026-06-10 02:00")}}
}

// attempt makes one attempt of a new run of the fixture's destination with the payloads.
func (f *fileFixture) attempt(t *testing.T, sink Sink, ps [][]byte) (store.Run, Outcome) {
	t.Helper()
	run, err := f.st.CreateRun(context.Background(), store.NewRun{Destination: f.dest, Type: mustType(t), Day: day("2026-06-09"),
		Kind: store.KindManual, Location: newYork, Now: f.clk.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return run, f.again(t, sink, run, ps)
}

func (f *fileFixture) again(t *testing.T, sink Sink, run store.Run, ps [][]byte) Outcome {
	t.Helper()
	runner := NewRunner(RunnerConfig{Store: f.st, Location: newYork, Now: f.clk.Now,
		Connect: func(context.Context, store.Destination) (Sink, error) { return sink, nil }})
	src := func(ctx context.Context, fn func([]byte) error) (int64, error) {
		for i, p := range ps {
			if err := fn(p); err != nil {
				return int64(i), err
			}
		}
		return int64(len(ps)), nil
	}
	out, err := runner.Attempt(context.Background(), f.dest, run, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// readEvents reads the events of a delivered file back: gunzipped with gzip -d when it ends
// in .gz, parsed by its format.
func readEvents(t *testing.T, path string, format file.Format) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(path, ".gz") {
		cmd := exec.Command("gzip", "-d", "-c")
		cmd.Stdin = bytes.NewReader(b)
		if b, err = cmd.Output(); err != nil {
			t.Fatalf("gzip -d %s: %v", path, err)
		}
	}
	var ids []string
	switch format {
	case file.FormatJSON:
		var arr []struct{ ID string }
		if err := json.Unmarshal(b, &arr); err != nil {
			t.Fatalf("%s is not a JSON array: %v", path, err)
		}
		for _, e := range arr {
			ids = append(ids, e.ID)
		}
	case file.FormatCSV:
		lines := strings.Split(strings.TrimSuffix(string(b), "\r\n"), "\r\n")
		if !strings.HasPrefix(lines[0], "id,") {
			t.Fatalf("%s has no header row: %.40q", path, lines[0])
		}
		for _, l := range lines[1:] {
			ids = append(ids, strings.SplitN(l, ",", 2)[0])
		}
	}
	return ids
}

func ids(ps [][]byte) []string {
	var out []string
	for _, p := range ps {
		var e struct{ ID string }
		_ = json.Unmarshal(p, &e)
		out = append(out, e.ID)
	}
	return out
}

// Split runs deliver parts, each complete on its own and within the limits, with every event
// once and in order across them; the manifest comes last and lists every part with its sha256.
func TestSplitPartsAndManifest(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		format file.Format
		opts   file.Options
		n      int // events
		size   int // bytes per event
	}{
		{"rows json", file.FormatJSON, file.Options{MaxRows: 3, Manifest: true}, 10, 200},
		{"rows csv exact", file.FormatCSV, file.Options{MaxRows: 5, Manifest: true}, 10, 200},
		{"size json", file.FormatJSON, file.Options{MaxFileSize: 64 << 10, Manifest: true}, 300, 1000},
		{"size csv gzip", file.FormatCSV, file.Options{MaxFileSize: 64 << 10, Compress: file.CompressGzip, Manifest: true}, 3000, 900},
		{"size and rows gzip", file.FormatJSON, file.Options{MaxFileSize: 100_000, MaxRows: 40, Compress: file.CompressGzip, Manifest: true}, 200, 3000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFileFixture(t, tc.format, tc.opts)
			sink := &recordingSink{dir: t.TempDir()}
			ps := payloads(tc.n, tc.size)
			run, out := f.attempt(t, sink, ps)
			if out.Err != nil {
				t.Fatalf("delivery: %v", out.Err)
			}
			if len(sink.order) < 3 {
				t.Fatalf("delivered %v; want several parts and a manifest", sink.order)
			}
			manifestName := sink.order[len(sink.order)-1]
			if !strings.HasSuffix(manifestName, ".manifest.json") {
				t.Fatalf("the last file is %s, want the manifest", manifestName)
			}
			var m Manifest
			b, _ := os.ReadFile(filepath.Join(sink.dir, manifestName))
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			var got []string
			for i, name := range sink.order[:len(sink.order)-1] {
				want := file.PartName(run.PartPattern, i+1)
				if name != want || !strings.Contains(name, fmt.Sprintf("_part%04d", i+1)) || !strings.HasSuffix(name, tc.opts.Ext(tc.format)) {
					t.Errorf("part %d is named %s, want %s", i+1, name, want)
				}
				data, _ := os.ReadFile(filepath.Join(sink.dir, name))
				if tc.opts.MaxFileSize > 0 && int64(len(data)) > tc.opts.MaxFileSize {
					t.Errorf("%s is %d bytes, over the limit of %d", name, len(data), tc.opts.MaxFileSize)
				}
				evs := readEvents(t, filepath.Join(sink.dir, name), tc.format)
				if tc.opts.MaxRows > 0 && int64(len(evs)) > tc.opts.MaxRows {
					t.Errorf("%s holds %d events, over the limit of %d", name, len(evs), tc.opts.MaxRows)
				}
				sum := sha256.Sum256(data)
				if i >= len(m.Files) || m.Files[i].Name != name || m.Files[i].SHA256 != hex.EncodeToString(sum[:]) ||
					m.Files[i].Bytes != int64(len(data)) || m.Files[i].Events != int64(len(evs)) {
					t.Errorf("manifest entry %d = %+v; want %s, %d bytes, %d events, sha256 %x", i, m.Files, name, len(data), len(evs), sum)
				}
				got = append(got, evs...)
			}
			if want := ids(ps); strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("events across the parts differ from the day's: %d vs %d", len(got), len(want))
			}
			if m.Events != int64(tc.n) || m.Run != run.ID || m.EventType != "courseComplete" || m.Window.Start == "" {
				t.Errorf("manifest: %+v", m)
			}
			if tc.opts.MaxFileSize > 0 {
				// Parts are filled: all but the last hold at least half the limit.
				for _, fi := range m.Files[:len(m.Files)-1] {
					if fi.Bytes < tc.opts.MaxFileSize/2 && (tc.opts.MaxRows == 0 || fi.Events < tc.opts.MaxRows) {
						t.Errorf("%s holds %d bytes of a limit of %d: parts are cut too early", fi.Name, fi.Bytes, tc.opts.MaxFileSize)
					}
				}
			}

			// A retry writes the same parts under the same names, byte for byte.
			before := map[string][]byte{}
			for _, name := range sink.order {
				before[name], _ = os.ReadFile(filepath.Join(sink.dir, name))
			}
			sink.order = nil
			if out := f.again(t, sink, run, ps); out.Err != nil {
				t.Fatal(out.Err)
			}
			for _, name := range sink.order {
				after, _ := os.ReadFile(filepath.Join(sink.dir, name))
				if b, ok := before[name]; !ok || !bytes.Equal(b, after) {
					t.Errorf("the retry wrote %s anew or differently", name)
				}
			}
		})
	}
}

// A day under the limits is one file without a part number; an empty day, one valid file.
func TestUnderTheLimitIsOneFile(t *testing.T) {
	t.Parallel()
	f := newFileFixture(t, file.FormatJSON, file.Options{MaxFileSize: 1 << 20, MaxRows: 100, Compress: file.CompressGzip})
	for _, n := range []int{0, 5} {
		sink := &recordingSink{dir: t.TempDir()}
		run, out := f.attempt(t, sink, payloads(n, 100))
		if out.Err != nil {
			t.Fatal(out.Err)
		}
		if len(sink.order) != 1 || sink.order[0] != run.FileName || !strings.HasSuffix(run.FileName, ".json.gz") {
			t.Errorf("%d events: delivered %v; want %s alone", n, sink.order, run.FileName)
		}
		if got := readEvents(t, filepath.Join(sink.dir, sink.order[0]), file.FormatJSON); len(got) != n {
			t.Errorf("%d events: the file holds %d", n, len(got))
		}
	}
}

// An event larger than the limit is a clear error of the file, not the server's, and nothing is
// left under a final name; a sink failing after some parts never receives the manifest.
func TestSplitFailures(t *testing.T) {
	t.Parallel()
	f := newFileFixture(t, file.FormatJSON, file.Options{MaxFileSize: 64 << 10, Manifest: true})
	sink := &recordingSink{dir: t.TempDir()}
	ps := append(payloads(3, 1000), payloads(1, 200_000)...)
	_, out := f.attempt(t, sink, ps)
	var fe *FileError
	if !errors.As(out.Err, &fe) || !errors.Is(out.Err, file.ErrEventTooLarge) || out.Class != "file" || !out.Permanent {
		t.Errorf("an event over the limit: %v (class %q, permanent %v); want a permanent file error", out.Err, out.Class, out.Permanent)
	}
	for _, name := range sink.order {
		if strings.HasSuffix(name, ".manifest.json") {
			t.Errorf("a manifest was delivered for a failed run")
		}
	}
	if left, _ := os.ReadDir(sink.dir); len(sink.order) == 0 || len(left) != 0 {
		t.Errorf("after the failure %d file(s) were delivered and %d left; want the delivered parts removed", len(sink.order), len(left))
	}

	sink = &recordingSink{dir: t.TempDir(), failAfter: 2}
	_, out = f.attempt(t, sink, payloads(300, 1000))
	if out.Err == nil {
		t.Fatal("a sink failing after two parts: delivered")
	}
	sort.Strings(sink.order)
	for _, name := range sink.order {
		if strings.Contains(name, "manifest") {
			t.Errorf("the manifest was delivered although a part failed: %v", sink.order)
		}
	}
}
