package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/eventexport/eventexport/events"
	"github.com/eventexport/eventexport/export/file"
)

// RunKind says why a run exists.
type RunKind string

// The kinds of run. Scheduled runs are unique per destination, event type and day.
const (
	KindScheduled RunKind = "scheduled"
	KindManual    RunKind = "manual"
	KindResend    RunKind = "resend"
	KindTest      RunKind = "test"
)

// RunStatus is where a run stands.
type RunStatus string

// The statuses of a run.
const (
	StatusPending   RunStatus = "pending"
	StatusRunning   RunStatus = "running"
	StatusDelivered RunStatus = "delivered"
	StatusFailed    RunStatus = "failed"
)

// Run is one file: one (destination, event type, day), with a file name fixed at creation so
// that every attempt writes the same name.
type Run struct {
	ID             string
	DestinationID  string
	EventType      string
	Day            events.Day
	Window         events.Window
	Kind           RunKind
	Status         RunStatus
	Format         file.Format
	FileName       string
	RemotePath     string
	Attempts       int
	Events         *int64
	Bytes          *int64
	NextAttemptAt  *time.Time
	LastError      string
	LastErrorClass string
	CreatedAt      time.Time
	DeliveredAt    *time.Time
	FailedAt       *time.Time
}

// The outcomes of an attempt.
const (
	OutcomeRunning   = "running"
	OutcomeDelivered = "delivered"
	OutcomeFailed    = "failed"
	// OutcomeAbandoned: the attempt never ended on its own (its replica stopped or died).
	OutcomeAbandoned = "abandoned"
)

// Attempt is one delivery try of a run.
type Attempt struct {
	Number     int
	StartedAt  time.Time
	FinishedAt *time.Time
	Outcome    string
	Events     *int64
	Bytes      *int64
	Error      string
	ErrorClass string
	Permanent  bool
}

// NewRun describes a run to create.
type NewRun struct {
	Destination Destination
	Type        events.Type
	Day         events.Day
	Kind        RunKind
	Location    *time.Location // the instance zone the day is read in
	Now         time.Time      // creation time: part of the file name
	NextAttempt *time.Time     // when a worker may first attempt it; nil for a run attempted by its creator
}

// fileName is the run's file name, fixed at creation: the one name builder, shared with planning.
func (nr NewRun) fileName(w events.Window) string {
	if nr.Kind == KindTest {
		return file.TestName(nr.Type, nr.Destination.Format, w.Start, nr.Now)
	}
	return file.Name(nr.Type, nr.Destination.Format, w.Start, nr.Now)
}

// CreateRun records a run and fixes its file name.
func (s *Store) CreateRun(ctx context.Context, nr NewRun) (Run, error) {
	w := nr.Day.Window(nr.Location)
	name := nr.fileName(w)
	var id string
	err := s.db.QueryRow(ctx, `
		INSERT INTO runs (destination_id, event_type, day, window_start, window_end, kind, status,
			format, file_name, next_attempt_at, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $11, $7, $8, $9, $10, $10)
		RETURNING id`,
		nr.Destination.ID, nr.Type.Name, nr.Day.String(), w.Start, w.End, string(nr.Kind),
		string(nr.Destination.Format), name, nr.NextAttempt, nr.Now, StatusPending).Scan(&id)
	if err != nil {
		return Run{}, fmt.Errorf("create run: %w", err)
	}
	return s.Run(ctx, id)
}

const runColumns = `id, destination_id, event_type, day::text, window_start, window_end, kind, status, format,
	file_name, remote_path, attempts, events, bytes, next_attempt_at, last_error, last_error_class,
	created_at, delivered_at, failed_at`

func scanRun(row pgx.Row) (Run, error) {
	var r Run
	var day, kind, status, format string
	err := row.Scan(&r.ID, &r.DestinationID, &r.EventType, &day, &r.Window.Start, &r.Window.End, &kind, &status, &format,
		&r.FileName, &r.RemotePath, &r.Attempts, &r.Events, &r.Bytes, &r.NextAttemptAt, &r.LastError, &r.LastErrorClass,
		&r.CreatedAt, &r.DeliveredAt, &r.FailedAt)
	if err != nil {
		return Run{}, err
	}
	r.Kind, r.Status, r.Format = RunKind(kind), RunStatus(status), file.Format(format)
	r.Day, err = events.ParseDay(day)
	return r, err
}

// Run returns one run.
func (s *Store) Run(ctx context.Context, id string) (Run, error) {
	r, err := scanRun(s.db.QueryRow(ctx, `SELECT `+runColumns+` FROM runs WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Run{}, fmt.Errorf("run %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Run{}, fmt.Errorf("read run %s: %w", id, err)
	}
	return r, nil
}

// Attempts returns a run's attempts, first first.
func (s *Store) Attempts(ctx context.Context, runID string) ([]Attempt, error) {
	rows, err := s.db.Query(ctx, `SELECT number, started_at, finished_at, outcome, events, bytes, error, error_class, permanent
		FROM attempts WHERE run_id = $1 ORDER BY number`, runID)
	if err != nil {
		return nil, fmt.Errorf("read attempts of run %s: %w", runID, err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Attempt, error) {
		var a Attempt
		err := row.Scan(&a.Number, &a.StartedAt, &a.FinishedAt, &a.Outcome, &a.Events, &a.Bytes, &a.Error, &a.ErrorClass, &a.Permanent)
		return a, err
	})
}

// BeginAttempt counts a new attempt on the run and records its start.
func (s *Store) BeginAttempt(ctx context.Context, runID, replica string, now time.Time) (int, error) {
	var n int
	err := s.db.QueryRow(ctx, `
		WITH r AS (
			UPDATE runs SET attempts = attempts + 1, status = $4, updated_at = $3
			WHERE id = $1 RETURNING attempts
		)
		INSERT INTO attempts (run_id, number, started_at, replica)
		SELECT $1, attempts, $3, $2 FROM r
		RETURNING number`, runID, replica, now, StatusRunning).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("run %s: %w", runID, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("record attempt start: %w", err)
	}
	return n, nil
}

// ErrSuperseded is returned when an attempt's outcome comes after another replica took its
// run over (the lease expired meanwhile): it is not recorded over the other's.
var ErrSuperseded = errors.New("the attempt was taken over by another replica after its lease expired")

// AttemptEnd is how an attempt ended and what becomes of its run.
type AttemptEnd struct {
	Delivered  bool
	RemotePath string
	Events     int64
	Bytes      int64
	Err        string
	Class      string
	Permanent  bool
	Next       *time.Time // the next attempt of a failed run; nil when the run has failed for good
}

// FinishAttempt records the end of attempt n and moves the run to its next status.
func (s *Store) FinishAttempt(ctx context.Context, runID string, n int, e AttemptEnd, now time.Time) error {
	outcome := OutcomeFailed
	if e.Delivered {
		outcome = OutcomeDelivered
	}
	return pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			UPDATE attempts SET finished_at = $3, outcome = $4, events = $5, bytes = $6, error = $7,
				error_class = $8, permanent = $9
			WHERE run_id = $1 AND number = $2 AND outcome = $10`,
			runID, n, now, outcome, e.Events, e.Bytes, e.Err, e.Class, e.Permanent, OutcomeRunning)
		if err != nil {
			return fmt.Errorf("record attempt end: %w", err)
		}
		if tag.RowsAffected() == 0 {
			// Another replica took the run over once this one's lease expired: the run is its now.
			return fmt.Errorf("record attempt %d of run %s: %w", n, runID, ErrSuperseded)
		}
		switch {
		case e.Delivered:
			_, err = tx.Exec(ctx, `
				UPDATE runs SET status = $6, remote_path = $2, events = $3, bytes = $4,
					delivered_at = $5, updated_at = $5, next_attempt_at = NULL, last_error = '',
					last_error_class = '', lease_owner = NULL, lease_expires_at = NULL
				WHERE id = $1`, runID, e.RemotePath, e.Events, e.Bytes, now, StatusDelivered)
		case e.Next != nil:
			_, err = tx.Exec(ctx, `
				UPDATE runs SET status = $6, next_attempt_at = $2, last_error = $3,
					last_error_class = $4, updated_at = $5, lease_owner = NULL, lease_expires_at = NULL
				WHERE id = $1`, runID, *e.Next, e.Err, e.Class, now, StatusPending)
		default:
			_, err = tx.Exec(ctx, `
				UPDATE runs SET status = $5, next_attempt_at = NULL, last_error = $2,
					last_error_class = $3, failed_at = $4, updated_at = $4, lease_owner = NULL,
					lease_expires_at = NULL
				WHERE id = $1`, runID, e.Err, e.Class, now, StatusFailed)
		}
		if err != nil {
			return fmt.Errorf("record run status: %w", err)
		}
		return nil
	})
}
