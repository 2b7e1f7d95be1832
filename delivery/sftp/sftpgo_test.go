//go:build unix

package sftp_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/eventexport/eventexport/delivery/sftp"
	"github.com/eventexport/eventexport/delivery/sftptest"
)

// sftpgoPassword holds every character customers are told to percent-encode.
const sftpgoPassword = "pw" + specialChars

// startSFTPGo starts SFTPGo for the test: user acme logs in with sftpgoPassword or any test
// client key, its home is srv.Root, where the file system does not let it write to "locked"
// (as with sshd) and its permissions let it only list and read "readonly". SFTPGo is built on
// first use. Without it the test is skipped, unless EVENTEXPORT_REQUIRE_PEERS=1 makes it fail.
func startSFTPGo(t *testing.T, opts sftptest.SFTPGoOptions) *sftptest.SFTPGo {
	t.Helper()
	var keys []ssh.PublicKey
	for _, k := range clientKeys(t) {
		keys = append(keys, k.public)
	}
	opts.Password = sftpgoPassword
	opts.AuthorizedKeys = keys
	opts.ReadOnlyDirs = append(opts.ReadOnlyDirs, "readonly")
	sftptest.NeedSFTPGo(t)
	start := time.Now()
	srv := sftptest.NewSFTPGo(t, opts)
	t.Logf("SFTPGo started in %s on %s", time.Since(start).Round(time.Millisecond), srv.Addr())
	// Read-only to its owner, whom SFTPGo runs as, without the capabilities to bypass that.
	locked := filepath.Join(srv.Root, "locked")
	if err := os.Mkdir(locked, 0o555); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(locked, 0o555); err != nil {
		t.Fatal(err)
	}
	return srv
}

// sftpgoConfig logs in to srv with its password, pinning its first host key, with time limits
// that end a hung upload long before the test's.
func sftpgoConfig(srv *sftptest.SFTPGo, dir string) sftp.Config {
	return sftp.Config{
		Host: "127.0.0.1", Port: srv.Port, User: srv.User, Password: sftpgoPassword,
		HostKey:        knownhosts.Line([]string{srv.Addr()}, srv.HostKeys[0]),
		Dir:            dir,
		ConnectTimeout: 20 * time.Second,
		AttemptTimeout: 2 * time.Minute,
	}
}

func sftpgoHarness(srv *sftptest.SFTPGo) harness {
	return harness{
		config:    func(t *testing.T, dir string) sftp.Config { return sftpgoConfig(srv, dir) },
		dir:       func(rel string) string { return "/" + rel },
		local:     func(remote string) string { return filepath.Join(srv.Root, filepath.FromSlash(remote)) },
		lockedDir: "locked",
		addr:      srv.Addr(),
		hostKeys:  srv.HostKeys,
		password:  true,
	}
}

// TestConformanceSFTPGo runs the conformance suite against SFTPGo in each upload mode: standard
// (written in place), atomic (SFTPGo's own temporary file, renamed when the handle closes), and
// standard under a quota.
func TestConformanceSFTPGo(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts sftptest.SFTPGoOptions
	}{
		{"standard", sftptest.SFTPGoOptions{}},
		{"atomic", sftptest.SFTPGoOptions{AtomicUploads: true}},
		{"quota", sftptest.SFTPGoOptions{QuotaSize: 80 << 20}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			exercise(t, sftpgoHarness(startSFTPGo(t, tt.opts)))
		})
	}
}

// Files that fit in the quota together are all delivered, and SFTPGo counts what they take on
// disk, once: it charges each open handle of a file, so a file written through several
// handles would be charged several times and exhaust the quota early.
func TestSFTPGoQuotaChargedOnce(t *testing.T) {
	const quota = 80 << 20
	srv := startSFTPGo(t, sftptest.SFTPGoOptions{QuotaSize: quota})
	target := sftp.New(sftpgoConfig(srv, "/quota"))
	var names []string
	for i := range 3 {
		data := make([]byte, 25<<20)
		rand.Read(data)
		name := fmt.Sprintf("f%d.csv", i)
		p, err := target.Put(context.Background(), name, bytes.NewReader(data))
		if err != nil {
			used, files, qerr := srv.UsedQuota(context.Background())
			t.Fatalf("Put %s (file %d of 3, %d bytes each, quota %d): %v\nSFTPGo counts %d bytes in %d files (%v); %d bytes are on disk",
				name, i+1, len(data), quota, err, used, files, qerr, diskUsage(t, srv.Root))
		}
		got, err := os.ReadFile(filepath.Join(srv.Root, filepath.FromSlash(p)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("%s holds %d bytes, not the %d sent (or not the same ones)", p, len(got), len(data))
		}
		names = append(names, name)
	}
	assertOnlyFiles(t, filepath.Join(srv.Root, "quota"), names...)
	used, files, err := srv.UsedQuota(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if disk := diskUsage(t, srv.Root); used != disk || files != len(names) {
		t.Errorf("SFTPGo counts %d bytes in %d files against the quota, want the %d bytes in %d files on disk", used, files, disk, len(names))
	}
}

// A directory SFTPGo's permissions make read-only (list and download) refuses a delivery as a
// permanent permission error and keeps nothing of it. SFTPGo checks permissions before looking
// for the file, so a missing directory below it is refused the same way.
func TestSFTPGoReadOnlyDirectory(t *testing.T) {
	srv := startSFTPGo(t, sftptest.SFTPGoOptions{})
	testReadOnlyDirectory(t, func(dir string) sftp.Config { return sftpgoConfig(srv, dir) }, srv.Root)
}

// A server that refuses overwriting (no "overwrite" permission) still takes a re-sent file.
func TestSFTPGoNoOverwrite(t *testing.T) {
	srv := startSFTPGo(t, sftptest.SFTPGoOptions{NoOverwrite: true})
	testNoOverwrite(t, sftpgoConfig(srv, "/in"), filepath.Join(srv.Root, "in"))
}

// diskUsage is the total size of the regular files under root.
func diskUsage(t *testing.T, root string) int64 {
	t.Helper()
	var total int64
	err := filepath.WalkDir(root, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		total += info.Size()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return total
}
