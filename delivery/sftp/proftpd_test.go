//go:build unix

package sftp_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/eventexport/eventexport/delivery"
	"github.com/eventexport/eventexport/delivery/sftp"
	"github.com/eventexport/eventexport/delivery/sftptest"
)

// proftpdPassword holds every character customers are told to percent-encode.
const proftpdPassword = "pw" + specialChars

// startProFTPD starts ProFTPD with mod_sftp for the test: user acme logs in with
// proftpdPassword or any test client key, chrooted to srv.Root, where the file system does not
// let it write to "locked" (as with sshd) and the configuration does not let it write to
// "readonly" (<Limit WRITE>). Without ProFTPD (or root) the test is skipped, unless
// EVENTEXPORT_REQUIRE_PEERS=1 makes it fail.
func startProFTPD(t *testing.T, opts sftptest.ProFTPDOptions) *sftptest.ProFTPD {
	t.Helper()
	// Runs after the server is stopped: session processes it left to this process (when an
	// sshd test made it a subreaper) are reaped.
	t.Cleanup(reapOrphans)
	var keys []ssh.PublicKey
	for _, k := range clientKeys(t) {
		keys = append(keys, k.public)
	}
	opts.Password = proftpdPassword
	opts.AuthorizedKeys = keys
	opts.ReadOnlyDirs = append(opts.ReadOnlyDirs, "readonly")
	start := time.Now()
	srv := sftptest.NewProFTPD(t, opts)
	t.Logf("ProFTPD started in %s on %s", time.Since(start).Round(time.Millisecond), srv.Addr())
	// Owned by root, not by the user sessions run as.
	locked := filepath.Join(srv.Root, "locked")
	if err := os.Mkdir(locked, 0o555); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(locked, 0o555); err != nil {
		t.Fatal(err)
	}
	return srv
}

// proftpdConfig logs in to srv with its password, pinning its first host key, with time limits
// that end a hung upload long before the test's.
func proftpdConfig(srv *sftptest.ProFTPD, dir string) sftp.Config {
	return sftp.Config{
		Host: "127.0.0.1", Port: srv.Port, User: srv.User, Password: proftpdPassword,
		HostKey:        knownhosts.Line([]string{srv.Addr()}, srv.HostKeys[0]),
		Dir:            dir,
		ConnectTimeout: 20 * time.Second,
		AttemptTimeout: 2 * time.Minute,
	}
}

// TestConformanceProFTPD runs the conformance suite against ProFTPD's mod_sftp.
func TestConformanceProFTPD(t *testing.T) {
	srv := startProFTPD(t, sftptest.ProFTPDOptions{})
	exercise(t, harness{
		config:    func(t *testing.T, dir string) sftp.Config { return proftpdConfig(srv, dir) },
		dir:       func(rel string) string { return "/" + rel },
		local:     func(remote string) string { return filepath.Join(srv.Root, filepath.FromSlash(remote)) },
		lockedDir: "locked",
		addr:      srv.Addr(),
		hostKeys:  srv.HostKeys,
		password:  true,
	})
}

// Many files of several MiB, one after the other, each arrive intact and in good time: large
// uploads must not desynchronise mod_sftp, which keeps one packet reassembly buffer per
// connection.
func TestProFTPDManyLargeFiles(t *testing.T) {
	srv := startProFTPD(t, sftptest.ProFTPDOptions{})
	const perFile = 30 * time.Second
	cfg := proftpdConfig(srv, "/many")
	cfg.AttemptTimeout = perFile
	target := sftp.New(cfg)
	for i := range 20 {
		n, err := rand.Int(rand.Reader, big.NewInt(5<<20))
		if err != nil {
			t.Fatal(err)
		}
		data := make([]byte, 3<<20+int(n.Int64())) // 3 to 8 MiB
		rand.Read(data)
		name := fmt.Sprintf("f%02d.json", i)
		start := time.Now()
		p, err := target.Put(context.Background(), name, bytes.NewReader(data))
		took := time.Since(start)
		if err != nil {
			t.Fatalf("Put %s (%d bytes) after %s: %v", name, len(data), took.Round(time.Millisecond), err)
		}
		if took > perFile {
			t.Errorf("Put %s (%d bytes) took %s, want under %s", name, len(data), took, perFile)
		}
		got, err := os.ReadFile(filepath.Join(srv.Root, filepath.FromSlash(p)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("%s holds %d bytes, not the %d sent (or not the same ones)", p, len(got), len(data))
		}
	}
	var names []string
	for i := range 20 {
		names = append(names, fmt.Sprintf("f%02d.json", i))
	}
	assertOnlyFiles(t, filepath.Join(srv.Root, "many"), names...)
}

// A directory the configuration makes read-only (<Limit WRITE> DenyAll), though the file system
// would let the user write there, refuses a delivery as a permanent permission error and keeps
// nothing of it. ProFTPD refuses before looking for the file, so a missing directory below it is
// refused the same way.
func TestProFTPDReadOnlyDirectory(t *testing.T) {
	srv := startProFTPD(t, sftptest.ProFTPDOptions{})
	testReadOnlyDirectory(t, func(dir string) sftp.Config { return proftpdConfig(srv, dir) }, srv.Root)
}

// testReadOnlyDirectory delivers into /readonly and a missing directory below it, on a server
// serving root.
func testReadOnlyDirectory(t *testing.T, config func(dir string) sftp.Config, root string) {
	t.Helper()
	for _, dir := range []string{"/readonly", "/readonly/missing"} {
		_, err, _ := put(t, config(dir), "f.csv", strings.NewReader("id\n"))
		assertClass(t, err, delivery.ClassPermission, true)
	}
	assertOnlyFiles(t, filepath.Join(root, "readonly"))
}

// A server that refuses overwriting (AllowOverwrite off) still takes a re-sent file: a rename
// onto the existing file is refused, so the target removes it and renames again, as documented
// on Target.Put. Nothing temporary is left behind.
func TestProFTPDNoOverwrite(t *testing.T) {
	srv := startProFTPD(t, sftptest.ProFTPDOptions{NoOverwrite: true})
	testNoOverwrite(t, proftpdConfig(srv, "/in"), filepath.Join(srv.Root, "in"))
}

// testNoOverwrite delivers a file to cfg's directory, held locally in dir, then delivers it
// again with other content.
func testNoOverwrite(t *testing.T, cfg sftp.Config, dir string) {
	t.Helper()
	target := sftp.New(cfg)
	ctx := context.Background()
	for _, content := range []string{"first, and longer", "second"} {
		if _, err := target.Put(ctx, "x.json", strings.NewReader(content)); err != nil {
			t.Fatalf("Put %q: %v", content, err)
		}
		assertFile(t, filepath.Join(dir, "x.json"), content)
		assertOnlyFiles(t, dir, "x.json")
	}
}
