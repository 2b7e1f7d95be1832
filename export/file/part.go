package file

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"

	"github.com/klauspost/compress/gzip"

	"github.com/eventexport/eventexport/events"
)

// Stager is an encryption stage: what Part needs of an OpenPGP recipient.
type Stager interface {
	Encrypt(w io.Writer) (io.WriteCloser, error)
	MaxOverhead(n int64) int64
}

// PartInfo is a file as stored on the server.
type PartInfo struct {
	Name   string `json:"name"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"` // of the bytes as stored, hex
	Events int64  `json:"events"`
}

// Part writes one file of a run through its stages: the format's encoder, then gzip, then
// OpenPGP encryption, into w, counting the bytes stored and hashing them as they flow.
type Part struct {
	enc    Encoder
	cols   int
	gz     *gzip.Writer   // nil without compression
	enc2   io.WriteCloser // the encryption stage; nil without
	stager Stager
	out    *hashCounter // what is stored

	events int64
	gzIn   int64 // bytes written into gzip since its last flush
	pgpIn  int64 // bytes written into the encryption stage
}

// hashCounter counts and hashes what passes to w.
type hashCounter struct {
	w io.Writer
	n int64
	h hash.Hash
}

func (c *hashCounter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.h.Write(p[:n])
	return n, err
}

// counter counts what passes to w.
type counter struct {
	w io.Writer
	n *int64
}

func (c counter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	*c.n += int64(n)
	return n, err
}

// gzipLevel is the compression level: BestSpeed. Event files are JSON and CSV full of
// repeated keys and values, which the fastest level already shrinks five- to tenfold; a
// higher level would make compression, not the network, what a night waits for.
const gzipLevel = gzip.BestSpeed

// NewPart starts a file in format f of events of type t with options o, encrypted to stager
// when o asks for it, written to w.
func NewPart(w io.Writer, f Format, t events.Type, o Options, stager Stager) (*Part, error) {
	p := &Part{out: &hashCounter{w: w, h: sha256.New()}, cols: len(t.Columns), stager: stager}
	next := io.Writer(p.out)
	if o.EncryptTo != "" {
		if stager == nil {
			return nil, fmt.Errorf("new file: encryption asked for but no recipient given")
		}
		e, err := stager.Encrypt(p.out)
		if err != nil {
			return nil, fmt.Errorf("start encryption: %w", err)
		}
		p.enc2 = e
		next = counter{w: e, n: &p.pgpIn}
	}
	if o.Compress == CompressGzip {
		gz, err := gzip.NewWriterLevel(next, gzipLevel)
		if err != nil {
			return nil, err
		}
		p.gz = gz
		next = counter{w: gz, n: &p.gzIn}
	}
	enc, err := NewEncoder(f, t, next)
	if err != nil {
		return nil, err
	}
	p.enc = enc
	return p, nil
}

// Events is how many events the part holds.
func (p *Part) Events() int64 { return p.events }

// Encode adds an event.
func (p *Part) Encode(payload []byte) error {
	if err := p.enc.Encode(payload); err != nil {
		return err
	}
	p.events++
	return nil
}

// encodedBound is an upper bound of the bytes an event of n payload bytes adds to a file,
// with its separator: a CSV row may quote every cell, a flat object repeats the keys.
func (p *Part) encodedBound(n int) int64 {
	return int64(2*n + 64*p.cols + 64)
}

// trailerBound bounds what closing the file adds: the format's end, gzip's last block and
// trailer, the encryption's last packets.
func (p *Part) trailerBound() int64 { return 64 }

// bound is an upper bound of the file's size as stored, were it closed after the encoder
// wrote pending more bytes.
func (p *Part) bound(pending int64) int64 {
	future := pending + p.trailerBound() // what the encoder will still write
	if p.gz != nil {
		// Deflate's stored blocks add 5 bytes per 16 KiB at worst; 18 bytes of header and
		// trailer. What gzip took since its last flush may not have come out yet.
		in := p.gzIn + future
		future = in + 5*(in/16384+1) + 18
	}
	if p.enc2 != nil {
		x := p.pgpIn + future
		return x + p.stager.MaxOverhead(x)
	}
	return p.out.n + future
}

// Fits reports whether an event of n payload bytes may be added without the file exceeding
// max bytes as stored. When the quick estimate says no, it flushes the stages to know.
func (p *Part) Fits(n int, max int64) (bool, error) {
	if max <= 0 {
		return true, nil
	}
	add := p.encodedBound(n)
	// Until flushed, the encoder may hold up to its buffer unwritten.
	if p.bound(bufferSize+add) <= max {
		return true, nil
	}
	if err := p.flush(); err != nil {
		return false, err
	}
	return p.bound(add) <= max, nil
}

// flush pushes what the encoder and gzip hold on, so that the sizes counted are exact but for
// the encryption stage's own buffer, which its MaxOverhead covers.
func (p *Part) flush() error {
	if f, ok := p.enc.(interface{ Flush() error }); ok {
		if err := f.Flush(); err != nil {
			return err
		}
	}
	if p.gz != nil {
		if err := p.gz.Flush(); err != nil {
			return err
		}
		p.gzIn = 0
	}
	return nil
}

// Close ends the file and returns it as stored, named name.
func (p *Part) Close(name string) (PartInfo, error) {
	if err := p.enc.Close(); err != nil {
		return PartInfo{}, err
	}
	if p.gz != nil {
		if err := p.gz.Close(); err != nil {
			return PartInfo{}, err
		}
	}
	if p.enc2 != nil {
		if err := p.enc2.Close(); err != nil {
			return PartInfo{}, err
		}
	}
	return PartInfo{Name: name, Bytes: p.out.n, SHA256: hex.EncodeToString(p.out.h.Sum(nil)), Events: p.events}, nil
}
