package sftp_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventexport/eventexport/delivery/sftp"
	"github.com/eventexport/eventexport/delivery/sftptest"
)

// patternReader yields n bytes of a repeating pattern without holding
// them in memory. It hides its length, like an io.PipeReader.
// patternReader reads n bytes of pattern repeated, the same bytes however it is read.
type patternReader struct {
	n   int64
	off int64
}

func (r *patternReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.n {
		p = p[:r.n]
	}
	n := 0
	for n < len(p) {
		n += copy(p[n:], pattern[(r.off+int64(n))%int64(len(pattern)):])
	}
	r.n -= int64(n)
	r.off += int64(n)
	return n, nil
}

var pattern = func() []byte {
	b := make([]byte, 64*1024)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return b
}()

// latencyTarget returns a target that reaches srv through a proxy adding
// delay each way.
func latencyTarget(tb testing.TB, srv *sftptest.Server, delay time.Duration) *sftp.Target {
	proxy := sftptest.NewProxy(tb, srv.Addr(), delay)
	cfg := srv.Config("/in")
	cfg.Port = proxy.Port()
	cfg.HostKey = srv.HostKeyPin()
	return sftp.New(cfg)
}

// Writes are pipelined: over a link with 20 ms round trips, 16 MiB in
// 32 KiB writes would take over 10 s one round trip at a time.
func TestPutOverHighLatency(t *testing.T) {
	checkLeaks(t)
	srv := sftptest.NewServer(t, sftptest.Options{})
	target := latencyTarget(t, srv, 10*time.Millisecond)
	const size = 16 << 20
	start := time.Now()
	p, err := target.Put(context.Background(), "big.bin", &patternReader{n: size})
	took := time.Since(start)
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	fi, err := os.Stat(filepath.Join(srv.Root(), p))
	if err != nil || fi.Size() != size {
		t.Fatalf("uploaded file: %v, %v", fi, err)
	}
	t.Logf("16 MiB over 10 ms each way: %v (%.1f MB/s)", took, size/took.Seconds()/1e6)
	if took > 4*time.Second {
		t.Errorf("Put took %v, want well under the 10 s of one round trip per write", took)
	}
}

// BenchmarkPutLatency25ms uploads 100 MB through a link adding 25 ms each
// way (50 ms round trips) and reports the throughput.
func BenchmarkPutLatency25ms(b *testing.B) {
	srv := sftptest.NewServer(b, sftptest.Options{})
	target := latencyTarget(b, srv, 25*time.Millisecond)
	const size = 100_000_000
	b.SetBytes(size)
	b.ResetTimer()
	var total time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		p, err := target.Put(context.Background(), "big.bin", &patternReader{n: size})
		total += time.Since(start)
		if err != nil {
			b.Fatalf("Put: %v", err)
		}
		b.StopTimer()
		os.Remove(filepath.Join(srv.Root(), p))
		b.StartTimer()
	}
	b.ReportMetric(float64(size)*float64(b.N)/total.Seconds()/1e6, "MB/s")
}

// BenchmarkPutDirect uploads 100 MB without added latency: the baseline,
// bound by CPU.
func BenchmarkPutDirect(b *testing.B) {
	srv := sftptest.NewServer(b, sftptest.Options{})
	target := sftp.New(srv.Config("/in"))
	const size = 100_000_000
	b.SetBytes(size)
	for i := 0; i < b.N; i++ {
		if _, err := target.Put(context.Background(), "big.bin", &patternReader{n: size}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPutMemory checks that memory use does not grow with the file: the
// service must export hundreds of MB within a small memory limit.
func TestPutMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("uploads 100 MiB")
	}
	srv := sftptest.NewServer(t, sftptest.Options{})
	target := sftp.New(srv.Config("/in"))
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
		}
	}()
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := target.Put(context.Background(), "big.bin", &patternReader{n: 100 << 20})
	close(stop)
	<-sampled
	if err != nil {
		t.Fatal(err)
	}
	grew := int64(peak.Load()) - int64(before.HeapInuse)
	// The in-process server's garbage counts too; the client holds at most
	// maxSessions+1 segments of 1 MiB.
	t.Logf("heap in use grew by %.1f MiB during a 100 MiB upload (client and server)", float64(grew)/(1<<20))
	if grew > 32<<20 {
		t.Errorf("heap grew by %d MiB, want far less than the file", grew>>20)
	}
}

// BenchmarkPutLatencyOpenSSH uploads 100 MB to OpenSSH's sshd over a link with 50 ms of round
// trip: the figure to compare with OpenSSH's own sftp client over the same link
// (sftp -b - -P PORT user@127.0.0.1 <<< 'put FILE').
func BenchmarkPutLatencyOpenSSH(b *testing.B) {
	s := startSSHD(b)
	proxy := sftptest.NewProxy(b, s.addr(), 25*time.Millisecond)
	target := sftp.New(sftp.Config{Host: "127.0.0.1", Port: proxy.Port(), User: s.user,
		PrivateKey: keyNamed(b, "ed25519 openssh").pem, HostKey: sftp.Fingerprint(s.hostKeys[0]),
		Dir: filepath.Join(s.area, "bench")})
	const size = 100_000_000
	b.SetBytes(size)
	b.ResetTimer()
	var total time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		p, err := target.Put(context.Background(), "big.bin", &patternReader{n: size})
		total += time.Since(start)
		if err != nil {
			b.Fatalf("Put: %v", err)
		}
		b.StopTimer()
		os.Remove(p)
		b.StartTimer()
	}
	b.ReportMetric(float64(size)*float64(b.N)/total.Seconds()/1e6, "MB/s")
	sftp.CloseIdle()
}
