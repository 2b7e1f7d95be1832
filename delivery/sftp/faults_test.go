package sftp_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/crypto/ssh"

	"github.com/eventexport/eventexport/delivery"
	"github.com/eventexport/eventexport/delivery/sftp"
	"github.com/eventexport/eventexport/delivery/sftptest"
)

// Scaled-down limits for fault tests.
const (
	testConnectTimeout = 300 * time.Millisecond
	testAttemptTimeout = time.Second
	// slack is how long after a limit Put may take to return.
	slack = 2 * time.Second
)

// checkLeaks fails the test if goroutines it started outlive it. It must be
// called first, so that its cleanup runs after the servers' cleanups.
func checkLeaks(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		sftp.CloseIdle() // connections kept for the next delivery are the pool's, not leaks
		goleak.VerifyNone(t, opt)
	})
}

// put returns the error before the duration, for the reading of the many checks that use it.
//
//lint:ignore ST1008 the duration is an extra that most callers drop
func put(t *testing.T, cfg sftp.Config, name string, r io.Reader) (string, error, time.Duration) {
	t.Helper()
	start := time.Now()
	p, err := sftp.New(cfg).Put(context.Background(), name, r)
	return p, err, time.Since(start)
}

func TestPasswordWithSpecialCharacters(t *testing.T) {
	srv := sftptest.NewServer(t, sftptest.Options{User: "u" + specialChars, Password: specialChars + "pw" + specialChars})
	raw := srv.URL("/in")
	if !strings.Contains(raw, specialEncoded) {
		t.Fatalf("URL %q does not hold the vendor's encoding %s", raw, specialEncoded)
	}
	cfg, err := sftp.ParseURL(raw)
	if err != nil {
		t.Fatal(err)
	}
	cfg.HostKey = srv.KnownHostsLine()
	p, err, _ := put(t, cfg, "f.json", strings.NewReader("[]"))
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	assertFile(t, filepath.Join(srv.Root(), p), "[]")
}

func TestWrongPassword(t *testing.T) {
	srv := sftptest.NewServer(t, sftptest.Options{Password: "right"})
	cfg := srv.Config("/in")
	cfg.Password = "wrong"
	_, err, _ := put(t, cfg, "f.json", strings.NewReader("[]"))
	e := assertClass(t, err, delivery.ClassAuth, true)
	if e.Stage != delivery.StageAuth {
		t.Errorf("stage = %q, want %q", e.Stage, delivery.StageAuth)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Errorf("error %q shows the password", err)
	}
}

func TestKeyboardInteractiveOnly(t *testing.T) {
	srv := sftptest.NewServer(t, sftptest.Options{Password: "s3cret:p@ss", KeyboardInteractiveOnly: true})
	p, err, _ := put(t, srv.Config("/in"), "f.json", strings.NewReader("[]"))
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	assertFile(t, filepath.Join(srv.Root(), p), "[]")

	cfg := srv.Config("/in")
	cfg.Password = "wrong"
	_, err, _ = put(t, cfg, "f.json", strings.NewReader("[]"))
	assertClass(t, err, delivery.ClassAuth, true)
}

func TestKeyAndPassword(t *testing.T) {
	k := keyNamed(t, "ed25519 openssh")
	// The server accepts only the password: the key is offered first and
	// refused, then the password works.
	srv := sftptest.NewServer(t, sftptest.Options{Password: "pw"})
	cfg := srv.Config("/in")
	cfg.PrivateKey = k.pem
	if _, err, _ := put(t, cfg, "a", strings.NewReader("a")); err != nil {
		t.Fatalf("Put with key and password, server accepting the password: %v", err)
	}
	// The server accepts only the key.
	srv2 := sftptest.NewServer(t, sftptest.Options{AuthorizedKeys: []ssh.PublicKey{k.public}})
	cfg = srv2.Config("/in")
	cfg.Password, cfg.PrivateKey = "irrelevant", k.pem
	if _, err, _ := put(t, cfg, "a", strings.NewReader("a")); err != nil {
		t.Fatalf("Put with key and password, server accepting the key: %v", err)
	}
}

func TestNoPosixRename(t *testing.T) {
	srv := sftptest.NewServer(t, sftptest.Options{NoPosixRename: true})
	cfg := srv.Config("/in")
	for _, content := range []string{"first version", "second"} {
		p, err, _ := put(t, cfg, "x.json", strings.NewReader(content))
		if err != nil {
			t.Fatalf("Put: %v", err)
		}
		assertFile(t, filepath.Join(srv.Root(), p), content)
	}
	assertOnlyFiles(t, filepath.Join(srv.Root(), "in"), "x.json")
}

func TestRefuseSetstat(t *testing.T) {
	srv := sftptest.NewServer(t, sftptest.Options{RefuseSetstat: true})
	p, err, _ := put(t, srv.Config("/in"), "x.json", strings.NewReader("x"))
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	assertFile(t, filepath.Join(srv.Root(), p), "x")
	if n := srv.Stats().Setstats; n != 0 {
		t.Errorf("Put sent %d setstat requests, want none", n)
	}
}

func TestReadOnlyServer(t *testing.T) {
	srv := sftptest.NewServer(t, sftptest.Options{ReadOnly: true})
	if err := os.Mkdir(filepath.Join(srv.Root(), "in"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err, _ := put(t, srv.Config("/in"), "x.json", strings.NewReader("x"))
	assertClass(t, err, delivery.ClassPermission, true)
	_, err, _ = put(t, srv.Config("/missing"), "x.json", strings.NewReader("x"))
	assertClass(t, err, delivery.ClassNoSuchDir, true)
}

func TestServerDropsConnectionMidUpload(t *testing.T) {
	checkLeaks(t)
	srv := sftptest.NewServer(t, sftptest.Options{Faults: sftptest.Faults{DropAfterBytes: 1 << 20}})
	cfg := srv.Config("/in")
	_, err, _ := put(t, cfg, "x.json", strings.NewReader(strings.Repeat("x", 4<<20)))
	assertClass(t, err, delivery.ClassConnLost, false)
	// The temporary file is removed over a new connection.
	assertOnlyFiles(t, filepath.Join(srv.Root(), "in"))
}

func TestServerFailsWrite(t *testing.T) {
	checkLeaks(t)
	srv := sftptest.NewServer(t, sftptest.Options{Faults: sftptest.Faults{FailWrite: 10}})
	_, err, _ := put(t, srv.Config("/in"), "x.json", strings.NewReader(strings.Repeat("x", 1<<20)))
	assertClass(t, err, delivery.ClassServer, false)
	assertOnlyFiles(t, filepath.Join(srv.Root(), "in"))
}

func TestTimeouts(t *testing.T) {
	tests := []struct {
		name      string
		opts      sftptest.Options
		size      int
		wantStage delivery.Stage
		wantLimit delivery.Limit
	}{
		{"no banner", sftptest.Options{Faults: sftptest.Faults{NoBanner: true}}, 10, delivery.StageHandshake, delivery.LimitConnect},
		{"stall after handshake", sftptest.Options{Faults: sftptest.Faults{StallAfterHandshake: true}}, 10, delivery.StageSFTPSession, delivery.LimitConnect},
		{"stall mid-upload", sftptest.Options{Faults: sftptest.Faults{StallWritesAfter: 1 << 20}}, 64 << 20, delivery.StageUpload, delivery.LimitAttempt},
		{"stall at rename", sftptest.Options{Faults: sftptest.Faults{StallRename: true}}, 10, delivery.StageRename, delivery.LimitAttempt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkLeaks(t)
			srv := sftptest.NewServer(t, tt.opts)
			cfg := srv.Config("/in")
			cfg.ConnectTimeout, cfg.AttemptTimeout = testConnectTimeout, testAttemptTimeout
			_, err, took := put(t, cfg, "x.json", strings.NewReader(strings.Repeat("x", tt.size)))
			e := assertClass(t, err, delivery.ClassTimeout, false)
			if e.Stage != tt.wantStage || e.Limit != tt.wantLimit {
				t.Errorf("timeout in stage %q, limit %q; want %q, %q", e.Stage, e.Limit, tt.wantStage, tt.wantLimit)
			}
			if !strings.Contains(err.Error(), string(tt.wantLimit)) {
				t.Errorf("error %q does not name the %s", err, tt.wantLimit)
			}
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("errors.Is(err, os.ErrDeadlineExceeded) = false for %v", err)
			}
			limit := testAttemptTimeout
			if tt.wantLimit == delivery.LimitConnect {
				limit = testConnectTimeout
			}
			if took < limit || took > limit+slack {
				t.Errorf("Put took %v, want between %v and %v", took, limit, limit+slack)
			}
			if tt.wantStage == delivery.StageUpload || tt.wantStage == delivery.StageRename {
				if _, err := os.Stat(filepath.Join(srv.Root(), "in", "x.json")); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("a file appeared under the final name: %v", err)
				}
			}
		})
	}
}

// A producer that stops producing is bounded by the attempt timeout too,
// and is released.
func TestStalledReader(t *testing.T) {
	checkLeaks(t)
	srv := sftptest.NewServer(t, sftptest.Options{})
	cfg := srv.Config("/in")
	cfg.AttemptTimeout = testAttemptTimeout
	pr, pw := io.Pipe()
	producerDone := make(chan error, 1)
	testOver := make(chan struct{})
	go func() {
		if _, err := pw.Write([]byte("some data, then nothing")); err != nil {
			producerDone <- err
			return
		}
		<-testOver
		_, err := pw.Write([]byte("too late"))
		producerDone <- err
	}()
	_, err, took := put(t, cfg, "x.json", pr)
	e := assertClass(t, err, delivery.ClassTimeout, false)
	if e.Stage != delivery.StageUpload || e.Limit != delivery.LimitAttempt {
		t.Errorf("timeout in stage %q, limit %q; want upload, attempt timeout", e.Stage, e.Limit)
	}
	if took > testAttemptTimeout+slack {
		t.Errorf("Put took %v, want at most %v", took, testAttemptTimeout+slack)
	}
	// The pipe was closed: the producer's next write fails.
	close(testOver)
	if err := <-producerDone; err == nil {
		t.Errorf("the producer could still write after Put failed")
	}
	assertNotExist(t, filepath.Join(srv.Root(), "in", "x.json"))
}

func TestCallerContext(t *testing.T) {
	checkLeaks(t)
	srv := sftptest.NewServer(t, sftptest.Options{Faults: sftptest.Faults{StallWritesAfter: 1 << 20}})
	cfg := srv.Config("/in")

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, err := sftp.New(cfg).Put(ctx, "x.json", strings.NewReader(strings.Repeat("x", 64<<20)))
	assertClass(t, err, delivery.ClassCanceled, false)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("errors.Is(err, context.Canceled) = false for %v", err)
	}
	if took := time.Since(start); took > slack {
		t.Errorf("Put took %v after cancel", took)
	}

	ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = sftp.New(cfg).Put(ctx, "x.json", strings.NewReader(strings.Repeat("x", 64<<20)))
	e := assertClass(t, err, delivery.ClassTimeout, false)
	if e.Limit != delivery.LimitCaller {
		t.Errorf("limit = %q, want %q", e.Limit, delivery.LimitCaller)
	}
}

func TestConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	ln.Close()
	cfg := sftp.Config{Host: "127.0.0.1", Port: addr.Port, User: "u", Password: "p", HostKey: sftp.Fingerprint(randomHostKey(t))}
	_, err, _ = put(t, cfg, "x", strings.NewReader("x"))
	e := assertClass(t, err, delivery.ClassRefused, false)
	if e.Stage != delivery.StageTCPConnect {
		t.Errorf("stage = %q, want %q", e.Stage, delivery.StageTCPConnect)
	}
}

func TestSourceAddr(t *testing.T) {
	srv := sftptest.NewServer(t, sftptest.Options{})
	cfg := srv.Config("/in")
	cfg.SourceAddr = "127.0.0.2"
	if ln, err := net.Listen("tcp", "127.0.0.2:0"); err != nil {
		t.Skipf("this machine has no address 127.0.0.2 to bind to: %v", err)
	} else {
		ln.Close()
	}
	if _, err, _ := put(t, cfg, "x", strings.NewReader("x")); err != nil {
		t.Fatalf("Put from 127.0.0.2: %v", err)
	}
	addrs := srv.RemoteAddrs()
	if len(addrs) == 0 || !strings.HasPrefix(addrs[len(addrs)-1], "127.0.0.2:") {
		t.Errorf("server saw connections from %q, want 127.0.0.2", addrs)
	}

	cfg.SourceAddr = "192.0.2.1" // TEST-NET-1, not an address of this machine
	_, err, _ := put(t, cfg, "x", strings.NewReader("x"))
	assertClass(t, err, delivery.ClassConfig, true)
}

func TestLegacyCrypto(t *testing.T) {
	srv := sftptest.NewServer(t, sftptest.Options{LegacyOnly: true})
	cfg := srv.Config("/in")
	_, err, _ := put(t, cfg, "x", strings.NewReader("x"))
	assertClass(t, err, delivery.ClassIncompatible, true)
	if !strings.Contains(err.Error(), "legacy") {
		t.Errorf("error %q does not mention the legacy crypto option", err)
	}

	cfg.LegacyCrypto = true
	if _, err, _ := put(t, cfg, "x", strings.NewReader("x")); err != nil {
		t.Fatalf("Put with LegacyCrypto: %v", err)
	}
}

func TestInvalidConfig(t *testing.T) {
	srv := sftptest.NewServer(t, sftptest.Options{})
	good := srv.Config("/in")
	tests := []struct {
		name   string
		change func(*sftp.Config)
		file   string
	}{
		{"bad key", func(c *sftp.Config) { c.PrivateKey = []byte("garbage") }, "x"},
		{"bad pin", func(c *sftp.Config) { c.HostKey = "SHA256:short" }, "x"},
		{"no credentials", func(c *sftp.Config) { c.Password = "" }, "x"},
		{"name with slash", func(c *sftp.Config) {}, "../x"},
		{"empty name", func(c *sftp.Config) {}, ""},
		{"bad source address", func(c *sftp.Config) { c.SourceAddr = "not-an-ip" }, "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.change(&cfg)
			_, err, _ := put(t, cfg, tt.file, strings.NewReader("x"))
			assertClass(t, err, delivery.ClassConfig, true)
		})
	}
	if n := srv.Stats().Connections; n != 0 {
		t.Errorf("%d connections made with invalid configurations, want none", n)
	}
}

// Servers that allow one session per connection, or one writer per file,
// still get large files, through one session.
func TestStripingFallback(t *testing.T) {
	for name, opts := range map[string]sftptest.Options{
		"one session":    {MaxSessions: 1},
		"exclusive open": {ExclusiveOpen: true},
	} {
		t.Run(name, func(t *testing.T) {
			checkLeaks(t)
			srv := sftptest.NewServer(t, opts)
			const size = 8 << 20
			p, err, _ := put(t, srv.Config("/in"), "big.bin", &patternReader{n: size})
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
			want := make([]byte, size)
			(&patternReader{n: size}).Read(want)
			assertFile(t, filepath.Join(srv.Root(), p), string(want))
		})
	}
}

// Failures while a large file is written over several sessions.
func TestStripedFailures(t *testing.T) {
	tests := []struct {
		name   string
		faults sftptest.Faults
		class  delivery.Class
	}{
		{"write fails", sftptest.Faults{FailWrite: 200}, delivery.ClassServer},
		{"connection dropped", sftptest.Faults{DropAfterBytes: 6 << 20}, delivery.ClassConnLost},
		{"server stalls", sftptest.Faults{StallWritesAfter: 6 << 20}, delivery.ClassTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkLeaks(t)
			srv := sftptest.NewServer(t, sftptest.Options{Faults: tt.faults})
			cfg := srv.Config("/in")
			cfg.AttemptTimeout = testAttemptTimeout
			_, err, took := put(t, cfg, "big.bin", &patternReader{n: 32 << 20})
			assertClass(t, err, tt.class, false)
			if took > testAttemptTimeout+slack {
				t.Errorf("Put took %v", took)
			}
			if tt.class != delivery.ClassTimeout {
				// The temporary file is removed, over a new connection
				// if need be.
				assertOnlyFiles(t, filepath.Join(srv.Root(), "in"))
			} else {
				assertNotExist(t, filepath.Join(srv.Root(), "in", "big.bin"))
			}
		})
	}
}

// A host that never answers the TCP handshake is bounded by the connect
// timeout. Such a host is imitated on loopback by a listener whose accept
// queue is full, so the kernel drops further connection requests.
func TestTCPConnectTimeout(t *testing.T) {
	checkLeaks(t)
	addr := fullListener(t)
	cfg := sftp.Config{Host: "127.0.0.1", Port: addr.Port, User: "u", Password: "p",
		HostKey: sftp.Fingerprint(randomHostKey(t)), ConnectTimeout: testConnectTimeout}
	_, err, took := put(t, cfg, "x", strings.NewReader("x"))
	e := assertClass(t, err, delivery.ClassTimeout, false)
	if e.Stage != delivery.StageTCPConnect || e.Limit != delivery.LimitConnect {
		t.Errorf("timeout in stage %q, limit %q; want tcp connect, connect timeout", e.Stage, e.Limit)
	}
	if took > testConnectTimeout+slack {
		t.Errorf("Put took %v", took)
	}
}

// Drop-box accounts may write but not read, list or stat.
func TestWriteOnlyAccount(t *testing.T) {
	srv := sftptest.NewServer(t, sftptest.Options{WriteOnly: true})
	cfg := srv.Config("/in/deep")
	for _, size := range []int64{5 << 20, 3 << 20} { // the second replaces the first
		p, err, _ := put(t, cfg, "x.json", &patternReader{n: size})
		if err != nil {
			t.Fatalf("Put of %d bytes: %v", size, err)
		}
		fi, err := os.Stat(filepath.Join(srv.Root(), p))
		if err != nil || fi.Size() != size {
			t.Fatalf("uploaded file: %v, %v; want %d bytes", fi, err, size)
		}
	}
}

// Some servers hand a file to a processor as soon as it is renamed into
// place, so it may be gone before the rename is even answered.
func TestFileMovedAwayAfterRename(t *testing.T) {
	processed := t.TempDir()
	srv := sftptest.NewServer(t, sftptest.Options{AfterRename: func(p string) {
		os.Rename(p, filepath.Join(processed, filepath.Base(p)))
	}})
	if _, err, _ := put(t, srv.Config("/in"), "x.json", strings.NewReader("[]")); err != nil {
		t.Fatalf("Put: %v", err)
	}
	assertFile(t, filepath.Join(processed, "x.json"), "[]")
	assertOnlyFiles(t, filepath.Join(srv.Root(), "in"))
}
