package sftpserver

import (
	"fmt"
	"net"
	"sync"
	"time"
)

// Proxy is a TCP proxy on loopback that delays everything it forwards, in
// each direction, like a long-distance link. It adds latency without
// limiting bandwidth: data is forwarded as fast as it arrives, only later.
type Proxy struct {
	ln     net.Listener
	target string
	delay  time.Duration

	closing   chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
	mu        sync.Mutex
	conns     map[net.Conn]struct{}
	open      int // client connections open now
	maxOpen   int // the most client connections open at once
	accepted  int // client connections accepted
}

// ProxyStats counts a proxy's client connections.
type ProxyStats struct {
	Accepted int // connections accepted
	MaxOpen  int // the most open at once
}

// Stats returns the proxy's counters.
func (p *Proxy) Stats() ProxyStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return ProxyStats{Accepted: p.accepted, MaxOpen: p.maxOpen}
}

// StartProxy starts a proxy on 127.0.0.1 forwarding to target with delay
// added each way.
func StartProxy(target string, delay time.Duration) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("sftpserver: %w", err)
	}
	p := &Proxy{ln: ln, target: target, delay: delay, closing: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.acceptLoop()
	return p, nil
}

// Addr is the proxy's address, 127.0.0.1:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Port is the port the proxy listens on.
func (p *Proxy) Port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// Close stops the proxy and its connections and waits for its goroutines.
func (p *Proxy) Close() {
	p.closeOnce.Do(func() {
		close(p.closing)
		p.ln.Close()
		p.mu.Lock()
		for c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.closing:
		c.Close()
		return false
	default:
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(client) {
			return
		}
		p.mu.Lock()
		p.accepted++
		p.open++
		p.maxOpen = max(p.maxOpen, p.open)
		p.mu.Unlock()
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			// A connection counts as open until its client closes it, as the server would see
			// it a moment later.
			var closedOnce sync.Once
			closed := func() {
				closedOnce.Do(func() {
					p.mu.Lock()
					p.open--
					p.mu.Unlock()
				})
			}
			defer closed()
			defer p.untrack(client)
			server, err := net.Dial("tcp", p.target)
			if err != nil {
				return
			}
			if !p.track(server) {
				return
			}
			defer p.untrack(server)
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); p.forward(server, client, closed) }()
			go func() { defer wg.Done(); p.forward(client, server, nil) }()
			wg.Wait()
		}()
	}
}

type chunk struct {
	data []byte
	due  time.Time
}

// forward copies src to dst, each chunk delay after it was read. When
// either side fails, both are closed.
func (p *Proxy) forward(dst, src net.Conn, srcEnded func()) {
	queue := make(chan chunk, 4096)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer dst.Close()
		// On failure, stop the reader and let it finish.
		abort := func() {
			src.Close()
			for range queue {
			}
		}
		for c := range queue {
			if d := time.Until(c.due); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-t.C:
				case <-p.closing:
					t.Stop()
					abort()
					return
				}
			}
			if _, err := dst.Write(c.data); err != nil {
				abort()
				return
			}
		}
	}()
	for {
		buf := make([]byte, 128*1024)
		n, err := src.Read(buf)
		if n > 0 {
			queue <- chunk{data: buf[:n], due: time.Now().Add(p.delay)}
		}
		if err != nil {
			break
		}
	}
	if srcEnded != nil {
		srcEnded()
	}
	close(queue)
	wg.Wait()
}
