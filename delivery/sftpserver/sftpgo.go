//go:build unix

package sftpserver

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

// SFTPGoVersion is the SFTPGo release the tests build and run.
const SFTPGoVersion = "v2.6.4"

//go:embed build-sftpgo.sh
var buildSFTPGoScript string

// SFTPGoOptions configure an SFTPGo server started by StartSFTPGo.
type SFTPGoOptions struct {
	// User is the login name; "acme" when empty.
	User string
	// Password logs the user in when set; otherwise only keys do.
	Password string
	// AuthorizedKeys may log in as User.
	AuthorizedKeys []ssh.PublicKey
	// AtomicUploads selects SFTPGo's atomic upload mode (common.upload_mode 1, as
	// SFTPGO_COMMON__UPLOAD_MODE=1 does): an upload goes to a temporary file renamed over the
	// target when its handle closes. Otherwise uploads are written in place (mode 0, the
	// default).
	AtomicUploads bool
	// QuotaSize, when > 0, limits the bytes the user may store.
	QuotaSize int64
	// NoOverwrite withholds the "overwrite" permission: uploading or renaming onto an existing
	// file is refused.
	NoOverwrite bool
	// ReadOnlyDirs are directories under Root (slash-separated, relative), created by
	// StartSFTPGo, where the user may only list and download.
	ReadOnlyDirs []string
	// Log, when not nil, receives what sftpgo writes to its standard output and error, as Logs
	// does too.
	Log io.Writer
}

// SFTPGo is SFTPGo (sftpgo serve) running on a free loopback port with its own configuration
// directory, host keys (ed25519, ECDSA and RSA, in that order), an in-memory data provider
// holding one user whose home is Root, and its REST API on another loopback port for reading
// the user's quota. It never uses the system's configuration. Started as root, it runs without
// the capabilities that bypass file permissions (setpriv), so that they are enforced as for an
// SFTPGo running as a user of its own.
type SFTPGo struct {
	Port     int
	User     string
	Root     string // the user's home: remote "/x" is Root/x
	HostKeys []ssh.PublicKey

	apiPort  int
	adminPwd string
	cmd      *exec.Cmd
	exited   chan struct{}
	base     string
}

// SFTPGoDir is where BuildSFTPGo puts SFTPGo: $EVENTEXPORT_SFTPGO_DIR, else
// eventexport/sftpgo-VERSION in the user's cache directory.
func SFTPGoDir() (string, error) {
	if d := os.Getenv("EVENTEXPORT_SFTPGO_DIR"); d != "" {
		return d, nil
	}
	c, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("SFTPGo's cache directory: %w", err)
	}
	return filepath.Join(c, "eventexport", "sftpgo-"+SFTPGoVersion), nil
}

// FindSFTPGo returns the path of the SFTPGo binary BuildSFTPGo built, or an error saying how to
// build it.
func FindSFTPGo() (string, error) {
	dir, err := SFTPGoDir()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "sftpgo")
	for _, f := range []string{bin, filepath.Join(dir, "templates", "email")} {
		if _, err := os.Stat(f); err != nil {
			return "", fmt.Errorf("SFTPGo %s is not built in %s (run delivery/sftpserver/build-sftpgo.sh; it needs go and the Go module proxy)", SFTPGoVersion, dir)
		}
	}
	return bin, nil
}

var buildSFTPGoMu sync.Mutex

// BuildSFTPGo builds SFTPGo into SFTPGoDir unless it is there already, running the script
// build-sftpgo.sh (which go, on PATH, and the Go module proxy must serve), and returns the
// binary's path. The build's output goes to log. A first build takes a minute or two; several
// processes asking at once build it once.
func BuildSFTPGo(ctx context.Context, log io.Writer) (string, error) {
	buildSFTPGoMu.Lock()
	defer buildSFTPGoMu.Unlock()
	if bin, err := FindSFTPGo(); err == nil {
		return bin, nil
	}
	dir, err := SFTPGoDir()
	if err != nil {
		return "", err
	}
	if _, err := exec.LookPath("go"); err != nil {
		return "", fmt.Errorf("SFTPGo %s is not built in %s, and building it needs go on PATH and the Go module proxy (delivery/sftpserver/build-sftpgo.sh)", SFTPGoVersion, dir)
	}
	if log == nil {
		log = io.Discard
	}
	cmd := exec.CommandContext(ctx, "bash", "-c", buildSFTPGoScript, "build-sftpgo.sh", SFTPGoVersion)
	cmd.Env = append(os.Environ(), "EVENTEXPORT_SFTPGO_DIR="+dir)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build SFTPGo %s into %s: %w", SFTPGoVersion, dir, err)
	}
	return FindSFTPGo()
}

// StartSFTPGo starts sftpgo serve and waits until it accepts SFTP and API connections. Close
// stops it. SFTPGo must have been built (BuildSFTPGo).
//
// sftpgo portable would serve one user from flags, but has no quota flags; serve reads the user
// from a data file into an in-memory provider instead.
func StartSFTPGo(opts SFTPGoOptions) (_ *SFTPGo, err error) {
	bin, err := FindSFTPGo()
	if err != nil {
		return nil, err
	}
	base, err := os.MkdirTemp("", "eventexport-sftpgo-")
	if err != nil {
		return nil, err
	}
	s := &SFTPGo{base: base, exited: make(chan struct{}), User: opts.User}
	if s.User == "" {
		s.User = "acme"
	}
	defer func() {
		if err != nil {
			os.RemoveAll(base)
		}
	}()

	var hostKeyFiles []string
	for _, typ := range []string{KeyED25519, KeyECDSA, KeyRSA} {
		priv, err := newPrivateKey(typ)
		if err != nil {
			return nil, err
		}
		block, err := ssh.MarshalPrivateKey(priv, "")
		if err != nil {
			return nil, err
		}
		file := filepath.Join(base, fmt.Sprintf("host_key_%d", len(hostKeyFiles)))
		if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
			return nil, err
		}
		signer, err := ssh.NewSignerFromKey(priv)
		if err != nil {
			return nil, err
		}
		s.HostKeys = append(s.HostKeys, signer.PublicKey())
		hostKeyFiles = append(hostKeyFiles, file)
	}

	s.Root = filepath.Join(base, "root")
	if err := os.Mkdir(s.Root, 0o755); err != nil {
		return nil, err
	}
	all := []string{"*"}
	if opts.NoOverwrite {
		all = []string{"list", "download", "upload", "delete", "rename", "create_dirs", "create_symlinks", "chmod", "chtimes"}
	}
	permissions := map[string][]string{"/": all}
	for _, d := range opts.ReadOnlyDirs {
		rel := strings.Trim(d, "/")
		if err := os.MkdirAll(filepath.Join(s.Root, filepath.FromSlash(rel)), 0o755); err != nil {
			return nil, err
		}
		permissions["/"+rel] = []string{"list", "download"}
	}
	var keys []string
	for _, k := range opts.AuthorizedKeys {
		keys = append(keys, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k))))
	}
	var pwd [16]byte
	if _, err := rand.Read(pwd[:]); err != nil {
		return nil, err
	}
	s.adminPwd = hex.EncodeToString(pwd[:])
	userEntry := map[string]any{
		"username":    s.User,
		"status":      1,
		"home_dir":    s.Root,
		"permissions": permissions,
		"public_keys": keys,
		"quota_size":  opts.QuotaSize,
		"filesystem":  map[string]any{"provider": 0},
	}
	if opts.Password != "" {
		userEntry["password"] = opts.Password // hashed by SFTPGo as it loads the file
	}
	data := map[string]any{
		"version": 16, // SFTPGo 2.6's dump format
		"users":   []any{userEntry},
		"admins":  []any{map[string]any{"username": "admin", "password": s.adminPwd, "status": 1, "permissions": []string{"*"}}},
		"folders": []any{},
	}

	if s.Port, err = freeLoopbackPort(); err != nil {
		return nil, err
	}
	if s.apiPort, err = freeLoopbackPort(); err != nil {
		return nil, err
	}
	uploadMode := 0
	if opts.AtomicUploads {
		uploadMode = 1
	}
	templates := filepath.Join(filepath.Dir(bin), "templates")
	config := map[string]any{
		"common": map[string]any{"upload_mode": uploadMode, "defender": map[string]any{"enabled": false}},
		"sftpd": map[string]any{
			"bindings":  []any{map[string]any{"address": "127.0.0.1", "port": s.Port}},
			"host_keys": hostKeyFiles,
		},
		"ftpd":    map[string]any{"bindings": []any{}},
		"webdavd": map[string]any{"bindings": []any{}},
		"httpd": map[string]any{
			"bindings": []any{map[string]any{
				"address": "127.0.0.1", "port": s.apiPort,
				"enable_web_admin": false, "enable_web_client": false, "enable_rest_api": true,
			}},
			"templates_path": templates,
		},
		"smtp":          map[string]any{"templates_path": templates},
		"data_provider": map[string]any{"driver": "memory", "name": "", "create_default_admin": false},
		"telemetry":     map[string]any{"bind_port": 0},
	}
	for name, v := range map[string]any{"sftpgo.json": config, "data.json": data} {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(base, name), b, 0o600); err != nil {
			return nil, err
		}
	}

	args := []string{bin, "serve",
		"--config-dir", base, "--config-file", filepath.Join(base, "sftpgo.json"),
		"--loaddata-from", filepath.Join(base, "data.json"),
		"--log-file-path", filepath.Join(base, "sftpgo.log"), "--log-level", "debug"}
	if os.Geteuid() == 0 {
		// Root would write anywhere: without the capabilities that bypass file permissions,
		// it may write only where the owner may, as an unprivileged SFTPGo would.
		setpriv, err := exec.LookPath("setpriv")
		if err != nil {
			return nil, errors.New("SFTPGo started as root needs setpriv (util-linux) to drop the capabilities that bypass file permissions")
		}
		args = append([]string{setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner", "--inh-caps=-all", "--"}, args...)
	}
	s.cmd = exec.Command(args[0], args[1:]...)
	s.cmd.Dir = base
	// Only this configuration: no SFTPGO_ settings from the environment.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SFTPGO_") {
			s.cmd.Env = append(s.cmd.Env, kv)
		}
	}
	out, err := os.Create(filepath.Join(base, "output.log"))
	if err != nil {
		return nil, err
	}
	s.cmd.Stdout, s.cmd.Stderr = outputTo(out, opts.Log)
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("start sftpgo: %w", err)
	}
	go func() {
		s.cmd.Wait()
		out.Close()
		close(s.exited)
	}()
	for _, addr := range []string{s.Addr(), s.apiAddr()} {
		if err := waitListening(addr, s.exited, 15*time.Second); err != nil {
			logs := s.Logs()
			s.Close()
			return nil, fmt.Errorf("sftpgo: %w; its log:\n%s", err, logs)
		}
	}
	return s, nil
}

// Addr is the host:port SFTPGo's SFTP server listens on.
func (s *SFTPGo) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)) }

func (s *SFTPGo) apiAddr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.apiPort)) }

// PID is sftpgo's process id, which is also its process group's.
func (s *SFTPGo) PID() int { return s.cmd.Process.Pid }

// Logs returns what sftpgo wrote to its standard output and error, then its log file (JSON
// lines).
func (s *SFTPGo) Logs() string {
	out, _ := os.ReadFile(filepath.Join(s.base, "output.log"))
	log, _ := os.ReadFile(filepath.Join(s.base, "sftpgo.log"))
	return string(out) + string(log)
}

// UsedQuota returns the bytes and files SFTPGo counts against the user's quota, read from its
// REST API.
func (s *SFTPGo) UsedQuota(ctx context.Context) (size int64, files int, err error) {
	// No idle connections, and so no goroutines, left behind.
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	api := "http://" + s.apiAddr() + "/api/v2"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, api+"/token", nil)
	if err != nil {
		return 0, 0, err
	}
	req.SetBasicAuth("admin", s.adminPwd)
	var token struct {
		AccessToken string `json:"access_token"`
	}
	if err := getJSON(client, req, &token); err != nil {
		return 0, 0, fmt.Errorf("sftpgo api token: %w", err)
	}
	req, err = http.NewRequestWithContext(ctx, http.MethodGet, api+"/users/"+url.PathEscape(s.User), nil)
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token.AccessToken)
	var u struct {
		UsedQuotaSize  int64 `json:"used_quota_size"`
		UsedQuotaFiles int   `json:"used_quota_files"`
	}
	if err := getJSON(client, req, &u); err != nil {
		return 0, 0, fmt.Errorf("sftpgo api user %s: %w", s.User, err)
	}
	return u.UsedQuotaSize, u.UsedQuotaFiles, nil
}

func getJSON(c *http.Client, req *http.Request, v any) error {
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return json.Unmarshal(body, v)
}

// Close stops sftpgo and removes its directory.
func (s *SFTPGo) Close() {
	stopGroup(s.cmd.Process.Pid, s.exited)
	os.RemoveAll(s.base)
}
