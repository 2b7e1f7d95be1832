//go:build unix

package ftps_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/eventexport/eventexport/delivery"
	"github.com/eventexport/eventexport/delivery/sftpserver"
	"github.com/eventexport/eventexport/delivery/sftptest"
)

// newVsftpd starts vsftpd for a test, with password as the user's password.
func newVsftpd(t *testing.T, opts sftptest.VsftpdOptions) (*sftptest.Vsftpd, *peer) {
	t.Helper()
	opts.Password = password
	srv := sftptest.NewVsftpd(t, opts)
	return srv, &peer{port: srv.Port, user: srv.User, root: srv.Root, dir: sftpserver.VsftpdWritableDir,
		caPEM: srv.CAPEM, certDER: srv.CertDER}
}

// startVsftpd is vsftpd as a peer; by default it offers TLS 1.2 only.
func startVsftpd(t *testing.T, implicit bool, offered offer) *peer {
	t.Helper()
	opts := sftptest.VsftpdOptions{Implicit: implicit}
	switch offered {
	case offerTLS13:
		opts.MinTLS, opts.MaxTLS = "TLSv1.3", "TLSv1.3"
	case offerOldTLS:
		opts.MinTLS, opts.MaxTLS = "TLSv1", "TLSv1.1"
	}
	_, p := newVsftpd(t, opts)
	return p
}

func TestVsftpd(t *testing.T) { testPeer(t, startVsftpd) }

// The data connections of a TLS 1.2 delivery resume the control connection's session, as
// vsftpd's require_ssl_reuse demands, and vsftpd offers nothing newer.
func TestVsftpdTLS12(t *testing.T) {
	srv, p := newVsftpd(t, sftptest.VsftpdOptions{})
	if _, _, err := put(t, target(t, p, false, nil), "", "a", "data", delivery.Options{}); err != nil {
		t.Fatal(err)
	}
	logs := srv.Logs()
	if !strings.Contains(logs, "SSL version: TLSv1.2") || !strings.Contains(logs, ", reused,") {
		t.Errorf("vsftpd's log shows no TLS 1.2 session resumed:\n%s", logs)
	}

	// A client that speaks only TLS 1.3 is refused.
	conn, err := net.DialTimeout("tcp", srv.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	expect := func(code string) {
		t.Helper()
		if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, code+" ") {
			t.Fatalf("got %q, %v; want %s", line, err, code)
		}
	}
	expect("220")
	fmt.Fprint(conn, "AUTH TLS\r\n")
	expect("234")
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(srv.CAPEM)
	tc := tls.Client(conn, &tls.Config{ServerName: "127.0.0.1", RootCAs: roots, MinVersion: tls.VersionTLS13})
	if err := tc.Handshake(); err == nil {
		t.Fatalf("a TLS 1.3 client was accepted (version %x)", tc.ConnectionState().Version)
	} else {
		t.Log(err)
	}
}
