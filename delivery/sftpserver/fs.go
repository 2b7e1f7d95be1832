package sftpserver

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pkg/sftp"
)

// handler serves the server's root directory over one SFTP session.
type handler struct {
	s  *Server
	cs *connState
}

var (
	_ sftp.FileReader           = (*handler)(nil)
	_ sftp.FileWriter           = (*handler)(nil)
	_ sftp.PosixRenameFileCmder = (*handler)(nil)
	_ sftp.LstatFileLister      = (*handler)(nil)
	_ sftp.RealPathFileLister   = (*handler)(nil)
)

// local maps a remote path to a path under the root. Cleaning "/"+p first
// keeps ".." from escaping the root.
func (h *handler) local(p string) string {
	return filepath.Join(h.s.root, filepath.FromSlash(path.Clean("/"+p)))
}

// writable reports whether changes to the remote path p are allowed.
func (h *handler) writable(p string) error {
	if h.s.opts.ReadOnly {
		return sftp.ErrSSHFxPermissionDenied
	}
	p = path.Clean("/" + p)
	for _, d := range h.s.opts.ReadOnlyDirs {
		d = path.Clean("/" + d)
		if p == d || strings.HasPrefix(p, d+"/") || d == "/" {
			return sftp.ErrSSHFxPermissionDenied
		}
	}
	return nil
}

func (h *handler) Fileread(r *sftp.Request) (io.ReaderAt, error) {
	if h.s.opts.WriteOnly {
		return nil, sftp.ErrSSHFxPermissionDenied
	}
	return os.Open(h.local(r.Filepath))
}

func (h *handler) Filewrite(r *sftp.Request) (io.WriterAt, error) {
	pf := r.Pflags()
	if _, err := os.Stat(filepath.Dir(h.local(r.Filepath))); err != nil {
		return nil, err
	}
	if err := h.writable(path.Dir(r.Filepath)); err != nil {
		return nil, err
	}
	flags := os.O_WRONLY
	if pf.Read {
		if h.s.opts.WriteOnly {
			return nil, sftp.ErrSSHFxPermissionDenied
		}
		flags = os.O_RDWR
	}
	if pf.Creat {
		flags |= os.O_CREATE
	}
	if pf.Trunc {
		flags |= os.O_TRUNC
	}
	if pf.Excl {
		flags |= os.O_EXCL
	}
	if pf.Append {
		flags |= os.O_APPEND
	}
	local := h.local(r.Filepath)
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	if h.s.opts.ExclusiveOpen && h.s.writing[local] > 0 {
		return nil, sftp.ErrSSHFxFailure
	}
	f, err := os.OpenFile(local, flags, 0o644)
	if err != nil {
		return nil, err
	}
	h.s.writing[local]++
	return &faultyFile{File: f, h: h, local: local}, nil
}

func (h *handler) Filecmd(r *sftp.Request) error {
	switch r.Method {
	case "Setstat":
		h.s.setstats.Add(1)
		if h.s.opts.RefuseSetstat {
			return sftp.ErrSSHFxPermissionDenied
		}
		if err := h.writable(r.Filepath); err != nil {
			return err
		}
		return h.setstat(r)
	case "Rename":
		if err := h.renameAllowed(r); err != nil {
			return err
		}
		// SFTP's rename fails when the target exists.
		if _, err := os.Lstat(h.local(r.Target)); err == nil {
			return sftp.ErrSSHFxFailure
		}
		return h.rename(r)
	case "Remove":
		if err := h.writable(path.Dir(r.Filepath)); err != nil {
			return err
		}
		fi, err := os.Lstat(h.local(r.Filepath))
		if err != nil {
			return err
		}
		if fi.IsDir() {
			return sftp.ErrSSHFxFailure
		}
		return os.Remove(h.local(r.Filepath))
	case "Rmdir":
		if err := h.writable(path.Dir(r.Filepath)); err != nil {
			return err
		}
		fi, err := os.Lstat(h.local(r.Filepath))
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return sftp.ErrSSHFxFailure
		}
		return os.Remove(h.local(r.Filepath))
	case "Mkdir":
		if _, err := os.Stat(filepath.Dir(h.local(r.Filepath))); err != nil {
			return err
		}
		if err := h.writable(path.Dir(r.Filepath)); err != nil {
			return err
		}
		return os.Mkdir(h.local(r.Filepath), 0o755)
	}
	// Links could point outside the root.
	return sftp.ErrSSHFxOpUnsupported
}

func (h *handler) renameAllowed(r *sftp.Request) error {
	if err := h.writable(path.Dir(r.Filepath)); err != nil {
		return err
	}
	if err := h.writable(path.Dir(r.Target)); err != nil {
		return err
	}
	if h.s.opts.Faults.StallRename {
		<-h.cs.done
		return sftp.ErrSSHFxConnectionLost
	}
	return nil
}

func (h *handler) PosixRename(r *sftp.Request) error {
	if h.s.opts.NoPosixRename {
		return sftp.ErrSSHFxOpUnsupported
	}
	if err := h.renameAllowed(r); err != nil {
		return err
	}
	return h.rename(r)
}

func (h *handler) rename(r *sftp.Request) error {
	if err := os.Rename(h.local(r.Filepath), h.local(r.Target)); err != nil {
		return err
	}
	if h.s.opts.AfterRename != nil {
		h.s.opts.AfterRename(h.local(r.Target))
	}
	if n := h.s.opts.Faults.LoseRenameReply; n > 0 && h.s.lostRenames.Add(1) <= int64(n) {
		h.cs.nc.Close()
		return sftp.ErrSSHFxConnectionLost
	}
	return nil
}

func (h *handler) setstat(r *sftp.Request) error {
	p := h.local(r.Filepath)
	attrs := r.Attributes()
	flags := r.AttrFlags()
	if flags.Size {
		if err := os.Truncate(p, int64(attrs.Size)); err != nil {
			return err
		}
	}
	if flags.Permissions {
		if err := os.Chmod(p, attrs.FileMode().Perm()); err != nil {
			return err
		}
	}
	if flags.Acmodtime {
		if err := os.Chtimes(p, time.Unix(int64(attrs.Atime), 0), time.Unix(int64(attrs.Mtime), 0)); err != nil {
			return err
		}
	}
	return nil
}

func (h *handler) Filelist(r *sftp.Request) (sftp.ListerAt, error) {
	if h.s.opts.WriteOnly {
		return nil, sftp.ErrSSHFxPermissionDenied
	}
	p := h.local(r.Filepath)
	switch r.Method {
	case "List":
		entries, err := os.ReadDir(p)
		if err != nil {
			return nil, err
		}
		infos := make([]fs.FileInfo, 0, len(entries))
		for _, e := range entries {
			if fi, err := e.Info(); err == nil {
				infos = append(infos, fi)
			}
		}
		return listerAt(infos), nil
	case "Stat":
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		return listerAt{fi}, nil
	}
	return nil, sftp.ErrSSHFxOpUnsupported
}

func (h *handler) Lstat(r *sftp.Request) (sftp.ListerAt, error) {
	if h.s.opts.WriteOnly {
		return nil, sftp.ErrSSHFxPermissionDenied
	}
	fi, err := os.Lstat(h.local(r.Filepath))
	if err != nil {
		return nil, err
	}
	return listerAt{fi}, nil
}

// RealPath resolves paths against "/", the login directory.
func (h *handler) RealPath(p string) (string, error) {
	return path.Clean("/" + p), nil
}

type listerAt []fs.FileInfo

func (l listerAt) ListAt(dst []fs.FileInfo, off int64) (int, error) {
	if off >= int64(len(l)) {
		return 0, io.EOF
	}
	n := copy(dst, l[off:])
	if n < len(dst) {
		return n, io.EOF
	}
	return n, nil
}

// faultyFile is an open file whose writes obey the server's Faults.
type faultyFile struct {
	*os.File
	h     *handler
	local string

	mu       sync.Mutex
	end      int64 // where the writes so far ended (SequentialWrites)
	inFlight int   // writes being handled (OneOutstanding)
}

func (f *faultyFile) Close() error {
	f.h.s.mu.Lock()
	if f.h.s.writing[f.local]--; f.h.s.writing[f.local] <= 0 {
		delete(f.h.s.writing, f.local)
	}
	f.h.s.mu.Unlock()
	return f.File.Close()
}

var errInjected = errors.New("sftpserver: injected write failure")

var (
	errOutOfOrder  = errors.New("sftpserver: out-of-order write refused: writes must be sequential")
	errOutstanding = errors.New("sftpserver: write refused: another request on this file is outstanding")
)

func (f *faultyFile) WriteAt(p []byte, off int64) (int, error) {
	s, cs := f.h.s, f.h.cs
	if s.opts.Faults.SequentialWrites || s.opts.Faults.OneOutstanding {
		f.mu.Lock()
		switch {
		case s.opts.Faults.SequentialWrites && off != f.end:
			f.mu.Unlock()
			return 0, errOutOfOrder
		case s.opts.Faults.OneOutstanding && f.inFlight > 0:
			f.mu.Unlock()
			return 0, errOutstanding
		}
		f.inFlight++
		f.end = off + int64(len(p))
		f.mu.Unlock()
		defer func() {
			// A slow medium: overlapping requests meet here.
			time.Sleep(200 * time.Microsecond)
			f.mu.Lock()
			f.inFlight--
			f.mu.Unlock()
		}()
	}
	n := s.writes.Add(1)
	if s.opts.Faults.FailWrite > 0 && n >= int64(s.opts.Faults.FailWrite) {
		return 0, errInjected
	}
	total := cs.written.Add(int64(len(p)))
	if lim := s.opts.Faults.StallWritesAfter; lim > 0 && total > lim {
		<-cs.done
		return 0, sftp.ErrSSHFxConnectionLost
	}
	if lim := s.opts.Faults.DropAfterBytes; lim > 0 && total > lim {
		cs.nc.Close()
		return 0, sftp.ErrSSHFxConnectionLost
	}
	return f.File.WriteAt(p, off)
}
