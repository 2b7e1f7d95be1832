package sftp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"time"
)

// Connections are kept and shared. A delivery costs a dozen round trips before its first
// byte (TCP, SSH handshake, authentication, SFTP session); over a distant link that is most
// of its time. So a connection that delivered a file stays open a little while, and the next
// delivery to the same server, account and pins — another destination on a shared target,
// another event type, the next retry — uses it. And no more than a few connections to one
// server are open at once, whatever the service's concurrency: OpenSSH drops handshakes
// beyond MaxStartups (10 by default), and customers' servers are not ours to load.
const (
	// DefaultServerConns is how many connections to one server (host and port) are open at
	// once by default.
	DefaultServerConns = 4
	// idleTimeout is how long an idle connection is kept for the next delivery.
	idleTimeout = 10 * time.Second
)

// pools is the process's pool of SFTP connections.
var pools = &connPool{servers: map[string]*server{}}

type connPool struct {
	mu      sync.Mutex
	servers map[string]*server // by host:port
}

// server is the connections to one host:port.
type server struct {
	open  int                   // connections open, idle ones included
	idle  map[string][]*session // idle connections by account key
	freed chan struct{}         // signalled when a connection closes
}

// poolKey identifies what a connection was opened with: the server, the account, its
// credentials, the pins it was verified with and the local address. Only a connection opened
// with the same key is reused. The credentials are hashed, never kept.
func poolKey(c Config) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%d:%s\x00%d:%s\x00%d:%s\x00%s\x00%t\x00%s", c.Addr(), c.User,
		len(c.Password), c.Password, len(c.PrivateKey), c.PrivateKey, len(c.Passphrase), c.Passphrase,
		c.HostKey, c.LegacyCrypto, c.SourceAddr)
	return hex.EncodeToString(h.Sum(nil))
}

func (p *connPool) server(addr string) *server {
	s, ok := p.servers[addr]
	if !ok {
		s = &server{idle: map[string][]*session{}, freed: make(chan struct{}, 1)}
		p.servers[addr] = s
	}
	return s
}

// take returns an idle connection opened with key, or nil.
func (p *connPool) take(addr, key string) *session {
	p.mu.Lock()
	defer p.mu.Unlock()
	srv := p.server(addr)
	for list := srv.idle[key]; len(list) > 0; list = srv.idle[key] {
		s := list[len(list)-1]
		srv.idle[key] = list[:len(list)-1]
		if s.idleTimer.Stop() {
			return s
		}
		// Its idle time ran out just now: it is being closed.
	}
	return nil
}

// acquire waits for a connection slot of addr, limit slots at most, closing an idle
// connection of another account to make room. The slot is released by the session's Close.
func (p *connPool) acquire(ctx context.Context, addr string, limit int) error {
	if limit <= 0 {
		limit = DefaultServerConns
	}
	for {
		p.mu.Lock()
		srv := p.server(addr)
		if srv.open < limit {
			srv.open++
			p.mu.Unlock()
			return nil
		}
		var victim *session
		for key, list := range srv.idle {
			if len(list) > 0 {
				victim = list[0]
				srv.idle[key] = list[1:]
				break
			}
		}
		p.mu.Unlock()
		if victim != nil && victim.idleTimer.Stop() {
			victim.Close() // frees its slot
			continue
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-srv.freed:
		case <-time.After(100 * time.Millisecond): // a slot freed while signalled to another waiter
		}
	}
}

// release frees a slot of addr.
func (p *connPool) release(addr string) {
	p.mu.Lock()
	srv := p.server(addr)
	srv.open--
	p.mu.Unlock()
	select {
	case srv.freed <- struct{}{}:
	default:
	}
}

// put keeps s idle for the next delivery with key, closing it after idleTimeout.
func (p *connPool) put(addr, key string, s *session) {
	p.mu.Lock()
	defer p.mu.Unlock()
	srv := p.server(addr)
	s.idleTimer = time.AfterFunc(idleTimeout, func() {
		p.mu.Lock()
		list := srv.idle[key]
		for i, x := range list {
			if x == s {
				srv.idle[key] = append(list[:i:i], list[i+1:]...)
				break
			}
		}
		p.mu.Unlock()
		s.Close()
	})
	srv.idle[key] = append(srv.idle[key], s)
}

// CloseIdle closes every idle connection the process keeps: at shutdown, and in tests that
// check nothing is left running.
func CloseIdle() {
	pools.mu.Lock()
	var idle []*session
	for _, srv := range pools.servers {
		for key, list := range srv.idle {
			for _, s := range list {
				if s.idleTimer.Stop() {
					idle = append(idle, s)
				}
			}
			delete(srv.idle, key)
		}
	}
	pools.mu.Unlock()
	for _, s := range idle {
		s.Close()
	}
}
