package export

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/eventexport/eventexport/delivery"
	"github.com/eventexport/eventexport/export/store"
)

// WorkerConfig wires a Worker.
type WorkerConfig struct {
	Store  *store.Store
	Runner *Runner
	Retry  RetryPolicy
	// Concurrency is how many attempts a worker makes at once; default 8.
	Concurrency int
	// Poll is how often a worker looks for due runs when nothing woke it; default 1 s.
	Poll time.Duration
	// AttemptTimeout bounds one attempt; default 5 minutes. Delivery has its own limit of the
	// same length, which reports it in plain words; this one is the backstop.
	AttemptTimeout time.Duration
	// Lease is how long a claim holds a run: longer than an attempt may take. When the
	// replica holding it dies, another retries the run once the lease has expired.
	// Default: AttemptTimeout plus a minute.
	Lease    time.Duration
	Replica  string // recorded as the lease owner
	Now      func() time.Time
	Logger   *slog.Logger
	Alerter  *Alerter // nil: no alerts
	AlertURL string   // the instance's webhook; destinations may have their own too
}

// Worker delivers due runs: it claims them in PostgreSQL with a lease, so that replicas
// never attempt one run at the same time, makes the attempt, and stores when the next one is
// due, so that a restart neither resets, repeats nor loses the retry schedule.
type Worker struct {
	cfg WorkerConfig

	wake      chan struct{}
	freed     chan struct{}
	soft      context.Context // ends claiming
	stopSoft  context.CancelFunc
	hard      context.Context // ends attempts in flight
	stopHard  context.CancelFunc
	loopDone  chan struct{}
	attempts  sync.WaitGroup
	startOnce sync.Once
	stopOnce  sync.Once

	mu       sync.Mutex
	inFlight int
}

// NewWorker returns a Worker; Start starts it.
func NewWorker(cfg WorkerConfig) *Worker {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 8
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.AttemptTimeout <= 0 {
		cfg.AttemptTimeout = 5 * time.Minute
	}
	if cfg.Lease <= cfg.AttemptTimeout {
		cfg.Lease = cfg.AttemptTimeout + time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	w := &Worker{cfg: cfg, wake: make(chan struct{}, 1), freed: make(chan struct{}, 1), loopDone: make(chan struct{})}
	w.soft, w.stopSoft = context.WithCancel(context.Background())
	w.hard, w.stopHard = context.WithCancel(context.Background())
	return w
}

// Start starts claiming due runs in the background.
func (w *Worker) Start() {
	w.startOnce.Do(func() { go w.loop() })
}

// Wake makes the worker look for due runs now (after planning, or a re-send).
func (w *Worker) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Stop stops claiming runs and lets the attempts in flight finish until ctx ends; then it
// cancels them and waits until they are recorded. A cancelled attempt is not counted against
// the run's retries: the run is due again at once, for this or another replica.
func (w *Worker) Stop(ctx context.Context) {
	w.stopOnce.Do(func() {
		w.startOnce.Do(func() { close(w.loopDone) }) // never started
		w.stopSoft()
		<-w.loopDone
		done := make(chan struct{})
		go func() {
			w.attempts.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-ctx.Done():
			w.cfg.Logger.Warn("cancelling delivery attempts in flight: the shutdown grace period is over", slog.Int("attempts", w.running()))
			w.stopHard()
			<-done
		}
		w.stopHard()
	})
}

func (w *Worker) running() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.inFlight
}

func (w *Worker) loop() {
	defer close(w.loopDone)
	ticker := time.NewTicker(w.cfg.Poll)
	defer ticker.Stop()
	for {
		// more: the last claim took all it could, so further runs may be due at once.
		more := false
		if free := w.cfg.Concurrency - w.running(); free > 0 {
			claimed, err := w.claim(w.soft, free)
			if err != nil {
				if w.soft.Err() != nil {
					return
				}
				w.cfg.Logger.Error("claim due runs", slog.String("error", err.Error()))
			}
			for _, c := range claimed {
				w.mu.Lock()
				w.inFlight++
				w.mu.Unlock()
				w.attempts.Add(1)
				go w.attempt(c)
			}
			more = err == nil && len(claimed) == free
		} else {
			more = true
		}
	wait:
		for {
			select {
			case <-w.soft.Done():
				return
			case <-w.wake:
				break wait
			case <-ticker.C:
				break wait
			case <-w.freed:
				if more {
					break wait
				}
			}
		}
	}
}

func (w *Worker) claim(ctx context.Context, n int) ([]store.Claim, error) {
	now := w.cfg.Now()
	return w.cfg.Store.ClaimDue(ctx, now, n, w.cfg.Replica, now.Add(w.cfg.Lease))
}

// attempt makes one delivery attempt of a claimed run and settles what follows: the next
// attempt's time, or the run's failure and its alert, or a recovery alert.
func (w *Worker) attempt(c store.Claim) {
	defer func() {
		w.mu.Lock()
		w.inFlight--
		w.mu.Unlock()
		w.attempts.Done()
		select {
		case w.freed <- struct{}{}:
		default:
		}
	}()
	run := c.Run
	log := w.cfg.Logger.With(slog.String("run", run.ID), slog.String("destination", run.DestinationID),
		slog.String("event_type", run.EventType), slog.String("day", run.Day.String()), slog.String("kind", string(run.Kind)))

	// The attempt ends before the lease does, so that no other replica can take the run while
	// this one still works on it.
	ctx, cancel := context.WithTimeout(w.hard, w.cfg.AttemptTimeout+(w.cfg.Lease-w.cfg.AttemptTimeout)/2)
	defer cancel()

	d, err := w.cfg.Store.Destination(ctx, run.DestinationID)
	if errors.Is(err, store.ErrNotFound) {
		// Removed while the run waited or was in flight: nothing can deliver it any more.
		log.Warn("the run's destination was removed; the run fails")
		if err := w.cfg.Store.FailRun(ctx, run.ID, store.ReasonRemoved); err != nil {
			log.Error("record the run's failure", slog.String("error", err.Error()))
		}
		return
	}
	if err != nil {
		log.Error("read the run's destination; will try again", slog.String("error", err.Error()))
		w.release(run.ID, w.cfg.Now().Add(w.cfg.Poll))
		return
	}
	src, err := w.cfg.Runner.EventsSource(d, run)
	if err != nil {
		srcErr := err
		src = func(context.Context, func([]byte) error) (int64, error) { return 0, srcErr }
	}
	var stopped bool // the attempt was cut short by the service stopping
	var last bool    // the attempt was the run's last
	out, err := w.cfg.Runner.Attempt(ctx, d, run, src, func(out Outcome) *time.Time {
		now := w.cfg.Now()
		if w.hard.Err() != nil {
			stopped = true
			return &now
		}
		next := w.cfg.Retry.Next(out.Attempt-c.Abandoned, now)
		last = next == nil
		// A server that asks for a pause (HTTP Retry-After) gets it, within the schedule: never
		// later than the longest wait between retries.
		var de *delivery.Error
		if next != nil && errors.As(out.Err, &de) && de.RetryAfter > 0 {
			want := now.Add(min(de.RetryAfter, w.cfg.Retry.withDefaults().Max))
			if want.After(*next) {
				next = &want
			}
		}
		return next
	})
	if err != nil {
		log.Error("record the delivery attempt", slog.String("error", err.Error()))
		if out.Attempt == 0 { // nothing was attempted
			w.release(run.ID, w.cfg.Now())
		}
		return
	}
	rctx, rcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer rcancel()
	switch {
	case stopped:
		if err := w.cfg.Store.AbandonAttempt(rctx, run.ID, out.Attempt,
			"the service stopped during the attempt; the run is due again: "+out.Err.Error()); err != nil {
			log.Error("record the abandoned attempt", slog.String("error", err.Error()))
		}
		log.Warn("delivery attempt cut short by shutdown; the run is due again", slog.Int("attempt", out.Attempt))
	case out.Delivered() && c.Failing:
		recovered, err := w.cfg.Store.ClearFailing(rctx, d.ID)
		switch {
		case err != nil:
			log.Error("record the destination's recovery", slog.String("error", err.Error()))
		case recovered:
			log.Info("destination delivers again")
			w.alert(recoveredAlert(d, run, out.Attempt, w.cfg.Now()), d)
		}
	case last:
		if err := w.cfg.Store.SetFailing(rctx, d.ID, run.ID, w.cfg.Now()); err != nil {
			log.Error("record the destination's failure", slog.String("error", err.Error()))
		}
		log.Error("delivery failed for good: no more attempts", slog.Int("attempts", out.Attempt),
			slog.String("error", out.Err.Error()), slog.String("error_class", out.Class), slog.Bool("permanent", out.Permanent))
		w.alert(failedAlert(d, run, out, out.Attempt-c.Abandoned, w.cfg.Now()), d)
	}
}

func (w *Worker) alert(a Alert, d store.Destination) {
	if w.cfg.Alerter != nil {
		w.cfg.Alerter.Send(a, w.cfg.AlertURL, d.AlertURL)
	}
}

// release gives up the claim of a run without an attempt: it is due again at next.
func (w *Worker) release(runID string, next time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.cfg.Store.Release(ctx, runID, w.cfg.Replica, next, w.cfg.Now()); err != nil {
		w.cfg.Logger.Error("release the run", slog.String("run", runID), slog.String("error", err.Error()))
	}
}
