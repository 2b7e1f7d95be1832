package export

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/eventexport/eventexport/delivery"
	"github.com/eventexport/eventexport/events"
	"github.com/eventexport/eventexport/export/file"
	"github.com/eventexport/eventexport/export/store"
)

// files makes and delivers the files of one attempt of a run.
type files struct {
	r      *Runner
	sink   Sink
	run    store.Run
	typ    events.Type
	stager file.Stager
}

// FileError is a failure to make a file of the events (an event that fits no file, a broken
// encryption key): the exporter's side, neither the database nor the customer's server.
type FileError struct{ Err error }

func (e *FileError) Error() string { return "making the file failed: " + e.Err.Error() }
func (e *FileError) Unwrap() error { return e.Err }

// sourceErr attributes an error of the producer: the sink's, come back through the pipe,
// stays the sink's; a file's, the file's; anything else is reading the events.
func sourceErr(err error) error {
	var de *delivery.Error
	var fe *FileError
	if err == nil || errors.As(err, &de) || errors.As(err, &fe) {
		return err
	}
	return &SourceError{err}
}

// one streams the run's one file into the sink: the producer writes into a pipe that the sink
// reads, so the file is never held whole in memory, and an error on either side ends the
// other, so a short stream is never renamed into place.
func (f *files) one(ctx context.Context, src Source) Outcome {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	type produced struct {
		events int64
		info   file.PartInfo
		err    error
	}
	done := make(chan produced, 1)
	go func() {
		var p produced
		part, err := file.NewPart(pw, f.run.Format, f.typ, f.run.Options, f.stager)
		if err != nil {
			err = &FileError{err}
		} else {
			p.events, err = src(ctx, part.Encode)
			if err == nil {
				p.info, err = part.Close(f.run.FileName)
			}
		}
		p.err = sourceErr(err)
		pw.CloseWithError(p.err) // nil: the sink reads EOF
		done <- p
	}()

	remote, putErr := f.sink.Put(f.withInfo(ctx, 0, -1), f.run.FileName, pr)
	pr.CloseWithError(errSinkGone)
	cancel()
	p := <-done
	out := Outcome{RemotePath: remote, Events: p.events, Bytes: p.info.Bytes}
	switch {
	// A producer cancelled because the sink failed first reports the sink's error.
	case p.err != nil && !errors.Is(p.err, errSinkGone) && !(putErr != nil && errors.Is(p.err, context.Canceled)):
		out.Err = p.err
	case putErr != nil:
		out.Err = putErr
	}
	if out.Err != nil {
		out.RemotePath = ""
		return out
	}
	out.Files = []file.PartInfo{p.info}
	return out
}

// parts delivers a run whose files are limited in size or rows, or whose sink takes whole
// files. Each part is written to a
// temporary local file, as it cannot be known before it is full whether a next part follows
// (a day under the limits is one file, without a part number), then uploaded; the events stream
// on meanwhile. Parts are the same at every attempt: the same events, cut at the same places,
// under the same names.
func (f *files) parts(ctx context.Context, src Source) Outcome {
	opts := f.run.Options
	var (
		out   Outcome
		cur   *spooled
		n     int // parts started
		first string
	)
	// ship uploads the current part under name.
	ship := func(name string, part int) error {
		events := cur.part.Events()
		info, err := cur.part.Close(name)
		if err != nil {
			return &FileError{err}
		}
		remote, err := cur.upload(f.withInfo(ctx, part, events), f.sink, name)
		if err != nil {
			return err
		}
		if first == "" {
			first = remote
		}
		out.Files = append(out.Files, info)
		out.Bytes += info.Bytes
		cur.remove()
		cur = nil
		return nil
	}
	start := func() error {
		var err error
		cur, err = newSpooled(f.run.Format, f.typ, opts, f.stager)
		n++
		return err
	}
	defer func() {
		if cur != nil {
			cur.remove()
		}
	}()
	count, err := src(ctx, func(payload []byte) error {
		if cur == nil {
			if err := start(); err != nil {
				return &FileError{err}
			}
		}
		full := opts.MaxRows > 0 && cur.part.Events() >= opts.MaxRows
		if !full {
			fits, err := cur.part.Fits(len(payload), opts.MaxFileSize)
			if err != nil {
				return &FileError{err}
			}
			full = !fits
		}
		if full {
			if cur.part.Events() == 0 {
				return tooLarge(len(payload), opts.MaxFileSize)
			}
			if err := ship(file.PartName(f.run.PartPattern, n), n); err != nil {
				return err
			}
			if err := start(); err != nil {
				return &FileError{err}
			}
			if fits, err := cur.part.Fits(len(payload), opts.MaxFileSize); err != nil {
				return &FileError{err}
			} else if !fits {
				return tooLarge(len(payload), opts.MaxFileSize)
			}
		}
		return cur.part.Encode(payload)
	})
	out.Events = count
	if err != nil {
		out.Err = sourceErr(err)
		var fe *FileError
		if errors.As(out.Err, &fe) && len(out.Files) > 0 {
			// The run cannot be delivered as it is: the parts already delivered would be a set
			// that never completes. They are removed, where the server allows it.
			f.removeShipped(ctx, out.Files)
		}
		out.Files, out.Bytes = nil, 0
		return out
	}
	if cur == nil { // an empty day: one valid, empty file
		if err := start(); err != nil {
			out.Err = &FileError{err}
			return out
		}
	}
	name, part := f.run.FileName, 0
	if n > 1 {
		name, part = file.PartName(f.run.PartPattern, n), n
	}
	if err := ship(name, part); err != nil {
		out.Err = err
		out.Files, out.Bytes = nil, 0
		return out
	}
	out.RemotePath = first
	return out
}

// withInfo returns ctx telling the sink about the run's file: part 0 when the run is one
// file, events -1 when not known before the file is put.
func (f *files) withInfo(ctx context.Context, part int, events int64) context.Context {
	ct := f.run.Format.ContentType()
	switch {
	case f.run.Options.EncryptTo != "":
		ct = "application/pgp-encrypted"
	case f.run.Options.Compress == file.CompressGzip:
		ct = "application/gzip"
	}
	return delivery.WithFileInfo(ctx, delivery.FileInfo{Run: f.run.ID, EventType: f.run.EventType,
		WindowStart: f.run.Window.Start, WindowEnd: f.run.Window.End, Part: part, Events: events, ContentType: ct})
}

// tooLarge is the failure of an event that fits in no file of at most max bytes.
func tooLarge(n int, max int64) error {
	return &FileError{fmt.Errorf("%w: an event of %d bytes does not fit in a file of at most %d bytes; raise the destination's maximum file size (eventexport destinations update ID --max-file-size SIZE)",
		file.ErrEventTooLarge, n, max)}
}

// spooled is a part written to a temporary local file.
type spooled struct {
	f    *os.File
	part *file.Part
}

func newSpooled(format file.Format, t events.Type, o file.Options, stager file.Stager) (*spooled, error) {
	tmp, err := os.CreateTemp("", "eventexport-part-*")
	if err != nil {
		return nil, fmt.Errorf("a local file for a part: %w", err)
	}
	p, err := file.NewPart(tmp, format, t, o, stager)
	if err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, err
	}
	return &spooled{f: tmp, part: p}, nil
}

func (s *spooled) upload(ctx context.Context, sink Sink, name string) (string, error) {
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return "", &FileError{err}
	}
	return sink.Put(ctx, name, s.f)
}

func (s *spooled) remove() {
	s.f.Close()
	os.Remove(s.f.Name())
}

// Manifest is the "set complete" marker uploaded after every file of a run.
type Manifest struct {
	Run         string          `json:"run"`
	Destination string          `json:"destination"`
	EventType   string          `json:"event_type"`
	Window      ManifestWindow  `json:"window"`
	Events      int64           `json:"events"`
	Files       []file.PartInfo `json:"files"`
}

// ManifestWindow is the run's window, in RFC 3339.
type ManifestWindow struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

// manifest uploads the run's manifest, last, once every file is in place, and returns its
// path and itself as a file of the run.
func (f *files) manifest(ctx context.Context, d store.Destination, out Outcome) (string, file.PartInfo, error) {
	m := Manifest{Run: f.run.ID, Destination: d.ID, EventType: f.run.EventType,
		Window: ManifestWindow{Start: f.run.Window.Start.Format(time.RFC3339), End: f.run.Window.End.Format(time.RFC3339)},
		Events: out.Events, Files: out.Files}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return "", file.PartInfo{}, &FileError{err}
	}
	b = append(b, '\n')
	name := file.ManifestName(f.run.FileName, f.run.Format, f.run.Options)
	mctx := f.withInfo(ctx, 0, -1)
	fi, _ := delivery.FileInfoFrom(mctx)
	fi.ContentType = "application/json"
	remote, err := f.sink.Put(delivery.WithFileInfo(ctx, fi), name, bytes.NewReader(b))
	if err != nil {
		return "", file.PartInfo{}, err
	}
	// The manifest is listed with the run's files, last; its own digest is not in it.
	sum := sha256.Sum256(b)
	return remote, file.PartInfo{Name: name, Bytes: int64(len(b)), SHA256: hex.EncodeToString(sum[:])}, nil
}

// removeShipped removes the parts an attempt delivered before it failed for good.
func (f *files) removeShipped(ctx context.Context, shipped []file.PartInfo) {
	rm, ok := f.sink.(delivery.Remover)
	if !ok {
		return
	}
	names := make([]string, len(shipped))
	for i, p := range shipped {
		names[i] = p.Name
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := rm.Remove(rctx, names...); err != nil {
		f.r.cfg.Logger.Warn("could not remove the parts of a run that cannot be delivered", "run", f.run.ID, "error", err.Error())
	}
}
