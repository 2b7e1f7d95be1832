//go:build unix

package sftpserver

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
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

// ProFTPDOptions configure a ProFTPD server started by StartProFTPD.
type ProFTPDOptions struct {
	// User is the login name; "acme" when empty.
	User string
	// Password logs the user in when set; otherwise only keys do.
	Password string
	// AuthorizedKeys may log in as User.
	AuthorizedKeys []ssh.PublicKey
	// NoOverwrite sets AllowOverwrite off: uploading or renaming onto an
	// existing file is refused.
	NoOverwrite bool
	// ReadOnlyDirs are directories under Root (slash-separated, relative),
	// created by StartProFTPD, in which the user may not write (a <Limit
	// WRITE> DenyAll), although the file system would let it.
	ReadOnlyDirs []string
	// ExtraConfig lines are appended to the generated configuration.
	ExtraConfig []string
	// Log, when not nil, receives what proftpd writes to its standard output
	// and error, as Logs does too.
	Log io.Writer
}

// ProFTPD is ProFTPD with mod_sftp (Debian: proftpd-core and proftpd-mod-crypto) running in
// the foreground on a free loopback port, with its own configuration, PID file, scoreboard, log
// files and host keys (ed25519, ECDSA and RSA, in that order): an SFTP-only server with one
// virtual user, chrooted (DefaultRoot) to Root. It never uses port 21 or 22, nor the system's
// configuration. It must be started as root; sessions run as the unprivileged user nobody.
type ProFTPD struct {
	Port     int
	User     string
	Root     string // the user's chroot: remote "/x" is Root/x
	HostKeys []ssh.PublicKey

	proc proftpdProc
}

// ProFTPDModuleDir is where Debian's proftpd-mod-crypto installs mod_sftp.so.
const ProFTPDModuleDir = "/usr/lib/proftpd"

// FindProFTPD returns the path of proftpd (on PATH, or /usr/sbin/proftpd), after checking that
// mod_sftp is installed beside it.
func FindProFTPD() (string, error) { return findProFTPDWith("mod_sftp") }

// findProFTPDWith returns the path of proftpd (on PATH, or /usr/sbin/proftpd), after checking
// that module (as "mod_sftp") is installed beside it.
func findProFTPDWith(module string) (string, error) {
	bin, err := exec.LookPath("proftpd")
	if err != nil {
		bin = "/usr/sbin/proftpd"
		if _, err := os.Stat(bin); err != nil {
			return "", errors.New("ProFTPD not found on PATH or at /usr/sbin/proftpd (apt-get install proftpd-core proftpd-mod-crypto)")
		}
	}
	if _, err := os.Stat(filepath.Join(ProFTPDModuleDir, module+".so")); err != nil {
		return "", fmt.Errorf("ProFTPD's %s not found at %s/%s.so (apt-get install proftpd-mod-crypto)", module, ProFTPDModuleDir, module)
	}
	return bin, nil
}

// StartProFTPD starts proftpd -n with a generated configuration and waits until it accepts
// connections. Close stops it.
func StartProFTPD(opts ProFTPDOptions) (_ *ProFTPD, err error) {
	bin, err := FindProFTPD()
	if err != nil {
		return nil, err
	}
	site, err := newProftpdSite(proftpdSiteOptions{
		module: "mod_sftp.c", what: "an SFTP-only server on loopback", dirPrefix: "eventexport-proftpd-",
		moduleLog: "sftp.log", user: opts.User, password: opts.Password, noOverwrite: opts.NoOverwrite,
	})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			site.remove()
		}
	}()
	s := &ProFTPD{proc: site.newProc(), User: site.user, Root: site.root}
	base := site.base

	// Host keys in the formats mod_sftp reads: OpenSSH for ed25519, PEM for the others.
	var hostKeyLines []string
	for _, typ := range []string{KeyED25519, KeyECDSA, KeyRSA} {
		priv, err := newPrivateKey(typ)
		if err != nil {
			return nil, err
		}
		var block *pem.Block
		switch k := priv.(type) {
		case ed25519.PrivateKey:
			block, err = ssh.MarshalPrivateKey(k, "")
		case *ecdsa.PrivateKey:
			var der []byte
			der, err = x509.MarshalECPrivateKey(k)
			block = &pem.Block{Type: "EC PRIVATE KEY", Bytes: der}
		case *rsa.PrivateKey:
			block = &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}
		}
		if err != nil {
			return nil, err
		}
		file := filepath.Join(base, fmt.Sprintf("host_key_%d", len(hostKeyLines)))
		if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
			return nil, err
		}
		signer, err := ssh.NewSignerFromKey(priv)
		if err != nil {
			return nil, err
		}
		s.HostKeys = append(s.HostKeys, signer.PublicKey())
		hostKeyLines = append(hostKeyLines, "SFTPHostKey "+file)
	}

	var authorized bytes.Buffer
	for _, k := range opts.AuthorizedKeys {
		authorized.WriteString(RFC4716PublicKey(k, "eventexport test key"))
	}
	authFile := filepath.Join(base, "authorized_keys")
	if err := os.WriteFile(authFile, authorized.Bytes(), 0o644); err != nil {
		return nil, err
	}

	var limits []string
	for _, d := range opts.ReadOnlyDirs {
		dir := filepath.Join(s.Root, filepath.FromSlash(strings.Trim(d, "/")))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		if err := os.Chown(dir, site.uid, site.gid); err != nil {
			return nil, err
		}
		limits = append(limits, fmt.Sprintf("<Directory %s>\n  <Limit WRITE>\n    DenyAll\n  </Limit>\n</Directory>", dir))
	}

	if s.Port, err = site.choosePort(); err != nil {
		return nil, err
	}
	config := site.config(fmt.Sprintf(`SFTPEngine on
SFTPLog %s
%s
SFTPAuthorizedUserKeys file:%s
SFTPAuthMethods publickey password
%s
%s
`, filepath.Join(base, "sftp.log"), strings.Join(hostKeyLines, "\n"), authFile,
		strings.Join(limits, "\n"), strings.Join(opts.ExtraConfig, "\n")))
	if err := s.proc.run(bin, config, opts.Log, s.Port); err != nil {
		return nil, err
	}
	return s, nil
}

// Addr is the host:port proftpd listens on.
func (s *ProFTPD) Addr() string { return s.proc.addr() }

// PID is proftpd's process id, which is also its process group's.
func (s *ProFTPD) PID() int { return s.proc.cmd.Process.Pid }

// Logs returns what proftpd wrote to its standard output and error, and its system, SFTP and
// transfer logs.
func (s *ProFTPD) Logs() string { return s.proc.logText() }

// Close stops proftpd and its session processes and removes its directory.
func (s *ProFTPD) Close() { s.proc.stop() }

// RFC4716PublicKey formats k as ssh-keygen -e does: the format mod_sftp reads authorized keys
// in.
func RFC4716PublicKey(k ssh.PublicKey, comment string) string {
	var b strings.Builder
	b.WriteString("---- BEGIN SSH2 PUBLIC KEY ----\n")
	fmt.Fprintf(&b, "Comment: %q\n", comment)
	enc := base64.StdEncoding.EncodeToString(k.Marshal())
	for len(enc) > 70 {
		b.WriteString(enc[:70] + "\n")
		enc = enc[70:]
	}
	b.WriteString(enc + "\n")
	b.WriteString("---- END SSH2 PUBLIC KEY ----\n")
	return b.String()
}

// outputTo returns where a server's standard output and error go: file, and log too if not nil.
func outputTo(file *os.File, log io.Writer) (stdout, stderr io.Writer) {
	if log == nil {
		return file, file
	}
	w := io.MultiWriter(file, log)
	return w, w
}

// waitListening waits until addr accepts TCP connections, the process exits, or the limit
// passes.
func waitListening(addr string, exited <-chan struct{}, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		select {
		case <-exited:
			return errors.New("exited at start")
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("did not listen on %s within %s", addr, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stopGroup asks the process group pgid to terminate, kills it if its leader has not exited
// within five seconds, and waits for the leader (exited closes when it has been waited for).
// Then it kills what may remain of the group.
func stopGroup(pgid int, exited <-chan struct{}) {
	syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-exited
	}
	syscall.Kill(-pgid, syscall.SIGKILL)
}

// sha512Crypt hashes password as crypt(3) does with a "$6$" salt (SHA-512, 5000 rounds), the
// format glibc and so ProFTPD's AuthUserFile check.
func sha512Crypt(password string) (string, error) {
	const saltChars = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	raw := make([]byte, 16)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	salt := make([]byte, 16)
	for i, b := range raw {
		salt[i] = saltChars[int(b)%len(saltChars)]
	}
	return sha512CryptSalt([]byte(password), salt), nil
}

// sha512CryptSalt is Ulrich Drepper's SHA-crypt with SHA-512 and the default 5000 rounds.
func sha512CryptSalt(p, salt []byte) string {
	const rounds = 5000
	const itoa64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	if len(salt) > 16 {
		salt = salt[:16]
	}
	repeat := func(digest []byte, n int) []byte {
		out := make([]byte, 0, n)
		for len(out)+len(digest) <= n {
			out = append(out, digest...)
		}
		return append(out, digest[:n-len(out)]...)
	}

	b := sha512.New()
	b.Write(p)
	b.Write(salt)
	b.Write(p)
	sumB := b.Sum(nil)

	a := sha512.New()
	a.Write(p)
	a.Write(salt)
	a.Write(repeat(sumB, len(p)))
	for n := len(p); n > 0; n >>= 1 {
		if n&1 != 0 {
			a.Write(sumB)
		} else {
			a.Write(p)
		}
	}
	sumA := a.Sum(nil)

	dp := sha512.New()
	for range len(p) {
		dp.Write(p)
	}
	pseq := repeat(dp.Sum(nil), len(p))

	ds := sha512.New()
	for range 16 + int(sumA[0]) {
		ds.Write(salt)
	}
	sseq := repeat(ds.Sum(nil), len(salt))

	c := sumA
	for i := range rounds {
		h := sha512.New()
		if i&1 != 0 {
			h.Write(pseq)
		} else {
			h.Write(c)
		}
		if i%3 != 0 {
			h.Write(sseq)
		}
		if i%7 != 0 {
			h.Write(pseq)
		}
		if i&1 != 0 {
			h.Write(c)
		} else {
			h.Write(pseq)
		}
		c = h.Sum(nil)
	}

	var out strings.Builder
	out.WriteString("$6$")
	out.Write(salt)
	out.WriteByte('$')
	enc := func(b2, b1, b0 byte, n int) {
		w := uint(b2)<<16 | uint(b1)<<8 | uint(b0)
		for range n {
			out.WriteByte(itoa64[w&0x3f])
			w >>= 6
		}
	}
	// The byte order of glibc's sha512-crypt.c: groups {k, k+21, k+42}, rotated by k mod 3.
	for k := range 21 {
		g := [3]byte{c[k], c[k+21], c[k+42]}
		r := k % 3
		enc(g[r], g[(r+1)%3], g[(r+2)%3], 4)
	}
	enc(0, 0, c[63], 2)
	return out.String()
}

// proftpdSite is the setup the test ProFTPD servers share: a directory of their own (its mode
// 0755, whatever the umask), the user's Root in it owned by the user nobody, whom sessions run
// as, a passwd-format user file and a group file, a free loopback port, and the first part of
// the configuration, up to the module's own directives.
type proftpdSite struct {
	proftpdSiteOptions
	base      string // the server's directory
	root      string // the user's chroot
	nobody    *user.User
	group     *user.Group // nobody's
	uid, gid  int         // nobody's
	passwd    string      // AuthUserFile
	groupFile string      // AuthGroupFile
	port      int
}

// proftpdSiteOptions say what differs between the test ProFTPD servers' setups.
type proftpdSiteOptions struct {
	module    string // the module to load, as "mod_sftp.c"
	what      string // what the server is, for the configuration's first line
	dirPrefix string // of the server's directory's name
	moduleLog string // the module's log file, in the directory
	user      string // "acme" when empty
	// password logs user in when set; otherwise its account is locked. noPassword, when not
	// nil, is the error an empty password is refused with.
	password   string
	noPassword error
	// noOverwrite sets AllowOverwrite off.
	noOverwrite bool
}

// newProftpdSite checks that it runs as root, creates the server's directory and its user's
// Root, user file and group file. Its caller removes the directory (remove) when it fails later.
func newProftpdSite(o proftpdSiteOptions) (_ *proftpdSite, err error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("ProFTPD must be started as root (it chroots and switches to the user nobody)")
	}
	if o.noPassword != nil && o.password == "" {
		return nil, o.noPassword
	}
	p := &proftpdSite{proftpdSiteOptions: o}
	if p.user == "" {
		p.user = "acme"
	}
	if p.nobody, err = user.Lookup("nobody"); err != nil {
		return nil, errors.New("ProFTPD needs a user nobody to run sessions as")
	}
	if p.group, err = user.LookupGroupId(p.nobody.Gid); err != nil {
		return nil, fmt.Errorf("ProFTPD: group of nobody: %w", err)
	}
	p.uid, _ = strconv.Atoi(p.nobody.Uid)
	p.gid, _ = strconv.Atoi(p.nobody.Gid)

	if p.base, err = os.MkdirTemp("", o.dirPrefix); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			p.remove()
		}
	}()
	if err := os.Chmod(p.base, 0o755); err != nil {
		return nil, err
	}
	p.root = filepath.Join(p.base, "root")
	if err := os.Mkdir(p.root, 0o755); err != nil {
		return nil, err
	}
	if err := os.Chown(p.root, p.uid, p.gid); err != nil {
		return nil, err
	}

	// A passwd-format user file (ftpasswd's): the account is locked ("*") without a password.
	hash := "*"
	if o.password != "" {
		if hash, err = sha512Crypt(o.password); err != nil {
			return nil, err
		}
	}
	p.passwd = filepath.Join(p.base, "passwd")
	if err := os.WriteFile(p.passwd, fmt.Appendf(nil, "%s:%s:%d:%d::%s:/bin/false\n", p.user, hash, p.uid, p.gid, p.root), 0o600); err != nil {
		return nil, err
	}
	p.groupFile = filepath.Join(p.base, "group")
	if err := os.WriteFile(p.groupFile, fmt.Appendf(nil, "%s:x:%d:\n", p.group.Name, p.gid), 0o600); err != nil {
		return nil, err
	}
	return p, nil
}

// newProc returns the process that runs proftpd in the directory, whose Logs show its output,
// system log, module's log and transfer log.
func (p *proftpdSite) newProc() proftpdProc {
	return proftpdProc{base: p.base, exited: make(chan struct{}), logs: []string{"output.log", "system.log", p.moduleLog, "transfer.log"}}
}

// choosePort picks the free loopback port the server will listen on.
func (p *proftpdSite) choosePort() (port int, err error) {
	p.port, err = freeLoopbackPort()
	return p.port, err
}

// config returns the configuration: what all the servers share, then rest, the module's
// directives and the server's own.
func (p *proftpdSite) config(rest string) string {
	overwrite := "on"
	if p.noOverwrite {
		overwrite = "off"
	}
	return fmt.Sprintf(`# Generated by eventexport's tests: %s.
ModulePath %s
LoadModule %s
ServerType standalone
ServerName "eventexport test"
DefaultAddress 127.0.0.1
SocketBindTight on
UseIPv6 off
Port %d
User %s
Group %s
PidFile %s
ScoreboardFile %s
DelayEngine off
WtmpLog off
UseReverseDNS off
SystemLog %s
TransferLog %s
AuthOrder mod_auth_file.c
AuthUserFile %s
AuthGroupFile %s
RequireValidShell off
DefaultRoot ~
Umask 022
AllowOverwrite %s
MaxLoginAttempts 20
TimeoutIdle 120
`, p.what, ProFTPDModuleDir, p.module, p.port, p.nobody.Username, p.group.Name,
		filepath.Join(p.base, "proftpd.pid"), filepath.Join(p.base, "proftpd.scoreboard"),
		filepath.Join(p.base, "system.log"), filepath.Join(p.base, "transfer.log"),
		p.passwd, p.groupFile, overwrite) + rest
}

// remove removes the server's directory.
func (p *proftpdSite) remove() { os.RemoveAll(p.base) }

// proftpdProc is a running proftpd: its process, in a process group of its own so that
// stopping it stops the session processes it forks too, and its directory with its logs.
type proftpdProc struct {
	cmd    *exec.Cmd
	exited chan struct{}
	base   string
	port   int
	logs   []string // the files of base that Logs shows
}

// run writes config to the directory, starts proftpd with it and waits until it listens on
// port; when it does not, it is stopped and the error holds its logs.
func (p *proftpdProc) run(bin, config string, log io.Writer, port int) error {
	p.port = port
	configFile := filepath.Join(p.base, "proftpd.conf")
	if err := os.WriteFile(configFile, []byte(config), 0o644); err != nil {
		return err
	}
	out, err := os.Create(filepath.Join(p.base, "output.log"))
	if err != nil {
		return err
	}
	p.cmd = exec.Command(bin, "-n", "-c", configFile)
	p.cmd.Dir = p.base
	p.cmd.Stdout, p.cmd.Stderr = outputTo(out, log)
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		out.Close()
		return fmt.Errorf("start proftpd: %w", err)
	}
	go func() {
		p.cmd.Wait()
		out.Close()
		close(p.exited)
	}()
	if err := waitListening(p.addr(), p.exited, 10*time.Second); err != nil {
		logs := p.logText()
		p.stop()
		return fmt.Errorf("proftpd: %w; its logs:\n%s", err, logs)
	}
	return nil
}

func (p *proftpdProc) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port)) }

// logText returns what proftpd wrote to its standard output and error, and its logs.
func (p *proftpdProc) logText() string {
	var b strings.Builder
	for _, name := range p.logs {
		data, _ := os.ReadFile(filepath.Join(p.base, name))
		fmt.Fprintf(&b, "--- %s\n%s", name, data)
	}
	return b.String()
}

// stop stops proftpd and its session processes and removes its directory.
func (p *proftpdProc) stop() {
	if p.cmd != nil && p.cmd.Process != nil {
		stopGroup(p.cmd.Process.Pid, p.exited)
	}
	os.RemoveAll(p.base)
}
