//go:build unix

package ftps_test

import (
	"testing"

	"github.com/eventexport/eventexport/delivery"
	"github.com/eventexport/eventexport/delivery/sftptest"
)

// newProFTPD starts ProFTPD with mod_tls for a test, with password as the user's password.
func newProFTPD(t *testing.T, opts sftptest.FTPSOptions) *peer {
	t.Helper()
	opts.Password = password
	srv := sftptest.NewProFTPDTLS(t, opts)
	return &peer{port: srv.Port, user: srv.User, root: srv.Root, dir: "/", caPEM: srv.CAPEM, certDER: srv.CertDER}
}

// startProFTPD is ProFTPD as a peer; by default it offers TLS 1.2 and 1.3.
func startProFTPD(t *testing.T, implicit bool, offered offer) *peer {
	t.Helper()
	opts := sftptest.FTPSOptions{Implicit: implicit}
	switch offered {
	case offerTLS12:
		opts.Protocols = "TLSv1.2"
	case offerTLS13:
		opts.Protocols = "TLSv1.3"
	case offerOldTLS:
		// Debian's OpenSSL 3 offers TLS 1.0 and 1.1 only at security level 0.
		opts.Protocols = "TLSv1 TLSv1.1"
		opts.ExtraConfig = []string{"TLSCipherSuite DEFAULT:@SECLEVEL=0"}
	}
	return newProFTPD(t, opts)
}

func TestProFTPD(t *testing.T) { testPeer(t, startProFTPD) }

// A server that does not rename over an existing file: the old file is deleted first.
func TestProFTPDNoOverwrite(t *testing.T) {
	srv := newProFTPD(t, sftptest.FTPSOptions{NoOverwrite: true})
	tg := target(t, srv, false, nil)
	for _, data := range []string{"one", "two"} {
		if _, _, err := put(t, tg, "d", "f", data, delivery.Options{}); err != nil {
			t.Fatal(err)
		}
		if got := readBack(t, srv, "d/f"); got != data {
			t.Errorf("delivered %q, want %q", got, data)
		}
	}
	noPartials(t, srv, "d")
}
