// Package sftptest starts the SFTP servers of delivery/sftpserver for tests:
// NewServer and NewProxy stop them when the test ends. It re-exports the
// server's types and its other starters (Start, StartSSHD) under the names
// tests have always used.
//
// This package imports testing and is for tests only: code that ships, such
// as eventexport demo, uses delivery/sftpserver.
package sftptest

import (
	"testing"
	"time"

	"github.com/eventexport/eventexport/delivery/sftpserver"
)

// The in-process server's types, under the names tests know.
type (
	Server  = sftpserver.Server
	Options = sftpserver.Options
	Faults  = sftpserver.Faults
	Stats   = sftpserver.Stats
	Proxy   = sftpserver.Proxy
)

// Host key types for Options.HostKeyTypes.
const (
	KeyED25519 = sftpserver.KeyED25519
	KeyECDSA   = sftpserver.KeyECDSA
	KeyRSA     = sftpserver.KeyRSA
)

// DefaultUser and DefaultPassword are used when Options name no user, and
// no password or authorized key.
const (
	DefaultUser     = sftpserver.DefaultUser
	DefaultPassword = sftpserver.DefaultPassword
)

// Start starts a server whose life the caller manages; see sftpserver.Start.
func Start(opts Options) (*Server, error) { return sftpserver.Start(opts) }

// NewServer starts a server for a test and stops it when the test ends. It
// serves a directory of the test unless Options name a Root.
func NewServer(tb testing.TB, opts Options) *Server {
	tb.Helper()
	if opts.Root == "" {
		opts.Root = tb.TempDir()
	}
	s, err := sftpserver.Start(opts)
	if err != nil {
		tb.Fatalf("start sftp test server: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}

// StartProxy starts a proxy whose life the caller manages; see
// sftpserver.StartProxy.
func StartProxy(target string, delay time.Duration) (*Proxy, error) {
	return sftpserver.StartProxy(target, delay)
}

// NewProxy starts a proxy for a test and stops it when the test ends.
func NewProxy(tb testing.TB, target string, delay time.Duration) *Proxy {
	tb.Helper()
	p, err := sftpserver.StartProxy(target, delay)
	if err != nil {
		tb.Fatalf("start proxy: %v", err)
	}
	tb.Cleanup(p.Close)
	return p
}
