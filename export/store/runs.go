package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/eventexport/eventexport/export/file"
)

// QueueRuns records runs a worker attempts as soon as possible (re-sends), all or none. Each
// gets a file name of its own. It returns their ids, in the order given.
func (s *Store) QueueRuns(ctx context.Context, nrs []NewRun) ([]string, error) {
	n := len(nrs)
	dests, types, days, kinds, formats, names := make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n)
	opts, patterns := make([]file.Options, n), make([]string, n)
	starts, ends, nexts := make([]time.Time, n), make([]time.Time, n), make([]time.Time, n)
	for i, nr := range nrs {
		w := nr.Window
		if w.Start.IsZero() {
			w = nr.Day.Window(nr.Location)
		}
		dests[i], types[i], days[i], kinds[i], formats[i] = nr.Destination.ID, nr.Type.Name, nr.Day.String(),
			string(nr.Kind), string(nr.Destination.Format)
		names[i], patterns[i] = nr.fileName(w)
		opts[i] = nr.Destination.Options
		starts[i], ends[i] = w.Start, w.End
		nexts[i] = nr.Now
		if nr.NextAttempt != nil {
			nexts[i] = *nr.NextAttempt
		}
	}
	rows, err := s.db.Query(ctx, `
		INSERT INTO runs (destination_id, event_type, day, window_start, window_end, kind, status, format,
			file_name, next_attempt_at, created_at, updated_at, file_options, part_pattern)
		SELECT destination_id, event_type, day, window_start, window_end, kind, $12, format,
			file_name, next_attempt_at, $11, $11, file_options, part_pattern
		FROM unnest($1::uuid[], $2::text[], $3::date[], $4::timestamptz[], $5::timestamptz[], $6::text[],
			$7::text[], $8::text[], $9::timestamptz[], $10::int[], $13::jsonb[], $14::text[])
			AS n(destination_id, event_type, day, window_start, window_end, kind, format, file_name, next_attempt_at, ord, file_options, part_pattern)
		ORDER BY ord
		RETURNING id`, dests, types, days, starts, ends, kinds, formats, names, nexts, ordinals(n), nowOf(nrs), StatusPending, opts, patterns)
	if err != nil {
		return nil, fmt.Errorf("queue runs: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("queue runs: %w", err)
	}
	return ids, nil
}

func ordinals(n int) []int32 {
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(i)
	}
	return out
}

func nowOf(nrs []NewRun) time.Time {
	if len(nrs) == 0 {
		return time.Now()
	}
	return nrs[0].Now
}

// RunFilter selects runs to list.
type RunFilter struct {
	DestinationID string    // "" for all
	Status        RunStatus // "" for all
	Kind          RunKind   // "" for all
	Day           string    // YYYY-MM-DD, "" for all
	Limit         int       // 0 for no limit
}

// Runs lists runs, the latest day first, and for a day the latest created first.
func (s *Store) Runs(ctx context.Context, f RunFilter) ([]Run, error) {
	limit := any(nil)
	if f.Limit > 0 {
		limit = f.Limit
	}
	rows, err := s.db.Query(ctx, `SELECT `+runColumns+` FROM runs
		WHERE ($1 = '' OR destination_id::text = $1) AND ($2 = '' OR status = $2)
			AND ($4 = '' OR kind = $4) AND ($5 = '' OR day = nullif($5, '')::date)
		ORDER BY day DESC, created_at DESC, id
		LIMIT $3`, f.DestinationID, string(f.Status), limit, string(f.Kind), f.Day)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Run, error) { return scanRun(row) })
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	return out, nil
}

// AttemptsOf returns the attempts of several runs, first first, by run id.
func (s *Store) AttemptsOf(ctx context.Context, runIDs []string) (map[string][]Attempt, error) {
	rows, err := s.db.Query(ctx, `SELECT run_id::text, number, started_at, finished_at, outcome, events, bytes, error, error_class, permanent
		FROM attempts WHERE run_id = ANY ($1::uuid[]) ORDER BY run_id, number`, runIDs)
	if err != nil {
		return nil, fmt.Errorf("read attempts: %w", err)
	}
	defer rows.Close()
	out := make(map[string][]Attempt, len(runIDs))
	for rows.Next() {
		var id string
		var a Attempt
		if err := rows.Scan(&id, &a.Number, &a.StartedAt, &a.FinishedAt, &a.Outcome, &a.Events, &a.Bytes, &a.Error, &a.ErrorClass, &a.Permanent); err != nil {
			return nil, fmt.Errorf("read attempts: %w", err)
		}
		out[id] = append(out[id], a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read attempts: %w", err)
	}
	return out, nil
}
