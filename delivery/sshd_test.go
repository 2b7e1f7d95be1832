//go:build unix

package delivery_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/eventexport/eventexport/delivery"
)

// TestConformanceOpenSSH runs the conformance suite against OpenSSH's sshd,
// started on a free loopback port with its own configuration. Without sshd
// the test is skipped, unless EVENTEXPORT_REQUIRE_SSHD=1 makes it fail.
func TestConformanceOpenSSH(t *testing.T) {
	s := startSSHD(t)
	k := keyNamed(t, "ed25519 openssh")
	exercise(t, harness{
		config: func(t *testing.T, dir string) delivery.Config {
			return delivery.Config{
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
	cfg := delivery.Config{
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

func findSSHD(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("sshd")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/sshd"); serr == nil {
			p, err = "/usr/sbin/sshd", nil
		}
	}
	if err != nil {
		msg := "OpenSSH sshd not found on PATH or at /usr/sbin/sshd (install openssh-server)"
		if os.Getenv("EVENTEXPORT_REQUIRE_SSHD") == "1" {
			t.Fatalf("%s; EVENTEXPORT_REQUIRE_SSHD=1 requires it", msg)
		}
		t.Skipf("%s; set EVENTEXPORT_REQUIRE_SSHD=1 to make this a failure", msg)
	}
	return p
}

// startSSHD starts sshd for the test and stops it, and every process it
// started, at cleanup. Logins are by public key: as root, it serves the
// unprivileged user nobody, so that permissions are enforced; otherwise it
// serves the current user.
func startSSHD(t *testing.T, extraConfig ...string) *sshd {
	t.Helper()
	bin := findSSHD(t)

	base, err := os.MkdirTemp("", "delivery-sshd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })

	s := &sshd{log: &syncBuffer{}}
	cur, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	s.user = cur.Username
	if os.Geteuid() == 0 {
		if _, err := user.Lookup("nobody"); err != nil {
			t.Skip("running as root without a user nobody to log in as")
		}
		s.user = "nobody"
		// sshd's privilege separation directory.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatalf("create /run/sshd: %v", err)
		}
	}

	// Host keys of three types, so that pins must choose among them.
	var hostKeyLines []string
	for _, typ := range []string{"ed25519", "ecdsa", "rsa"} {
		priv := newPrivateKey(t, typ)
		block, err := ssh.MarshalPrivateKey(priv, "")
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(base, "ssh_host_"+typ+"_key")
		if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
		signer, err := ssh.NewSignerFromKey(priv)
		if err != nil {
			t.Fatal(err)
		}
		s.hostKeys = append(s.hostKeys, signer.PublicKey())
		hostKeyLines = append(hostKeyLines, "HostKey "+file)
	}

	var authorized bytes.Buffer
	for _, k := range clientKeys(t) {
		authorized.Write(ssh.MarshalAuthorizedKey(k.public))
	}
	authFile := filepath.Join(base, "authorized_keys")
	if err := os.WriteFile(authFile, authorized.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	// The area the user writes to, and a directory it may not write to.
	s.area = filepath.Join(base, "area")
	if err := os.Mkdir(s.area, 0o777); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{base, s.area} {
		mode := os.FileMode(0o755)
		if d == s.area {
			mode = 0o777
		}
		if err := os.Chmod(d, mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(s.area, "locked"), 0o555); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(s.area, "locked"), 0o555); err != nil {
		t.Fatal(err)
	}

	s.port = freePort(t)
	config := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
%s
PidFile %s
AuthorizedKeysFile %s
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowUsers %s
UsePAM no
StrictModes no
MaxStartups 200
MaxSessions 50
MaxAuthTries 20
LogLevel VERBOSE
Subsystem sftp internal-sftp
%s
`, s.port, strings.Join(hostKeyLines, "\n"), filepath.Join(base, "sshd.pid"), authFile, s.user, strings.Join(extraConfig, "\n"))
	configFile := filepath.Join(base, "sshd_config")
	if err := os.WriteFile(configFile, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}

	becomeSubreaper()
	cmd := exec.Command(bin, "-D", "-e", "-f", configFile)
	cmd.Stdout, cmd.Stderr = s.log, s.log
	// Its own process group, so cleanup can stop the connection
	// processes it forks too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sshd: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	startedSSHD(cmd.Process.Pid)
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		stoppedSSHD(cmd.Process.Pid)
		// sshd's connection processes start sessions of their own and
		// may outlive it: stop and reap them too.
		reapOrphans()
	})

	// Wait until it accepts connections.
	ready := waitFor(10*time.Second, func() bool {
		select {
		case <-exited:
			return true
		default:
		}
		c, err := net.DialTimeout("tcp", s.addr(), time.Second)
		if err == nil {
			c.Close()
			return true
		}
		return false
	})
	select {
	case <-exited:
		t.Fatalf("sshd exited at start:\n%s", s.log.String())
	default:
	}
	if !ready {
		t.Fatalf("sshd did not listen on %s within 10s:\n%s", s.addr(), s.log.String())
	}
	return s
}

func newPrivateKey(t *testing.T, typ string) crypto.Signer {
	t.Helper()
	var k crypto.Signer
	var err error
	switch typ {
	case "ed25519":
		_, k, err = ed25519.GenerateKey(rand.Reader)
	case "ecdsa":
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "rsa":
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
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
