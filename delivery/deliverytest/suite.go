// Package deliverytest is the conformance suite every transport passes: what the engine and
// support rely on of any kind of target, run through the delivery.Transport seam against a
// real server of that kind. Each transport's tests run it over their servers; the cases that
// need a directory on the server run only for kinds that have one.
package deliverytest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eventexport/eventexport/delivery"
)

// Peer is a running server of one kind that the suite delivers to.
type Peer struct {
	Transport delivery.Transport
	// Input returns the fields of a target that logs in to the server and trusts its identity
	// (a pinned host key, a CA or a certificate pin), its files going to dir. With addr not
	// empty, the target names that host:port instead of the server's.
	Input func(t *testing.T, dir, addr string) map[string]any
	// Untrusted names the fields of Input that make the server's identity trusted: without
	// them, the server presents an identity the target does not know.
	Untrusted []string
	// BadLogin are fields that replace Input's so that the server refuses the login.
	BadLogin map[string]any
	// OtherPin is a well-formed pin of this kind that matches no identity of the server.
	OtherPin string
	// Secrets are the secret values Input holds: no description of the target may show them.
	Secrets []string
	// Received returns what the server holds under name in dir, and whether it holds it.
	Received func(t *testing.T, dir, name string) ([]byte, bool)
	// Files lists the files in dir on the server, temporary ones included; nil for a kind
	// without directories (a web service), whose cases about leftovers are then skipped.
	Files func(t *testing.T, dir string) []string
	// Dirs gives a fresh directory (as Input takes it) for each case; "" when the kind has
	// none.
	Dirs func(t *testing.T) string
}

// Run runs the suite against p.
func Run(t *testing.T, p Peer) {
	if p.Dirs == nil {
		p.Dirs = func(*testing.T) string { return "" }
	}
	ctx := context.Background()
	target := func(t *testing.T, dir string, change map[string]any, drop ...string) delivery.Target {
		t.Helper()
		fields := p.Input(t, dir, "")
		for _, k := range drop {
			delete(fields, k)
		}
		for k, v := range change {
			fields[k] = v
		}
		return configure(t, p.Transport, fields)
	}
	open := func(t *testing.T, tg delivery.Target, o delivery.Options) delivery.Sink {
		t.Helper()
		if o.ConnectTimeout == 0 {
			o.ConnectTimeout = 10 * time.Second
		}
		if o.AttemptTimeout == 0 {
			o.AttemptTimeout = 30 * time.Second
		}
		sink, err := p.Transport.Open(tg, "", o)
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		return sink
	}
	onlyFiles := func(t *testing.T, dir string, names ...string) {
		t.Helper()
		if p.Files == nil {
			return
		}
		got := p.Files(t, dir)
		slices.Sort(got)
		slices.Sort(names)
		if !slices.Equal(got, names) {
			t.Errorf("the server holds %q in %q, want %q", got, dir, names)
		}
	}
	holds := func(t *testing.T, dir, name string, want []byte) {
		t.Helper()
		got, ok := p.Received(t, dir, name)
		switch {
		case !ok:
			t.Errorf("the server holds no %s", name)
		case !bytes.Equal(got, want):
			t.Errorf("the server holds %d bytes under %s (sha256 %x), want %d (sha256 %x)", len(got), name,
				sha256.Sum256(got), len(want), sha256.Sum256(want))
		}
	}

	t.Run("Delivers", func(t *testing.T) {
		dir := p.Dirs(t)
		sink := open(t, target(t, dir, nil), delivery.Options{})
		for name, body := range map[string][]byte{
			"a.json":    []byte(`[{"id":1,"name":"Zoë"}]`),
			"empty.csv": {},
		} {
			remote, err := sink.Put(ctx, name, bytes.NewReader(body))
			if err != nil {
				t.Fatalf("put %s: %v", name, err)
			}
			if remote == "" {
				t.Errorf("put %s returned no remote path", name)
			}
			holds(t, dir, name, body)
		}
		onlyFiles(t, dir, "a.json", "empty.csv")
	})

	t.Run("StreamsALargeFile", func(t *testing.T) {
		dir := p.Dirs(t)
		want := pseudoRandom(6 << 20)
		pr, pw := io.Pipe()
		go func() {
			// Small writes, as an encoder makes them, through a pipe that cannot seek.
			for b := want; len(b) > 0; {
				n := min(len(b), 1500)
				if _, err := pw.Write(b[:n]); err != nil {
					return
				}
				b = b[n:]
			}
			pw.Close()
		}()
		if _, err := open(t, target(t, dir, nil), delivery.Options{}).Put(ctx, "big.jsonl", pr); err != nil {
			t.Fatalf("put: %v", err)
		}
		holds(t, dir, "big.jsonl", want)
		onlyFiles(t, dir, "big.jsonl")
	})

	t.Run("ReplacesAFileOfTheSameName", func(t *testing.T) {
		dir := p.Dirs(t)
		sink := open(t, target(t, dir, nil), delivery.Options{})
		for _, body := range []string{"the first file, longer than the second", "second"} {
			if _, err := sink.Put(ctx, "x.csv", strings.NewReader(body)); err != nil {
				t.Fatalf("put: %v", err)
			}
		}
		holds(t, dir, "x.csv", []byte("second"))
		onlyFiles(t, dir, "x.csv")
	})

	t.Run("SourceFailsNothingPublished", func(t *testing.T) {
		dir := p.Dirs(t)
		sink := open(t, target(t, dir, nil), delivery.Options{})
		errGone := errors.New("the database went away")
		_, err := sink.Put(ctx, "x.json", io.MultiReader(bytes.NewReader(pseudoRandom(256<<10)), failing{errGone}))
		if !errors.Is(err, errGone) {
			t.Errorf("put error %v, want it to wrap the source's", err)
		}
		class(t, err, delivery.ClassSource, false)
		if _, ok := p.Received(t, dir, "x.json"); ok {
			t.Error("a file whose source failed was published under its name")
		}
		if c, ok := sink.(delivery.Cleaner); ok {
			if err := c.Clean(ctx, "x.json"); err != nil {
				t.Errorf("clean: %v", err)
			}
		}
		onlyFiles(t, dir)
	})

	t.Run("BadLogin", func(t *testing.T) {
		dir := p.Dirs(t)
		_, err := open(t, target(t, dir, p.BadLogin), delivery.Options{}).Put(ctx, "x.json", strings.NewReader("[]"))
		class(t, err, delivery.ClassAuth, true)
		if _, ok := p.Received(t, dir, "x.json"); ok {
			t.Error("delivered with a wrong login")
		}
	})

	t.Run("UnknownIdentityThenTrustOnFirstUse", func(t *testing.T) {
		dir := p.Dirs(t)
		untrusted := target(t, dir, nil, p.Untrusted...)
		if p.Transport.Pinned(untrusted) {
			t.Fatalf("a target without %v is pinned", p.Untrusted)
		}
		_, err := open(t, untrusted, delivery.Options{}).Put(ctx, "x.json", strings.NewReader("[]"))
		de := class(t, err, "", true)
		if de != nil && de.Presented == "" {
			t.Errorf("an untrusted server's error shows no presented identity: %v", err)
		}
		if _, ok := p.Received(t, dir, "x.json"); ok {
			t.Fatal("delivered to an untrusted server")
		}

		sink := open(t, untrusted, delivery.Options{AcceptUnknown: true})
		if _, err := sink.Put(ctx, "x.json", strings.NewReader("[1]")); err != nil {
			t.Fatalf("put accepting the unknown identity: %v", err)
		}
		pr, ok := sink.(delivery.Presenter)
		if !ok {
			t.Fatalf("a sink opened with AcceptUnknown is no delivery.Presenter")
		}
		fp, pin := pr.Presented()
		if pin == "" || fp == "" {
			t.Fatal("the sink tells no presented identity after a delivery")
		}
		if de != nil && !strings.Contains(de.Presented, fp) && !strings.Contains(fp, de.Presented) {
			t.Errorf("the error presented %q, the sink %q", de.Presented, fp)
		}
		pinned, err := p.Transport.Pin(untrusted, pin)
		if err != nil || !p.Transport.Pinned(pinned) {
			t.Fatalf("pin %s: %v", pin, err)
		}
		pinned.Secrets = untrusted.Secrets
		if _, err := open(t, pinned, delivery.Options{}).Put(ctx, "y.json", strings.NewReader("[2]")); err != nil {
			t.Errorf("put to the pinned identity: %v", err)
		}
		holds(t, dir, "y.json", []byte("[2]"))
	})

	t.Run("OtherPinRefused", func(t *testing.T) {
		dir := p.Dirs(t)
		untrusted := target(t, dir, nil, p.Untrusted...)
		pinned, err := p.Transport.Pin(untrusted, p.OtherPin)
		if err != nil {
			t.Fatalf("pin %s: %v", p.OtherPin, err)
		}
		pinned.Secrets = untrusted.Secrets
		// A pinned identity is never replaced by what the server shows, whatever AcceptUnknown says.
		_, err = open(t, pinned, delivery.Options{AcceptUnknown: true}).Put(ctx, "x.json", strings.NewReader("[]"))
		class(t, err, "", true)
		if _, ok := p.Received(t, dir, "x.json"); ok {
			t.Error("delivered to a server that is not the pinned one")
		}
	})

	t.Run("NothingListening", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		tg := configure(t, p.Transport, p.Input(t, p.Dirs(t), addr))
		_, err = open(t, tg, delivery.Options{}).Put(ctx, "x.json", strings.NewReader("[]"))
		class(t, err, delivery.ClassRefused, false)
	})

	t.Run("SilentServerConnectLimit", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			var held []net.Conn // accepted, never answered
			defer func() {
				for _, c := range held {
					c.Close()
				}
			}()
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				held = append(held, c)
			}
		}()
		tg := configure(t, p.Transport, p.Input(t, p.Dirs(t), ln.Addr().String()))
		const limit = 400 * time.Millisecond
		start := time.Now()
		_, err = open(t, tg, delivery.Options{ConnectTimeout: limit}).Put(ctx, "x.json", strings.NewReader("[]"))
		took := time.Since(start)
		de := class(t, err, delivery.ClassTimeout, false)
		if de != nil && de.Limit != delivery.LimitConnect {
			t.Errorf("limit %q, want %q: %v", de.Limit, delivery.LimitConnect, err)
		}
		if took > limit+5*time.Second {
			t.Errorf("gave up after %s, with a connect limit of %s", took, limit)
		}
	})

	t.Run("Canceled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		dir := p.Dirs(t)
		_, err := open(t, target(t, dir, nil), delivery.Options{}).Put(cctx, "x.json", strings.NewReader("[]"))
		class(t, err, delivery.ClassCanceled, false)
		if _, ok := p.Received(t, dir, "x.json"); ok {
			t.Error("delivered after the caller canceled")
		}
	})

	t.Run("SourceAddress", func(t *testing.T) {
		dir := p.Dirs(t)
		tg := target(t, dir, nil)
		if _, err := open(t, tg, delivery.Options{SourceAddr: "127.0.0.1"}).Put(ctx, "x.json", strings.NewReader("[]")); err != nil {
			t.Errorf("put from 127.0.0.1: %v", err)
		}
		_, err := open(t, tg, delivery.Options{SourceAddr: "eth0"}).Put(ctx, "y.json", strings.NewReader("[]"))
		class(t, err, delivery.ClassConfig, true)
	})

	t.Run("DescriptionsHoldNoSecret", func(t *testing.T) {
		tg := target(t, p.Dirs(t), nil)
		b, err := json.Marshal(p.Transport.Describe(tg))
		if err != nil {
			t.Fatal(err)
		}
		text := string(b) + p.Transport.URL(tg, "") + string(tg.Settings)
		for _, s := range p.Secrets {
			if s != "" && strings.Contains(text, s) {
				t.Errorf("a description of the target shows a secret: %s", text)
			}
		}
	})
}

// configure makes a target of fields, as support does from a request.
func configure(t *testing.T, tr delivery.Transport, fields map[string]any) delivery.Target {
	t.Helper()
	in := delivery.Input{}
	for k, v := range fields {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		in[k] = b
	}
	tg, err := tr.Configure(nil, in)
	if err != nil {
		t.Fatalf("configure %s: %v", tr.Kind(), err)
	}
	tg.Kind = tr.Kind()
	return tg
}

// class fails t unless err is a *delivery.Error of class want (any class when want is ""),
// permanent or not as said; it returns the error, or nil.
func class(t *testing.T, err error, want delivery.Class, permanent bool) *delivery.Error {
	t.Helper()
	var de *delivery.Error
	if !errors.As(err, &de) {
		t.Errorf("error %v (%T), want a *delivery.Error of class %q", err, err, want)
		return nil
	}
	if want != "" && de.Class != want || de.Permanent() != permanent {
		t.Errorf("class %q permanent %v, want %q %v: %v", de.Class, de.Permanent(), want, permanent, err)
	}
	if strings.TrimSpace(de.Error()) == "" {
		t.Error("the error says nothing")
	}
	return de
}

type failing struct{ err error }

func (f failing) Read([]byte) (int, error) { return 0, f.err }

// pseudoRandom is n bytes that do not repeat in any short period.
func pseudoRandom(n int) []byte {
	b := make([]byte, 0, n+sha256.Size)
	seed := sha256.Sum256([]byte("deliverytest"))
	for i := 0; len(b) < n; i++ {
		seed = sha256.Sum256(fmt.Appendf(seed[:], "%d", i))
		b = append(b, seed[:]...)
	}
	return b[:n]
}

// LocalDir returns Received and Files for a server whose directory dir is the local
// directory root/dir.
func LocalDir(root string) (received func(t *testing.T, dir, name string) ([]byte, bool), files func(t *testing.T, dir string) []string) {
	received = func(t *testing.T, dir, name string) ([]byte, bool) {
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(dir), name))
		return b, err == nil
	}
	files = func(t *testing.T, dir string) []string {
		t.Helper()
		entries, err := os.ReadDir(filepath.Join(root, filepath.FromSlash(dir)))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return names
	}
	return received, files
}

// CaseDir is a directory named after the running case, for Peer.Dirs.
func CaseDir(t *testing.T) string { return strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()) }
