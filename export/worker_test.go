package export

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/eventexport/eventexport/delivery"
	"github.com/eventexport/eventexport/events"
	"github.com/eventexport/eventexport/export/file"
	"github.com/eventexport/eventexport/export/store"
	"github.com/eventexport/eventexport/migrations/pgtest"
)

// dirSink delivers into a local directory, atomically; it can be made to fail or to hang.
type dirSink struct {
	dir  string
	mode atomic.Int32 // 0 deliver, 1 fail, 2 hang until cancelled
	puts atomic.Int32
}

var errDown error = &delivery.Error{Class: delivery.ClassRefused, Stage: delivery.StageTCPConnect, Err: errors.New("connection refused")}

func (s *dirSink) Put(ctx context.Context, name string, r io.Reader) (string, error) {
	s.puts.Add(1)
	switch s.mode.Load() {
	case 1:
		return "", errDown
	case 2:
		<-ctx.Done()
		return "", ctx.Err()
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return "", err
	}
	tmp := filepath.Join(s.dir, "."+name+".part")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return "", err
	}
	return "/" + name, os.Rename(tmp, filepath.Join(s.dir, name))
}

type workerFixture struct {
	store *store.Store
	clock *clock
	sink  *dirSink
	dest  store.Destination
	run   store.Run
}

func newWorkerFixture(t *testing.T) *workerFixture {
	t.Helper()
	db := pgtest.New(t)
	s := store.NewStore(db.Pool, nil, nil)
	c := &clock{t: wall("2026-06-10 02:00")}
	d := addTestDestination(t, s, day("2026-06-09"), file.FormatJSON)
	if _, err := newTestPlanner(s, c, parseSchedule(t, "0 2 * * *")).Plan(context.Background()); err != nil {
		t.Fatal(err)
	}
	runs, err := s.Runs(context.Background(), store.RunFilter{DestinationID: d.ID})
	if err != nil || len(runs) != 1 {
		t.Fatalf("planned %d runs (%v), want 1", len(runs), err)
	}
	return &workerFixture{store: s, clock: c, sink: &dirSink{dir: t.TempDir()}, dest: d, run: runs[0]}
}

func (f *workerFixture) worker(alerter *Alerter, alertURL string) *Worker {
	runner := NewRunner(RunnerConfig{Store: f.store, Location: newYork, Now: f.clock.Now, Replica: "test",
		Connect: func(context.Context, store.Destination) (Sink, error) { return f.sink, nil }})
	return NewWorker(WorkerConfig{Store: f.store, Runner: runner, Retry: RetryPolicy{Jitter: -1}, Poll: 10 * time.Millisecond,
		Replica: "test", Now: f.clock.Now, Alerter: alerter, AlertURL: alertURL})
}

func (f *workerFixture) reload(t *testing.T) store.Run {
	t.Helper()
	r, err := f.store.Run(context.Background(), f.run.ID)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// On a fake clock: 11 attempts on seed 001's exact schedule, each next time stored in the
// run, then the run fails and one alert is posted; the destination's recovery is alerted
// once too.
func TestWorkerRetriesThenFailsAndAlerts(t *testing.T) {
	// Not parallel: goleak would take the goroutines of tests running alongside for leaks.
	f := newWorkerFixture(t)
	var mu sync.Mutex
	var alerts []Alert
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a Alert
		_ = json.NewDecoder(r.Body).Decode(&a)
		mu.Lock()
		alerts = append(alerts, a)
		mu.Unlock()
	}))
	defer hook.Close()
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())

	alerter := NewAlerter(AlerterConfig{Backoff: time.Millisecond})
	w := f.worker(alerter, hook.URL)
	f.sink.mode.Store(1)
	w.Start()
	want := []time.Duration{20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600}
	for n := 1; n <= 11; n++ {
		waitFor(t, "an attempt", func() bool {
			r := f.reload(t)
			return r.Attempts == n && r.Status != store.StatusRunning
		})
		r := f.reload(t)
		if n == 11 {
			if r.Status != store.StatusFailed || r.NextAttemptAt != nil || r.LastErrorClass != "refused" {
				t.Fatalf("after 11 attempts the run is %s, next %v, class %q; want failed for good", r.Status, r.NextAttemptAt, r.LastErrorClass)
			}
			break
		}
		if r.Status != store.StatusPending || r.NextAttemptAt == nil || r.NextAttemptAt.Sub(f.clock.Now()) != want[n-1]*time.Second {
			t.Fatalf("after attempt %d: %s, next %v; want pending, %ds later", n, r.Status, r.NextAttemptAt, want[n-1])
		}
		// Not due yet: nothing happens a moment before.
		f.clock.Set(r.NextAttemptAt.Add(-time.Second))
		w.Wake()
		time.Sleep(30 * time.Millisecond)
		if got := f.reload(t).Attempts; got != n {
			t.Fatalf("attempt %d made before its time", got)
		}
		f.clock.Set(*r.NextAttemptAt)
		w.Wake()
	}
	waitFor(t, "the alert", func() bool { mu.Lock(); defer mu.Unlock(); return len(alerts) == 1 })

	// A re-send once the server is back: the destination recovers.
	f.sink.mode.Store(0)
	now := f.clock.Now()
	if _, err := f.store.QueueRuns(context.Background(), []store.NewRun{{Destination: f.dest, Type: mustType(t), Day: f.run.Day,
		Kind: store.KindResend, Location: newYork, Now: now}}); err != nil {
		t.Fatal(err)
	}
	w.Wake()
	waitFor(t, "the recovery alert", func() bool { mu.Lock(); defer mu.Unlock(); return len(alerts) == 2 })
	w.Stop(context.Background())
	alerter.Close(context.Background())

	mu.Lock()
	defer mu.Unlock()
	a := alerts[0]
	if a.Kind != AlertFailed || a.Attempts != 11 || a.Destination != f.dest.ID || a.Day != "2026-06-09" ||
		a.EventType != "courseComplete" || a.Permanent || a.LastError != errDown.Error() || a.Text == "" {
		t.Errorf("failure alert = %+v", a)
	}
	if alerts[1].Kind != AlertRecovered || alerts[1].RunKind != store.KindResend {
		t.Errorf("second alert = %+v, want the recovery", alerts[1])
	}
	if f.sink.puts.Load() != 12 {
		t.Errorf("%d uploads, want 12", f.sink.puts.Load())
	}
}

// Stop lets attempts in flight finish within the grace period, then cancels them: the run
// is due again at once and the cut-short attempt is abandoned, not counted as a retry.
func TestWorkerStopCancelsAttemptsAfterTheGrace(t *testing.T) {
	// Not parallel: goleak would take the goroutines of tests running alongside for leaks.
	f := newWorkerFixture(t)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	w := f.worker(nil, "")
	f.sink.mode.Store(2)
	w.Start()
	waitFor(t, "an attempt in flight", func() bool { return f.sink.puts.Load() == 1 })
	grace, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	began := time.Now()
	w.Stop(grace)
	if took := time.Since(began); took < 100*time.Millisecond || took > 2*time.Second {
		t.Errorf("Stop took %s, want the 100ms grace and little more", took)
	}
	r := f.reload(t)
	if r.Status != store.StatusPending || r.NextAttemptAt == nil || r.NextAttemptAt.After(f.clock.Now()) {
		t.Errorf("after a stop the run is %s, next %v; want pending and due", r.Status, r.NextAttemptAt)
	}
	as, err := f.store.Attempts(context.Background(), r.ID)
	if err != nil || len(as) != 1 || as[0].Outcome != "abandoned" {
		t.Fatalf("attempts %+v (%v); want one abandoned", as, err)
	}

	// The next worker's attempt fails: its retry is the first (20 s), the abandoned one not counting.
	f.sink.mode.Store(1)
	w2 := f.worker(nil, "")
	w2.Start()
	waitFor(t, "the second attempt", func() bool { r := f.reload(t); return r.Attempts == 2 && r.Status == store.StatusPending })
	w2.Stop(context.Background())
	if r := f.reload(t); r.NextAttemptAt.Sub(f.clock.Now()) != 20*time.Second {
		t.Errorf("after an abandoned and a failed attempt the next is %s later, want 20s", r.NextAttemptAt.Sub(f.clock.Now()))
	}
}

// Alerts are retried on failure, never block the sender, and are drained on Close.
func TestAlerterRetriesAndNeverBlocks(t *testing.T) {
	// Not parallel: goleak would take the goroutines of tests running alongside for leaks.
	defer goleak.VerifyNone(t)
	var calls atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 2 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
		}
	}))
	defer hook.Close()
	a := NewAlerter(AlerterConfig{Backoff: time.Millisecond, Queue: 2})
	began := time.Now()
	for range 10 { // 2 fit in the queue, maybe 1 more in flight; the rest are dropped
		a.Send(Alert{Text: "x"}, hook.URL, hook.URL, "")
	}
	if took := time.Since(began); took > 100*time.Millisecond {
		t.Errorf("Send blocked for %s", took)
	}
	a.Close(context.Background())
	if n := calls.Load(); n < 4 || n > 5 {
		t.Errorf("%d posts; want 2 failures, then each queued alert once, to one URL", n)
	}

	// A webhook that never answers does not hold up Close beyond its deadline.
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // then the server notices the client leave
		<-r.Context().Done()
	}))
	defer hang.Close()
	a = NewAlerter(AlerterConfig{})
	a.Send(Alert{Text: "x"}, hang.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	began = time.Now()
	a.Close(ctx)
	if took := time.Since(began); took > time.Second {
		t.Errorf("Close took %s past its deadline", took)
	}
}

func mustType(t *testing.T) events.Type {
	t.Helper()
	typ, err := events.LookupType("courseComplete")
	if err != nil {
		t.Fatal(err)
	}
	return typ
}
