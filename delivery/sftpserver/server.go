// Package sftpserver runs SFTP servers on loopback for the demo, benchmarks
// and tests: an in-process SSH and SFTP server (Start), OpenSSH's sshd with a
// configuration of its own (StartSSHD), and a proxy adding latency
// (StartProxy).
//
// It does not import package testing, so the production binary may link it
// (eventexport demo). Tests start these servers through delivery/sftptest,
// which ties their life to the test.
//
// The in-process server serves a local directory as its root (a remote path
// "/upload/x.json" is <Root>/upload/x.json, and nothing outside Root can be
// reached), accepts a password, public keys or keyboard-interactive logins,
// presents one or more generated host keys, and can misbehave on purpose:
// never answer, stall, drop the connection, refuse operations, or lack
// extensions that real servers lack.
package sftpserver

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	pkgsftp "github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/eventexport/eventexport/delivery/sftp"
)

// Host key types for Options.HostKeyTypes.
const (
	KeyED25519 = ssh.KeyAlgoED25519
	KeyECDSA   = ssh.KeyAlgoECDSA256
	KeyRSA     = ssh.KeyAlgoRSA
)

// DefaultUser and DefaultPassword are used when Options name no user, and
// no password or authorized key.
const (
	DefaultUser     = "demo"
	DefaultPassword = "demo"
)

// Options configure a Server. The zero value serves a temporary directory
// to user "demo" with password "demo".
type Options struct {
	User     string
	Password string // accepted with password and keyboard-interactive auth
	// AuthorizedKeys are accepted for public key auth.
	AuthorizedKeys []ssh.PublicKey
	// KeyboardInteractiveOnly offers only keyboard-interactive auth (which
	// asks for the password), like servers that route passwords through PAM.
	KeyboardInteractiveOnly bool

	// Root is the directory to serve; a temporary directory, removed by
	// Close, if "".
	Root string

	// HostKeyTypes are the host key types to generate and offer, the first
	// one primary (HostKeyPin, KnownHostsLine). Default: KeyED25519.
	HostKeyTypes []string
	// LegacyOnly offers only SHA-1 era algorithms: an ssh-rsa host key signed
	// with SHA-1, diffie-hellman-group14-sha1 and CBC ciphers.
	LegacyOnly bool

	// NoPosixRename hides the posix-rename@openssh.com extension and
	// refuses it; plain rename fails when the target exists, as the SFTP
	// protocol specifies.
	NoPosixRename bool
	// RefuseSetstat refuses every setstat/fsetstat (chmod, chtimes,
	// truncate by attributes) with permission denied.
	RefuseSetstat bool
	// ReadOnly refuses every change with permission denied.
	ReadOnly bool
	// WriteOnly refuses reading files, listing directories and stat, with
	// permission denied, like drop-box accounts.
	WriteOnly bool
	// AfterRename, if set, is called with the local path of every file
	// renamed, before the rename is answered: tests use it to imitate
	// servers that move files away as soon as they arrive.
	AfterRename func(localPath string)
	// ExclusiveOpen refuses to open a file that is already open for
	// writing, like servers on file systems with mandatory locks.
	ExclusiveOpen bool
	// MaxSessions, if > 0, refuses session channels beyond this many per
	// connection, like servers limiting sessions.
	MaxSessions int
	// ReadOnlyDirs refuses creating, removing and renaming files within
	// these directories (remote paths like "/locked") and below.
	ReadOnlyDirs []string

	Faults Faults

	// Logf, if set, receives a line per connection problem.
	Logf func(format string, args ...any)
}

// Faults make the server misbehave on purpose.
type Faults struct {
	// NoBanner accepts TCP connections and never says anything.
	NoBanner bool
	// StallAfterHandshake completes the SSH handshake and authentication,
	// then never answers a channel open (the SFTP session never starts).
	StallAfterHandshake bool
	// FailWrite makes the FailWrite-th write request (counting from 1 over
	// the server's life) and every later one fail with a generic failure,
	// like a disk that filled up.
	FailWrite int
	// StallWritesAfter, if > 0, blocks writes in a connection once it has
	// written this many bytes, until the connection closes: the server
	// stops reading mid-upload.
	StallWritesAfter int64
	// DropAfterBytes, if > 0, closes a connection once it has written this
	// many bytes.
	DropAfterBytes int64
	// StallRename blocks rename requests until the connection closes.
	StallRename bool
	// LoseRenameReply renames, then drops the connection before answering, LoseRenameReply
	// times over the server's life: the client cannot know the file is in place.
	LoseRenameReply int
	// SequentialWrites refuses a write that does not continue the file where
	// the writes before it ended, like object-store servers (AWS Transfer
	// Family, Azure Blob SFTP). Requests are handled by several workers, so
	// pipelined writes arrive out of order.
	SequentialWrites bool
	// OneOutstanding refuses a write to a file while another write to it is
	// being handled, like appliances that take one request at a time.
	OneOutstanding bool
}

// Server is a running SSH+SFTP server.
type Server struct {
	opts     Options
	root     string
	tempRoot bool
	ln       net.Listener
	config   *ssh.ServerConfig
	hostKeys []ssh.PublicKey

	closing   chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup

	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	remotes []string
	writing map[string]int // local paths open for writing

	writes      atomic.Int64
	setstats    atomic.Int64
	connections atomic.Int64
	sessions    atomic.Int64
	lostRenames atomic.Int64
}

// Start starts a server on 127.0.0.1 on a free port. Close stops it.
func Start(opts Options) (*Server, error) {
	if opts.User == "" {
		opts.User = DefaultUser
	}
	if opts.Password == "" && len(opts.AuthorizedKeys) == 0 {
		opts.Password = DefaultPassword
	}
	if len(opts.HostKeyTypes) == 0 {
		opts.HostKeyTypes = []string{KeyED25519}
		if opts.LegacyOnly {
			opts.HostKeyTypes = []string{KeyRSA}
		}
	}
	s := &Server{opts: opts, closing: make(chan struct{}), conns: map[net.Conn]struct{}{}, writing: map[string]int{}}

	s.config = &ssh.ServerConfig{ServerVersion: "SSH-2.0-sftpserver"}
	if opts.LegacyOnly {
		s.config.KeyExchanges = []string{ssh.InsecureKeyExchangeDH14SHA1}
		s.config.Ciphers = []string{ssh.InsecureCipherAES128CBC}
		s.config.MACs = []string{ssh.HMACSHA1}
	}
	if opts.Password != "" && !opts.KeyboardInteractiveOnly {
		s.config.PasswordCallback = func(c ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
			if c.User() == opts.User && string(pw) == opts.Password {
				return nil, nil
			}
			return nil, errors.New("wrong user name or password")
		}
	}
	if opts.Password != "" {
		s.config.KeyboardInteractiveCallback = func(c ssh.ConnMetadata, ask ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
			answers, err := ask("", "", []string{"Password: "}, []bool{false})
			if err != nil {
				return nil, err
			}
			if c.User() == opts.User && len(answers) == 1 && answers[0] == opts.Password {
				return nil, nil
			}
			return nil, errors.New("wrong user name or password")
		}
	}
	if len(opts.AuthorizedKeys) > 0 && !opts.KeyboardInteractiveOnly {
		s.config.PublicKeyCallback = func(c ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if c.User() != opts.User {
				return nil, errors.New("unknown user")
			}
			for _, k := range opts.AuthorizedKeys {
				if bytes.Equal(k.Marshal(), key.Marshal()) {
					return nil, nil
				}
			}
			return nil, errors.New("key not authorized")
		}
	}
	for _, typ := range opts.HostKeyTypes {
		signer, err := generateHostKey(typ, opts.LegacyOnly)
		if err != nil {
			return nil, err
		}
		s.config.AddHostKey(signer)
		s.hostKeys = append(s.hostKeys, signer.PublicKey())
	}

	if opts.Root == "" {
		dir, err := os.MkdirTemp("", "sftpserver-")
		if err != nil {
			return nil, fmt.Errorf("sftpserver: %w", err)
		}
		s.root, s.tempRoot = dir, true
	} else {
		s.root = opts.Root
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		if s.tempRoot {
			os.RemoveAll(s.root)
		}
		return nil, fmt.Errorf("sftpserver: %w", err)
	}
	s.ln = ln
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

func generateHostKey(typ string, legacy bool) (ssh.Signer, error) {
	key, err := newPrivateKey(typ)
	if err != nil {
		return nil, err
	}
	signer, err := ssh.NewSignerFromKey(key)
	if err != nil {
		return nil, fmt.Errorf("sftpserver: %w", err)
	}
	if legacy && typ == KeyRSA {
		// Sign with SHA-1 only, like servers from before 2016.
		return ssh.NewSignerWithAlgorithms(signer.(ssh.AlgorithmSigner), []string{ssh.KeyAlgoRSA})
	}
	return signer, nil
}

// newPrivateKey generates a key of one of the host key types.
func newPrivateKey(typ string) (crypto.Signer, error) {
	var key crypto.Signer
	var err error
	switch typ {
	case KeyED25519:
		_, key, err = ed25519.GenerateKey(rand.Reader)
	case KeyECDSA:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case KeyRSA:
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		return nil, fmt.Errorf("sftpserver: unsupported host key type %q", typ)
	}
	if err != nil {
		return nil, fmt.Errorf("sftpserver: generate host key: %w", err)
	}
	return key, nil
}

// Close stops the server, closes its connections and waits for its
// goroutines. It removes Root if Start created it.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.closing)
		s.ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
		if s.tempRoot {
			os.RemoveAll(s.root)
		}
	})
}

// Addr is the server's address, 127.0.0.1:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Host is 127.0.0.1.
func (s *Server) Host() string { return "127.0.0.1" }

// Port is the port the server listens on.
func (s *Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// Root is the local directory served as "/".
func (s *Server) Root() string { return s.root }

// User and Password are the accepted credentials.
func (s *Server) User() string     { return s.opts.User }
func (s *Server) Password() string { return s.opts.Password }

// HostKeys are the server's public host keys, primary first.
func (s *Server) HostKeys() []ssh.PublicKey { return s.hostKeys }

// HostKeyPin is the SHA256 fingerprint of the primary host key.
func (s *Server) HostKeyPin() string { return ssh.FingerprintSHA256(s.hostKeys[0]) }

// KnownHostsLine is a known_hosts line for the primary host key,
// "[127.0.0.1]:port type base64".
func (s *Server) KnownHostsLine() string {
	return knownhosts.Line([]string{s.Addr()}, s.hostKeys[0])
}

// URL returns sftp://user:password@127.0.0.1:port/dir with the user and
// password percent-encoded. dir is a remote path; "" gives no path.
func (s *Server) URL(dir string) string {
	u := "sftp://" + escape(s.opts.User)
	if s.opts.Password != "" {
		u += ":" + escape(s.opts.Password)
	}
	u += "@" + s.Addr()
	if dir != "" {
		if !strings.HasPrefix(dir, "/") {
			dir = "/" + dir
		}
		u += escapePath(dir)
	}
	return u
}

// Config returns a delivery configuration for this server, logging in with
// the password and pinning the primary host key, writing to dir.
func (s *Server) Config(dir string) sftp.Config {
	return sftp.Config{
		Host:     s.Host(),
		Port:     s.Port(),
		User:     s.opts.User,
		Password: s.opts.Password,
		HostKey:  s.KnownHostsLine(),
		Dir:      dir,
	}
}

// Stats counts what the server saw.
type Stats struct {
	Connections int64 // TCP connections accepted
	Writes      int64 // write requests
	Setstats    int64 // setstat and fsetstat requests
	Sessions    int64 // session channels asked for, refused ones included
}

// Stats returns counters since Start.
func (s *Server) Stats() Stats {
	return Stats{Connections: s.connections.Load(), Writes: s.writes.Load(), Setstats: s.setstats.Load(),
		Sessions: s.sessions.Load()}
}

// RemoteAddrs lists the client addresses of the connections accepted.
func (s *Server) RemoteAddrs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.remotes...)
}

func (s *Server) logf(format string, args ...any) {
	if s.opts.Logf != nil {
		s.opts.Logf(format, args...)
	}
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		select {
		case <-s.closing:
			s.mu.Unlock()
			nc.Close()
			return
		default:
		}
		s.conns[nc] = struct{}{}
		s.remotes = append(s.remotes, nc.RemoteAddr().String())
		s.mu.Unlock()
		s.connections.Add(1)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, nc)
				s.mu.Unlock()
				nc.Close()
			}()
			s.serveConn(nc)
		}()
	}
}

// connState is shared by everything serving one TCP connection.
type connState struct {
	nc      net.Conn
	done    chan struct{} // closed when the connection ends
	written atomic.Int64
}

func (s *Server) serveConn(nc net.Conn) {
	if s.opts.Faults.NoBanner {
		// Read and discard until the client gives up or Close.
		io.Copy(io.Discard, nc)
		return
	}
	sconn, chans, reqs, err := ssh.NewServerConn(nc, s.config)
	if err != nil {
		s.logf("sftpserver: handshake with %s: %v", nc.RemoteAddr(), err)
		return
	}
	defer sconn.Close()
	cs := &connState{nc: nc, done: make(chan struct{})}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(cs.done)
	defer nc.Close()

	wg.Add(1)
	go func() {
		defer wg.Done()
		ssh.DiscardRequests(reqs)
	}()

	if s.opts.Faults.StallAfterHandshake {
		// Hold channel opens unanswered until the connection ends.
		for range chans {
		}
		return
	}
	sessions := 0
	for nch := range chans {
		if nch.ChannelType() != "session" {
			nch.Reject(ssh.UnknownChannelType, "only session channels")
			continue
		}
		s.sessions.Add(1)
		if sessions++; s.opts.MaxSessions > 0 && sessions > s.opts.MaxSessions {
			nch.Reject(ssh.ResourceShortage, "too many sessions")
			continue
		}
		ch, chReqs, err := nch.Accept()
		if err != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serveSession(cs, ch, chReqs)
		}()
	}
}

func (s *Server) serveSession(cs *connState, ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	started := false
	for req := range reqs {
		ok := !started && req.Type == "subsystem" && len(req.Payload) >= 4 && string(req.Payload[4:]) == "sftp"
		if req.WantReply {
			req.Reply(ok, nil)
		}
		if !ok {
			continue
		}
		started = true
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer ch.Close()
			var rwc io.ReadWriteCloser = ch
			if s.opts.NoPosixRename {
				rwc = &versionFilter{ReadWriteCloser: ch, drop: "posix-rename@openssh.com"}
			}
			h := &handler{s: s, cs: cs}
			rs := pkgsftp.NewRequestServer(rwc, pkgsftp.Handlers{FileGet: h, FilePut: h, FileCmd: h, FileList: h})
			if err := rs.Serve(); err != nil && !errors.Is(err, io.EOF) {
				s.logf("sftpserver: sftp session: %v", err)
			}
			rs.Close()
		}()
	}
}

// versionFilter removes one extension from the SFTP version packet the
// server sends first, to imitate servers without it.
type versionFilter struct {
	io.ReadWriteCloser
	drop string
	buf  []byte
	done bool
}

func (v *versionFilter) Write(p []byte) (int, error) {
	if v.done {
		return v.ReadWriteCloser.Write(p)
	}
	v.buf = append(v.buf, p...)
	if len(v.buf) < 4 {
		return len(p), nil
	}
	n := int(uint32(v.buf[0])<<24 | uint32(v.buf[1])<<16 | uint32(v.buf[2])<<8 | uint32(v.buf[3]))
	if len(v.buf) < 4+n {
		return len(p), nil
	}
	v.done = true
	pkt, rest := v.buf[4:4+n], v.buf[4+n:]
	out := []byte{0, 0, 0, 0}
	out = append(out, pkt[:5]...) // type and version
	for b := pkt[5:]; len(b) >= 8; {
		name, b2, ok := readString(b)
		if !ok {
			break
		}
		data, b3, ok := readString(b2)
		if !ok {
			break
		}
		b = b3
		if string(name) == v.drop {
			continue
		}
		out = appendString(appendString(out, name), data)
	}
	l := len(out) - 4
	out[0], out[1], out[2], out[3] = byte(l>>24), byte(l>>16), byte(l>>8), byte(l)
	if _, err := v.ReadWriteCloser.Write(append(out, rest...)); err != nil {
		return 0, err
	}
	v.buf = nil
	return len(p), nil
}

func readString(b []byte) (s, rest []byte, ok bool) {
	if len(b) < 4 {
		return nil, nil, false
	}
	n := int(uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]))
	if len(b) < 4+n {
		return nil, nil, false
	}
	return b[4 : 4+n], b[4+n:], true
}

func appendString(b, s []byte) []byte {
	n := len(s)
	b = append(b, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	return append(b, s...)
}

// escape percent-encodes all but unreserved characters.
func escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, part := range parts {
		parts[i] = escape(part)
	}
	return strings.Join(parts, "/")
}
