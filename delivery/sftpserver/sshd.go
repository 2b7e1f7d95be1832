//go:build unix

package sftpserver

import (
	"bytes"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

// SSHDOptions configure an OpenSSH server started by StartSSHD.
type SSHDOptions struct {
	// AuthorizedKeys may log in; logins are by public key only.
	AuthorizedKeys []ssh.PublicKey
	// ExtraConfig lines are appended to the generated sshd_config.
	ExtraConfig []string
	// Log receives sshd's own log; discarded when nil.
	Log io.Writer
}

// SSHD is OpenSSH's sshd running on a free loopback port with its own configuration, host keys
// (ed25519, ECDSA and RSA, in that order) and directories: the conformance peer of the
// in-process Server. It never uses port 22 or the system's configuration. As root it serves the
// unprivileged user nobody, so that file permissions are enforced; otherwise the current user.
type SSHD struct {
	Port     int
	User     string
	Area     string // a directory the user may write to
	HostKeys []ssh.PublicKey

	cmd    *exec.Cmd
	exited chan struct{}
	base   string
}

// FindSSHD returns the path of sshd: on PATH, or /usr/sbin/sshd.
func FindSSHD() (string, error) {
	if p, err := exec.LookPath("sshd"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/sshd"); err == nil {
		return "/usr/sbin/sshd", nil
	}
	return "", errors.New("OpenSSH sshd not found on PATH or at /usr/sbin/sshd (install openssh-server)")
}

// StartSSHD starts sshd and waits until it accepts connections. Close stops it.
func StartSSHD(opts SSHDOptions) (_ *SSHD, err error) {
	bin, err := FindSSHD()
	if err != nil {
		return nil, err
	}
	base, err := os.MkdirTemp("", "eventexport-sshd-")
	if err != nil {
		return nil, err
	}
	s := &SSHD{base: base, exited: make(chan struct{})}
	defer func() {
		if err != nil {
			os.RemoveAll(base)
		}
	}()

	cur, err := user.Current()
	if err != nil {
		return nil, err
	}
	s.User = cur.Username
	if os.Geteuid() == 0 {
		if _, err := user.Lookup("nobody"); err != nil {
			return nil, errors.New("sshd as root needs a user nobody to serve")
		}
		s.User = "nobody"
		// sshd's privilege separation directory.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			return nil, fmt.Errorf("create /run/sshd: %w", err)
		}
	}

	var hostKeyLines []string
	for _, typ := range []string{KeyED25519, KeyECDSA, KeyRSA} {
		priv, err := newPrivateKey(typ)
		if err != nil {
			return nil, err
		}
		block, err := ssh.MarshalPrivateKey(priv, "")
		if err != nil {
			return nil, err
		}
		file := filepath.Join(base, fmt.Sprintf("ssh_host_%d_key", len(hostKeyLines)))
		if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
			return nil, err
		}
		signer, err := ssh.NewSignerFromKey(priv)
		if err != nil {
			return nil, err
		}
		s.HostKeys = append(s.HostKeys, signer.PublicKey())
		hostKeyLines = append(hostKeyLines, "HostKey "+file)
	}

	var authorized bytes.Buffer
	for _, k := range opts.AuthorizedKeys {
		authorized.Write(ssh.MarshalAuthorizedKey(k))
	}
	authFile := filepath.Join(base, "authorized_keys")
	if err := os.WriteFile(authFile, authorized.Bytes(), 0o644); err != nil {
		return nil, err
	}
	s.Area = filepath.Join(base, "area")
	if err := os.Mkdir(s.Area, 0o777); err != nil {
		return nil, err
	}
	// Modes as given, whatever the umask: the served user must reach and write the area.
	if err := os.Chmod(base, 0o755); err != nil {
		return nil, err
	}
	if err := os.Chmod(s.Area, 0o777); err != nil {
		return nil, err
	}

	if s.Port, err = freeLoopbackPort(); err != nil {
		return nil, err
	}
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
`, s.Port, strings.Join(hostKeyLines, "\n"), filepath.Join(base, "sshd.pid"), authFile, s.User,
		strings.Join(opts.ExtraConfig, "\n"))
	configFile := filepath.Join(base, "sshd_config")
	if err := os.WriteFile(configFile, []byte(config), 0o644); err != nil {
		return nil, err
	}

	log := opts.Log
	if log == nil {
		log = io.Discard
	}
	s.cmd = exec.Command(bin, "-D", "-e", "-f", configFile)
	s.cmd.Stdout, s.cmd.Stderr = log, log
	// Its own process group, so Close can stop the connection processes it forks too.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start sshd: %w", err)
	}
	go func() {
		s.cmd.Wait()
		close(s.exited)
	}()

	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-s.exited:
			return nil, errors.New("sshd exited at start; see its log")
		default:
		}
		if c, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
			c.Close()
			return s, nil
		}
		if time.Now().After(deadline) {
			s.Close()
			return nil, fmt.Errorf("sshd did not listen on %s within 10s", s.Addr())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Addr is the host:port sshd listens on.
func (s *SSHD) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)) }

// PID is sshd's process id, which is also its process group's.
func (s *SSHD) PID() int { return s.cmd.Process.Pid }

// Close stops sshd and the processes of its group, and removes its directory.
func (s *SSHD) Close() {
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.exited
	os.RemoveAll(s.base)
}

func freeLoopbackPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
