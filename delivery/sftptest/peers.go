//go:build unix

package sftptest

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/eventexport/eventexport/delivery/sftpserver"
)

// RequirePeersEnv names the environment variable that, set to 1 (as CI sets it), makes a
// missing ProFTPD or SFTPGo fail the tests that need it instead of skipping them.
const RequirePeersEnv = "EVENTEXPORT_REQUIRE_PEERS"

// ProFTPD with mod_sftp and SFTPGo as conformance peers, run by the tests on loopback ports
// with configurations of their own; see sftpserver.StartProFTPD and sftpserver.StartSFTPGo.
type (
	ProFTPD        = sftpserver.ProFTPD
	ProFTPDOptions = sftpserver.ProFTPDOptions
	SFTPGo         = sftpserver.SFTPGo
	SFTPGoOptions  = sftpserver.SFTPGoOptions
)

// FindProFTPD returns the path of proftpd, after checking that mod_sftp is installed.
func FindProFTPD() (string, error) { return sftpserver.FindProFTPD() }

// StartProFTPD starts ProFTPD, whose life the caller manages; see sftpserver.StartProFTPD.
func StartProFTPD(opts ProFTPDOptions) (*ProFTPD, error) { return sftpserver.StartProFTPD(opts) }

// FindSFTPGo returns the path of the SFTPGo binary built for the tests.
func FindSFTPGo() (string, error) { return sftpserver.FindSFTPGo() }

// StartSFTPGo starts SFTPGo, whose life the caller manages; see sftpserver.StartSFTPGo.
func StartSFTPGo(opts SFTPGoOptions) (*SFTPGo, error) { return sftpserver.StartSFTPGo(opts) }

// NeedProFTPD returns when ProFTPD with mod_sftp can run here: installed, and the test running
// as root. Otherwise it skips the test saying what is missing, or fails it when
// EVENTEXPORT_REQUIRE_PEERS=1.
func NeedProFTPD(tb testing.TB) {
	tb.Helper()
	if _, err := sftpserver.FindProFTPD(); err != nil {
		unavailable(tb, err.Error())
	}
	if os.Geteuid() != 0 {
		unavailable(tb, "ProFTPD runs only when the tests run as root (it chroots and switches to the user nobody)")
	}
}

// NeedSFTPGo returns when SFTPGo is built, building it first if it is not (a minute or two, once
// per machine: see sftpserver.BuildSFTPGo). When it cannot be built it skips the test saying
// why, or fails it when EVENTEXPORT_REQUIRE_PEERS=1.
func NeedSFTPGo(tb testing.TB) {
	tb.Helper()
	if _, err := sftpserver.FindSFTPGo(); err == nil {
		return
	}
	dir, _ := sftpserver.SFTPGoDir()
	tb.Logf("building SFTPGo %s into %s with go build (first run on this machine only; a minute or two)", sftpserver.SFTPGoVersion, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	start := time.Now()
	var out strings.Builder
	if _, err := sftpserver.BuildSFTPGo(ctx, &out); err != nil {
		why := err.Error()
		if out.Len() > 0 {
			why += "; its output ends:\n" + tail(out.String(), 40)
		}
		unavailable(tb, why)
	}
	tb.Logf("built SFTPGo in %s", time.Since(start).Round(time.Second))
}

// NewProFTPD starts ProFTPD for a test (see NeedProFTPD) and stops it when the test ends,
// logging the end of its logs if the test failed.
func NewProFTPD(tb testing.TB, opts ProFTPDOptions) *ProFTPD {
	tb.Helper()
	NeedProFTPD(tb)
	s, err := sftpserver.StartProFTPD(opts)
	if err != nil {
		tb.Fatalf("start proftpd: %v", err)
	}
	tb.Cleanup(s.Close)
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("proftpd logs (end):\n%s", tail(s.Logs(), 150))
		}
	})
	return s
}

// NewSFTPGo starts SFTPGo for a test (see NeedSFTPGo) and stops it when the test ends, logging
// the end of its log if the test failed.
func NewSFTPGo(tb testing.TB, opts SFTPGoOptions) *SFTPGo {
	tb.Helper()
	NeedSFTPGo(tb)
	s, err := sftpserver.StartSFTPGo(opts)
	if err != nil {
		tb.Fatalf("start sftpgo: %v", err)
	}
	tb.Cleanup(s.Close)
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("sftpgo log (end):\n%s", tail(s.Logs(), 150))
		}
	})
	return s
}

func unavailable(tb testing.TB, why string) {
	tb.Helper()
	if os.Getenv(RequirePeersEnv) == "1" {
		tb.Fatalf("%s; %s=1 requires it", why, RequirePeersEnv)
	}
	tb.Skipf("%s; set %s=1 to make this a failure", why, RequirePeersEnv)
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.SplitAfter(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{"…\n"}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "")
}
