package main

import (
	"context"
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

// BenchmarkNight plans and delivers one night: EVENTEXPORT_BENCH_DESTINATIONS destinations
// (default 50; the target size is 2000) of EVENTEXPORT_BENCH_EVENTS events each (default 100)
// into one local SFTP server, as "serve" does, with EVENTEXPORT_BENCH_CONCURRENCY attempts at
// once (default 8). It reports the night's wall time and the database statements per run.
func BenchmarkNight(b *testing.B) {
	nDest := benchEnv("EVENTEXPORT_BENCH_DESTINATIONS", 50)
	nEvents := benchEnv("EVENTEXPORT_BENCH_EVENTS", 100)
	concurrency := benchEnv("EVENTEXPORT_BENCH_CONCURRENCY", 8)
	ctx := context.Background()
	db := pgtest.New(b)
	srv := sftptest.NewServer(b, sftptest.Options{User: "bench", Password: "bench"})
	loc := newYorkZone()

	counter := &queryCounter{}
	pcfg, err := pgxpool.ParseConfig(db.URL)
	if err != nil {
		b.Fatal(err)
	}
	pcfg.ConnConfig.Tracer = counter
	pcfg.MaxConns = int32(max(4, concurrency+2))
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
	for range nDest {
		company := uuid.NewString()
		_, err := st.AddDestination(ctx, store.NewDestination{
			CompanyID: company, Format: file.FormatJSON, EventTypes: []string{events.CourseComplete.Name}, StartDate: night,
			Target: store.Target{Target: sftp.TargetOf(sftp.Config{Host: srv.Host(), Port: srv.Port(), User: "bench", Password: "bench",
				HostKey: srv.HostKeyPin(), Dir: "/night"})},
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

	c := config{Location: loc, ConnectTimeout: 60 * time.Second, AttemptTimeout: 5 * time.Minute}
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
		if os.Getenv("EVENTEXPORT_BENCH_VERBOSE") != "" {
			counter.mu.Lock()
			for sql, n := range counter.bySQL {
				b.Logf("%6d  %s", n, sql)
			}
			counter.mu.Unlock()
		}
		b.Logf("night of %d destinations × %d events: %s, %d statements (%.1f per run), concurrency %d",
			nDest, nEvents, took.Round(time.Millisecond), queries, float64(queries)/float64(nDest), concurrency)
	}
}
