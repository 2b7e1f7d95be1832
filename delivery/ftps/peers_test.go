//go:build unix

package ftps_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eventexport/eventexport/delivery"
	"github.com/eventexport/eventexport/delivery/ftps"
)

// password holds characters customers percent-encode in URLs.
const password = "pw:@/ %?#x"

// peer is a real FTPS server started for a test: ProFTPD or vsftpd.
type peer struct {
	port int
	user string
	root string // the local directory of the remote "/"
	// dir is the remote directory where the user may write: the targets' base directory.
	dir     string
	caPEM   []byte
	certDER []byte
}

// offer is which TLS versions a peer offers.
type offer int

const (
	offerDefault offer = iota // the peer's own: ProFTPD's TLS 1.2 and 1.3, vsftpd's TLS 1.2
	offerTLS12                // TLS 1.2 only: data connections resume sessions by tickets
	offerTLS13                // TLS 1.3 only
	offerOldTLS               // TLS 1.0 and 1.1 only, with the weak cipher suites they need
)

// startPeer starts a peer for a test, stopped when it ends, with password as its password.
type startPeer func(t *testing.T, implicit bool, offered offer) *peer

// testPeer runs the cases every real FTPS server passes.
func testPeer(t *testing.T, start startPeer) {
	t.Run("deliver", func(t *testing.T) {
		for _, implicit := range []bool{false, true} {
			t.Run(map[bool]string{false: "explicit", true: "implicit"}[implicit], func(t *testing.T) {
				testDeliver(t, start(t, implicit, offerDefault), implicit)
			})
		}
	})
	// Data connections must resume the control connection's TLS session: by a ticket in TLS 1.2.
	// In TLS 1.3 the server sends tickets on the data connection too, which an upload does not
	// read; a file larger than the sockets' buffers shows whether the upload still ends well.
	for name, offered := range map[string]offer{"TLS 1.2": offerTLS12, "TLS 1.3": offerTLS13} {
		t.Run(name, func(t *testing.T) {
			srv := start(t, false, offered)
			data := strings.Repeat("0123456789abcdef", 1<<18)
			if _, _, err := put(t, target(t, srv, false, nil), "x", "b", data, delivery.Options{}); err != nil {
				t.Fatal(err)
			}
			if got := readBack(t, srv, "x/b"); got != data {
				t.Errorf("delivered %d bytes, want %d", len(got), len(data))
			}
		})
	}
	t.Run("trust", func(t *testing.T) { testTrust(t, start(t, false, offerDefault)) })
	// Delivered files are removed; a file already gone, or a partial file never left, is no error.
	t.Run("remove", func(t *testing.T) {
		srv := start(t, false, offerDefault)
		sink, _, err := put(t, target(t, srv, false, nil), "r", "a", "x", delivery.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := sink.(delivery.Remover).Remove(context.Background(), "a", "gone"); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(srv.root, srv.dir, "r", "a")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("removed file: %v", err)
		}
		if err := sink.(delivery.Cleaner).Clean(context.Background(), "a"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		tg := target(t, start(t, false, offerDefault), false, nil)
		tg.Secrets[ftps.SecretPassword] = []byte("wrong")
		_, _, err := put(t, tg, "", "a", "x", delivery.Options{})
		if delivery.ClassOf(err) != delivery.ClassAuth || !delivery.IsPermanent(err) {
			t.Fatalf("got %v, want auth failed", err)
		}
	})
	// Explicit TLS against an implicit server fails in the handshake stage.
	t.Run("wrong mode", func(t *testing.T) {
		srv := start(t, true, offerDefault)
		_, _, err := put(t, target(t, srv, false, nil), "", "a", "x", delivery.Options{ConnectTimeout: 2 * time.Second})
		var e *delivery.Error
		if !errors.As(err, &e) || e.Stage != ftps.StageTLS {
			t.Fatalf("got %v, want a failure in the TLS handshake", err)
		}
	})
	// A server offering only TLS 1.0 and 1.1 is refused, saying what the customer must offer.
	t.Run("old TLS refused", func(t *testing.T) {
		srv := start(t, false, offerOldTLS)
		_, _, err := put(t, target(t, srv, false, nil), "", "a", "x", delivery.Options{})
		if delivery.ClassOf(err) != delivery.ClassIncompatible || !delivery.IsPermanent(err) || !strings.Contains(err.Error(), "TLS 1.2") {
			t.Fatalf("got %v, want incompatible, asking for TLS 1.2", err)
		}
		t.Log(err)
	})
	// An upload that fails midway leaves no partial file.
	t.Run("failed upload", func(t *testing.T) {
		srv := start(t, false, offerDefault)
		tg := target(t, srv, false, nil)
		broken := errors.New("the source broke")
		sink, err := ftps.Transport{}.Open(tg, "f", delivery.Options{ConnectTimeout: 10 * time.Second, AttemptTimeout: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		src := io.MultiReader(strings.NewReader(strings.Repeat("x", 1<<20)), &failing{broken})
		_, err = sink.Put(context.Background(), "a", src)
		if delivery.ClassOf(err) != delivery.ClassSource || !errors.Is(err, broken) {
			t.Fatalf("got %v, want the source's error", err)
		}
		noPartials(t, srv, "f")
		if _, err := os.Stat(filepath.Join(srv.root, srv.dir, "f", "a")); err == nil {
			t.Error("the failed upload was delivered")
		}
	})
}

type failing struct{ err error }

func (f *failing) Read([]byte) (int, error) { return 0, f.err }

func testDeliver(t *testing.T, srv *peer, implicit bool) {
	tg := target(t, srv, implicit, nil)
	_, p, err := put(t, tg, "in/day", "a.csv", "hello\n", delivery.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want := path.Join(srv.dir, "in/day/a.csv"); p != want {
		t.Errorf("remote path %q, want %q", p, want)
	}
	if got := readBack(t, srv, "in/day/a.csv"); got != "hello\n" {
		t.Errorf("delivered %q", got)
	}
	// Again under the same name: the new file replaces the old one.
	big := strings.Repeat("0123456789abcdef", 1<<16)
	if _, _, err := put(t, tg, "in/day", "a.csv", big, delivery.Options{}); err != nil {
		t.Fatal(err)
	}
	if got := readBack(t, srv, "in/day/a.csv"); got != big {
		t.Errorf("replaced file has %d bytes, want %d", len(got), len(big))
	}
	// An empty file arrives too.
	if _, _, err := put(t, tg, "", "empty", "", delivery.Options{}); err != nil {
		t.Fatal(err)
	}
	if got := readBack(t, srv, "empty"); got != "" {
		t.Errorf("empty file has %q", got)
	}
	noPartials(t, srv, "in/day")
}

func testTrust(t *testing.T, srv *peer) {
	pin := string(delivery.PinOf(srv.certDER))

	t.Run("pin", func(t *testing.T) {
		if _, _, err := put(t, target(t, srv, false, map[string]any{"tls_ca": nil, "tls_pin": pin}), "", "p", "x", delivery.Options{}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("unknown refused", func(t *testing.T) {
		tg := target(t, srv, false, map[string]any{"tls_ca": nil})
		_, _, err := put(t, tg, "", "u", "x", delivery.Options{})
		if delivery.ClassOf(err) != delivery.ClassCertificate || !strings.Contains(err.Error(), pin) {
			t.Fatalf("got %v, want a certificate refused naming %s", err, pin)
		}
		var e *delivery.Error
		if !errors.As(err, &e) || e.Stage != ftps.StageTLS || !strings.Contains(e.Presented, pin) {
			t.Errorf("error %#v", e)
		}
		if _, err := os.Stat(filepath.Join(srv.root, srv.dir, "u")); err == nil {
			t.Error("a file was delivered to an untrusted server")
		}
	})
	t.Run("wrong pin refused", func(t *testing.T) {
		other := "SHA256:" + strings.Repeat("AB", 32)
		_, _, err := put(t, target(t, srv, false, map[string]any{"tls_ca": nil, "tls_pin": other}), "", "w", "x", delivery.Options{})
		if delivery.ClassOf(err) != delivery.ClassCertificate {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("first use", func(t *testing.T) {
		tg := target(t, srv, false, map[string]any{"tls_ca": nil})
		sink, _, err := put(t, tg, "", "f", "x", delivery.Options{AcceptUnknown: true})
		if err != nil {
			t.Fatal(err)
		}
		fp, got := sink.(delivery.Presenter).Presented()
		if got != pin || !strings.Contains(fp, pin) {
			t.Fatalf("presented %q %q, want %s", fp, got, pin)
		}
		pinned, err := ftps.Transport{}.Pin(tg, got)
		if err != nil || !(ftps.Transport{}).Pinned(pinned) {
			t.Fatal(err)
		}
		if _, _, err := put(t, pinned, "", "g", "x", delivery.Options{}); err != nil {
			t.Fatal(err)
		}
	})
}

// target is srv's target trusting its CA, with implicit TLS when the server has it, and srv's
// writable directory as its base directory.
func target(t *testing.T, srv *peer, implicit bool, extra map[string]any) delivery.Target {
	t.Helper()
	in := delivery.Input{}
	fields := map[string]any{"host": "127.0.0.1", "port": srv.port, "user": srv.user, "password": password,
		"implicit_tls": implicit, "tls_ca": string(srv.caPEM), "base_dir": srv.dir}
	for k, v := range extra {
		if v == nil {
			delete(fields, k)
			continue
		}
		fields[k] = v
	}
	for k, v := range fields {
		b, _ := json.Marshal(v)
		in[k] = b
	}
	tg, err := ftps.Transport{}.Configure(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	tg.Secrets[ftps.SecretPassword] = []byte(password)
	return tg
}

func put(t *testing.T, tg delivery.Target, dir, name, data string, o delivery.Options) (delivery.Sink, string, error) {
	t.Helper()
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if o.AttemptTimeout == 0 {
		o.AttemptTimeout = 30 * time.Second
	}
	sink, err := ftps.Transport{}.Open(tg, dir, o)
	if err != nil {
		t.Fatal(err)
	}
	p, err := sink.Put(context.Background(), name, strings.NewReader(data))
	return sink, p, err
}

// readBack reads the file at remote, relative to srv's writable directory, from the disk.
func readBack(t *testing.T, srv *peer, remote string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(srv.root, srv.dir, filepath.FromSlash(remote)))
	if err != nil {
		t.Fatalf("read back %s: %v", remote, err)
	}
	return string(b)
}

// noPartials fails the test when dir, relative to srv's writable directory, holds a partial
// file.
func noPartials(t *testing.T, srv *peer, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(filepath.Join(srv.root, srv.dir, dir))
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".part") {
			t.Errorf("partial file %s left in %s", e.Name(), dir)
		}
	}
}
