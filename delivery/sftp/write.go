package sftp

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pkg/sftp"
)

// Striping. One SSH channel carries at most the server's flow-control
// window per round trip: OpenSSH and golang.org/x/crypto/ssh both grant
// 2 MiB, which caps a channel at about 40 MB/s over a 50 ms round trip, and
// less once connection setup is counted. To an OpenSSH server, files larger
// than a few segments are therefore written over several SFTP sessions
// (channels) of the same connection at once, each writing whole segments at
// their offsets with pipelined requests.
//
// Only to OpenSSH: other servers are not safe with it. ProFTPD's mod_sftp
// keeps one packet reassembly buffer per connection, and pkg/sftp sends each
// WRITE as two channel messages, so WRITEs of several channels interleave
// and desynchronise it; SFTPGo charges every handle on the file as an
// upload of its own against the account's quota. Every other server gets
// one session with pipelined writes.
const (
	// segmentSize: each session waits for a segment's last write to be answered before taking
	// the next; 2 MiB keeps that wait short beside the segment's transfer over a long round
	// trip (1 MiB segments cost a sixth of the throughput at 50 ms; 4 MiB gain nothing more
	// there and hold twice the memory).
	segmentSize = 2 << 20
	// maxSessions is the number of SFTP sessions a large upload uses.
	maxSessions = 4
	// stripeAfter is how much data must come before extra sessions are
	// opened, so that small files cost no extra round trips.
	stripeAfter = 2 << 20
)

func clientOptions() []sftp.ClientOption {
	return []sftp.ClientOption{
		sftp.MaxPacketChecked(writePacket),
		sftp.UseConcurrentWrites(true),
		sftp.MaxConcurrentRequestsPerFile(concurrentWrites),
	}
}

// segmentPool recycles segment buffers between uploads.
var segmentPool = sync.Pool{New: func() any {
	b := make([]byte, segmentSize)
	return &b
}}

type segment struct {
	off  int64
	data []byte // the filled part of buf
	buf  []byte
}

// stripedWriter writes one file: the producer (write) reads segments from
// the source in order and hands them to workers, one per SFTP session, that
// write each with ReadFromWithConcurrency at its offset.
//
// A server that refuses pipelined writes (object stores that take only
// sequential writes, appliances that allow one outstanding request) answers
// a write with a failure: the segment is then written again one request at a
// time, and so is the rest of the file. A refusal within the first segment
// starts the file over, truncated, since such a server may have kept a
// partial write.
type stripedWriter struct {
	s   *session
	tmp string
	// sequential: the server refused pipelined writes; one request at a time.
	sequential atomic.Bool
	// main is the file the first session writes through once it was started over.
	main *sftp.File

	segs   chan segment
	free   chan []byte
	nbuf   int
	failed chan struct{} // closed on the first write error

	mu       sync.Mutex
	err      error        // the first write error
	done     bool         // no more workers may start
	extra    []*sftp.File // files opened by extra sessions
	failOnce sync.Once
	workers  sync.WaitGroup
}

// write copies src into f (the temporary file tmp, opened write-only in
// s.sftp) and closes f. It returns the first error writing or closing.
func (a *attempt) write(s *session, f *sftp.File, tmp string, src io.Reader) error {
	if !s.openSSH() {
		return writeOne(s, f, tmp, src)
	}
	return a.writeStriped(s, f, tmp, src)
}

// replayLimit is how much of the start of a file writeOne keeps to write it again, one request
// at a time, when the server refuses pipelined writes: a refusal comes with the answer to the
// first writes, before more than the SSH channel's window (2 MiB) was sent.
const replayLimit = 4 << 20

// writeOne writes src through the one session of a server not known to take several: a single
// pipeline from the first byte to the last, never drained on the way. If the server refuses
// pipelined writes within the start of the file, the file is started over (opened anew with
// truncation, as such servers refuse SETSTAT) and written one request at a time.
func writeOne(s *session, f *sftp.File, tmp string, src io.Reader) error {
	rr := &replayReader{r: src}
	_, err := f.ReadFromWithConcurrency(rr, concurrentWrites)
	if err == nil {
		return f.Close()
	}
	if !isStatus(err) || errors.Is(err, os.ErrPermission) || rr.over || rr.err != nil {
		f.Close()
		return err
	}
	f.Close()
	nf, err := s.sftp.OpenFile(tmp, os.O_WRONLY|os.O_TRUNC)
	if err != nil {
		return err
	}
	r := io.MultiReader(bytes.NewReader(rr.buf.Bytes()), src)
	buf := make([]byte, writePacket)
	var off int64
	for {
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			if _, werr := nf.WriteAt(buf[:n], off); werr != nil {
				nf.Close()
				return werr
			}
			off += int64(n)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			nf.Close()
			return rerr
		}
	}
	return nf.Close()
}

// replayReader keeps what it reads, up to replayLimit, to write it again.
type replayReader struct {
	r    io.Reader
	buf  bytes.Buffer
	over bool  // more than replayLimit was read: the start is no longer kept
	err  error // the source's error, other than io.EOF
}

func (r *replayReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if !r.over {
		if r.buf.Len()+n > replayLimit {
			r.over = true
			r.buf = bytes.Buffer{}
		} else {
			r.buf.Write(p[:n])
		}
	}
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}

// writeStriped writes src over several sessions of the connection; see Striping.
func (a *attempt) writeStriped(s *session, f *sftp.File, tmp string, src io.Reader) error {
	w := &stripedWriter{
		s:      s,
		tmp:    tmp,
		segs:   make(chan segment),
		free:   make(chan []byte, maxSessions+1),
		failed: make(chan struct{}),
	}
	w.workers.Add(1)
	go w.worker(f)

	var off int64
	striped := false
produce:
	for {
		buf := w.buffer()
		if buf == nil {
			break // a write failed
		}
		n, err := io.ReadFull(src, buf)
		if n > 0 {
			select {
			case w.segs <- segment{off: off, data: buf[:n], buf: buf}:
			case <-w.failed:
				break produce
			}
			off += int64(n)
		} else {
			w.free <- buf
		}
		if err != nil {
			break // io.EOF, io.ErrUnexpectedEOF at the end, or src failed
		}
		if !striped && off >= stripeAfter {
			striped = true
			for i := 1; i < maxSessions; i++ {
				s.openers.Add(1)
				go w.openExtra()
			}
		}
	}
	w.mu.Lock()
	w.done = true
	extra := w.extra
	w.mu.Unlock()
	close(w.segs)
	w.workers.Wait()
	for len(w.free) > 0 {
		b := <-w.free
		segmentPool.Put(&b)
	}

	// Close every handle, in parallel: servers may report write errors
	// only now, and some cannot rename a file still open.
	errs := make([]error, len(extra)+1)
	var wg sync.WaitGroup
	for i, ef := range extra {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i+1] = ef.Close()
		}()
	}
	w.mu.Lock()
	if w.main != nil {
		f = w.main // the file was started over: the first handle is closed
	}
	w.mu.Unlock()
	errs[0] = f.Close()
	wg.Wait()

	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// buffer returns a free segment buffer, allocating up to maxSessions+1 of
// them, or nil once a write failed.
func (w *stripedWriter) buffer() []byte {
	select {
	case b := <-w.free:
		return b
	default:
	}
	if w.nbuf < cap(w.free) {
		w.nbuf++
		return *segmentPool.Get().(*[]byte)
	}
	select {
	case b := <-w.free:
		return b
	case <-w.failed:
		return nil
	}
}

func (w *stripedWriter) fail(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
	w.failOnce.Do(func() { close(w.failed) })
}

// worker writes segments through f until there are no more.
func (w *stripedWriter) worker(f *sftp.File) {
	defer w.workers.Done()
	for seg := range w.segs {
		select {
		case <-w.failed:
			w.free <- seg.buf
			continue
		default:
		}
		var err error
		f, err = w.writeSegment(f, seg)
		w.free <- seg.buf
		if err != nil {
			w.fail(err)
		}
	}
}

// writeSegment writes seg at its offset through f: pipelined, or one request
// at a time once the server refused pipelining. It returns the file to write
// on through: f, or the file opened anew when it was started over.
func (w *stripedWriter) writeSegment(f *sftp.File, seg segment) (*sftp.File, error) {
	if !w.sequential.Load() {
		_, err := f.Seek(seg.off, io.SeekStart)
		if err == nil {
			_, err = f.ReadFromWithConcurrency(bytes.NewReader(seg.data), concurrentWrites)
		}
		if err == nil || !isStatus(err) || errors.Is(err, os.ErrPermission) {
			return f, err
		}
		// The server answered with a failure: write again, sequentially.
		w.sequential.Store(true)
		if seg.off == 0 {
			// Start the file over: such servers may keep only what came in order. It is
			// opened anew with truncation, as they refuse SETSTAT.
			// Closed first: some servers refuse a second handle on a file.
			_ = f.Close()
			nf, err := w.s.sftp.OpenFile(w.tmp, os.O_WRONLY|os.O_TRUNC)
			if err != nil {
				return f, err
			}
			w.mu.Lock()
			w.main = nf
			w.mu.Unlock()
			f = nf
		}
	}
	for p := 0; p < len(seg.data); p += writePacket {
		chunk := seg.data[p:min(p+writePacket, len(seg.data))]
		if _, err := f.WriteAt(chunk, seg.off+int64(p)); err != nil {
			return f, err
		}
	}
	return f, nil
}

// openExtra opens another SFTP session on the connection and, if the
// upload is still going, adds a worker writing through it. Servers that
// refuse more sessions simply get fewer.
func (w *stripedWriter) openExtra() {
	defer w.s.openers.Done()
	c, err := sftp.NewClient(w.s.ssh, clientOptions()...)
	if err != nil {
		return
	}
	w.s.addClient(c)
	f, err := c.OpenFile(w.tmp, os.O_WRONLY)
	if err != nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		w.s.openers.Add(1)
		go func() {
			defer w.s.openers.Done()
			f.Close()
		}()
		return
	}
	w.extra = append(w.extra, f)
	w.workers.Add(1)
	go w.worker(f)
}

// openSSH reports whether the server identified itself as OpenSSH, whose
// sftp-server is known to take writes over several sessions of one connection.
func (s *session) openSSH() bool {
	return strings.HasPrefix(string(s.ssh.ServerVersion()), "SSH-2.0-OpenSSH_")
}
