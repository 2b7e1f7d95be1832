package https

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventexport/eventexport/delivery"
)

// Stages of an HTTPS attempt, after delivery.StageTCPConnect.
const (
	StageTLS  delivery.Stage = "tls handshake"
	StagePost delivery.Stage = "POST"
)

// The headers every request carries, besides Content-Type, Content-Length and the customer's.
const (
	HeaderFileName    = "Eventexport-File-Name"
	HeaderRun         = "Eventexport-Run"
	HeaderEventType   = "Eventexport-Event-Type"
	HeaderWindowStart = "Eventexport-Window-Start"
	HeaderWindowEnd   = "Eventexport-Window-End"
	HeaderPart        = "Eventexport-Part"
	HeaderEvents      = "Eventexport-Events"
	HeaderSignature   = "Eventexport-Signature"
	HeaderIdempotency = "Idempotency-Key"
)

var (
	errConnectLimit = errors.New("connect timeout")
	errAttemptLimit = errors.New("attempt timeout")
)

// Sink posts files to one URL.
type Sink struct {
	url     *url.URL
	addr    string
	headers []header
	secret  []byte
	opts    delivery.Options
	trust   delivery.TLSTrust
	caErr   error
	mu      sync.Mutex
	shown   *x509.Certificate // the certificate of the latest answer
	client  *http.Client
	once    sync.Once
	now     func() time.Time
}

func newSink(s Settings, p string, hs []header, secret []byte, o delivery.Options) *Sink {
	u := s.join(p)
	port := u.Port()
	if port == "" {
		port = "443"
		if u.Scheme == "http" {
			port = "80"
		}
	}
	k := &Sink{url: u, addr: net.JoinHostPort(u.Hostname(), port), headers: hs, secret: secret,
		opts: o.WithDefaults(), now: time.Now}
	k.trust = delivery.TLSTrust{CAPEM: []byte(s.TLSCA), Pin: delivery.CertPin(s.TLSPin),
		AcceptUnknown: o.AcceptUnknown && s.TLSPin == ""}
	if s.TLSCA == "" {
		k.trust.CAPEM = nil
	}
	return k
}

// Presented returns the certificate the server presented in the latest Put: its pin, twice.
func (k *Sink) Presented() (fingerprint, pin string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.shown == nil {
		return "", ""
	}
	p := string(delivery.PinOf(k.shown.Raw))
	return p, p
}

// connectError is a failure to connect or to agree on TLS, with its stage.
type connectError struct {
	stage delivery.Stage
	cause error // the cause of the connect context, when it ended
	err   error
}

func (e *connectError) Error() string { return e.err.Error() }
func (e *connectError) Unwrap() error { return e.err }

func (k *Sink) httpClient() *http.Client {
	k.once.Do(func() { k.client, k.caErr = clientFor(k.url, k.addr, k.trust, k.opts) })
	return k.client
}

// WholeFiles asks the engine for whole local files, so that every request has a
// Content-Length and its event count, and can be sent again on a new connection.
func (k *Sink) WholeFiles() bool { return true }

// contentType is the media type of a file named name, when the caller did not say.
func contentType(name string) string {
	switch strings.ToLower(path.Ext(name)) {
	case ".gz":
		return "application/gzip"
	case ".pgp", ".gpg", ".asc":
		return "application/pgp-encrypted"
	case ".json":
		return "application/json"
	case ".jsonl", ".ndjson":
		return "application/x-ndjson"
	case ".csv":
		return "text/csv"
	}
	return "application/octet-stream"
}

// tracked remembers the first error of the source other than io.EOF, and how much was read.
type tracked struct {
	r   io.Reader
	mu  sync.Mutex
	err error
	n   int64
}

func (t *tracked) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.mu.Lock()
	t.n += int64(n)
	if err != nil && err != io.EOF && t.err == nil {
		t.err = err
	}
	t.mu.Unlock()
	return n, err
}

func (t *tracked) read() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n
}

// errNoReplay is a kept connection found closed after part of a file that cannot be read
// again was sent on it.
var errNoReplay = errors.New("the receiver closed a kept connection while the file was being sent")

// replay lets the HTTP client send body again on a new connection when a kept one turns out
// closed by the receiver: a body that can seek from where it started, any other only while
// nothing of it was read.
func replay(body io.Reader, src *tracked) func() (io.ReadCloser, error) {
	var seeker io.Seeker
	switch b := body.(type) {
	case *tracked:
		seeker, _ = b.r.(io.Seeker)
	case io.Seeker:
		seeker = b
	}
	if seeker != nil {
		if start, err := seeker.Seek(0, io.SeekCurrent); err == nil {
			return func() (io.ReadCloser, error) {
				if _, err := seeker.Seek(start, io.SeekStart); err != nil {
					return nil, err
				}
				return io.NopCloser(body), nil
			}
		}
	}
	return func() (io.ReadCloser, error) {
		if src.read() > 0 {
			return nil, errNoReplay
		}
		return io.NopCloser(body), nil
	}
}

func (t *tracked) failed() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

// Put posts r to the URL as the file name. With a signing secret, the body is signed before
// it is sent: a source that cannot be read twice is spooled to a local temporary file first.
func (k *Sink) Put(ctx context.Context, name string, r io.Reader) (string, error) {
	where := k.url.String()
	client := k.httpClient()
	if client == nil {
		return "", &delivery.Error{Class: delivery.ClassConfig, Stage: delivery.StageConfig, Addr: k.addr,
			Err: fmt.Errorf("tls_ca: %w", k.caErr)}
	}
	actx, cancel := context.WithTimeoutCause(ctx, k.opts.AttemptTimeout, errAttemptLimit)
	defer cancel()

	src := &tracked{r: r}
	body, size, sig, cleanup, err := k.prepare(src)
	defer cleanup()
	if err != nil {
		return "", &delivery.Error{Class: delivery.ClassSource, Stage: delivery.StageUpload, Addr: k.addr, Err: err}
	}
	// The body is not closed by the client: a local file is read again to send it again.
	req, err := http.NewRequestWithContext(actx, http.MethodPost, where, io.NopCloser(body))
	if err != nil {
		return "", &delivery.Error{Class: delivery.ClassConfig, Stage: delivery.StageConfig, Addr: k.addr, Err: errors.New("the URL cannot be requested")}
	}
	req.ContentLength = size
	req.GetBody = replay(body, src)
	if size == 0 {
		req.Body, req.GetBody = http.NoBody, nil
	}
	fi, ok := delivery.FileInfoFrom(ctx)
	h := req.Header
	h.Set("User-Agent", "eventexport")
	h.Set("Content-Type", cmpStr(fi.ContentType, contentType(name)))
	h.Set(HeaderFileName, name)
	key := name
	if ok {
		if fi.Run != "" {
			h.Set(HeaderRun, fi.Run)
			key = fi.Run + "/" + name
		}
		if fi.EventType != "" {
			h.Set(HeaderEventType, fi.EventType)
		}
		if !fi.WindowStart.IsZero() {
			h.Set(HeaderWindowStart, fi.WindowStart.UTC().Format(time.RFC3339))
			h.Set(HeaderWindowEnd, fi.WindowEnd.UTC().Format(time.RFC3339))
		}
		if fi.Part > 0 {
			h.Set(HeaderPart, strconv.Itoa(fi.Part))
		}
		if fi.Events >= 0 {
			h.Set(HeaderEvents, strconv.FormatInt(fi.Events, 10))
		}
	}
	h.Set(HeaderIdempotency, key)
	for _, c := range k.headers {
		h.Add(c.name, c.value)
	}
	if sig != "" {
		h.Set(HeaderSignature, sig)
	}

	resp, err := k.do(actx, client, req)
	if err != nil {
		if serr := src.failed(); serr != nil {
			return "", &delivery.Error{Class: delivery.ClassSource, Stage: delivery.StageUpload, Addr: k.addr, Err: serr}
		}
		return "", k.requestError(ctx, actx, err)
	}
	defer resp.Body.Close()
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		k.mu.Lock()
		k.shown = resp.TLS.PeerCertificates[0]
		k.mu.Unlock()
	}
	return k.answer(ctx, actx, resp, where)
}

// do sends req. A request that fails on a kept connection is sent once more, on a new one,
// when its body can be sent again: the receiver may have closed the connection while it was
// idle, which does not make the delivery fail. Its other kept connections are closed then too.
func (k *Sink) do(actx context.Context, client *http.Client, req *http.Request) (*http.Response, error) {
	for again := true; ; again = false {
		var reused atomic.Bool
		trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused.Store(i.Reused) }}
		resp, err := client.Do(req.WithContext(httptrace.WithClientTrace(actx, trace)))
		if err == nil || !again || !reused.Load() || actx.Err() != nil {
			return resp, err
		}
		if req.GetBody != nil {
			body, gerr := req.GetBody()
			if gerr != nil {
				return resp, err
			}
			req.Body = body
		}
		client.CloseIdleConnections()
	}
}

func cmpStr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// prepare returns the body to send, its length (-1 when not known) and its signature ("" when
// unsigned). cleanup removes what prepare made.
func (k *Sink) prepare(src *tracked) (body io.Reader, size int64, sig string, cleanup func(), err error) {
	cleanup = func() {}
	size = sizeOf(src.r)
	if len(k.secret) == 0 {
		return src, size, "", cleanup, nil
	}
	t := k.now()
	m := hmac.New(sha256.New, k.secret)
	ts := strconv.FormatInt(t.Unix(), 10)
	m.Write([]byte(ts + "."))
	sign := func(m hash.Hash) string { return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil)) }
	if f, ok := src.r.(*os.File); ok && size >= 0 {
		// A local file is read twice: once to sign it, once to send it.
		start, err := f.Seek(0, io.SeekCurrent)
		if err == nil {
			if _, err = io.Copy(m, src); err == nil {
				_, err = f.Seek(start, io.SeekStart)
			}
		}
		return src, size, sign(m), cleanup, err
	}
	tmp, err := os.CreateTemp("", "eventexport-https-*")
	if err != nil {
		return nil, 0, "", cleanup, fmt.Errorf("a local file to sign the body: %w", err)
	}
	cleanup = func() { tmp.Close(); os.Remove(tmp.Name()) }
	n, err := io.Copy(io.MultiWriter(tmp, m), src)
	if err == nil {
		_, err = tmp.Seek(0, io.SeekStart)
	}
	return tmp, n, sign(m), cleanup, err
}

// sizeOf is how many bytes r holds from where it is, or -1 when not known.
func sizeOf(r io.Reader) int64 {
	switch v := r.(type) {
	case interface{ Len() int }:
		return int64(v.Len())
	case *os.File:
		st, err := v.Stat()
		if err != nil || !st.Mode().IsRegular() {
			return -1
		}
		at, err := v.Seek(0, io.SeekCurrent)
		if err != nil {
			return -1
		}
		return st.Size() - at
	}
	return -1
}

// interrupted is the error of an attempt whose context ended.
func (k *Sink) interrupted(ctx, actx context.Context, stage delivery.Stage, connectCause error) *delivery.Error {
	e := &delivery.Error{Class: delivery.ClassTimeout, Stage: stage, Addr: k.addr}
	cause := context.Cause(actx)
	if cause == nil {
		cause = connectCause
	}
	switch {
	case ctx.Err() != nil && errors.Is(context.Cause(ctx), context.DeadlineExceeded):
		e.Limit, cause = delivery.LimitCaller, context.Cause(ctx)
	case ctx.Err() != nil:
		e.Class, cause = delivery.ClassCanceled, context.Cause(ctx)
	case errors.Is(cause, errAttemptLimit):
		e.Limit, e.Duration = delivery.LimitAttempt, k.opts.AttemptTimeout
	case errors.Is(cause, errConnectLimit):
		e.Limit, e.Duration = delivery.LimitConnect, k.opts.ConnectTimeout
	default:
		e.Limit = delivery.LimitCaller
	}
	e.Err = cause
	switch {
	case e.Class != delivery.ClassTimeout:
	case stage == delivery.StageTCPConnect:
		e.Hint = "The server did not answer; a firewall may be dropping our connection (check the customer's allow-list) or the host is down; it will be retried"
	case stage == StageTLS:
		e.Hint = "The server accepted the connection but did not complete the TLS handshake; it may be overloaded, or not an HTTPS server; it will be retried"
	default:
		e.Hint = "The receiver stopped reading or answering, or became too slow; an incomplete request is not a delivered file; it will be retried"
	}
	return e
}

// requestError classifies a request that got no answer.
func (k *Sink) requestError(ctx, actx context.Context, err error) error {
	var ce *connectError
	if errors.As(err, &ce) {
		var cert *delivery.CertError
		switch {
		case errors.As(err, &cert):
			return &delivery.Error{Class: delivery.ClassCertificate, Stage: StageTLS, Addr: k.addr, Err: cert,
				Presented: string(delivery.PinOf(cert.Leaf.Raw)),
				Hint: "Nothing was sent. Confirm this certificate with the customer, then trust it: eventexport test-send DESTINATION --accept-host-key, " +
					"or eventexport destinations update DESTINATION --tls-pin PIN or --tls-ca FILE (targets update for a shared target)"}
		case ce.stage == delivery.StageConfig:
			return &delivery.Error{Class: delivery.ClassConfig, Stage: delivery.StageConfig, Addr: k.addr, Err: ce.err}
		case ctx.Err() != nil || actx.Err() != nil || ce.cause != nil:
			return k.interrupted(ctx, actx, ce.stage, ce.cause)
		case ce.stage == StageTLS:
			return &delivery.Error{Class: delivery.ClassIncompatible, Stage: StageTLS, Addr: k.addr, Err: ce.err,
				Hint: "The server and the service could not agree on TLS 1.2 or newer; ask the customer to check the server's TLS setup; retrying will not help"}
		}
		e := &delivery.Error{Class: delivery.ClassRefused, Stage: delivery.StageTCPConnect, Addr: k.addr, Err: ce.err}
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) {
			e.Hint = fmt.Sprintf("The host name %s could not be resolved; check it with the customer; it will be retried", k.url.Hostname())
		}
		return e
	}
	if ctx.Err() != nil || actx.Err() != nil {
		return k.interrupted(ctx, actx, StagePost, nil)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // its text repeats the URL, which may hold a token in its query
	}
	return &delivery.Error{Class: delivery.ClassConnLost, Stage: StagePost, Addr: k.addr, Err: err}
}

// answer classifies the receiver's answer.
func (k *Sink) answer(ctx, actx context.Context, resp *http.Response, where string) (string, error) {
	code := resp.StatusCode
	if code >= 200 && code < 300 {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
		return where, nil
	}
	snippet, err := io.ReadAll(io.LimitReader(resp.Body, 200))
	if err != nil && (ctx.Err() != nil || actx.Err() != nil) {
		return "", k.interrupted(ctx, actx, StagePost, nil)
	}
	said := fmt.Sprintf("the receiver answered %s", resp.Status)
	if s := k.clean(snippet); s != "" {
		said += ": " + s
	}
	e := &delivery.Error{Stage: StagePost, Addr: k.addr, Path: where, Err: errors.New(said)}
	switch {
	case code >= 300 && code < 400:
		loc := resp.Header.Get("Location")
		if u, err := k.url.Parse(loc); err == nil && loc != "" {
			loc = u.String()
		}
		e.Class = delivery.ClassConfig
		e.Err = fmt.Errorf("the receiver answered %s, redirecting to %s; redirects are not followed", resp.Status, cmpStr(k.clean([]byte(loc)), "nowhere"))
		e.Hint = "If the customer confirms the new location, correct the target's URL (eventexport destinations update DESTINATION --url URL, or targets update for a shared target); retrying will not help"
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		e.Class = delivery.ClassAuth
		e.Hint = "Check the token headers (--header) with the customer; retrying will not help"
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		e.Class = delivery.ClassServer
		e.Hint = "The receiver reported a failure; it will be retried"
		if s, ok := retryAfter(resp.Header.Get("Retry-After"), k.now()); ok {
			e.Hint = fmt.Sprintf("The receiver asks to retry after %d s; it will be retried", s)
			e.RetryAfter = time.Duration(s) * time.Second
		}
	case code == http.StatusNotFound || code == http.StatusMethodNotAllowed:
		e.Class = delivery.ClassConfig
		e.Hint = "The URL takes no files here; ask the customer for the right URL and correct the target's (eventexport destinations update DESTINATION --url URL, or targets update for a shared target); retrying will not help"
	default:
		e.Class = delivery.ClassRejected
	}
	return "", e
}

// retryAfter reads a Retry-After header, as seconds from now.
func retryAfter(v string, now time.Time) (int, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return n, true
	}
	if t, err := http.ParseTime(v); err == nil {
		s := int(t.Sub(now).Round(time.Second) / time.Second)
		return max(s, 0), true
	}
	return 0, false
}

// clean makes text of the receiver fit for a message: printable, one line, and without the
// target's secrets, should the receiver echo them.
func (k *Sink) clean(b []byte) string {
	s := strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || r == '\uFFFD' {
			return ' '
		}
		return r
	}, string(b))
	for _, h := range k.headers {
		s = strings.ReplaceAll(s, h.value, "[redacted]")
	}
	if len(k.secret) > 0 {
		s = strings.ReplaceAll(s, string(k.secret), "[redacted]")
	}
	return strings.Join(strings.Fields(s), " ")
}
