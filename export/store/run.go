package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
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
	Options        file.Options // the destination's file rules when the run was created
	FileName       string
	PartPattern    string // the names of its parts, should it deliver several: see file.PartName
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
	// LateEvents is how many events of the window arrived after it was delivered, once
	// counted; nil before.
	LateEvents *int64
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
	// Window is the run's window; zero for the whole Day in Location.
	Window      events.Window
	Kind        RunKind
	Location    *time.Location // the zone the day is read in, when Window is zero
	Now         time.Time      // creation time: part of the file name
	NextAttempt *time.Time     // when a worker may first attempt it; nil for a run attempted by its creator
}

// fileName is the run's file name, fixed at creation: the one name builder, shared with planning.
func (nr NewRun) fileName(w events.Window) (name, partPattern string) {
	d := nr.Destination
	return file.RunNames(file.NameInput{Type: nr.Type, Format: d.Format, Options: d.Options, Start: w.Start,
		Day: nr.Day.String(), Created: nr.Now, Destination: d.ID, Company: d.CompanyID, Test: nr.Kind == KindTest})
}

// CreateRun records a run and fixes its file name.
func (s *Store) CreateRun(ctx context.Context, nr NewRun) (Run, error) {
	id, err := insertRun(ctx, s.db, nr)
	if err != nil {
		return Run{}, err
	}
	return s.Run(ctx, id)
}

// rowQuerier runs a statement returning one row: the pool, or a transaction.
type rowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// insertRun records a run on q and returns its id.
func insertRun(ctx context.Context, q rowQuerier, nr NewRun) (string, error) {
	w := nr.Window
	if w.Start.IsZero() {
		w = nr.Day.Window(nr.Location)
	}
	name, pattern := nr.fileName(w)
	var id string
	err := q.QueryRow(ctx, `
		INSERT INTO runs (destination_id, event_type, day, window_start, window_end, kind, status,
			format, file_name, next_attempt_at, created_at, updated_at, file_options, part_pattern)
		VALUES ($1, $2, $3, $4, $5, $6, $11, $7, $8, $9, $10, $10, $12, $13)
		RETURNING id`,
		nr.Destination.ID, nr.Type.Name, nr.Day.String(), w.Start, w.End, string(nr.Kind),
		string(nr.Destination.Format), name, nr.NextAttempt, nr.Now, StatusPending, nr.Destination.Options, pattern).Scan(&id)
	if err != nil {
		return "", fmt.Errorf("create run: %w", err)
	}
	return id, nil
}

const runColumns = `id, destination_id, event_type, day::text, window_start, window_end, kind, status, format,
	file_options, part_pattern, file_name, remote_path, attempts, events, bytes, next_attempt_at, last_error, last_error_class,
	created_at, delivered_at, failed_at, late_events`

// runColumnsOf is runColumns of the table named alias.
func runColumnsOf(alias string) string {
	cols := strings.Split(runColumns, ",")
	for i, c := range cols {
		cols[i] = alias + "." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}

func scanRun(row pgx.Row) (Run, error) { return scanRunWith(row) }

// scanRunWith scans a run's columns after the columns first.
func scanRunWith(row pgx.Row, first ...any) (Run, error) {
	var r Run
	var day, kind, status, format string
	err := row.Scan(append(first, &r.ID, &r.DestinationID, &r.EventType, &day, &r.Window.Start, &r.Window.End, &kind, &status, &format,
		&r.Options, &r.PartPattern, &r.FileName, &r.RemotePath, &r.Attempts, &r.Events, &r.Bytes, &r.NextAttemptAt, &r.LastError, &r.LastErrorClass,
		&r.CreatedAt, &r.DeliveredAt, &r.FailedAt, &r.LateEvents)...)
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
	// Files are what a delivered run left on the server: its file, or its parts and manifest.
	Files []file.PartInfo
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
		if e.Delivered && len(e.Files) > 0 {
			if _, err := tx.Exec(ctx, `DELETE FROM run_files WHERE run_id = $1`, runID); err != nil {
				return fmt.Errorf("record the run's files: %w", err)
			}
			names, sums := make([]string, len(e.Files)), make([]string, len(e.Files))
			bytes, counts := make([]int64, len(e.Files)), make([]int64, len(e.Files))
			for i, f := range e.Files {
				names[i], sums[i], bytes[i], counts[i] = f.Name, f.SHA256, f.Bytes, f.Events
			}
			if _, err := tx.Exec(ctx, `INSERT INTO run_files (run_id, seq, name, bytes, events, sha256)
				SELECT $1, ord, name, bytes, events, sha256
				FROM unnest($2::text[], $3::bigint[], $4::bigint[], $5::text[]) WITH ORDINALITY AS f(name, bytes, events, sha256, ord)`,
				runID, names, bytes, counts, sums); err != nil {
				return fmt.Errorf("record the run's files: %w", err)
			}
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

// FilesOf returns the files of delivered runs, in order, by run id.
func (s *Store) FilesOf(ctx context.Context, runIDs []string) (map[string][]file.PartInfo, error) {
	rows, err := s.db.Query(ctx, `SELECT run_id::text, name, bytes, events, sha256 FROM run_files
		WHERE run_id = ANY ($1::uuid[]) ORDER BY run_id, seq`, runIDs)
	if err != nil {
		return nil, fmt.Errorf("read the runs' files: %w", err)
	}
	defer rows.Close()
	out := map[string][]file.PartInfo{}
	for rows.Next() {
		var id string
		var f file.PartInfo
		if err := rows.Scan(&id, &f.Name, &f.Bytes, &f.Events, &f.SHA256); err != nil {
			return nil, fmt.Errorf("read the runs' files: %w", err)
		}
		out[id] = append(out[id], f)
	}
	return out, rows.Err()
}
