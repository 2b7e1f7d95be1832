//go:build unix

package sftptest

import (
	"os"
	"testing"

	"github.com/eventexport/eventexport/delivery/sftpserver"
)

// vsftpd as the second FTPS peer; see sftpserver.StartVsftpd.
type (
	Vsftpd        = sftpserver.Vsftpd
	VsftpdOptions = sftpserver.VsftpdOptions
)

// NeedVsftpd returns when vsftpd can run here: installed or fetched
// (delivery/sftpserver/fetch-vsftpd.sh), and the test running as root. Otherwise it skips the
// test saying what is missing, or fails it when EVENTEXPORT_REQUIRE_PEERS=1.
func NeedVsftpd(tb testing.TB) {
	tb.Helper()
	if _, err := sftpserver.FindVsftpd(); err != nil {
		unavailable(tb, err.Error())
	}
	if os.Geteuid() != 0 {
		unavailable(tb, "vsftpd runs only when the tests run as root (it chroots and switches to an unprivileged user)")
	}
}

// NewVsftpd starts vsftpd as an FTPS server for a test (see NeedVsftpd) and stops it when the
// test ends, logging the end of its logs if the test failed.
func NewVsftpd(tb testing.TB, opts VsftpdOptions) *Vsftpd {
	tb.Helper()
	NeedVsftpd(tb)
	s, err := sftpserver.StartVsftpd(opts)
	if err != nil {
		tb.Fatalf("start vsftpd: %v", err)
	}
	tb.Cleanup(s.Close)
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("vsftpd logs (end):\n%s", tail(s.Logs(), 150))
		}
	})
	return s
}
