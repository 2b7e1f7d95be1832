// Package pgcluster finds PostgreSQL for development and tests, and starts a throwaway
// cluster from the local server binaries when none is running: in a temporary directory, on
// a unix socket there and a free loopback port, with fsync off and trust authentication. The
// demo command and the tests' migrations/pgtest use it.
package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// LocalURL is the conventional development server: user postgres on 127.0.0.1:5432.
const LocalURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// dirPrefix names the temporary directories of throwaway clusters.
const dirPrefix = "eventexport-pg-"

// Reachable reports whether url answers and lets us log in, within 3 seconds.
func Reachable(ctx context.Context, url string) bool {
	return Ping(ctx, url) == nil
}

// Ping connects to url and closes the connection, within 3 seconds.
func Ping(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}

// FindBin returns the directory holding the server binaries initdb and postgres: the one
// of initdb on PATH, or else the newest /usr/lib/postgresql/*/bin (Debian, Ubuntu).
func FindBin() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		dir := filepath.Dir(p)
		if isFile(filepath.Join(dir, "postgres")) {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	// Newest version first: by number, since "9.6" sorts after "16" as text.
	best, bestVersion := "", -1.0
	for _, d := range dirs {
		v, err := strconv.ParseFloat(filepath.Base(filepath.Dir(d)), 64)
		if err != nil {
			v = 0
		}
		if v > bestVersion && isFile(filepath.Join(d, "initdb")) && isFile(filepath.Join(d, "postgres")) {
			best, bestVersion = d, v
		}
	}
	if best != "" {
		return best, nil
	}
	return "", errors.New("no PostgreSQL found: set DATABASE_URL, run one on 127.0.0.1:5432, " +
		"or install the server binaries (Debian/Ubuntu: apt-get install postgresql; macOS: brew install postgresql)")
}

func isFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir()
}

// Options configure Start. The zero value is ready to use.
type Options struct {
	// Bin is the directory of initdb and postgres; empty means FindBin.
	Bin string
	// TempDir is where the cluster's directory is made; empty means os.TempDir.
	TempDir string
	// Log receives the server's output; nil means postgres.log in the cluster's directory.
	Log io.Writer
}

// Start initializes a cluster in a new temporary directory and runs it until stop is called.
// url connects as the superuser postgres over loopback TCP. stop shuts the server down fast
// and removes the directory; it may be called more than once.
//
// On Linux the server is also stopped when the process that started it dies, so that a
// killed test binary leaves no server behind. PostgreSQL refuses to run as root: as root,
// it runs as the postgres or else the nobody user.
func Start(ctx context.Context, opts Options) (url string, stop func() error, err error) {
	bin := opts.Bin
	if bin == "" {
		if bin, err = FindBin(); err != nil {
			return "", nil, err
		}
	}
	tmp := opts.TempDir
	if tmp == "" {
		tmp = os.TempDir()
	}
	sweep(tmp)
	dir, err := os.MkdirTemp(tmp, dirPrefix)
	if err != nil {
		return "", nil, err
	}
	removeDir := func() error { return os.RemoveAll(dir) }
	// The owner's pid lets a later Start remove this directory should we die without stop.
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		removeDir()
		return "", nil, err
	}
	cred, err := unprivileged(dir)
	if err != nil {
		removeDir()
		return "", nil, err
	}
	data := filepath.Join(dir, "data")
	// UTF8 and the C locale whatever the environment's locale: deterministic, and SQL_ASCII
	// (what a C environment gets by default) rejects Unicode escapes in jsonb.
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres",
		"-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	initdb.Dir = dir
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		removeDir()
		return "", nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}

	var logw io.Writer = opts.Log
	var logf *os.File
	if logw == nil {
		if logf, err = os.Create(filepath.Join(dir, "postgres.log")); err != nil {
			removeDir()
			return "", nil, err
		}
		logw = logf
	}
	closeLog := func() {
		if logf != nil {
			logf.Close()
		}
	}
	// The free port found may be taken before the server binds it: then try another.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			closeLog()
			removeDir()
			return "", nil, err
		}
		srv, err := startServer(bin, data, dir, port, cred, logw)
		if err != nil {
			closeLog()
			removeDir()
			return "", nil, err
		}
		stop := func() error {
			err := srv.stop()
			closeLog()
			if rerr := removeDir(); err == nil {
				err = rerr
			}
			return err
		}
		url := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
		if lastErr = srv.waitReady(ctx, url, 30*time.Second); lastErr == nil {
			return url, onlyOnce(stop), nil
		}
		srv.stop()
		if ctx.Err() != nil {
			break
		}
	}
	closeLog()
	log, _ := os.ReadFile(filepath.Join(dir, "postgres.log"))
	removeDir()
	return "", nil, fmt.Errorf("the throwaway PostgreSQL cluster did not start: %w\n%s", lastErr, tail(string(log), 2000))
}

// server is a running postgres process.
type server struct {
	pid    int
	exited chan struct{} // closed once the process has exited
	err    error         // its exit status, once exited is closed
}

// startServer runs postgres. The process is started and waited for by a goroutine locked to
// its OS thread: the kernel's parent-death signal follows the thread that started a child,
// and this thread lives as long as the server.
func startServer(bin, data, dir string, port int, cred *syscall.Credential, logw io.Writer) (*server, error) {
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="+dir,
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=300")
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logw, logw
	// Its own process group, so that a terminal's Ctrl-C reaches only us, and we stop it in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	setDieWithParent(cmd.SysProcAttr)

	s := &server{exited: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		if err := cmd.Start(); err != nil {
			started <- fmt.Errorf("start postgres: %w", err)
			return
		}
		s.pid = cmd.Process.Pid
		started <- nil
		s.err = cmd.Wait()
		close(s.exited)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return s, nil
}

// waitReady waits until url answers, the server exits, or the timeout passes.
func (s *server) waitReady(ctx context.Context, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := Ping(ctx, url)
		if err == nil {
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("postgres exited: %v", s.err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer within %v: %w", timeout, err)
		}
	}
}

// stop asks for a fast shutdown (what pg_ctl stop -m fast sends) and kills the server if it
// has not exited within 10 seconds.
func (s *server) stop() error {
	select {
	case <-s.exited:
		return nil
	default:
	}
	_ = syscall.Kill(s.pid, syscall.SIGINT)
	select {
	case <-s.exited:
		return nil
	case <-time.After(10 * time.Second):
	}
	_ = syscall.Kill(-s.pid, syscall.SIGKILL) // the whole group: postmaster and its children
	<-s.exited
	return errors.New("postgres did not stop within 10s of a fast shutdown; killed it")
}

func onlyOnce(f func() error) func() error {
	var done bool
	var err error
	return func() error {
		if !done {
			done, err = true, f()
		}
		return err
	}
}

// sweep removes the directories of throwaway clusters whose owner process is gone: what is
// left of a test binary that was killed before it could stop its cluster (the server itself
// died with it).
func sweep(tmp string) {
	dirs, _ := filepath.Glob(filepath.Join(tmp, dirPrefix+"*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "owner.pid"))
		if err != nil {
			continue // not ours, or being created
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 || alive(pid) {
			continue
		}
		if b, err := os.ReadFile(filepath.Join(d, "data", "postmaster.pid")); err == nil {
			if pm, err := strconv.Atoi(strings.SplitN(string(b), "\n", 2)[0]); err == nil && alive(pm) {
				continue // its server still runs: leave it
			}
		}
		os.RemoveAll(d)
	}
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// unprivileged returns the credential to run PostgreSQL with, owning dir: nil unless root.
func unprivileged(dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, errors.New("PostgreSQL cannot run as root, and there is no postgres or nobody user to run it as")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
