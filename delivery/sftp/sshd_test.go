//go:build unix

package sftp_test

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/eventexport/eventexport/delivery"
	"github.com/eventexport/eventexport/delivery/sftp"
	"github.com/eventexport/eventexport/delivery/sftptest"
)

// TestConformanceOpenSSH runs the conformance suite against OpenSSH's sshd,
// started on a free loopback port with its own configuration. Without sshd
// the test is skipped, unless EVENTEXPORT_REQUIRE_SSHD=1 makes it fail.
func TestConformanceOpenSSH(t *testing.T) {
	s := startSSHD(t)
	k := keyNamed(t, "ed25519 openssh")
	exercise(t, harness{
		config: func(t *testing.T, dir string) sftp.Config {
			return sftp.Config{
				Host: "127.0.0.1", Port: s.port, User: s.user,
				PrivateKey: k.pem,
				HostKey:    knownhosts.Line([]string{s.addr()}, s.hostKeys[0]),
				Dir:        dir,
			}
		},
		dir:       func(rel string) string { return filepath.Join(s.area, rel) },
		local:     func(remote string) string { return remote },
		lockedDir: "locked",
		addr:      s.addr(),
		hostKeys:  s.hostKeys,
	})
	if t.Failed() {
		t.Logf("sshd log:\n%s", s.log.String())
	}
}

// An OpenSSH server configured with only SHA-1 era algorithms is refused,
// unless the target allows legacy crypto.
func TestOpenSSHLegacyCrypto(t *testing.T) {
	s := startSSHD(t,
		"HostKeyAlgorithms ssh-rsa",
		"KexAlgorithms diffie-hellman-group14-sha1",
		"Ciphers aes128-cbc",
		"MACs hmac-sha1",
	)
	rsaKey := s.hostKeys[2]
	cfg := sftp.Config{
		Host: "127.0.0.1", Port: s.port, User: s.user,
		PrivateKey: keyNamed(t, "ed25519 openssh").pem,
		HostKey:    knownhosts.Line([]string{s.addr()}, rsaKey),
		Dir:        filepath.Join(s.area, "legacy"),
	}
	_, err, _ := put(t, cfg, "x", strings.NewReader("x"))
	assertClass(t, err, delivery.ClassIncompatible, true)

	cfg.LegacyCrypto = true
	if _, err, _ := put(t, cfg, "x", strings.NewReader("x")); err != nil {
		t.Fatalf("Put with LegacyCrypto: %v\nsshd log:\n%s", err, s.log.String())
	}
}

// sshd is an OpenSSH server run by a test.
type sshd struct {
	port     int
	user     string
	area     string // a directory the user may write to
	hostKeys []ssh.PublicKey
	log      *syncBuffer
}

func (s *sshd) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// startSSHD starts sshd for the test and stops it, and every process it
// started, at cleanup. Logins are by the test client keys. Without sshd the
// test is skipped, unless EVENTEXPORT_REQUIRE_SSHD=1 makes it fail.
func startSSHD(t testing.TB, extraConfig ...string) *sshd {
	t.Helper()
	if _, err := sftptest.FindSSHD(); err != nil {
		if os.Getenv("EVENTEXPORT_REQUIRE_SSHD") == "1" {
			t.Fatalf("%v; EVENTEXPORT_REQUIRE_SSHD=1 requires it", err)
		}
		t.Skipf("%v; set EVENTEXPORT_REQUIRE_SSHD=1 to make this a failure", err)
	}
	var keys []ssh.PublicKey
	for _, k := range clientKeys(t) {
		keys = append(keys, k.public)
	}
	log := &syncBuffer{}
	becomeSubreaper()
	srv, err := sftptest.StartSSHD(sftptest.SSHDOptions{AuthorizedKeys: keys, ExtraConfig: extraConfig, Log: log})
	if err != nil {
		t.Fatalf("%v\nsshd log:\n%s", err, log.String())
	}
	pid := srv.PID()
	startedSSHD(pid)
	t.Cleanup(func() {
		srv.Close()
		stoppedSSHD(pid)
		// sshd's connection processes start sessions of their own and
		// may outlive it: stop and reap them too.
		reapOrphans()
	})
	// A directory the user may not write to.
	locked := filepath.Join(srv.Area, "locked")
	if err := os.Mkdir(locked, 0o555); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(locked, 0o555); err != nil {
		t.Fatal(err)
	}
	return &sshd{port: srv.Port, user: srv.User, area: srv.Area, hostKeys: srv.HostKeys, log: log}
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
