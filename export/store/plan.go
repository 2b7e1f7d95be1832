package store

import (
	"context"
	"fmt"
	"time"

	"github.com/eventexport/eventexport/events"
	"github.com/eventexport/eventexport/export/file"
)

// fingerprintSQL sums a hash of what planning reads of each destination: any destination
// added, enabled, disabled, changed or removed changes it.
const fingerprintSQL = `SELECT count(*) || '/' || coalesce(sum(hashtext(id::text || enabled::text || start_date::text ||
	event_types::text || format || updated_at::text)), 0) FROM destinations`

// PlanFingerprint is a digest of everything planning reads of the destinations: equal
// fingerprints mean planning again would find nothing new.
func (s *Store) PlanFingerprint(ctx context.Context) (string, error) {
	var fp string
	if err := s.db.QueryRow(ctx, fingerprintSQL).Scan(&fp); err != nil {
		return "", fmt.Errorf("read destinations: %w", err)
	}
	return fp, nil
}

// missingSQL finds every scheduled run still missing for (enabled destination, event type, day).
// The anti-join skips what exists cheaply.
const missingSQL = `
SELECT d.id::text, d.company_id::text, d.format, d.file_options, t.name, w.ord
FROM destinations d
CROSS JOIN unnest($1::date[], $2::int[]) AS w(day, ord)
JOIN unnest($3::text[]) AS t(name) ON t.name = ANY (d.event_types)
WHERE d.enabled AND w.day >= d.start_date
	AND NOT EXISTS (SELECT 1 FROM runs r
		WHERE r.destination_id = d.id AND r.event_type = t.name AND r.day = w.day AND r.kind = 'scheduled')
ORDER BY w.ord, d.id, t.name`

// insertScheduledSQL records the runs found missing; ON CONFLICT settles a race with another
// planner, which then has created the run with a name of its own.
const insertScheduledSQL = `
INSERT INTO runs (destination_id, event_type, day, window_start, window_end, kind, status, format,
	file_name, next_attempt_at, created_at, updated_at, file_options, part_pattern)
SELECT destination_id, event_type, day, window_start, window_end, $9, $10, format, file_name, $8, $8, $8, file_options, part_pattern
FROM unnest($1::uuid[], $2::text[], $3::date[], $4::timestamptz[], $5::timestamptz[], $6::text[], $7::text[], $11::jsonb[], $12::text[])
	AS n(destination_id, event_type, day, window_start, window_end, format, file_name, file_options, part_pattern)
ON CONFLICT (destination_id, event_type, day) WHERE kind = 'scheduled' DO NOTHING`

// PlanScheduledRuns creates every missing scheduled run of an enabled destination, one of its
// event types among types, and one of days (whose windows are given alongside), never before
// the destination's start date. Each run is due at now and its file name is fixed here, by
// the same builder as every other run's. It returns how many runs it created.
func (s *Store) PlanScheduledRuns(ctx context.Context, days []events.Day, windows []events.Window,
	types []events.Type, now time.Time) (int64, error) {
	if len(days) != len(windows) {
		return 0, fmt.Errorf("plan runs: %d days but %d windows", len(days), len(windows))
	}
	dayArg := make([]string, len(days))
	for i, d := range days {
		dayArg[i] = d.String()
	}
	byName := make(map[string]events.Type, len(types))
	names := make([]string, len(types))
	for i, t := range types {
		byName[t.Name], names[i] = t, t.Name
	}
	// kind is written out in the statement, not passed: only then can PostgreSQL use the
	// partial index of scheduled runs for the anti-join, whatever plan it caches.
	rows, err := s.db.Query(ctx, missingSQL, dayArg, ordinals(len(days)), names)
	if err != nil {
		return 0, fmt.Errorf("find missing runs: %w", err)
	}
	var dests, typeNames, runDays, formats, fileNames, patterns []string
	var starts, ends []time.Time
	var options []file.Options
	for rows.Next() {
		var dest, company, format, typeName string
		var opts file.Options
		var ord int32
		if err := rows.Scan(&dest, &company, &format, &opts, &typeName, &ord); err != nil {
			rows.Close()
			return 0, fmt.Errorf("find missing runs: %w", err)
		}
		w := windows[ord]
		dests, typeNames, runDays, formats = append(dests, dest), append(typeNames, typeName),
			append(runDays, dayArg[ord]), append(formats, format)
		starts, ends = append(starts, w.Start), append(ends, w.End)
		options = append(options, opts)
		name, pattern := file.RunNames(file.NameInput{Type: byName[typeName], Format: file.Format(format),
			Options: opts, Start: w.Start, Day: dayArg[ord], Created: now, Destination: dest, Company: company})
		fileNames, patterns = append(fileNames, name), append(patterns, pattern)
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("find missing runs: %w", err)
	}
	if len(dests) == 0 {
		return 0, nil
	}
	tag, err := s.db.Exec(ctx, insertScheduledSQL, dests, typeNames, runDays, starts, ends, formats, fileNames,
		now, KindScheduled, StatusPending, options, patterns)
	if err != nil {
		return 0, fmt.Errorf("create runs: %w", err)
	}
	if n := tag.RowsAffected(); n >= analyzeAfter {
		// Many new rows at once (the first nights of many destinations): statistics taken
		// before them would have the next planning scan the runs for every missing one.
		if _, err := s.db.Exec(ctx, `ANALYZE runs`); err != nil {
			return n, fmt.Errorf("update the statistics of runs: %w", err)
		}
	}
	return tag.RowsAffected(), nil
}

// analyzeAfter is how many runs one planning creates before it refreshes the table's statistics.
const analyzeAfter = 1000
