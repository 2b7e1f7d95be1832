//go:build unix

package sftp_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/eventexport/eventexport/delivery/sftp"
	"github.com/eventexport/eventexport/delivery/sftptest"
)

// Uploads of 100 MB over a link adding 25 ms each way (50 ms round trips) to each conformance
// peer, by this package and by OpenSSH's own sftp client, to compare the two: the target must
// be no slower than sftp to any of these servers.
//
//	go test -run '^$' -bench 'PutLatency|OpenSSHClient' -benchtime 2x ./delivery/sftp
//
// The sftp client logs in anew for every upload; Put keeps its connection for the next one, as
// BenchmarkPutLatencyOpenSSH does. The client benchmarks report the time sftp takes to log in
// and do nothing (login-ms), to tell the two costs apart.

const (
	benchSize  = 100_000_000
	benchDelay = 25 * time.Millisecond
)

// BenchmarkPutLatencyProFTPD uploads 100 MB to ProFTPD's mod_sftp over a link with 50 ms of
// round trip.
func BenchmarkPutLatencyProFTPD(b *testing.B) {
	srv := benchProFTPD(b)
	proxy := sftptest.NewProxy(b, srv.Addr(), benchDelay)
	cfg := proftpdConfig(srv, "/bench")
	cfg.Port = proxy.Port()
	cfg.HostKey = sftp.Fingerprint(srv.HostKeys[0])
	benchPut(b, sftp.New(cfg), func(p string) string { return filepath.Join(srv.Root, filepath.FromSlash(p)) })
}

// BenchmarkPutLatencySFTPGo uploads 100 MB to SFTPGo over a link with 50 ms of round trip.
func BenchmarkPutLatencySFTPGo(b *testing.B) {
	srv := benchSFTPGo(b)
	proxy := sftptest.NewProxy(b, srv.Addr(), benchDelay)
	cfg := sftpgoConfig(srv, "/bench")
	cfg.Port = proxy.Port()
	cfg.HostKey = sftp.Fingerprint(srv.HostKeys[0])
	benchPut(b, sftp.New(cfg), func(p string) string { return filepath.Join(srv.Root, filepath.FromSlash(p)) })
}

// BenchmarkOpenSSHClientSSHD uploads 100 MB to OpenSSH's sshd with OpenSSH's sftp client over a
// link with 50 ms of round trip: the figure to compare with BenchmarkPutLatencyOpenSSH.
func BenchmarkOpenSSHClientSSHD(b *testing.B) {
	s := startSSHD(b)
	dir := filepath.Join(s.area, "sftp-client")
	if err := os.Mkdir(dir, 0o777); err != nil {
		b.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil { // whatever the umask: sshd may serve nobody
		b.Fatal(err)
	}
	remote := filepath.Join(dir, "big.bin")
	benchSFTPClient(b, s.addr(), s.user, remote, remote)
}

// BenchmarkOpenSSHClientProFTPD uploads 100 MB to ProFTPD's mod_sftp with OpenSSH's sftp client
// over a link with 50 ms of round trip: the figure to compare with BenchmarkPutLatencyProFTPD.
func BenchmarkOpenSSHClientProFTPD(b *testing.B) {
	srv := benchProFTPD(b)
	benchSFTPClient(b, srv.Addr(), srv.User, "/big.bin", filepath.Join(srv.Root, "big.bin"))
}

// BenchmarkOpenSSHClientSFTPGo uploads 100 MB to SFTPGo with OpenSSH's sftp client over a link
// with 50 ms of round trip: the figure to compare with BenchmarkPutLatencySFTPGo.
func BenchmarkOpenSSHClientSFTPGo(b *testing.B) {
	srv := benchSFTPGo(b)
	benchSFTPClient(b, srv.Addr(), srv.User, "/big.bin", filepath.Join(srv.Root, "big.bin"))
}

// benchProFTPD starts ProFTPD as startProFTPD does, for a benchmark: user acme logs in with
// proftpdPassword or any test client key.
func benchProFTPD(b *testing.B) *sftptest.ProFTPD {
	b.Helper()
	// Runs after the server is stopped, as in startProFTPD.
	b.Cleanup(reapOrphans)
	return sftptest.NewProFTPD(b, sftptest.ProFTPDOptions{Password: proftpdPassword, AuthorizedKeys: benchAuthorizedKeys(b)})
}

// benchSFTPGo starts SFTPGo as startSFTPGo does, for a benchmark: user acme logs in with
// sftpgoPassword or any test client key.
func benchSFTPGo(b *testing.B) *sftptest.SFTPGo {
	b.Helper()
	return sftptest.NewSFTPGo(b, sftptest.SFTPGoOptions{Password: sftpgoPassword, AuthorizedKeys: benchAuthorizedKeys(b)})
}

func benchAuthorizedKeys(b *testing.B) []ssh.PublicKey {
	var keys []ssh.PublicKey
	for _, k := range clientKeys(b) {
		keys = append(keys, k.public)
	}
	return keys
}

// benchPut uploads benchSize bytes with target b.N times and reports the throughput; local
// maps the path Put returns to the file on this machine, removed after each upload.
func benchPut(b *testing.B, target *sftp.Target, local func(remote string) string) {
	b.Cleanup(sftp.CloseIdle)
	b.SetBytes(benchSize)
	b.ResetTimer()
	var total time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		p, err := target.Put(context.Background(), "big.bin", &patternReader{n: benchSize})
		total += time.Since(start)
		if err != nil {
			b.Fatalf("Put: %v", err)
		}
		b.StopTimer()
		checkUploaded(b, local(p))
		b.StartTimer()
	}
	b.ReportMetric(float64(benchSize)*float64(b.N)/total.Seconds()/1e6, "MB/s")
}

// benchSFTPClient uploads benchSize bytes b.N times with OpenSSH's sftp client in batch mode,
// logging in as user with the ed25519 test key, through a proxy to addr adding benchDelay each
// way, to remote, which is local on this machine. It reports the throughput, and the time sftp
// takes to log in and quit (login-ms).
func benchSFTPClient(b *testing.B, addr, user, remote, local string) {
	b.Helper()
	bin, err := exec.LookPath("sftp")
	if err != nil {
		bin = "/usr/bin/sftp"
		if _, err := os.Stat(bin); err != nil {
			b.Fatalf("OpenSSH's sftp client is not on PATH nor at /usr/bin/sftp: install openssh-client (apt-get install openssh-client)")
		}
	}
	dir := b.TempDir()
	key := filepath.Join(dir, "id_ed25519")
	if err := os.WriteFile(key, keyNamed(b, "ed25519 openssh").pem, 0o600); err != nil {
		b.Fatal(err)
	}
	data := filepath.Join(dir, "big.bin")
	writePattern(b, data, benchSize)
	batch := filepath.Join(dir, "put.batch")
	if err := os.WriteFile(batch, fmt.Appendf(nil, "put %s %s\n", data, remote), 0o644); err != nil {
		b.Fatal(err)
	}
	idle := filepath.Join(dir, "login.batch")
	if err := os.WriteFile(idle, []byte("pwd\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	proxy := sftptest.NewProxy(b, addr, benchDelay)
	run := func(batch string) {
		b.Helper()
		cmd := exec.Command(bin, "-b", batch, "-P", strconv.Itoa(proxy.Port()), "-i", key,
			"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
			user+"@127.0.0.1")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%s: %v\n%s", cmd, err, out)
		}
	}

	start := time.Now()
	run(idle)
	login := time.Since(start)

	b.SetBytes(benchSize)
	b.ResetTimer()
	var total time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		run(batch)
		total += time.Since(start)
		b.StopTimer()
		checkUploaded(b, local)
		b.StartTimer()
	}
	b.ReportMetric(float64(benchSize)*float64(b.N)/total.Seconds()/1e6, "MB/s")
	b.ReportMetric(float64(login.Milliseconds()), "login-ms")
}

// checkUploaded checks that the file at path holds benchSize bytes, and removes it.
func checkUploaded(b *testing.B, path string) {
	b.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	if fi.Size() != benchSize {
		b.Fatalf("%s holds %d bytes, want %d", path, fi.Size(), benchSize)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		b.Fatal(err)
	}
}

// writePattern writes n bytes of patternReader's content to a new file at path.
func writePattern(b *testing.B, path string, n int64) {
	b.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(f, &patternReader{n: n}); err != nil {
		f.Close()
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}
