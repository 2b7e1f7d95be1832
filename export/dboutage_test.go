package export

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/eventexport/eventexport/delivery"
	"github.com/eventexport/eventexport/export/file"
	"github.com/eventexport/eventexport/export/store"
	"github.com/eventexport/eventexport/migrations/pgtest"
)

// cutProxy forwards TCP connections to a server; cut closes every connection and refuses new
// ones until restore: a database that went away.
type cutProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	down  bool
	conns []net.Conn
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			down := p.down
			p.mu.Unlock()
			if down {
				c.Close()
				continue
			}
			s, err := net.DialTimeout("tcp", target, 5*time.Second)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(s, c); s.Close() }()
			go func() { _, _ = io.Copy(c, s); c.Close() }()
		}
	}()
	return p
}

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *cutProxy) restore() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

// outageSink fails the delivery after cutting the database off, and restores it a little later.
type outageSink struct {
	proxy *cutProxy
	after time.Duration
}

var errCustomerDown = &delivery.Error{Class: delivery.ClassConnLost, Stage: delivery.StageUpload,
	Addr: "sftp.example.com:22", Err: errors.New("connection reset by peer")}

func (s *outageSink) Put(ctx context.Context, name string, r io.Reader) (string, error) {
	s.proxy.cut()
	time.AfterFunc(s.after, s.proxy.restore)
	return "", errCustomerDown
}

// When the database goes away during an attempt, the outcome is recorded once it is back —
// the real cause, not "the lease expired" — and the next attempt follows the retry schedule.
func TestAttemptRecordedWhenTheDatabaseComesBack(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	cfg, err := pgxpool.ParseConfig(db.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newCutProxy(t, net.JoinHostPort(cfg.ConnConfig.Host, strconv.Itoa(int(cfg.ConnConfig.Port))))
	cfg.ConnConfig.Host, cfg.ConnConfig.Port = "127.0.0.1", uint16(proxy.ln.Addr().(*net.TCPAddr).Port)
	cfg.ConnConfig.Fallbacks = nil
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	st := store.NewStore(pool, nil, nil)
	c := &clock{t: wall("2026-06-10 02:00")}
	d := addTestDestination(t, st, day("2026-06-09"), file.FormatJSON)
	run, err := st.CreateRun(context.Background(), store.NewRun{Destination: d, Type: mustType(t), Day: day("2026-06-09"),
		Kind: store.KindScheduled, Location: newYork, Now: c.Now()})
	if err != nil {
		t.Fatal(err)
	}

	runner := NewRunner(RunnerConfig{Store: st, Location: newYork, Now: c.Now, RecordWithin: 20 * time.Second,
		Connect: func(context.Context, store.Destination) (Sink, error) {
			return &outageSink{proxy: proxy, after: 2 * time.Second}, nil
		}})
	src := func(context.Context, func([]byte) error) (int64, error) { return 0, nil }
	next := c.Now().Add(20 * time.Second)
	began := time.Now()
	out, err := runner.Attempt(context.Background(), d, run, src, func(Outcome) *time.Time { return &next })
	if err != nil {
		t.Fatalf("the attempt was not recorded once the database was back: %v", err)
	}
	if time.Since(began) < 2*time.Second {
		t.Errorf("recorded after %v, before the database came back", time.Since(began))
	}
	got, err := st.Run(context.Background(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != store.StatusPending || got.NextAttemptAt == nil || !got.NextAttemptAt.Equal(next) ||
		got.LastError != errCustomerDown.Error() || got.LastErrorClass != string(delivery.ClassConnLost) {
		t.Errorf("run after the outage: status %s, next %v, error %q (%s); want pending, next at %v, the server's error",
			got.Status, got.NextAttemptAt, got.LastError, got.LastErrorClass, next)
	}
	if out.Class != string(delivery.ClassConnLost) {
		t.Errorf("outcome class %q, want %q", out.Class, delivery.ClassConnLost)
	}
}
