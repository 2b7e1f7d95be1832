package sftpserver_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	pkgsftp "github.com/pkg/sftp"
	"go.uber.org/goleak"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/eventexport/eventexport/delivery/sftp"
	"github.com/eventexport/eventexport/delivery/sftpserver"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// dial logs in with the server's password and opens an SFTP client.
func dial(t *testing.T, s *sftpserver.Server) *pkgsftp.Client {
	t.Helper()
	cb, err := knownhosts.New(writeFile(t, "known_hosts", s.KnownHostsLine()+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := ssh.Dial("tcp", s.Addr(), &ssh.ClientConfig{
		User: s.User(), Auth: []ssh.AuthMethod{ssh.Password(s.Password())}, HostKeyCallback: cb,
	})
	if err != nil {
		t.Fatalf("ssh dial: %v", err)
	}
	c, err := pkgsftp.NewClient(conn)
	if err != nil {
		t.Fatalf("sftp: %v", err)
	}
	t.Cleanup(func() {
		c.Close()
		conn.Close()
	})
	return c
}

// newServer starts a server serving a directory of the test, stopped when the test ends
// (what delivery/sftptest.NewServer does for the other packages' tests).
func newServer(t *testing.T, opts sftpserver.Options) *sftpserver.Server {
	t.Helper()
	if opts.Root == "" {
		opts.Root = t.TempDir()
	}
	s, err := sftpserver.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func writeFile(t *testing.T, name, content string) string {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestServesRootOnly(t *testing.T) {
	s := newServer(t, sftpserver.Options{})
	c := dial(t, s)
	f, err := c.Create("/../../escape.txt")
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	f.Write([]byte("x"))
	f.Close()
	if _, err := os.Stat(filepath.Join(s.Root(), "escape.txt")); err != nil {
		t.Errorf("/../../escape.txt was not kept inside the root: %v", err)
	}
	if err := c.Symlink("/etc/passwd", "/link"); err == nil {
		t.Errorf("symlink allowed; it could point outside the root")
	}
	if wd, err := c.Getwd(); err != nil || wd != "/" {
		t.Errorf("login directory = %q, %v; want /", wd, err)
	}
}

func TestQuirks(t *testing.T) {
	s := newServer(t, sftpserver.Options{NoPosixRename: true, RefuseSetstat: true})
	c := dial(t, s)
	if _, ok := c.HasExtension("posix-rename@openssh.com"); ok {
		t.Errorf("posix-rename@openssh.com advertised with NoPosixRename")
	}
	if _, ok := c.HasExtension("statvfs@openssh.com"); !ok {
		t.Errorf("other extensions were dropped too")
	}
	for _, name := range []string{"/a", "/b"} {
		f, err := c.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	if err := c.Rename("/a", "/b"); err == nil {
		t.Errorf("rename over an existing file succeeded; SFTP rename must fail")
	}
	if err := c.PosixRename("/a", "/b"); err == nil {
		t.Errorf("posix-rename succeeded with NoPosixRename")
	}
	if err := c.Chmod("/a", 0o600); !errors.Is(err, os.ErrPermission) {
		t.Errorf("chmod = %v, want permission denied", err)
	}
}

func TestReadOnly(t *testing.T) {
	s := newServer(t, sftpserver.Options{ReadOnlyDirs: []string{"/locked"}})
	os.Mkdir(filepath.Join(s.Root(), "locked"), 0o755)
	c := dial(t, s)
	if _, err := c.Create("/locked/x"); !errors.Is(err, os.ErrPermission) {
		t.Errorf("create in a read-only dir = %v, want permission denied", err)
	}
	if _, err := c.Create("/missing/x"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("create in a missing dir = %v, want not exist", err)
	}
	if err := c.Mkdir("/locked/sub"); !errors.Is(err, os.ErrPermission) {
		t.Errorf("mkdir in a read-only dir = %v, want permission denied", err)
	}
	if f, err := c.Create("/free"); err != nil {
		t.Errorf("create elsewhere: %v", err)
	} else {
		f.Close()
	}
}

func TestURL(t *testing.T) {
	s := newServer(t, sftpserver.Options{User: "a@b", Password: "p:w/d ~"})
	u := s.URL("in box")
	if want := "sftp://a%40b:p%3Aw%2Fd%20%7E@" + s.Addr() + "/in%20box"; u != want {
		t.Errorf("URL = %q, want %q", u, want)
	}
	cfg, err := sftp.ParseURL(u)
	if err != nil || cfg.User != "a@b" || cfg.Password != "p:w/d ~" || cfg.Dir != "/in box" || cfg.Port != s.Port() {
		t.Errorf("ParseURL(URL) = %+v, %v", cfg, err)
	}
	if !strings.HasPrefix(s.HostKeyPin(), "SHA256:") {
		t.Errorf("HostKeyPin = %q", s.HostKeyPin())
	}
	if err := sftp.ValidateHostKeyPin(s.KnownHostsLine()); err != nil {
		t.Errorf("KnownHostsLine %q: %v", s.KnownHostsLine(), err)
	}
}

func TestStartAndClose(t *testing.T) {
	s, err := sftpserver.Start(sftpserver.Options{HostKeyTypes: []string{sftpserver.KeyECDSA, sftpserver.KeyED25519}})
	if err != nil {
		t.Fatal(err)
	}
	root := s.Root()
	if len(s.HostKeys()) != 2 || s.HostKeys()[0].Type() != ssh.KeyAlgoECDSA256 {
		t.Errorf("host keys = %v", s.HostKeys())
	}
	dial(t, s)
	s.Close()
	s.Close() // idempotent
	if _, err := os.Stat(root); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary root %s left behind: %v", root, err)
	}
}
