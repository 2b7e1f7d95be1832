package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/eventexport/eventexport/events"
	"github.com/eventexport/eventexport/export/file"
	"github.com/eventexport/eventexport/export/schedule"
)

// ToPlan is an enabled destination whose next window may be due: what planning reads of it.
type ToPlan struct {
	ID         string
	CompanyID  string
	Format     file.Format
	Options    file.Options
	EventTypes []string
	StartDate  events.Day
	Schedule   []schedule.Period
	SendAfter  *time.Duration
	// PlannedUntil is the end of the last window with its runs; zero when planning starts
	// afresh (a new destination, or a new start date).
	PlannedUntil time.Time
	// UpdatedAt tells whether the destination changed while it was being planned.
	UpdatedAt time.Time
}

// toPlanSQL reads the enabled destinations whose next window is due at $1, or that changed
// since they were planned, the most overdue first, $3 after id $2 at most.
const toPlanSQL = `
SELECT id::text, company_id::text, format, file_options, event_types, start_date::text, schedule, send_after_seconds,
	planned_until, updated_at
FROM destinations
WHERE enabled AND removed_at IS NULL AND (next_plan_at IS NULL OR next_plan_at <= $1) AND id > $2
ORDER BY id
LIMIT $3`

// DestinationsToPlan returns up to limit destinations that planning must look at at now,
// after the destination with ID after ("" for the first); the next call continues after the
// last one returned.
func (s *Store) DestinationsToPlan(ctx context.Context, now time.Time, after string, limit int) ([]ToPlan, error) {
	if after == "" {
		after = "00000000-0000-0000-0000-000000000000"
	}
	rows, err := s.db.Query(ctx, toPlanSQL, now, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read the destinations to plan: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ToPlan, error) {
		var d ToPlan
		var format, start string
		var periods []byte
		var sendAfter *int64
		var planned *time.Time
		if err := row.Scan(&d.ID, &d.CompanyID, &format, &d.Options, &d.EventTypes, &start, &periods, &sendAfter,
			&planned, &d.UpdatedAt); err != nil {
			return d, err
		}
		d.Format, d.SendAfter = file.Format(format), durationOf(sendAfter)
		if planned != nil {
			d.PlannedUntil = *planned
		}
		var err error
		if d.StartDate, err = events.ParseDay(start); err != nil {
			return d, err
		}
		d.Schedule, err = schedule.UnmarshalPeriods(periods)
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("read the destinations to plan: %w", err)
	}
	return out, nil
}

// PlannedRun is a scheduled run that planning creates: one event type and one window.
type PlannedRun struct {
	Destination string
	EventType   string
	Day         events.Day // the local day of the window's start, in the destination's zone
	Window      events.Window
	Format      file.Format
	Options     file.Options
	FileName    string
	PartPattern string
}

// Planned is where planning left a destination: its windows planned until PlannedUntil, and
// NextPlanAt when its next window is due.
type Planned struct {
	Destination  string
	PlannedUntil time.Time
	NextPlanAt   time.Time
	// ReadAt is the destination's UpdatedAt as planning read it: a destination changed since
	// is looked at again at once.
	ReadAt time.Time
}

// planSQL creates the runs (a race with another planner is settled by the unique index of
// scheduled windows: the first one's run stays) and moves the destinations' planning marks
// forward, in one statement.
const planSQL = `
WITH created AS (
	INSERT INTO runs (destination_id, event_type, day, window_start, window_end, kind, status, format,
		file_name, next_attempt_at, created_at, updated_at, file_options, part_pattern)
	SELECT destination_id, event_type, day, window_start, window_end, $9, $10, format, file_name, $8, $8, $8, file_options, part_pattern
	FROM unnest($1::uuid[], $2::text[], $3::date[], $4::timestamptz[], $5::timestamptz[], $6::text[], $7::text[], $11::jsonb[], $12::text[])
		AS n(destination_id, event_type, day, window_start, window_end, format, file_name, file_options, part_pattern)
	ON CONFLICT (destination_id, event_type, window_start) WHERE kind = 'scheduled' DO NOTHING
	RETURNING 1
), marked AS (
	UPDATE destinations d SET planned_until = greatest(d.planned_until, m.planned_until),
		next_plan_at = CASE WHEN d.updated_at = m.read_at THEN m.next_plan_at END
	FROM unnest($13::uuid[], $14::timestamptz[], $15::timestamptz[], $16::timestamptz[]) AS m(id, planned_until, next_plan_at, read_at)
	WHERE d.id = m.id
	RETURNING 1
)
SELECT (SELECT count(*) FROM created), (SELECT count(*) FROM marked)`

// Plan records the runs planning made and where it left each destination, in one statement.
// It returns how many runs it created.
func (s *Store) Plan(ctx context.Context, runs []PlannedRun, marks []Planned, now time.Time) (int64, error) {
	if len(runs) == 0 && len(marks) == 0 {
		return 0, nil
	}
	n := len(runs)
	dests, types, days, formats, names, patterns := make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n)
	starts, ends := make([]time.Time, n), make([]time.Time, n)
	options := make([]file.Options, n)
	for i, r := range runs {
		dests[i], types[i], days[i], formats[i] = r.Destination, r.EventType, r.Day.String(), string(r.Format)
		names[i], patterns[i], starts[i], ends[i], options[i] = r.FileName, r.PartPattern, r.Window.Start, r.Window.End, r.Options
	}
	m := len(marks)
	ids, until, next, read := make([]string, m), make([]*time.Time, m), make([]*time.Time, m), make([]time.Time, m)
	for i, p := range marks {
		ids[i], read[i] = p.Destination, p.ReadAt
		if !p.PlannedUntil.IsZero() {
			until[i] = &p.PlannedUntil
		}
		if !p.NextPlanAt.IsZero() {
			next[i] = &p.NextPlanAt
		}
	}
	var created, marked int64
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		// Destinations are locked first, in one order: planners racing on the same ones then
		// wait for each other instead of deadlocking between runs and destinations.
		if _, err := tx.Exec(ctx, `SELECT 1 FROM destinations WHERE id = ANY ($1::uuid[]) ORDER BY id FOR UPDATE`, ids); err != nil {
			return err
		}
		return tx.QueryRow(ctx, planSQL, dests, types, days, starts, ends, formats, names, now, KindScheduled, StatusPending,
			options, patterns, ids, until, next, read).Scan(&created, &marked)
	})
	if err != nil {
		return 0, fmt.Errorf("create runs: %w", err)
	}
	return created, nil
}

// AnalyzeRuns refreshes the statistics of runs: after many new rows at once (the first
// windows of many destinations), statistics taken before them would have later statements on
// runs scan them.
func (s *Store) AnalyzeRuns(ctx context.Context) error {
	if _, err := s.db.Exec(ctx, `ANALYZE runs`); err != nil {
		return fmt.Errorf("update the statistics of runs: %w", err)
	}
	return nil
}

// NextPlanAt returns when the next window of an enabled destination is due; zero when none is
// known (none enabled).
func (s *Store) NextPlanAt(ctx context.Context) (time.Time, error) {
	var t *time.Time
	if err := s.db.QueryRow(ctx, `SELECT min(next_plan_at) FROM destinations WHERE enabled AND removed_at IS NULL`).Scan(&t); err != nil {
		return time.Time{}, fmt.Errorf("read when the next window is due: %w", err)
	}
	if t == nil {
		return time.Time{}, nil
	}
	return *t, nil
}
