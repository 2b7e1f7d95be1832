package export

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/eventexport/eventexport/delivery"
	"github.com/eventexport/eventexport/export/store"
)

// busySink answers as a receiver that asks for a pause.
type busySink struct{ after time.Duration }

func (s busySink) Put(context.Context, string, io.Reader) (string, error) {
	return "", &delivery.Error{Class: delivery.ClassServer, Stage: delivery.StageUpload, RetryAfter: s.after,
		Err: errors.New("503 Service Unavailable")}
}

// A server's Retry-After moves the next attempt later than the schedule would, never beyond
// the longest wait between retries; a shorter one leaves the schedule as it is.
func TestRetryAfterWithinTheSchedule(t *testing.T) {
	// Not parallel: the worker's goroutines must not meet other tests'.
	for _, tc := range []struct {
		after, want time.Duration
	}{
		{10 * time.Minute, 10 * time.Minute}, // later than the first retry's 20 s
		{5 * time.Second, 20 * time.Second},  // sooner: the schedule wins
		{3 * time.Hour, time.Hour},           // capped by the longest wait
	} {
		f := newWorkerFixture(t)
		runner := NewRunner(RunnerConfig{Store: f.store, Location: newYork, Now: f.clock.Now, Replica: "test",
			Connect: func(context.Context, store.Destination) (Sink, error) { return busySink{tc.after}, nil }})
		w := NewWorker(WorkerConfig{Store: f.store, Runner: runner, Retry: RetryPolicy{Jitter: -1}, Poll: 10 * time.Millisecond,
			Replica: "test", Now: f.clock.Now})
		w.Start()
		waitFor(t, "an attempt", func() bool {
			r := f.reload(t)
			return r.Attempts == 1 && r.Status == store.StatusPending
		})
		stop, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		w.Stop(stop)
		cancel()
		r := f.reload(t)
		if r.NextAttemptAt == nil || !r.NextAttemptAt.Equal(f.clock.Now().Add(tc.want)) {
			t.Errorf("Retry-After %v: next attempt at %v, want %v after %v", tc.after, r.NextAttemptAt, tc.want, f.clock.Now())
		}
	}
}
