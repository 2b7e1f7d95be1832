//go:build unix

package ftps_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eventexport/eventexport/delivery"
	"github.com/eventexport/eventexport/delivery/ftps"
	"github.com/eventexport/eventexport/delivery/sftptest"
)

// password holds characters customers percent-encode in URLs.
const password = "pw:@/ %?#x"

func startFTPS(t *testing.T, opts sftptest.FTPSOptions) *sftptest.FTPS {
	t.Helper()
	opts.Password = password
	return sftptest.NewProFTPDTLS(t, opts)
}

// target is srv's target trusting its CA, with implicit TLS when the server has it.
func target(t *testing.T, srv *sftptest.FTPS, implicit bool, extra map[string]any) delivery.Target {
	t.Helper()
	in := delivery.Input{}
	fields := map[string]any{"host": "127.0.0.1", "port": srv.Port, "user": srv.User, "password": password,
		"implicit_tls": implicit, "tls_ca": string(srv.CAPEM)}
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

func readBack(t *testing.T, srv *sftptest.FTPS, remote string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(srv.Root, filepath.FromSlash(remote)))
	if err != nil {
		t.Fatalf("read back %s: %v", remote, err)
	}
	return string(b)
}

func noPartials(t *testing.T, srv *sftptest.FTPS, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(filepath.Join(srv.Root, dir))
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".part") {
			t.Errorf("partial file %s left in %s", e.Name(), dir)
		}
	}
}

func TestProFTPDDeliver(t *testing.T) {
	for _, implicit := range []bool{false, true} {
		name := map[bool]string{false: "explicit", true: "implicit"}[implicit]
		t.Run(name, func(t *testing.T) {
			srv := startFTPS(t, sftptest.FTPSOptions{Implicit: implicit})
			tg := target(t, srv, implicit, nil)
			_, p, err := put(t, tg, "/in/day", "a.csv", "hello\n", delivery.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if p != "/in/day/a.csv" {
				t.Errorf("remote path %q", p)
			}
			if got := readBack(t, srv, "in/day/a.csv"); got != "hello\n" {
				t.Errorf("delivered %q", got)
			}
			// Again under the same name: the new file replaces the old one.
			big := strings.Repeat("0123456789abcdef", 1<<16)
			if _, _, err := put(t, tg, "/in/day", "a.csv", big, delivery.Options{}); err != nil {
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
		})
	}
}

// TLS 1.2 only: data connections resume the session by the tickets ProFTPD issues.
func TestProFTPDTLS12SessionTickets(t *testing.T) {
	srv := startFTPS(t, sftptest.FTPSOptions{Protocols: "TLSv1.2"})
	if _, _, err := put(t, target(t, srv, false, nil), "/x", "b", "data", delivery.Options{}); err != nil {
		t.Fatal(err)
	}
	if got := readBack(t, srv, "x/b"); got != "data" {
		t.Errorf("delivered %q", got)
	}
}

// A server that does not rename over an existing file: the old file is deleted first.
func TestProFTPDNoOverwrite(t *testing.T) {
	srv := startFTPS(t, sftptest.FTPSOptions{NoOverwrite: true})
	tg := target(t, srv, false, nil)
	for _, data := range []string{"one", "two"} {
		if _, _, err := put(t, tg, "/d", "f", data, delivery.Options{}); err != nil {
			t.Fatal(err)
		}
		if got := readBack(t, srv, "d/f"); got != data {
			t.Errorf("delivered %q, want %q", got, data)
		}
	}
	noPartials(t, srv, "d")
}

func TestProFTPDTrust(t *testing.T) {
	srv := startFTPS(t, sftptest.FTPSOptions{})
	pin := string(delivery.PinOf(srv.CertDER))

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
		if _, err := os.Stat(filepath.Join(srv.Root, "u")); err == nil {
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

func TestProFTPDWrongPassword(t *testing.T) {
	srv := startFTPS(t, sftptest.FTPSOptions{})
	tg := target(t, srv, false, nil)
	tg.Secrets[ftps.SecretPassword] = []byte("wrong")
	_, _, err := put(t, tg, "", "a", "x", delivery.Options{})
	if delivery.ClassOf(err) != delivery.ClassAuth || !delivery.IsPermanent(err) {
		t.Fatalf("got %v, want auth failed", err)
	}
}

// Explicit TLS against an implicit server (and the reverse) fails in the handshake stage.
func TestProFTPDWrongMode(t *testing.T) {
	srv := startFTPS(t, sftptest.FTPSOptions{Implicit: true})
	_, _, err := put(t, target(t, srv, false, nil), "", "a", "x", delivery.Options{ConnectTimeout: 2 * time.Second})
	var e *delivery.Error
	if !errors.As(err, &e) || e.Stage != ftps.StageTLS {
		t.Fatalf("got %v, want a failure in the TLS handshake", err)
	}
}

// A server offering only TLS 1.0 and 1.1 is refused. Debian's OpenSSL 3 refuses them itself
// unless the security level is 0; either way no TLS 1.2 handshake can succeed.
func TestProFTPDOldTLSRefused(t *testing.T) {
	srv := startFTPS(t, sftptest.FTPSOptions{Protocols: "TLSv1 TLSv1.1", ExtraConfig: []string{"TLSCipherSuite DEFAULT:@SECLEVEL=0"}})
	_, _, err := put(t, target(t, srv, false, nil), "", "a", "x", delivery.Options{})
	if delivery.ClassOf(err) != delivery.ClassIncompatible || !delivery.IsPermanent(err) {
		t.Fatalf("got %v, want incompatible", err)
	}
	t.Log(err)
}
