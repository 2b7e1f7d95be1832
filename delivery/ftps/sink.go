package ftps

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/eventexport/eventexport/delivery"
)

// StageTLS is the FTP greeting and the TLS handshake of the control connection.
const StageTLS delivery.Stage = "tls handshake"

// Sink delivers files into one directory of an FTPS server, a connection per call.
type Sink struct {
	s         Settings
	dir       string
	password  string
	o         delivery.Options
	presented *delivery.Presented
}

// Presented returns the certificate the server presented in the latest connection: its
// description for people and its pin.
func (k *Sink) Presented() (fingerprint, pin string) {
	leaf := k.presented.Leaf()
	if leaf == nil {
		return "", ""
	}
	return delivery.Describe(leaf), string(delivery.PinOf(leaf.Raw))
}

// partName is where name is uploaded before it is renamed: hidden, and not the final name.
func partName(name string) string { return "." + name + ".part" }

// Put uploads r to a partial file in the directory, then renames it to name (deleting a file
// already there when the server does not rename over it). A failed upload's partial file is
// deleted when the connection still allows.
func (k *Sink) Put(ctx context.Context, name string, r io.Reader) (string, error) {
	a := k.begin(ctx)
	defer a.end()
	final := path.Join(k.dir, name)
	if err := a.connect(); err != nil {
		return "", err
	}
	if err := a.chdir(true); err != nil {
		return "", err
	}
	tmp := partName(name)
	a.setStage(delivery.StageUpload)
	src := &source{r: r}
	if err := a.c.Stor(tmp, src); err != nil {
		e := a.fail(err, path.Join(k.dir, tmp))
		if src.err != nil {
			e = &delivery.Error{Class: delivery.ClassSource, Stage: delivery.StageUpload, Addr: a.addr, Err: src.err}
		}
		a.removePartial(tmp)
		return "", e
	}
	a.setStage(delivery.StageRename)
	if err := a.c.Rename(tmp, name); err != nil {
		if _, serr := a.c.FileSize(tmp); code(err) >= 450 && serr == nil && a.c.Delete(name) == nil {
			// The partial file is there, and the server does not rename over an existing file
			// (ProFTPD with AllowOverwrite off, IIS): the final name is freed first.
			err = a.c.Rename(tmp, name)
		}
		if err != nil {
			e := a.fail(err, final)
			a.removePartial(tmp)
			return "", e
		}
	}
	return final, nil
}

// Clean deletes the partial file a failed Put of name may have left.
func (k *Sink) Clean(ctx context.Context, name string) error {
	a := k.begin(ctx)
	defer a.end()
	if err := a.connect(); err != nil {
		return err
	}
	if err := a.chdir(false); err != nil {
		return err
	}
	if err := a.c.Delete(partName(name)); err != nil && code(err) != ftp.StatusFileUnavailable {
		return a.fail(err, path.Join(k.dir, partName(name)))
	}
	return nil
}

// Remove deletes delivered files; those already gone are no error.
func (k *Sink) Remove(ctx context.Context, names ...string) error {
	a := k.begin(ctx)
	defer a.end()
	if err := a.connect(); err != nil {
		return err
	}
	if err := a.chdir(false); err != nil {
		return err
	}
	for _, n := range names {
		if err := a.c.Delete(n); err != nil && code(err) != ftp.StatusFileUnavailable {
			return a.fail(err, path.Join(k.dir, n))
		}
	}
	return nil
}

// source remembers the error of the reader uploaded, which is not the server's fault.
type source struct {
	r   io.Reader
	err error
}

func (s *source) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

// attempt is one connection's life: the library has no contexts, so every connection it opens
// is dialed here, given deadlines (the connect limit until logged in, then the attempt's), and
// closed when the attempt's context ends, which unblocks whatever the library waits for.
type attempt struct {
	k        *Sink
	parent   context.Context
	ctx      context.Context
	cancel   context.CancelFunc
	stop     func() bool
	limit    delivery.Limit
	duration time.Duration
	addr     string

	stage      atomic.Value // delivery.Stage
	handshaked atomic.Bool
	connecting atomic.Bool
	connectEnd time.Time

	mu     sync.Mutex
	conns  []net.Conn
	closed bool

	c       *ftp.ServerConn
	control net.Conn // the control connection's TCP connection
}

func (k *Sink) begin(ctx context.Context) *attempt {
	a := &attempt{k: k, parent: ctx, limit: delivery.LimitAttempt, duration: k.o.AttemptTimeout,
		addr: net.JoinHostPort(k.s.Host, strconv.Itoa(k.s.Port))}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < k.o.AttemptTimeout {
		a.limit, a.duration = delivery.LimitCaller, 0
	}
	a.ctx, a.cancel = context.WithTimeout(ctx, k.o.AttemptTimeout)
	a.stop = context.AfterFunc(a.ctx, a.closeAll)
	a.setStage(delivery.StageConfig)
	return a
}

func (a *attempt) setStage(s delivery.Stage) { a.stage.Store(s) }
func (a *attempt) getStage() delivery.Stage  { return a.stage.Load().(delivery.Stage) }

// track remembers a connection, to be closed when the attempt ends; it closes it at once when
// the attempt has ended already.
func (a *attempt) track(c net.Conn) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		c.Close()
		return false
	}
	a.conns = append(a.conns, c)
	return true
}

func (a *attempt) closeAll() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closed = true
	for _, c := range a.conns {
		c.Close()
	}
}

// end says goodbye when the connection allows, within a few seconds, and closes everything.
func (a *attempt) end() {
	if a.c != nil && a.ctx.Err() == nil {
		a.control.SetDeadline(time.Now().Add(5 * time.Second))
		a.c.Quit()
	}
	a.stop()
	a.closeAll()
	a.cancel()
}

// connect dials the control connection, secures it (implicitly, or with AUTH TLS) and logs in:
// the library sends PBSZ 0, PROT P and TYPE I after the login.
func (a *attempt) connect() error {
	s, o := a.k.s, a.k.o
	trust := delivery.TLSTrust{CAPEM: []byte(s.TLSCA), AcceptUnknown: o.AcceptUnknown && s.TLSPin == ""}
	if s.TLSPin != "" {
		pin, err := delivery.ParseCertPin(s.TLSPin)
		if err != nil {
			return &delivery.Error{Class: delivery.ClassConfig, Stage: delivery.StageConfig, Addr: a.addr, Err: err}
		}
		trust.Pin = pin
	}
	cfg, err := trust.Config(s.Host, a.k.presented)
	if err != nil {
		return &delivery.Error{Class: delivery.ClassConfig, Stage: delivery.StageConfig, Addr: a.addr, Err: err}
	}
	verify := cfg.VerifyConnection
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		err := verify(cs)
		if err == nil {
			a.handshaked.Store(true)
		}
		return err
	}
	dialer, err := o.Dialer()
	if err != nil {
		return &delivery.Error{Class: delivery.ClassConfig, Stage: delivery.StageConfig, Addr: a.addr, Err: err}
	}
	cctx, ccancel := context.WithTimeout(a.ctx, o.ConnectTimeout)
	defer ccancel()
	a.connectEnd, _ = cctx.Deadline()
	attemptEnd, _ := a.ctx.Deadline()
	a.connecting.Store(true)
	defer a.connecting.Store(false)

	// The data connections go to the control connection's address whatever PASV announced (a
	// server behind NAT announces its private address); the library does so too, unless told
	// to trust PASV addresses. They resume the control connection's TLS session (cfg's session
	// cache), which servers require, and start TLS at their first write: ProFTPD answers the
	// handshake only after the transfer command. They end TLS before the connection (dataConn).
	var controlIP string
	dial := func(network, addr string) (net.Conn, error) {
		if controlIP == "" {
			a.setStage(delivery.StageTCPConnect)
			conn, err := dialer.DialContext(cctx, network, addr)
			if err != nil {
				return nil, err
			}
			if !a.track(conn) {
				return nil, net.ErrClosed
			}
			a.control = conn
			controlIP = conn.RemoteAddr().(*net.TCPAddr).IP.String()
			conn.SetDeadline(a.connectEnd)
			a.setStage(StageTLS)
			if !s.ImplicitTLS {
				return conn, nil
			}
			tc := tls.Client(conn, cfg)
			if err := tc.HandshakeContext(cctx); err != nil {
				return nil, err
			}
			return tc, nil
		}
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		conn, err := dialer.DialContext(a.ctx, network, net.JoinHostPort(controlIP, port))
		if err != nil {
			return nil, err
		}
		if !a.track(conn) {
			return nil, net.ErrClosed
		}
		conn.SetDeadline(attemptEnd)
		return &dataConn{Conn: tls.Client(conn, cfg), end: attemptEnd}, nil
	}
	opts := []ftp.DialOption{ftp.DialWithDialFunc(dial), ftp.DialWithTimeout(o.ConnectTimeout),
		ftp.DialWithDisabledEPSV(false)}
	if s.ImplicitTLS {
		opts = append(opts, ftp.DialWithTLS(cfg))
	} else {
		opts = append(opts, ftp.DialWithExplicitTLS(cfg))
	}
	c, err := ftp.Dial(a.addr, opts...)
	if err != nil {
		return a.fail(err, "")
	}
	a.c = c
	if a.handshaked.Load() {
		a.setStage(delivery.StageAuth)
	}
	// With explicit TLS the handshake happens at USER's write; fail says which stage it was.
	if err := c.Login(s.User, a.k.password); err != nil {
		return a.fail(err, "")
	}
	a.setStage(delivery.StageAuth)
	a.control.SetDeadline(attemptEnd)
	return nil
}

// drainLimit bounds how long closing a data connection waits for the server to end it.
const drainLimit = 5 * time.Second

// dataConn is a data connection's TLS client. Closing it ends TLS first, as both ends should:
// our close_notify and the end of our writing, then whatever the server still sends, until its
// own close_notify or end (within drainLimit and the attempt's end). Closing a socket with
// received data unread makes the kernel reset the connection instead of ending it, dropping what
// it has not sent yet; and a TLS 1.3 server sends session tickets on every data connection after
// the handshake, which an upload never reads. vsftpd offering TLS 1.3 saw the ends of uploads
// larger than the sockets' buffers cut off so, and refused them ("426 Failure reading network
// stream").
type dataConn struct {
	*tls.Conn
	end time.Time // the attempt's end
}

func (c *dataConn) Close() error {
	if c.ConnectionState().HandshakeComplete && c.CloseWrite() == nil {
		if tcp, ok := c.NetConn().(interface{ CloseWrite() error }); ok {
			tcp.CloseWrite()
		}
		limit := time.Now().Add(drainLimit)
		if c.end.Before(limit) {
			limit = c.end
		}
		c.SetReadDeadline(limit)
		io.Copy(io.Discard, c.Conn)
	}
	return c.Conn.Close()
}

// chdir changes to the target's directory, creating it (and its parents) when create is set
// and it is missing.
func (a *attempt) chdir(create bool) error {
	dir := a.k.dir
	if dir == "" {
		return nil
	}
	a.setStage(delivery.StageMkdir)
	err := a.c.ChangeDir(dir)
	if err != nil && create && code(err) == ftp.StatusFileUnavailable {
		prefix := ""
		if strings.HasPrefix(dir, "/") {
			prefix = "/"
		}
		for _, part := range strings.Split(strings.Trim(dir, "/"), "/") {
			prefix = path.Join(prefix, part)
			a.c.MakeDir(prefix) // exists already, or refused: ChangeDir tells
		}
		err = a.c.ChangeDir(dir)
	}
	if err == nil {
		return nil
	}
	e := a.fail(err, dir)
	if code(err) == ftp.StatusFileUnavailable {
		e.Class = delivery.ClassNoSuchDir
	}
	return e
}

// removePartial deletes the partial file when the control connection is still usable.
func (a *attempt) removePartial(tmp string) {
	if a.ctx.Err() != nil || a.c == nil {
		return
	}
	a.control.SetDeadline(time.Now().Add(10 * time.Second))
	a.c.Delete(tmp)
}

// code is the FTP reply code of err, or 0.
func code(err error) int {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}

const (
	hintCertificate = "Nothing was uploaded. Confirm the certificate with the customer, then trust it: their CA with --tls-ca FILE, or this certificate with --tls-pin PIN (eventexport destinations update DESTINATION, or targets update for a shared target); test-send --accept-host-key pins it on first use; retrying will not help"
	hintTLS         = "The server offers no TLS version or cipher we accept (TLS 1.2 or newer), or is not an FTPS server on this port (explicit TLS is usually on 21, implicit TLS on 990: check implicit_tls); ask the customer to enable TLS 1.2 or 1.3; retrying will not help"
	hintReuse       = "The server requires data connections to resume the control connection's TLS session, and refused ours: it must offer TLS 1.3, or issue TLS 1.2 session tickets (ProFTPD: TLSSessionTickets on); retrying will not help"
	hintTLSTimeout  = "The server accepted the connection but did not complete the FTP greeting or the TLS handshake; it may be overloaded, or expect the other TLS mode (explicit TLS on 21, implicit on 990: check implicit_tls); it will be retried"
	hintNoTLS       = "The server refused TLS (AUTH TLS, PBSZ or PROT P): it must support FTP over TLS for the control and data connections; retrying will not help"
)

// fail turns what the library or the network returned into a delivery error.
func (a *attempt) fail(err error, p string) *delivery.Error {
	stage := a.getStage()
	if stage == delivery.StageAuth && !a.handshaked.Load() {
		stage = StageTLS
	}
	e := &delivery.Error{Stage: stage, Addr: a.addr, Err: err, Path: p}
	var ce *delivery.CertError
	var ne net.Error
	var alert tls.AlertError
	var rh tls.RecordHeaderError
	c := code(err)
	switch {
	case errors.As(err, &ce):
		e.Class, e.Stage, e.Hint = delivery.ClassCertificate, StageTLS, hintCertificate
		e.Presented = delivery.Describe(ce.Leaf)
	case a.parent.Err() == context.Canceled:
		e.Class = delivery.ClassCanceled
	case a.ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		e.Class = delivery.ClassTimeout
		if a.connecting.Load() && !time.Now().Before(a.connectEnd) && (a.ctx.Err() == nil || a.connectEnd.Before(a.deadline())) {
			e.Limit, e.Duration = delivery.LimitConnect, a.k.o.ConnectTimeout
		} else {
			e.Limit, e.Duration = a.limit, a.duration
		}
		if stage == StageTLS {
			e.Hint = hintTLSTimeout
		}
	case c == 530:
		e.Class = delivery.ClassAuth
	case c == 522:
		e.Class, e.Hint = delivery.ClassIncompatible, hintReuse
	case c == 425 && strings.Contains(strings.ToLower(err.Error()), "not permitted"):
		// ProFTPD's answer to a data connection that did not resume the TLS session.
		e.Class, e.Hint = delivery.ClassIncompatible, hintReuse
	case c == 534 || c == 431 || (stage == StageTLS && c >= 500):
		e.Class, e.Hint = delivery.ClassIncompatible, hintNoTLS
	case c == 550 || c == 553:
		e.Class = delivery.ClassPermission
	case c >= 400:
		e.Class = delivery.ClassServer
	case errors.As(err, &alert) || errors.As(err, &rh) || strings.Contains(err.Error(), "tls: "):
		e.Class, e.Stage, e.Hint = delivery.ClassIncompatible, StageTLS, hintTLS
	case stage == delivery.StageTCPConnect:
		e.Class = delivery.ClassRefused
	default:
		e.Class = delivery.ClassConnLost
	}
	if e.Class == delivery.ClassServer && c < 500 {
		e.Hint = fmt.Sprintf("The server reported a temporary failure (%d); it will be retried", c)
	}
	return e
}

func (a *attempt) deadline() time.Time {
	dl, _ := a.ctx.Deadline()
	return dl
}
