package sftp_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"path/filepath"
	"testing"

	"github.com/eventexport/eventexport/delivery"
	"github.com/eventexport/eventexport/delivery/sftp"
	"github.com/eventexport/eventexport/delivery/sftptest"
)

// Servers that refuse pipelined writes get the file all the same, within the same attempt:
// object stores that take only sequential writes, and appliances that take one request at a
// time. A refusal in the first segment starts the file over; a later one writes on, one
// request at a time.
func TestServersThatRefusePipelinedWrites(t *testing.T) {
	data := make([]byte, 3<<20+12345)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	for name, faults := range map[string]sftptest.Faults{
		"sequential writes only":  {SequentialWrites: true},
		"one outstanding request": {OneOutstanding: true},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := sftptest.NewServer(t, sftptest.Options{Faults: faults, RefuseSetstat: true})
			p, err, _ := put(t, srv.Config("/in"), "big.json", bytes.NewReader(data))
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
			assertFile(t, filepath.Join(srv.Root(), p), string(data))
			assertOnlyFiles(t, filepath.Join(srv.Root(), "in"), "big.json")
			if n := srv.Stats().Setstats; n != 0 {
				t.Errorf("Put sent %d setstat requests, want none", n)
			}
		})
	}
}

// A server that is not OpenSSH is written through one session of its connection: ProFTPD
// desynchronises when writes of several sessions interleave, and SFTPGo charges each handle
// against the quota.
func TestOneSessionUnlessOpenSSH(t *testing.T) {
	srv := sftptest.NewServer(t, sftptest.Options{MaxSessions: 1})
	data := bytes.Repeat([]byte("0123456789abcdef"), (8<<20)/16)
	p, err, _ := put(t, srv.Config("/in"), "big.csv", bytes.NewReader(data))
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	assertFile(t, filepath.Join(srv.Root(), p), string(data))
	if n := srv.Stats().Sessions; n != 1 {
		t.Errorf("Put opened %d sessions on a server that is not OpenSSH, want 1", n)
	}
}

// A rename whose answer is lost with the connection is recognised: the file is in place under
// its final name with every byte, so the delivery is done, not sent again.
func TestLostRenameReply(t *testing.T) {
	srv := sftptest.NewServer(t, sftptest.Options{NoPosixRename: true, Faults: sftptest.Faults{LoseRenameReply: 1}})
	data := bytes.Repeat([]byte("x"), 100_000)
	p, err, _ := put(t, srv.Config("/in"), "f.json", bytes.NewReader(data))
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	assertFile(t, filepath.Join(srv.Root(), p), string(data))
	assertOnlyFiles(t, filepath.Join(srv.Root(), "in"), "f.json")
	if n := srv.Stats().Connections; n != 2 {
		t.Errorf("%d connections; want 2: the delivery, and one to see the file in place", n)
	}
}

// A Put stopped by its time limit leaves its temporary file behind; Clean, called once the run
// has failed for good, removes it.
func TestCleanAfterTimeLimit(t *testing.T) {
	srv := sftptest.NewServer(t, sftptest.Options{Faults: sftptest.Faults{StallWritesAfter: 256 << 10}})
	cfg := srv.Config("/in")
	cfg.AttemptTimeout = testAttemptTimeout
	target := sftp.New(cfg)
	_, err := target.Put(context.Background(), "x.json", bytes.NewReader(make([]byte, 4<<20)))
	assertClass(t, err, delivery.ClassTimeout, false)
	dir := filepath.Join(srv.Root(), "in")
	assertOnlyFiles(t, dir, ".x.json.part")

	if err := target.Clean(context.Background(), "x.json"); err != nil {
		t.Fatalf("Clean: %v", err)
	}
	assertOnlyFiles(t, dir)
	if err := target.Clean(context.Background(), "x.json"); err != nil {
		t.Errorf("Clean with nothing left to clean: %v", err)
	}
}

// Remove takes away files a run delivered before it failed for good, and is quiet about files
// already gone.
func TestRemoveDelivered(t *testing.T) {
	srv := sftptest.NewServer(t, sftptest.Options{})
	target := sftp.New(srv.Config("/in"))
	for _, n := range []string{"a_part0001.json", "a_part0002.json"} {
		if _, err := target.Put(context.Background(), n, bytes.NewReader([]byte("[]"))); err != nil {
			t.Fatal(err)
		}
	}
	if err := target.Remove(context.Background(), "a_part0001.json", "a_part0002.json", "never.json"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	assertOnlyFiles(t, filepath.Join(srv.Root(), "in"))
}

// A delivery over a connection kept from an earlier one still tells which host key the server
// presented: the one it was trusted by when it connected.
func TestPresentedHostKeyOverAKeptConnection(t *testing.T) {
	srv := sftptest.NewServer(t, sftptest.Options{})
	cfg := srv.Config("/in")
	for i := range 2 {
		target := sftp.New(cfg)
		if _, err := target.Put(context.Background(), "f.json", bytes.NewReader([]byte("[]"))); err != nil {
			t.Fatal(err)
		}
		if fp, _ := target.PresentedHostKey(); fp == "" {
			t.Errorf("delivery %d: no presented host key", i+1)
		}
	}
	if n := srv.Stats().Connections; n != 1 {
		t.Errorf("%d connections for two deliveries, want 1: the second reuses the first's", n)
	}
}
