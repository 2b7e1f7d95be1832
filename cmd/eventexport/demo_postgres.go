package main

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
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// localPostgresURL is the server the demo tries when DATABASE_URL is not set.
const localPostgresURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable&connect_timeout=3"

// demoDatabase finds a PostgreSQL server for the demo: DATABASE_URL, a server on
// 127.0.0.1:5432, or a throwaway cluster started from local PostgreSQL binaries. stop ends
// whatever it started.
func demoDatabase(ctx context.Context, getenv env, log io.Writer) (url string, stop func(), err error) {
	if u := getenv("DATABASE_URL"); u != "" {
		fmt.Fprintln(log, "database: DATABASE_URL")
		return u, func() {}, nil
	}
	if reachable(ctx, localPostgresURL) {
		fmt.Fprintln(log, "database: PostgreSQL on 127.0.0.1:5432")
		return localPostgresURL, func() {}, nil
	}
	bin, err := findPostgresBin()
	if err != nil {
		return "", nil, err
	}
	fmt.Fprintf(log, "database: a throwaway cluster from %s\n", bin)
	return startThrowawayCluster(ctx, bin)
}

func reachable(ctx context.Context, url string) bool {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return false
	}
	conn.Close(ctx)
	return true
}

// findPostgresBin returns the directory holding initdb and postgres.
func findPostgresBin() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		dir := filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	for i := len(dirs) - 1; i >= 0; i-- { // newest version first
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i], nil
		}
	}
	return "", errors.New("no PostgreSQL found: set DATABASE_URL, run one on 127.0.0.1:5432, " +
		"or install the server binaries (Debian/Ubuntu: apt-get install postgresql; macOS: brew install postgresql)")
}

// startThrowawayCluster initializes a cluster in a temporary directory and runs it on a free
// loopback port. PostgreSQL refuses to run as root, so as root it runs as the postgres or
// nobody user.
func startThrowawayCluster(ctx context.Context, bin string) (string, func(), error) {
	dir, err := os.MkdirTemp("", "eventexport-demo-pg-")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	cred, err := unprivileged(dir)
	if err != nil {
		cleanup()
		return "", nil, err
	}
	data := filepath.Join(dir, "data")
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	port, err := freePort()
	if err != nil {
		cleanup()
		return "", nil, err
	}
	pg := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="+dir, "-c", "fsync=off")
	pg.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	logf, err := os.Create(filepath.Join(dir, "postgres.log"))
	if err == nil {
		pg.Stdout, pg.Stderr = logf, logf
	}
	if err := pg.Start(); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("start postgres: %w", err)
	}
	stop := func() {
		_ = pg.Process.Signal(syscall.SIGINT) // fast shutdown
		done := make(chan struct{})
		go func() { _ = pg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = pg.Process.Kill()
			<-done
		}
		if logf != nil {
			logf.Close()
		}
		cleanup()
	}
	url := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	deadline := time.Now().Add(30 * time.Second)
	for !reachable(ctx, url) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			stop()
			return "", nil, errors.New("the throwaway PostgreSQL cluster did not start within 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	return url, stop, nil
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
