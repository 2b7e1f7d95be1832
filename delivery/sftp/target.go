package sftp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/eventexport/eventexport/delivery"
)

// Upload tuning. Writes are pipelined: up to concurrentWrites requests of
// writePacket bytes are in flight at once, so a high-latency link is not one
// round trip per packet. Memory use does not grow with it: the data in
// flight is held by the network, not by buffers here.
const (
	writePacket      = 32 * 1024 // the size every SFTP server accepts
	concurrentWrites = 128

	// abandonGrace is how long Put waits, after a limit passed and the
	// connection was closed, for a reader blocked in Read to return.
	abandonGrace = time.Second
)

// Target is one configured SFTP server. It is safe for concurrent use.
type Target struct {
	cfg Config

	mu        sync.Mutex
	presented ssh.PublicKey

	// The private key is parsed once: decrypting an OpenSSH key is
	// deliberately slow.
	signerOnce sync.Once
	signer     ssh.Signer
	signerErr  error
}

func (t *Target) userSigner() (ssh.Signer, error) {
	t.signerOnce.Do(func() {
		s, err := parseSigner(t.cfg.PrivateKey, t.cfg.Passphrase)
		if err == nil {
			s, err = userSigner(s, t.cfg.LegacyCrypto)
		}
		t.signer, t.signerErr = s, err
	})
	return t.signer, t.signerErr
}

// New returns a Target for cfg, with defaults filled in. Configuration
// problems (a bad key or pin) are reported by Put as ClassConfig errors;
// validate input earlier with ValidatePrivateKey and ValidateHostKeyPin.
func New(cfg Config) *Target {
	return &Target{cfg: cfg.withDefaults()}
}

// Config returns the target's configuration, defaults filled in.
func (t *Target) Config() Config { return t.cfg }

// PresentedHostKey returns the host key the server presented during the
// latest Put, successful or not: its SHA256 fingerprint and the key as an
// authorized_keys style line ("type base64"), which can be stored as
// Config.HostKey to pin it. Both are empty if no server presented a key yet.
func (t *Target) PresentedHostKey() (fingerprint, line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.presented == nil {
		return "", ""
	}
	return Fingerprint(t.presented), authorizedLine(t.presented)
}

func (t *Target) setPresented(k ssh.PublicKey) {
	if k == nil {
		return
	}
	t.mu.Lock()
	t.presented = k
	t.mu.Unlock()
}

// Put writes r to <Dir>/<name> atomically and returns the final remote path.
//
// The data is uploaded under a temporary name in the same directory,
// ".<name>.part", and renamed to name when complete, replacing an existing
// file of that name. A missing directory is created when the account may.
// Nothing ever appears under the final name unless all of r was uploaded.
//
// Writes are pipelined (many requests in flight), and files larger than a
// few MiB are written over several SFTP sessions of the one connection at
// once, so a long round trip does not cap the throughput. Memory use is a
// few MiB whatever the size of the file. The temporary file is opened
// write-only and never read back or stat'ed, and nothing is chmod'ed:
// drop-box accounts work.
//
// Connecting (TCP, SSH handshake, authentication, SFTP session) must finish
// within ConnectTimeout and the whole Put within AttemptTimeout (or ctx's
// deadline, if earlier); when a limit passes the connection is closed and
// Put returns. If reading r fails, the upload is aborted and the temporary
// file removed. If r has a CloseWithError method, like *io.PipeReader, Put
// calls it when it fails, so a producer writing into the pipe is released.
//
// Errors are *Error values.
func (t *Target) Put(ctx context.Context, name string, r io.Reader) (remotePath string, err error) {
	defer func() {
		if err != nil {
			if c, ok := r.(interface{ CloseWithError(error) error }); ok {
				c.CloseWithError(err)
			}
		}
	}()
	a, err := t.newAttempt(name)
	if err != nil {
		return "", err
	}

	attemptCtx, cancel := context.WithTimeoutCause(ctx, a.cfg.AttemptTimeout, errAttemptLimit)
	defer cancel()
	a.parent, a.ctx = ctx, attemptCtx

	type result struct {
		path string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		p, err := a.run(r)
		done <- result{p, err}
	}()
	select {
	case res := <-done:
		return res.path, res.err
	case <-attemptCtx.Done():
	}
	// The connection is being closed. Release a pipe reader blocked in
	// Read, and give the upload a moment to notice.
	lim := a.interrupted(attemptCtx, a.stage())
	if c, ok := r.(interface{ CloseWithError(error) error }); ok {
		c.CloseWithError(lim)
	}
	select {
	case res := <-done:
		return res.path, res.err
	case <-time.After(abandonGrace):
		// r is blocked in Read and cannot be interrupted; the upload
		// goroutine ends when it returns.
		return "", lim
	}
}

var (
	errConnectLimit = errors.New("connect timeout")
	errAttemptLimit = errors.New("attempt timeout")
)

// attempt is one Put.
type attempt struct {
	t      *Target
	cfg    Config
	name   string
	signer ssh.Signer

	parent context.Context // the caller's
	ctx    context.Context // bounded by AttemptTimeout

	stageMu  sync.Mutex
	curStage delivery.Stage
}

func (t *Target) newAttempt(name string) (*attempt, error) {
	a := &attempt{t: t, cfg: t.cfg, name: name, curStage: delivery.StageConfig}
	cfgErr := func(err error) error {
		return &delivery.Error{Class: delivery.ClassConfig, Stage: delivery.StageConfig, Err: err, Addr: a.cfg.Addr()}
	}
	if err := validName(name); err != nil {
		return nil, cfgErr(err)
	}
	if a.cfg.Host == "" {
		return nil, cfgErr(errors.New("no host name"))
	}
	if a.cfg.User == "" {
		return nil, cfgErr(errors.New("no user name"))
	}
	if len(a.cfg.PrivateKey) == 0 && a.cfg.Password == "" {
		return nil, cfgErr(errors.New("neither a password nor a private key is configured"))
	}
	if len(a.cfg.PrivateKey) > 0 {
		s, err := t.userSigner()
		if err != nil {
			return nil, cfgErr(err)
		}
		a.signer = s
	}
	if _, err := parsePins(a.cfg.HostKey); err != nil {
		return nil, cfgErr(err)
	}
	if a.cfg.SourceAddr != "" && net.ParseIP(a.cfg.SourceAddr) == nil {
		return nil, cfgErr(fmt.Errorf("source address %q is not an IP address", a.cfg.SourceAddr))
	}
	return a, nil
}

func validName(name string) error {
	switch {
	case name == "":
		return errors.New("empty file name")
	case name == "." || name == "..":
		return fmt.Errorf("invalid file name %q", name)
	case strings.ContainsAny(name, "/\x00"):
		return fmt.Errorf("invalid file name %q: it must not contain / or NUL", name)
	}
	return nil
}

func (a *attempt) setStage(s delivery.Stage) {
	a.stageMu.Lock()
	a.curStage = s
	a.stageMu.Unlock()
}

func (a *attempt) stage() delivery.Stage {
	a.stageMu.Lock()
	defer a.stageMu.Unlock()
	return a.curStage
}

// session is an established SFTP session, and the extra sessions a large
// upload opens on the same connection.
type session struct {
	conn net.Conn
	ssh  *ssh.Client
	sftp *sftp.Client
	stop func() bool // stops closing conn when the attempt ends

	keepalive chan struct{} // closed when the session closes
	presented ssh.PublicKey // the host key the server presented when it connected
	closeOnce sync.Once
	idleTimer *time.Timer // while idle in the pool: closes it when its idle time runs out

	openers sync.WaitGroup // goroutines opening extra sessions
	mu      sync.Mutex
	extra   []*sftp.Client
}

func (s *session) addClient(c *sftp.Client) {
	s.mu.Lock()
	s.extra = append(s.extra, c)
	s.mu.Unlock()
}

// Close closes the connection first: everything has been answered by
// then, and waiting for the server to close each session costs a round
// trip for nothing.
func (s *session) Close() {
	s.closeOnce.Do(func() {
		close(s.keepalive)
		s.ssh.Close()
		s.sftp.Close()
		s.closeExtra()
		s.stop()
	})
}

// closeExtra closes the extra SFTP sessions a striped upload opened.
func (s *session) closeExtra() {
	s.openers.Wait()
	s.mu.Lock()
	extra := s.extra
	s.extra = nil
	s.mu.Unlock()
	for _, c := range extra {
		c.Close()
	}
}

// arm bounds the session by ctx, the limit of the attempt using it: when ctx ends, the
// connection is closed. It reports false when ctx has ended already.
func (s *session) arm(ctx context.Context) bool {
	if ctx.Err() != nil {
		return false
	}
	s.stop = context.AfterFunc(ctx, func() { s.conn.Close() })
	return true
}

func (a *attempt) run(r io.Reader) (string, error) {
	src := &sourceReader{r: r, ctx: a.ctx}
	// Trust on first use needs a handshake of its own: its key is presented then.
	pooled := !a.cfg.AcceptUnknownHostKey
	key := poolKey(a.cfg)
	if pooled {
		if s := pools.take(a.cfg.Addr(), key); s != nil {
			// The key it presented when it connected is the one this delivery trusts.
			a.t.setPresented(s.presented)
			if s.arm(a.ctx) {
				p, err := a.upload(s, src)
				if err == nil {
					a.keep(s, key)
					return p, nil
				}
				s.Close()
				var e *delivery.Error
				if !errors.As(err, &e) || e.Class != delivery.ClassConnLost || src.n.Load() > 0 || a.ctx.Err() != nil {
					return "", a.failed(err)
				}
				// The idle connection had gone away before anything was sent: start over on a
				// new one.
			} else {
				s.Close()
			}
		}
	}

	s, err := a.connect(a.ctx)
	if err != nil {
		return "", err
	}
	p, err := a.upload(s, src)
	if err != nil {
		s.Close()
		return "", a.failed(err)
	}
	if pooled {
		a.keep(s, key)
	} else {
		s.Close()
	}
	return p, nil
}

// failed cleans up after a failed upload whose connection broke, and returns err.
func (a *attempt) failed(err error) error {
	var e *delivery.Error
	if errors.As(err, &e) && e.Class == delivery.ClassConnLost {
		a.cleanupAfterLoss()
	}
	return err
}

// keep puts s in the pool for the next delivery, unless the attempt's limit has passed.
func (a *attempt) keep(s *session, key string) {
	if !s.stop() {
		s.Close() // the attempt's limit passed: the connection is being closed
		return
	}
	s.closeExtra()
	pools.put(a.cfg.Addr(), key, s)
}

// connect establishes an SFTP session within ConnectTimeout. With
// fingerprint pins, whose key type is unknown, it reconnects offering other
// host key types while the server presents keys that do not match.
func (a *attempt) connect(ctx context.Context) (*session, error) {
	connectCtx, cancel := context.WithTimeoutCause(ctx, a.cfg.ConnectTimeout, errConnectLimit)
	defer cancel()
	checker, err := newHostKeyChecker(a.cfg)
	if err != nil {
		return nil, &delivery.Error{Class: delivery.ClassConfig, Stage: delivery.StageConfig, Err: err, Addr: a.cfg.Addr()}
	}
	var tried []string
	var firstMismatch *delivery.Error
	var firstKey ssh.PublicKey
	for {
		s, err := a.dial(connectCtx, checker, tried)
		presented := checker.presentedKey()
		var e *delivery.Error
		if err == nil || !errors.As(err, &e) || e.Class != delivery.ClassHostKeyMismatch || presented == nil {
			if err != nil && firstMismatch != nil {
				// No other key type matched: report the key the server
				// presented first, which it prefers.
				err, presented = firstMismatch, firstKey
			}
			a.t.setPresented(presented)
			if s != nil {
				s.presented = presented
			}
			return s, err
		}
		if firstMismatch == nil {
			firstMismatch, firstKey = e, presented
		}
		tried = append(tried, presented.Type())
		if !checker.canProbe(tried) {
			a.t.setPresented(firstKey)
			return nil, firstMismatch
		}
	}
}

// dial makes one connection attempt.
func (a *attempt) dial(ctx context.Context, checker *hostKeyChecker, exclude []string) (*session, error) {
	addr := a.cfg.Addr()
	algos := checker.algorithms(exclude)
	if len(algos) == 0 {
		return nil, &delivery.Error{Class: delivery.ClassConfig, Stage: delivery.StageConfig, Addr: addr,
			Err: errors.New("the pinned host key types need legacy crypto (ssh-rsa with SHA-1, or ssh-dss), which is not enabled")}
	}

	a.setStage(delivery.StageTCPConnect)
	d, err := delivery.Options{SourceAddr: a.cfg.SourceAddr}.Dialer()
	if err != nil {
		return nil, &delivery.Error{Class: delivery.ClassConfig, Stage: delivery.StageConfig, Addr: addr, Err: err}
	}
	// Wait for one of the server's few connection slots; the wait counts against the connect
	// limit, so a server kept busy by other deliveries fails the attempt as a timeout.
	if err := pools.acquire(ctx, addr, a.cfg.MaxServerConns); err != nil {
		return nil, a.interrupted(ctx, delivery.StageTCPConnect)
	}
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		pools.release(addr)
		return nil, a.dialError(ctx, err)
	}
	// The slot is freed when the connection closes, whoever closes it: a time limit too.
	conn := &slotConn{Conn: raw, release: func() { pools.release(addr) }}
	// Hard limits: closing the connection unblocks everything reading or
	// writing it, including pkg/sftp, which has no timeouts of its own.
	stopConnect := context.AfterFunc(ctx, func() { conn.Close() })
	stopAttempt := context.AfterFunc(a.ctx, func() { conn.Close() })
	fail := func(err error) (*session, error) {
		stopConnect()
		stopAttempt()
		conn.Close()
		return nil, err
	}

	a.setStage(delivery.StageHandshake)
	config := &ssh.ClientConfig{
		User:              a.cfg.User,
		Auth:              a.authMethods(),
		HostKeyAlgorithms: algos,
		HostKeyCallback: func(host string, remote net.Addr, key ssh.PublicKey) error {
			err := checker.check(host, remote, key)
			if err == nil {
				a.setStage(delivery.StageAuth)
			}
			return err
		},
		Config:        algorithmConfig(a.cfg.LegacyCrypto),
		ClientVersion: "SSH-2.0-eventexport",
	}
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, config)
	if err != nil {
		return fail(a.handshakeError(ctx, err))
	}
	sshClient := ssh.NewClient(c, chans, reqs)

	a.setStage(delivery.StageSFTPSession)
	sc, err := sftp.NewClient(sshClient, clientOptions()...)
	if err != nil {
		sshClient.Close()
		if ctx.Err() == nil && strings.Contains(err.Error(), "subsystem request failed") {
			return fail(&delivery.Error{Class: delivery.ClassIncompatible, Stage: delivery.StageSFTPSession, Addr: addr, Err: err,
				Hint: "The server refused to start SFTP for this account (it may allow only a shell or scp); ask the customer to enable SFTP; retrying will not help"})
		}
		return fail(a.opError(ctx, delivery.StageSFTPSession, "", err))
	}
	if !stopConnect() {
		// The connect limit passed just now.
		sc.Close()
		sshClient.Close()
		return fail(a.interrupted(ctx, delivery.StageSFTPSession))
	}
	s := &session{conn: conn, ssh: sshClient, sftp: sc, stop: stopAttempt, keepalive: make(chan struct{})}
	go s.keepAlive(keepaliveEvery)
	return s, nil
}

// slotConn is a connection holding a slot of its server, freed when it closes.
type slotConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *slotConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// keepaliveEvery is how often a session asks the server for a sign of life, so that firewalls
// and NAT gateways on the way keep an idle-looking connection (a long rename, a slow producer).
const keepaliveEvery = 15 * time.Second

// keepAlive sends keepalive@openssh.com requests until the session closes. An unanswered one
// does not end the attempt by itself: its hard time limit does.
func (s *session) keepAlive(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.keepalive:
			return
		case <-t.C:
			go func() { _, _, _ = s.ssh.SendRequest("keepalive@openssh.com", true, nil) }()
		}
	}
}

func (a *attempt) authMethods() []ssh.AuthMethod {
	var m []ssh.AuthMethod
	if a.signer != nil {
		m = append(m, ssh.PublicKeys(a.signer))
	}
	if a.cfg.Password != "" {
		m = append(m, ssh.Password(a.cfg.Password), ssh.KeyboardInteractive(a.answerPrompts))
	}
	return m
}

// answerPrompts answers keyboard-interactive password prompts, for servers
// that offer only that method for passwords.
func (a *attempt) answerPrompts(_, _ string, questions []string, echos []bool) ([]string, error) {
	answers := make([]string, len(questions))
	for i, q := range questions {
		if !echos[i] || strings.Contains(strings.ToLower(q), "password") {
			answers[i] = a.cfg.Password
			continue
		}
		return nil, fmt.Errorf("the server asked %q, which only a person can answer", q)
	}
	return answers, nil
}

// interrupted returns the error for an operation interrupted because ctx
// ended: which limit passed, or that the caller canceled.
func (a *attempt) interrupted(ctx context.Context, stage delivery.Stage) *delivery.Error {
	e := &delivery.Error{Class: delivery.ClassTimeout, Stage: stage, Addr: a.cfg.Addr()}
	cause := context.Cause(ctx)
	switch {
	case errors.Is(cause, errConnectLimit):
		e.Limit, e.Duration = delivery.LimitConnect, a.cfg.ConnectTimeout
	case errors.Is(cause, errAttemptLimit):
		e.Limit, e.Duration = delivery.LimitAttempt, a.cfg.AttemptTimeout
	case errors.Is(cause, context.DeadlineExceeded):
		e.Limit = delivery.LimitCaller
	default:
		e.Class = delivery.ClassCanceled
	}
	e.Err = cause
	if e.Class == delivery.ClassTimeout {
		e.Err = fmt.Errorf("%w: %w", cause, os.ErrDeadlineExceeded)
	}
	return e
}

func (a *attempt) dialError(ctx context.Context, err error) error {
	addr := a.cfg.Addr()
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		// The dial's own deadline (the context's) can fire a moment
		// before the context reports it.
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	if ctx.Err() != nil {
		return a.interrupted(ctx, delivery.StageTCPConnect)
	}
	e := &delivery.Error{Class: delivery.ClassRefused, Stage: delivery.StageTCPConnect, Addr: addr, Err: err}
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr):
		e.Hint = fmt.Sprintf("The host name %s could not be resolved; check it with the customer; it will be retried", a.cfg.Host)
	case errors.Is(err, syscall.EADDRNOTAVAIL) && a.cfg.SourceAddr != "":
		e.Class = delivery.ClassConfig
		e.Hint = fmt.Sprintf("The source address %s is not an address of this machine; correct the source address setting; retrying will not help", a.cfg.SourceAddr)
	case errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH):
		e.Hint = "The host cannot be reached from here (no route to it); check the host name, or the network; it will be retried"
	case errors.Is(err, syscall.ECONNREFUSED):
		e.Hint = "Nothing is listening on that port, or a firewall rejects us; check the host and port, and that the customer's firewall allows our source addresses; it will be retried"
	}
	return e
}

func (a *attempt) handshakeError(ctx context.Context, err error) error {
	stage := a.stage()
	addr := a.cfg.Addr()
	var hk *hostKeyError
	if errors.As(err, &hk) {
		return &delivery.Error{Class: hk.class, Stage: delivery.StageHandshake, Addr: addr, Err: err,
			Presented: Fingerprint(hk.key), Hint: hk.hint}
	}
	if ctx.Err() != nil {
		return a.interrupted(ctx, stage)
	}
	var neg *ssh.AlgorithmNegotiationError
	if errors.As(err, &neg) {
		e := &delivery.Error{Class: delivery.ClassIncompatible, Stage: delivery.StageHandshake, Addr: addr, Err: &negotiationError{neg}}
		if !a.cfg.LegacyCrypto {
			e.Hint = "The server offers only outdated algorithms (SHA-1, CBC) or none we share; ask the customer to update the server, or enable legacy crypto for this target; retrying will not help"
		}
		return e
	}
	if strings.Contains(err.Error(), "unable to authenticate") {
		return &delivery.Error{Class: delivery.ClassAuth, Stage: delivery.StageAuth, Addr: addr, Err: err}
	}
	return &delivery.Error{Class: delivery.ClassConnLost, Stage: stage, Addr: addr, Err: err}
}

// opError classifies an error from an SFTP operation on p.
func (a *attempt) opError(ctx context.Context, stage delivery.Stage, p string, err error) *delivery.Error {
	if ctx.Err() != nil {
		return a.interrupted(ctx, stage)
	}
	e := &delivery.Error{Stage: stage, Addr: a.cfg.Addr(), Path: p, Err: err}
	var status *sftp.StatusError
	switch {
	case errors.Is(err, os.ErrPermission):
		e.Class = delivery.ClassPermission
	case errors.Is(err, os.ErrNotExist):
		e.Class = delivery.ClassServer
	case errors.As(err, &status):
		e.Class = delivery.ClassServer
	default:
		e.Class = delivery.ClassConnLost
	}
	return e
}

// sourceReader reads the caller's data, remembering its error so a failed
// read is told apart from a failed upload, and stops once the attempt ends.
type sourceReader struct {
	r   io.Reader
	ctx context.Context
	n   atomic.Int64
	err error // the first error from r other than io.EOF
}

func (s *sourceReader) Read(p []byte) (int, error) {
	if err := s.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := s.r.Read(p)
	s.n.Add(int64(n))
	if err != nil && err != io.EOF && s.err == nil {
		s.err = err
	}
	return n, err
}

// upload writes the temporary file and renames it into place.
func (a *attempt) upload(s *session, src *sourceReader) (string, error) {
	c := s.sftp
	dir := a.cfg.Dir
	final := a.name
	tmp := "." + a.name + ".part"
	if dir != "" {
		final = path.Join(dir, final)
		tmp = path.Join(dir, tmp)
	}

	a.setStage(delivery.StageUpload)
	f, err := a.openTemp(c, dir, tmp)
	if err != nil {
		return "", err
	}
	err = a.write(s, f, tmp, src)
	if a.ctx.Err() != nil {
		return "", a.interrupted(a.ctx, delivery.StageUpload)
	}
	if src.err != nil {
		a.remove(c, tmp)
		return "", &delivery.Error{Class: delivery.ClassSource, Stage: delivery.StageUpload, Addr: a.cfg.Addr(), Path: final, Err: src.err}
	}
	if err != nil {
		e := a.opError(a.ctx, delivery.StageUpload, tmp, err)
		a.remove(c, tmp)
		return "", e
	}

	a.setStage(delivery.StageRename)
	if err := a.rename(c, tmp, final); err != nil {
		e := a.opError(a.ctx, delivery.StageRename, final, err)
		if e.Class == delivery.ClassConnLost && a.renamed(tmp, final, src.n.Load()) {
			// The rename was done; only its answer was lost.
			return final, nil
		}
		a.remove(c, tmp)
		return "", e
	}
	return final, nil
}

// renamed reports whether, after the connection broke during the rename, the file is in
// place: over a new connection, the final name has the size written and the temporary name
// is gone. Servers that refuse stat (drop boxes) cannot tell: then the next attempt sends the
// file again, replacing it.
func (a *attempt) renamed(tmp, final string, size int64) bool {
	if a.ctx.Err() != nil {
		return false
	}
	s, err := a.connect(a.ctx)
	if err != nil {
		return false
	}
	defer s.Close()
	fi, err := s.sftp.Lstat(final)
	if err != nil || fi.Size() != size {
		return false
	}
	_, err = s.sftp.Lstat(tmp)
	return errors.Is(err, os.ErrNotExist)
}

// openTemp creates (or truncates) the temporary file write-only, creating
// the directory first if it is missing. Write-only accounts can do this.
func (a *attempt) openTemp(c *sftp.Client, dir, tmp string) (*sftp.File, error) {
	const flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	f, err := c.OpenFile(tmp, flags)
	if err == nil {
		return f, nil
	}
	if errors.Is(err, os.ErrPermission) && a.ctx.Err() == nil {
		// A temporary file left behind may belong to another account:
		// remove it and try once more.
		if c.Remove(tmp) == nil {
			if f, err2 := c.OpenFile(tmp, flags); err2 == nil {
				return f, nil
			}
		}
	}
	if !errors.Is(err, os.ErrNotExist) || a.ctx.Err() != nil {
		return nil, a.opError(a.ctx, delivery.StageUpload, dir, err)
	}
	if dir == "" || dir == "/" || dir == "." {
		return nil, &delivery.Error{Class: delivery.ClassNoSuchDir, Stage: delivery.StageUpload, Addr: a.cfg.Addr(), Path: dir, Err: err}
	}
	a.setStage(delivery.StageMkdir)
	mkErr := mkdirAll(c, dir)
	a.setStage(delivery.StageUpload)
	f, err = c.OpenFile(tmp, flags)
	if err == nil {
		return f, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, a.opError(a.ctx, delivery.StageUpload, dir, err)
	}
	e := &delivery.Error{Class: delivery.ClassNoSuchDir, Stage: delivery.StageMkdir, Addr: a.cfg.Addr(), Path: dir, Err: cmpErr(mkErr, err)}
	if a.ctx.Err() != nil {
		return nil, a.interrupted(a.ctx, delivery.StageMkdir)
	}
	if errors.Is(mkErr, os.ErrPermission) {
		e.Hint = "The account may not create it (permission denied); ask the customer to create the directory or correct the path; retrying will not help"
	}
	return nil, e
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// mkdirAll creates dir and its missing parents without stat calls, which
// some servers refuse.
func mkdirAll(c *sftp.Client, dir string) error {
	err := c.Mkdir(dir)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return err
	}
	parent := path.Dir(dir)
	if parent == dir || parent == "." || parent == "/" {
		return err
	}
	_ = mkdirAll(c, parent)
	return c.Mkdir(dir)
}

// rename moves tmp to final, replacing final. It prefers the
// posix-rename@openssh.com extension, which replaces atomically; without it
// (or if it fails) it removes final and renames. It never stats final:
// some servers move files away as soon as they arrive.
func (a *attempt) rename(c *sftp.Client, tmp, final string) error {
	if _, ok := c.HasExtension("posix-rename@openssh.com"); ok {
		err := c.PosixRename(tmp, final)
		if err == nil || !isStatus(err) {
			return err
		}
	}
	err := c.Rename(tmp, final)
	if err == nil || !isStatus(err) {
		return err
	}
	if rmErr := c.Remove(final); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) {
		if errors.Is(rmErr, os.ErrPermission) {
			return rmErr
		}
		return err
	}
	return c.Rename(tmp, final)
}

// isStatus reports whether err is an answer from the server, as opposed to
// a broken connection.
func isStatus(err error) bool {
	var status *sftp.StatusError
	return errors.As(err, &status) || errors.Is(err, os.ErrPermission) || errors.Is(err, os.ErrNotExist)
}

// remove deletes the temporary file, best effort.
func (a *attempt) remove(c *sftp.Client, p string) {
	if a.ctx.Err() != nil {
		return
	}
	_ = c.Remove(p)
}

// Clean removes the temporary file a failed Put of name may have left behind, when a time
// limit passed or the connection broke before Put could: once a run has failed for good,
// nothing of it stays on the customer's server. A missing file is no error.
func (t *Target) Clean(ctx context.Context, name string) error {
	return t.removeFiles(ctx, "."+name+".part")
}

// Remove removes files delivered under names (and their temporary files), when the run they
// belong to failed for good after they were delivered: a set is whole or absent. A missing
// file is no error.
func (t *Target) Remove(ctx context.Context, names ...string) error {
	var all []string
	for _, n := range names {
		all = append(all, n, "."+n+".part")
	}
	return t.removeFiles(ctx, all...)
}

func (t *Target) removeFiles(ctx context.Context, names ...string) error {
	if len(names) == 0 {
		return nil
	}
	a, err := t.newAttempt(strings.TrimPrefix(names[0], "."))
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeoutCause(ctx, a.cfg.ConnectTimeout, errAttemptLimit)
	defer cancel()
	a.parent, a.ctx = ctx, cctx
	s, err := a.connect(cctx)
	if err != nil {
		return err
	}
	defer s.Close()
	for _, n := range names {
		p := n
		if a.cfg.Dir != "" {
			p = path.Join(a.cfg.Dir, n)
		}
		if err := s.sftp.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return a.opError(cctx, delivery.StageUpload, p, err)
		}
	}
	return nil
}

var _ delivery.Remover = (*Target)(nil)

var _ delivery.Cleaner = (*Target)(nil)

// cleanupAfterLoss reconnects to remove the temporary file after the
// connection broke mid-upload, if time remains.
func (a *attempt) cleanupAfterLoss() {
	if a.ctx.Err() != nil {
		return
	}
	tmp := "." + a.name + ".part"
	if a.cfg.Dir != "" {
		tmp = path.Join(a.cfg.Dir, tmp)
	}
	s, err := a.connect(a.ctx)
	if err != nil {
		return
	}
	defer s.Close()
	_ = s.sftp.Remove(tmp)
}

// negotiationError says briefly what the server offers.
type negotiationError struct{ *ssh.AlgorithmNegotiationError }

func (e *negotiationError) Error() string {
	var offered []string
	for _, a := range e.RequestedAlgorithms {
		if !strings.HasPrefix(a, "kex-strict-") && !strings.HasPrefix(a, "ext-info-") {
			offered = append(offered, a)
		}
	}
	return fmt.Sprintf("no common algorithm for %s: the server offers only %s", e.What, strings.Join(offered, ", "))
}

func (e *negotiationError) Unwrap() error { return e.AlgorithmNegotiationError }
