//go:build unix

package sftptest

import (
	"os"
	"testing"

	"github.com/eventexport/eventexport/delivery/sftpserver"
)

// ProFTPD with mod_tls as the FTPS peer; see sftpserver.StartProFTPDTLS.
type (
	FTPS        = sftpserver.FTPS
	FTPSOptions = sftpserver.FTPSOptions
)

// NeedProFTPDTLS returns when ProFTPD with mod_tls can run here: installed, and the test
// running as root. Otherwise it skips the test saying what is missing, or fails it when
// EVENTEXPORT_REQUIRE_PEERS=1.
func NeedProFTPDTLS(tb testing.TB) {
	tb.Helper()
	if _, err := sftpserver.FindProFTPDTLS(); err != nil {
		unavailable(tb, err.Error())
	}
	if os.Geteuid() != 0 {
		unavailable(tb, "ProFTPD runs only when the tests run as root (it chroots and switches to the user nobody)")
	}
}

// NewProFTPDTLS starts ProFTPD as an FTPS server for a test (see NeedProFTPDTLS) and stops it
// when the test ends, logging the end of its logs if the test failed.
func NewProFTPDTLS(tb testing.TB, opts FTPSOptions) *FTPS {
	tb.Helper()
	NeedProFTPDTLS(tb)
	s, err := sftpserver.StartProFTPDTLS(opts)
	if err != nil {
		tb.Fatalf("start proftpd (ftps): %v", err)
	}
	tb.Cleanup(s.Close)
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("proftpd logs (end):\n%s", tail(s.Logs(), 150))
		}
	})
	return s
}
