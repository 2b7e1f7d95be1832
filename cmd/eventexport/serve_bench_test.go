package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/crypto/ssh"

	"github.com/eventexport/eventexport/delivery/sftp"
	"github.com/eventexport/eventexport/delivery/sftptest"
	"github.com/eventexport/eventexport/events"
	"github.com/eventexport/eventexport/events/eventstest"
	"github.com/eventexport/eventexport/export"
	"github.com/eventexport/eventexport/export/file"
	"github.com/eventexport/eventexport/export/store"
	"github.com/eventexport/eventexport/migrations/pgtest"
)

// queryCounter counts the statements a pool sends, in all and by their first words.
type queryCounter struct {
	n     atomic.Int64
	mu    sync.Mutex
	bySQL map[string]int
}

func (q *queryCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	q.n.Add(1)
	key := strings.Join(strings.Fields(d.SQL), " ")
	key = key[:min(len(key), 60)]
	q.mu.Lock()
	if q.bySQL == nil {
		q.bySQL = map[string]int{}
	}
	q.bySQL[key]++
	q.mu.Unlock()
	return ctx
}

func (q *queryCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func benchEnv(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// BenchmarkNight plans and delivers one night as "serve" does, with its defaults:
// EVENTEXPORT_BENCH_DESTINATIONS destinations (default 50; the target size is 2000) of
// EVENTEXPORT_BENCH_EVENTS events each (default 100), spread over EVENTEXPORT_BENCH_SERVERS
// server addresses (default 1), each a proxy adding EVENTEXPORT_BENCH_RTT_MS of round trip
// (default 0) in front of one SFTP server: OpenSSH's sshd with EVENTEXPORT_BENCH_SSHD=1, else
// the in-process server. Every server has one account, shared by its destinations (a shared
// target). EVENTEXPORT_BENCH_CONCURRENCY and EVENTEXPORT_BENCH_SERVER_CONNECTIONS override the
// service's defaults (32 and 4). It reports the night's wall time, runs/s, database statements
// per run, and the most connections open at once to one server address.
//
//	EVENTEXPORT_BENCH_DESTINATIONS=2000 EVENTEXPORT_BENCH_SERVERS=50 EVENTEXPORT_BENCH_RTT_MS=50 \
//	EVENTEXPORT_BENCH_SSHD=1 go test -run '^$' -bench Night -benchtime 1x ./cmd/eventexport
func BenchmarkNight(b *testing.B) {
	nDest := benchEnv("EVENTEXPORT_BENCH_DESTINATIONS", 50)
	nEvents := benchEnv("EVENTEXPORT_BENCH_EVENTS", 100)
	nServers := benchEnv("EVENTEXPORT_BENCH_SERVERS", 1)
	rtt := time.Duration(benchEnv("EVENTEXPORT_BENCH_RTT_MS", 0)) * time.Millisecond
	concurrency := benchEnv("EVENTEXPORT_BENCH_CONCURRENCY", 32)
	serverConns := benchEnv("EVENTEXPORT_BENCH_SERVER_CONNECTIONS", 4)
	ctx := context.Background()
	db := pgtest.New(b)
	loc := newYorkZone()

	// The server, and how a destination logs in to it.
	var target sftp.Config
	if os.Getenv("EVENTEXPORT_BENCH_SSHD") != "" {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		pub, err := ssh.NewPublicKey(priv.Public())
		if err != nil {
			b.Fatal(err)
		}
		block, err := ssh.MarshalPrivateKey(priv, "")
		if err != nil {
			b.Fatal(err)
		}
		sshd, err := sftptest.StartSSHD(sftptest.SSHDOptions{AuthorizedKeys: []ssh.PublicKey{pub},
			// One sshd stands for every server address: it must take all their handshakes.
			ExtraConfig: []string{"MaxStartups 1000", "MaxSessions 100"}})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(sshd.Close)
		target = sftp.Config{Host: "127.0.0.1", Port: sshd.Port, User: sshd.User, PrivateKey: pem.EncodeToMemory(block),
			HostKey: sftp.Fingerprint(sshd.HostKeys[0]), Dir: sshd.Area + "/night"}
	} else {
		srv := sftptest.NewServer(b, sftptest.Options{User: "bench", Password: "bench"})
		target = sftp.Config{Host: srv.Host(), Port: srv.Port(), User: "bench", Password: "bench",
			HostKey: srv.HostKeyPin(), Dir: "/night"}
	}
	var proxies []*sftptest.Proxy
	if nServers > 1 || rtt > 0 {
		for range nServers {
			proxies = append(proxies, sftptest.NewProxy(b, target.Addr(), rtt/2))
		}
	}

	counter := &queryCounter{}
	pcfg, err := pgxpool.ParseConfig(db.URL)
	if err != nil {
		b.Fatal(err)
	}
	pcfg.ConnConfig.Tracer = counter
	pcfg.MaxConns = int32(concurrency + 4) // as serve sizes it
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	key := make([]byte, 32)
	sealer, err := store.NewSealer(key)
	if err != nil {
		b.Fatal(err)
	}
	st := store.NewStore(pool, sealer, nil)

	night := events.DayBefore(time.Now(), loc)
	w := night.Window(loc)
	var evs []events.Event
	for i := range nDest {
		company := uuid.NewString()
		cfg := target
		if len(proxies) > 0 {
			p := proxies[i%len(proxies)]
			cfg.Port = p.Port()
			cfg.HostKey = target.HostKey
		}
		_, err := st.AddDestination(ctx, store.NewDestination{
			CompanyID: company, Format: file.FormatJSON, EventTypes: []string{events.CourseComplete.Name}, StartDate: night,
			Target: store.Target{Target: sftp.TargetOf(cfg)},
		})
		if err != nil {
			b.Fatal(err)
		}
		step := w.Duration() / time.Duration(nEvents+1)
		for i := range nEvents {
			id := uuid.NewString()
			evs = append(evs, events.Event{ID: id, CompanyID: company, Type: events.CourseComplete.Name,
				OccurredAt: w.Start.Add(time.Duration(i+1) * step), Payload: eventstest.CourseCompletePayload(i, id, company)})
		}
		if len(evs) >= 20_000 {
			eventstest.Insert(b, db.Pool, evs...)
			evs = evs[:0]
		}
	}
	if len(evs) > 0 {
		eventstest.Insert(b, db.Pool, evs...)
	}
	if _, err := db.Pool.Exec(ctx, "ANALYZE"); err != nil {
		b.Fatal(err)
	}

	c := config{Location: loc, ConnectTimeout: 60 * time.Second, AttemptTimeout: 5 * time.Minute, ServerConns: serverConns}
	logger := newLogger(os.Stderr)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		if _, err := db.Pool.Exec(ctx, "DELETE FROM runs"); err != nil {
			b.Fatal(err)
		}
		before := counter.n.Load()
		counter.mu.Lock()
		counter.bySQL = nil
		counter.mu.Unlock()
		b.StartTimer()

		began := time.Now()
		planner := export.NewPlanner(export.PlannerConfig{Store: st, Location: loc, CatchUpDays: 1, Logger: logger})
		worker := export.NewWorker(export.WorkerConfig{Store: st, Runner: export.NewRunner(export.RunnerConfig{Store: st, Location: loc,
			Options: c.deliveryOptions(), Logger: logger}),
			Retry: export.DefaultRetryPolicy(), Concurrency: concurrency, Poll: 100 * time.Millisecond,
			AttemptTimeout: c.AttemptTimeout, Replica: "bench", Logger: logger})
		plan, err := planner.Plan(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if plan.Created != int64(nDest) {
			b.Fatalf("planned %d runs, want %d", plan.Created, nDest)
		}
		worker.Start()
		for {
			var delivered, failed int
			err := db.Pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status = 'delivered'),
				count(*) FILTER (WHERE status = 'failed' OR attempts > 1) FROM runs`).Scan(&delivered, &failed)
			if err != nil {
				b.Fatal(err)
			}
			if failed > 0 {
				b.Fatalf("%d runs failed an attempt", failed)
			}
			if delivered == nDest {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		took := time.Since(began)
		b.StopTimer()
		stop, cancel := context.WithTimeout(ctx, 10*time.Second)
		worker.Stop(stop)
		cancel()
		queries := counter.n.Load() - before
		b.ReportMetric(took.Seconds(), "s/night")
		b.ReportMetric(float64(queries)/float64(nDest), "queries/run")
		b.ReportMetric(float64(nDest)/took.Seconds(), "runs/s")
		maxOpen, accepted := 0, 0
		for _, p := range proxies {
			ps := p.Stats()
			maxOpen, accepted = max(maxOpen, ps.MaxOpen), accepted+ps.Accepted
		}
		if len(proxies) > 0 {
			b.ReportMetric(float64(maxOpen), "max-conns/server")
			b.ReportMetric(float64(accepted)/float64(nDest), "conns/run")
		}
		if os.Getenv("EVENTEXPORT_BENCH_VERBOSE") != "" {
			counter.mu.Lock()
			for sql, n := range counter.bySQL {
				b.Logf("%6d  %s", n, sql)
			}
			counter.mu.Unlock()
		}
		b.Logf("night of %d destinations × %d events over %d server(s), +%s round trip: %s (%.1f runs/s), %d statements (%.1f per run), concurrency %d, at most %d connections per server",
			nDest, nEvents, max(len(proxies), 1), rtt, took.Round(time.Millisecond), float64(nDest)/took.Seconds(), queries,
			float64(queries)/float64(nDest), concurrency, serverConns)
		sftp.CloseIdle()
	}
}
