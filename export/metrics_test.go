package export

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/eventexport/eventexport/delivery"
	"github.com/eventexport/eventexport/events"
	"github.com/eventexport/eventexport/export/file"
	"github.com/eventexport/eventexport/export/store"
	"github.com/eventexport/eventexport/migrations/pgtest"
)

// metricsSink reads the whole file and then delivers it or fails as told.
type metricsSink struct{ err error }

func (s metricsSink) Put(ctx context.Context, name string, r io.Reader) (string, error) {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return "", err
	}
	if s.err != nil {
		return "", s.err
	}
	return "/inbox/" + name, nil
}

// gathered is one scrape: metric name and sorted labels to value (a histogram's value is its count).
type gathered map[string]float64

func gather(t *testing.T, reg *prometheus.Registry) gathered {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := gathered{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			sort.Strings(labels)
			key := mf.GetName() + "{" + strings.Join(labels, ",") + "}"
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				out[key] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[key] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[key] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

func (g gathered) want(t *testing.T, key string, want float64) {
	t.Helper()
	if got, ok := g[key]; !ok || got != want {
		t.Errorf("%s = %v (present: %t), want %v", key, got, ok, want)
	}
}

// The counters move as attempts are made and the database gauges follow the runs: a run that
// is delivered, one that fails and one that waits for its retry.
func TestMetricsFollowDeliveries(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	st := store.NewStore(db.Pool, nil, nil)
	ctx := context.Background()
	now := time.Now()
	d := addTestDestination(t, st, events.DayOf(now, time.UTC).AddDays(-3), file.FormatJSON)

	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	reg.MustRegister(NewStoreCollector(StoreCollectorConfig{Store: st}))

	g := gather(t, reg)
	g.want(t, "eventexport_database_up{}", 1)
	g.want(t, "eventexport_queue_runs{state=due}", 0)
	if age := g[fmt.Sprintf("eventexport_destination_last_delivery_age_seconds{company=%s,destination=%s}", d.CompanyID, d.ID)]; age < 0 || age > 60 {
		t.Errorf("a new destination's last delivery age is %v, want the seconds since its creation", age)
	}

	past, later := now.Add(-time.Minute), now.Add(time.Hour)
	queue := func(day events.Day, next *time.Time) store.Run {
		r, err := st.CreateRun(ctx, store.NewRun{Destination: d, Type: events.CourseComplete, Day: day, Kind: store.KindResend,
			Location: time.UTC, Now: now, NextAttempt: next})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	good := queue(events.DayOf(now, time.UTC).AddDays(-1), &past)
	bad := queue(events.DayOf(now, time.UTC).AddDays(-2), &past)
	queue(events.DayOf(now, time.UTC).AddDays(-3), &later)
	g = gather(t, reg)
	g.want(t, "eventexport_queue_runs{state=due}", 2)
	g.want(t, "eventexport_queue_runs{state=waiting}", 1)
	g.want(t, "eventexport_runs{kind=resend,status=pending}", 3)
	if age := g["eventexport_queue_oldest_due_seconds{}"]; age < 59 || age > 600 {
		t.Errorf("oldest due run is due since %vs, want about 60", age)
	}

	var sinkErr error
	runner := NewRunner(RunnerConfig{Store: st, Observe: m.ObserveAttempt,
		Connect: func(context.Context, store.Destination) (Sink, error) { return metricsSink{err: sinkErr}, nil }})
	src := func(ctx context.Context, fn func([]byte) error) (int64, error) {
		for _, p := range []string{`{"id":"a"}`, `{"id":"b"}`} {
			if err := fn([]byte(p)); err != nil {
				return 0, err
			}
		}
		return 2, nil
	}
	out, err := runner.Attempt(ctx, d, good, src, nil)
	if err != nil || !out.Delivered() {
		t.Fatalf("attempt: %v %v", out.Err, err)
	}
	g = gather(t, reg)
	g.want(t, "eventexport_attempts_total{error_class=,kind=resend,outcome=delivered}", 1)
	g.want(t, "eventexport_delivered_bytes_total{kind=resend}", float64(out.Bytes))
	g.want(t, "eventexport_delivered_events_total{kind=resend}", 2)
	g.want(t, "eventexport_attempt_duration_seconds{outcome=delivered}", 1)
	g.want(t, "eventexport_runs{kind=resend,status=delivered}", 1)
	g.want(t, "eventexport_runs{kind=resend,status=pending}", 2)
	g.want(t, "eventexport_queue_runs{state=due}", 1)
	if age := g[fmt.Sprintf("eventexport_destination_last_delivery_age_seconds{company=%s,destination=%s}", d.CompanyID, d.ID)]; age > 5 {
		t.Errorf("last delivery age is %vs just after a delivery, want about 0", age)
	}

	sinkErr = &delivery.Error{Class: delivery.ClassRefused, Stage: delivery.StageTCPConnect, Err: errors.New("connection refused")}
	out, err = runner.Attempt(ctx, d, bad, src, nil)
	if err != nil || out.Delivered() {
		t.Fatalf("attempt to a failing sink: delivered %t, %v", out.Delivered(), err)
	}
	g = gather(t, reg)
	g.want(t, "eventexport_attempts_total{error_class=refused,kind=resend,outcome=failed}", 1)
	g.want(t, "eventexport_attempts_total{error_class=,kind=resend,outcome=delivered}", 1)
	g.want(t, "eventexport_attempt_duration_seconds{outcome=failed}", 1)
	g.want(t, "eventexport_delivered_events_total{kind=resend}", 2)
	g.want(t, "eventexport_runs{kind=resend,status=failed}", 1)
	g.want(t, "eventexport_queue_runs{state=due}", 0)
	g.want(t, "eventexport_queue_runs{state=waiting}", 1)
	g.want(t, "eventexport_queue_oldest_due_seconds{}", 0)
}

// A database that does not answer makes the scrape say so instead of failing or hanging.
func TestStoreCollectorDatabaseDown(t *testing.T) {
	t.Parallel()
	pool, err := pgxpool.New(context.Background(), "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewStoreCollector(StoreCollectorConfig{Store: store.NewStore(pool, nil, nil), Timeout: 3 * time.Second}))
	start := time.Now()
	g := gather(t, reg)
	g.want(t, "eventexport_database_up{}", 0)
	if _, ok := g["eventexport_queue_runs{state=due}"]; ok {
		t.Error("queue depth reported without a database")
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("scrape took %s, want it bounded by the timeout", took)
	}
}

// BenchmarkStoreCollector measures one scrape's database gauges over a history of 200000 runs
// of 1000 destinations.
func BenchmarkStoreCollector(b *testing.B) {
	db := pgtest.New(b)
	st := store.NewStore(db.Pool, nil, nil)
	ctx := context.Background()
	var dests []string
	for range 1000 {
		dests = append(dests, addTestDestination(b, st, events.Day{Year: 2025, Month: 1, Day: 1}, file.FormatJSON).ID)
	}
	_, err := db.Pool.Exec(ctx, `
		INSERT INTO runs (destination_id, event_type, day, window_start, window_end, kind, status, format, file_name,
			next_attempt_at, delivered_at)
		SELECT d, 'courseComplete', date '2025-01-01' + (i % 200), now(), now() + interval '1 day', 'resend',
			CASE WHEN i % 50 = 0 THEN 'failed' WHEN i % 97 = 0 THEN 'pending' ELSE 'delivered' END, 'json', 'f',
			now() + (i % 3 - 1) * interval '1 hour', CASE WHEN i % 50 <> 0 THEN now() - (i % 200) * interval '1 day' END
		FROM unnest($1::uuid[]) AS d, generate_series(1, 200) AS i`, dests)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, `ANALYZE runs`); err != nil {
		b.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewStoreCollector(StoreCollectorConfig{Store: st}))
	b.ResetTimer()
	for b.Loop() {
		mfs, err := reg.Gather()
		if err != nil || len(mfs) == 0 {
			b.Fatal(err)
		}
	}
}
