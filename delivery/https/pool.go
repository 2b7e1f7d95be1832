package https

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/eventexport/eventexport/delivery"
)

// idleTimeout is how long a connection to a receiver is kept for the next file.
const idleTimeout = 30 * time.Second

// defaultServerConns is how many connections to one receiver the process opens at once, when
// delivery.Options.ServerConns does not say.
const defaultServerConns = 4

// clientKey is what a kept connection was made with: a sink reuses a connection only when it
// would have made the same one.
type clientKey struct {
	scheme, addr, serverName string
	ca                       [sha256.Size]byte
	pin                      delivery.CertPin
	acceptUnknown            bool
	source                   string
	connect                  time.Duration
	conns                    int
}

var (
	clientsMu sync.Mutex
	clients   = map[clientKey]*http.Client{}
)

// clientFor returns the process's client for u (at addr, its host and port) with trust t and options o, so that files to
// one receiver share connections across deliveries, as SFTP's do.
func clientFor(u *url.URL, addr string, t delivery.TLSTrust, o delivery.Options) (*http.Client, error) {
	key := clientKey{scheme: u.Scheme, addr: addr, serverName: u.Hostname(), ca: sha256.Sum256(t.CAPEM),
		pin: t.Pin, acceptUnknown: t.AcceptUnknown, source: o.SourceAddr, connect: o.ConnectTimeout,
		conns: o.ServerConns}
	if key.conns <= 0 {
		key.conns = defaultServerConns
	}
	clientsMu.Lock()
	defer clientsMu.Unlock()
	if c, ok := clients[key]; ok {
		return c, nil
	}
	cfg, err := t.Config(u.Hostname(), nil)
	if err != nil {
		return nil, err
	}
	cfg.NextProtos = []string{"h2", "http/1.1"}
	dial := func(ctx context.Context, network, addr string, secure bool) (net.Conn, error) {
		d, err := o.Dialer()
		if err != nil {
			return nil, &connectError{stage: delivery.StageConfig, err: err}
		}
		cctx, cancel := context.WithTimeoutCause(ctx, o.ConnectTimeout, errConnectLimit)
		defer cancel()
		conn, err := d.DialContext(cctx, network, addr)
		if err != nil {
			return nil, &connectError{stage: delivery.StageTCPConnect, cause: context.Cause(cctx), err: err}
		}
		if !secure {
			return conn, nil
		}
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(cctx); err != nil {
			conn.Close()
			return nil, &connectError{stage: StageTLS, cause: context.Cause(cctx), err: err}
		}
		return tc, nil
	}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return dial(ctx, network, addr, false)
		},
		DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return dial(ctx, network, addr, true)
		},
		ForceAttemptHTTP2:   true,
		TLSClientConfig:     cfg,
		MaxConnsPerHost:     key.conns,
		MaxIdleConnsPerHost: key.conns,
		IdleConnTimeout:     idleTimeout,
	}
	c := &http.Client{Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	clients[key] = c
	return c, nil
}

// CloseIdle closes every connection the process keeps for the next delivery and forgets the
// clients: at shutdown, and in tests. A sink that holds a client goes on with new connections.
func (Transport) CloseIdle() {
	clientsMu.Lock()
	defer clientsMu.Unlock()
	for k, c := range clients {
		c.CloseIdleConnections()
		delete(clients, k)
	}
}

var _ delivery.IdleCloser = Transport{}
