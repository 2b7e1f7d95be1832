//go:build unix

package sftpserver

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// VsftpdOptions configure a vsftpd FTPS server started by StartVsftpd.
type VsftpdOptions struct {
	// Password is the one password the login is accepted with; required.
	Password string
	// Implicit makes the server speak TLS from the first byte (implicit_ssl), as on port 990;
	// otherwise clients ask for it with AUTH TLS.
	Implicit bool
	// MinTLS and MaxTLS bound the TLS versions offered, in OpenSSL's names: "TLSv1", "TLSv1.1",
	// "TLSv1.2" or "TLSv1.3"; both are "TLSv1.2" when empty. When TLS 1.0 or 1.1 is offered, so
	// are the cipher suites of OpenSSL's security level 0, without which OpenSSL 3 refuses them.
	MinTLS, MaxTLS string
	// ExtraConfig lines are appended to the generated configuration; a setting given twice
	// takes the later value.
	ExtraConfig []string
	// Log, when not nil, receives what vsftpd writes to its standard output and error.
	Log io.Writer
}

// VsftpdWritableDir is the directory of a Vsftpd server where its user may write.
const VsftpdWritableDir = "/upload"

// Vsftpd is vsftpd 3.0.3 (Debian's package, unpacked by fetch-vsftpd.sh: installed, it would
// conflict with proftpd-core) in the foreground on a free loopback port, with its own
// configuration: FTP over TLS only, for the login and the data connections; TLS session reuse
// required on data connections (require_ssl_reuse); passive data connections on loopback ports
// of their own. Its certificate is issued for 127.0.0.1 and localhost by a CA of its own.
//
// Its user is vsftpd's anonymous FTP user with write access, TLS required: User is
// "anonymous", accepted with Password only (secure_email_list_enable), so that a wrong password
// is refused as on other servers. vsftpd's other users log in through PAM, whose services it
// reads from /etc/pam.d only. The user is chrooted to Root, where it may write only in
// VsftpdWritableDir and below: vsftpd refuses a chroot the user may write to. There it creates
// directories, uploads, renames (over existing files too) and deletes.
//
// TLS versions are bounded by an OpenSSL configuration of its own (OPENSSL_CONF): vsftpd 3.0.3's
// options reach no further than TLS 1.0, and it offers whatever its OpenSSL does (TLS 1.2 and
// 1.3 on Debian 12).
//
// It must be started as root. Sessions run as SessionUser: the first of ftp, nobody and daemon
// whose home directory exists, as vsftpd changes into it before the chroot (nobody's home,
// /nonexistent, does not on Debian).
type Vsftpd struct {
	Port     int
	User     string
	Password string
	Root     string // the user's chroot: remote "/x" is Root/x
	// CAPEM is the authority that issued the server's certificate; CertDER the certificate.
	CAPEM   []byte
	CertDER []byte
	// SessionUser is the system user sessions run as, who owns what the user uploads.
	SessionUser string

	// proc runs vsftpd as proftpd is run: in a process group of its own, with its directory and
	// logs.
	proc proftpdProc
}

// VsftpdDir is where fetch-vsftpd.sh unpacks vsftpd: $EVENTEXPORT_VSFTPD_DIR, else
// eventexport/vsftpd in the user's cache directory.
func VsftpdDir() (string, error) {
	if d := os.Getenv("EVENTEXPORT_VSFTPD_DIR"); d != "" {
		return d, nil
	}
	c, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("vsftpd's cache directory: %w", err)
	}
	return filepath.Join(c, "eventexport", "vsftpd"), nil
}

// FindVsftpd returns the path of vsftpd: installed (on PATH, or /usr/sbin/vsftpd), else
// unpacked by fetch-vsftpd.sh; or an error saying what to run.
func FindVsftpd() (string, error) {
	if p, err := exec.LookPath("vsftpd"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/vsftpd"); err == nil {
		return "/usr/sbin/vsftpd", nil
	}
	dir, err := VsftpdDir()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "pkg", "usr", "sbin", "vsftpd")
	for _, f := range []string{bin, vsftpdLibraryPathFile(dir)} {
		if _, err := os.Stat(f); err != nil {
			return "", fmt.Errorf("vsftpd not found on PATH, at /usr/sbin/vsftpd or in %s (run delivery/sftpserver/fetch-vsftpd.sh: it unpacks Debian's package there; installed, vsftpd would conflict with proftpd-core)", dir)
		}
	}
	return bin, nil
}

func vsftpdLibraryPathFile(dir string) string { return filepath.Join(dir, "pkg", "ld-library-path") }

// vsftpdLibraryPath returns the directories of the libraries fetch-vsftpd.sh unpacked beside
// bin, for LD_LIBRARY_PATH: "" for an installed vsftpd, or when none was needed.
func vsftpdLibraryPath(bin string) string {
	dir, err := VsftpdDir()
	if err != nil || !strings.HasPrefix(bin, filepath.Join(dir, "pkg")+string(filepath.Separator)) {
		return ""
	}
	b, _ := os.ReadFile(vsftpdLibraryPathFile(dir))
	return strings.TrimSpace(string(b))
}

// vsftpdSessionUser returns the system user anonymous sessions can run as.
func vsftpdSessionUser() (*user.User, error) {
	for _, name := range []string{"ftp", "nobody", "daemon"} {
		u, err := user.Lookup(name)
		if err != nil || u.Uid == "0" {
			continue
		}
		if fi, err := os.Stat(u.HomeDir); err == nil && fi.IsDir() {
			return u, nil
		}
	}
	return nil, errors.New("vsftpd needs a user to run anonymous sessions as whose home directory exists (it changes into it before the chroot): none of ftp, nobody and daemon has one")
}

// tlsVersionOrder ranks OpenSSL's protocol names.
var tlsVersionOrder = map[string]int{"TLSv1": 10, "TLSv1.1": 11, "TLSv1.2": 12, "TLSv1.3": 13}

// StartVsftpd starts vsftpd as an FTPS server and waits until it accepts connections. Close
// stops it.
func StartVsftpd(opts VsftpdOptions) (_ *Vsftpd, err error) {
	bin, err := FindVsftpd()
	if err != nil {
		return nil, err
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("vsftpd must be started as root (it chroots and switches to an unprivileged user)")
	}
	if opts.Password == "" || strings.ContainsAny(opts.Password, "\r\n") {
		return nil, errors.New("vsftpd FTPS: a password of one line is required")
	}
	minTLS, maxTLS := cmp.Or(opts.MinTLS, "TLSv1.2"), cmp.Or(opts.MaxTLS, "TLSv1.2")
	if tlsVersionOrder[minTLS] == 0 || tlsVersionOrder[maxTLS] < tlsVersionOrder[minTLS] {
		return nil, fmt.Errorf("vsftpd FTPS: no TLS versions from %q to %q", minTLS, maxTLS)
	}
	sessionUser, err := vsftpdSessionUser()
	if err != nil {
		return nil, err
	}
	uid, _ := strconv.Atoi(sessionUser.Uid)
	gid, _ := strconv.Atoi(sessionUser.Gid)

	base, err := os.MkdirTemp("", "eventexport-vsftpd-")
	if err != nil {
		return nil, err
	}
	s := &Vsftpd{proc: proftpdProc{base: base, exited: make(chan struct{}), logs: []string{"output.log", "vsftpd.log"}},
		User: "anonymous", Password: opts.Password, SessionUser: sessionUser.Username}
	defer func() {
		if err != nil {
			os.RemoveAll(base)
		}
	}()
	// Root's and the empty directory's modes as given, whatever the umask: readable by all,
	// writable by root only.
	s.Root = filepath.Join(base, "root")
	empty := filepath.Join(base, "empty") // secure_chroot_dir, before the login
	upload := filepath.Join(s.Root, filepath.FromSlash(VsftpdWritableDir))
	for _, d := range []string{base, s.Root, empty, upload} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
		if err := os.Chmod(d, 0o755); err != nil {
			return nil, err
		}
	}
	if err := os.Chown(upload, uid, gid); err != nil {
		return nil, err
	}

	var certPEM, keyPEM []byte
	s.CAPEM, s.CertDER, certPEM, keyPEM, err = NewTLSCertificate("127.0.0.1", "localhost")
	if err != nil {
		return nil, err
	}
	// vsftpd reads the key from the certificate's file when rsa_private_key_file is not set.
	certFile := filepath.Join(base, "cert.pem")
	if err := os.WriteFile(certFile, append(certPEM, keyPEM...), 0o600); err != nil {
		return nil, err
	}
	passwords := filepath.Join(base, "email_passwords")
	if err := os.WriteFile(passwords, []byte(opts.Password+"\n"), 0o600); err != nil {
		return nil, err
	}

	// OpenSSL's configuration, which its system_default section applies to every TLS context
	// vsftpd creates. It replaces the system's.
	ciphers, tlsv1 := "HIGH", "NO"
	openSSLConf := fmt.Sprintf(`# Generated by eventexport's tests: the TLS versions vsftpd offers.
openssl_conf = openssl_init

[openssl_init]
ssl_conf = ssl_sect

[ssl_sect]
system_default = tls_bounds

[tls_bounds]
MinProtocol = %s
MaxProtocol = %s
`, minTLS, maxTLS)
	if tlsVersionOrder[minTLS] < tlsVersionOrder["TLSv1.2"] {
		ciphers = "DEFAULT:@SECLEVEL=0"
		openSSLConf += "CipherString = " + ciphers + "\n"
		if minTLS == "TLSv1" {
			tlsv1 = "YES"
		}
	}
	openSSLFile := filepath.Join(base, "openssl.cnf")
	if err := os.WriteFile(openSSLFile, []byte(openSSLConf), 0o644); err != nil {
		return nil, err
	}

	if s.Port, err = freeLoopbackPort(); err != nil {
		return nil, err
	}
	s.proc.port = s.Port
	const pasvPorts = 8
	pasvMin, err := freeLoopbackPortRange(pasvPorts)
	if err != nil {
		return nil, err
	}
	implicit := "NO"
	if opts.Implicit {
		implicit = "YES"
	}
	config := fmt.Sprintf(`# Generated by eventexport's tests: an FTPS-only server on loopback.
listen=YES
listen_ipv6=NO
background=NO
listen_address=127.0.0.1
listen_port=%d
ftpd_banner=eventexport test
secure_chroot_dir=%s
seccomp_sandbox=NO
local_enable=NO
anonymous_enable=YES
ftp_username=%s
anon_root=%s
no_anon_password=NO
secure_email_list_enable=YES
email_password_file=%s
write_enable=YES
anon_upload_enable=YES
anon_mkdir_write_enable=YES
anon_other_write_enable=YES
anon_world_readable_only=NO
anon_umask=022
delay_failed_login=0
max_login_fails=20
idle_session_timeout=120
data_connection_timeout=60
connect_from_port_20=NO
pasv_enable=YES
pasv_address=127.0.0.1
pasv_min_port=%d
pasv_max_port=%d
ssl_enable=YES
implicit_ssl=%s
allow_anon_ssl=YES
force_anon_logins_ssl=YES
force_anon_data_ssl=YES
require_ssl_reuse=YES
ssl_request_cert=NO
ssl_sslv2=NO
ssl_sslv3=NO
ssl_tlsv1=%s
ssl_ciphers=%s
rsa_cert_file=%s
syslog_enable=NO
xferlog_enable=YES
vsftpd_log_file=%s
log_ftp_protocol=YES
debug_ssl=YES
%s
`, s.Port, empty, sessionUser.Username, s.Root, passwords, pasvMin, pasvMin+pasvPorts-1,
		implicit, tlsv1, ciphers, certFile, filepath.Join(base, "vsftpd.log"), strings.Join(opts.ExtraConfig, "\n"))
	configFile := filepath.Join(base, "vsftpd.conf")
	// vsftpd reads a configuration file only when the user running it owns it.
	if err := os.WriteFile(configFile, []byte(config), 0o600); err != nil {
		return nil, err
	}

	out, err := os.Create(filepath.Join(base, "output.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, configFile)
	cmd.Dir = base
	cmd.Env = append(os.Environ(), "OPENSSL_CONF="+openSSLFile)
	if lp := vsftpdLibraryPath(bin); lp != "" {
		cmd.Env = append(cmd.Env, "LD_LIBRARY_PATH="+lp)
	}
	cmd.Stdout, cmd.Stderr = outputTo(out, opts.Log)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("start vsftpd: %w", err)
	}
	s.proc.cmd = cmd
	go func() {
		cmd.Wait()
		out.Close()
		close(s.proc.exited)
	}()
	if err := waitListening(s.Addr(), s.proc.exited, 10*time.Second); err != nil {
		logs := s.Logs()
		s.Close()
		return nil, fmt.Errorf("vsftpd: %w; its logs:\n%s", err, logs)
	}
	return s, nil
}

// Addr is the host:port vsftpd listens on.
func (s *Vsftpd) Addr() string { return s.proc.addr() }

// PID is the process id of vsftpd's listener, which is also its process group's.
func (s *Vsftpd) PID() int { return s.proc.cmd.Process.Pid }

// Logs returns what vsftpd wrote to its standard output and error, and its log: the FTP
// commands and answers, the TLS handshakes and the transfers.
func (s *Vsftpd) Logs() string { return s.proc.logText() }

// Close stops vsftpd and its session processes, and removes its directory. Sessions are
// sessions of their own (setsid), out of the listener's process group; they die with it
// (PR_SET_PDEATHSIG), and those it had when Close began are killed and waited for besides.
func (s *Vsftpd) Close() {
	var sessions []process
	if s.proc.cmd != nil && s.proc.cmd.Process != nil {
		sessions = descendants(s.proc.cmd.Process.Pid)
	}
	s.proc.stop()
	for _, p := range sessions {
		p.kill()
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, p := range sessions {
		for p.running() && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// freeLoopbackPortRange returns the first of n consecutive ports free on 127.0.0.1, below
// Linux's range of ephemeral ports so that outgoing connections do not take them meanwhile.
func freeLoopbackPortRange(n int) (int, error) {
	const low, high = 20000, 32000
	for range 100 {
		first := low + rand.IntN(high-low-n)
		var lns []net.Listener
		for p := first; p < first+n; p++ {
			ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
			if err != nil {
				break
			}
			lns = append(lns, ln)
		}
		for _, ln := range lns {
			ln.Close()
		}
		if len(lns) == n {
			return first, nil
		}
	}
	return 0, fmt.Errorf("no %d consecutive free ports on 127.0.0.1", n)
}

// process is a process as /proc shows it: its id, and its start time, which tells it from a
// later process given the same id.
type process struct {
	pid   int
	start string
}

// procStat returns the state, parent and start time of pid from /proc/PID/stat.
func procStat(pid int) (state string, ppid int, start string, ok bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return "", 0, "", false
	}
	// After "pid (comm) ", which may hold spaces and parentheses: state ppid ... with the start
	// time the 22nd field of the whole line.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return "", 0, "", false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return "", 0, "", false
	}
	ppid, _ = strconv.Atoi(f[1])
	return f[0], ppid, f[19], true
}

// descendants returns the processes descending from pid, as far as /proc shows (none where
// there is no /proc).
func descendants(pid int) []process {
	entries, _ := os.ReadDir("/proc")
	children := map[int][]process{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if _, ppid, start, ok := procStat(p); ok {
			children[ppid] = append(children[ppid], process{p, start})
		}
	}
	var out []process
	for todo := children[pid]; len(todo) > 0; {
		p := todo[0]
		todo = append(todo[1:], children[p.pid]...)
		out = append(out, p)
	}
	return out
}

// running reports whether the process still runs: it has not exited (nor become a zombie), and
// its id has not passed to another.
func (p process) running() bool {
	state, _, start, ok := procStat(p.pid)
	return ok && start == p.start && state != "Z" && state != "X"
}

func (p process) kill() {
	if p.running() {
		syscall.Kill(p.pid, syscall.SIGKILL)
	}
}
