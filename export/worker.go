package export

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// WorkerConfig wires a Worker.
type WorkerConfig struct {
	Store  *Store
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

// claimed is a run a worker holds the lease of.
type claimed struct {
	Run
	abandoned int  // attempts that were cut short (a replica died or stopped), not counted as retries
	failing   bool // the destination's last run had failed for good when this one was claimed
}

// claimSQL takes up to $2 due runs: pending ones whose time has come, and running ones whose
// holder's lease has expired (the replica died mid-attempt: that attempt is marked abandoned).
// SKIP LOCKED lets replicas claim side by side without waiting for or taking each other's runs.
var claimSQL = `
WITH due AS (
	SELECT id FROM runs
	WHERE next_attempt_at <= $1 AND (status = 'pending' OR (status = 'running' AND lease_expires_at < $1))
	ORDER BY next_attempt_at, id
	LIMIT $2
	FOR UPDATE SKIP LOCKED
), claimed AS (
	UPDATE runs r SET status = 'running', lease_owner = $3, lease_expires_at = $4, updated_at = $1
	FROM due WHERE r.id = due.id
	RETURNING r.*
), abandoned AS (
	UPDATE attempts a SET outcome = 'abandoned', finished_at = $1,
		error = 'the replica making this attempt stopped before it ended (its lease expired)'
	FROM claimed c WHERE a.run_id = c.id AND a.outcome = 'running'
	RETURNING a.run_id
)
SELECT ` + runColumns + `,
	(SELECT count(*) FROM attempts a WHERE a.run_id = c.id AND a.outcome = 'abandoned')
	+ (SELECT count(*) FROM abandoned x WHERE x.run_id = c.id),
	(SELECT d.failing_since IS NOT NULL FROM destinations d WHERE d.id = c.destination_id)
FROM claimed c`

func (w *Worker) claim(ctx context.Context, n int) ([]claimed, error) {
	now := w.cfg.Now()
	rows, err := w.cfg.Store.db.Query(ctx, claimSQL, now, n, w.cfg.Replica, now.Add(w.cfg.Lease))
	if err != nil {
		return nil, fmt.Errorf("claim due runs: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (claimed, error) {
		var c claimed
		var day, kind, status, format string
		r := &c.Run
		err := row.Scan(&r.ID, &r.DestinationID, &r.EventType, &day, &r.Window.Start, &r.Window.End, &kind, &status, &format,
			&r.FileName, &r.RemotePath, &r.Attempts, &r.Events, &r.Bytes, &r.NextAttemptAt, &r.LastError, &r.LastErrorClass,
			&r.CreatedAt, &r.DeliveredAt, &r.FailedAt, &c.abandoned, &c.failing)
		if err != nil {
			return c, err
		}
		r.Kind, r.Status, r.Format = RunKind(kind), RunStatus(status), Format(format)
		if err := r.Day.UnmarshalText([]byte(day)); err != nil {
			return c, err
		}
		return c, nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim due runs: %w", err)
	}
	return out, nil
}

// attempt makes one delivery attempt of a claimed run and settles what follows: the next
// attempt's time, or the run's failure and its alert, or a recovery alert.
func (w *Worker) attempt(c claimed) {
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
		next := w.cfg.Retry.Next(out.Attempt-c.abandoned, now)
		last = next == nil
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
		if _, err := w.cfg.Store.db.Exec(rctx, `UPDATE attempts SET outcome = 'abandoned', error = $3
			WHERE run_id = $1 AND number = $2`, run.ID, out.Attempt,
			"the service stopped during the attempt; the run is due again: "+out.Err.Error()); err != nil {
			log.Error("record the abandoned attempt", slog.String("error", err.Error()))
		}
		log.Warn("delivery attempt cut short by shutdown; the run is due again", slog.Int("attempt", out.Attempt))
	case out.Delivered() && c.failing:
		var failing bool
		err := w.cfg.Store.db.QueryRow(rctx, `UPDATE destinations SET failing_since = NULL
			WHERE id = $1 AND failing_since IS NOT NULL RETURNING true`, d.ID).Scan(&failing)
		switch {
		case err == nil && failing:
			log.Info("destination delivers again")
			w.alert(recoveredAlert(d, run, out.Attempt, w.cfg.Now()), d)
		case err != nil && !errors.Is(err, pgx.ErrNoRows):
			log.Error("record the destination's recovery", slog.String("error", err.Error()))
		}
	case last:
		if _, err := w.cfg.Store.db.Exec(rctx, `UPDATE destinations SET failing_since = coalesce(failing_since, $2)
			WHERE id = $1`, d.ID, w.cfg.Now()); err != nil {
			log.Error("record the destination's failure", slog.String("error", err.Error()))
		}
		log.Error("delivery failed for good: no more attempts", slog.Int("attempts", out.Attempt),
			slog.String("error", out.Err.Error()), slog.String("error_class", out.Class), slog.Bool("permanent", out.Permanent))
		w.alert(failedAlert(d, run, out, out.Attempt-c.abandoned, w.cfg.Now()), d)
	}
}

func (w *Worker) alert(a Alert, d Destination) {
	if w.cfg.Alerter != nil {
		w.cfg.Alerter.Send(a, w.cfg.AlertURL, d.AlertURL)
	}
}

// release gives up the claim of a run without an attempt: it is due again at next.
func (w *Worker) release(runID string, next time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := w.cfg.Store.db.Exec(ctx, `UPDATE runs SET status = 'pending', next_attempt_at = $3, lease_owner = NULL,
		lease_expires_at = NULL, updated_at = $4 WHERE id = $1 AND status = 'running' AND lease_owner = $2`,
		runID, w.cfg.Replica, next, w.cfg.Now())
	if err != nil {
		w.cfg.Logger.Error("release the run", slog.String("run", runID), slog.String("error", err.Error()))
	}
}
