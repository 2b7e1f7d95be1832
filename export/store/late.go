package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/eventexport/eventexport/events"
)

// LateRun is a delivered scheduled run whose window was counted again: Late events arrived
// after it was delivered.
type LateRun struct {
	Run         Run
	Late        int64
	Destination string
	Policy      string // the destination's LateEvents
}

// checkLateSQL takes up to $2 delivered scheduled runs delivered at or before $1 and not yet
// checked (other replicas skip them), counts the events of each window again with the events'
// index, and records the difference, in one statement: each run is checked once.
var checkLateSQL = `
WITH todo AS (
	SELECT id FROM runs
	WHERE kind = 'scheduled' AND status = 'delivered' AND late_checked_at IS NULL AND delivered_at <= $1
	ORDER BY delivered_at
	LIMIT $2
	FOR UPDATE SKIP LOCKED
), counted AS (
	SELECT r.id, d.late_events AS policy,
		(SELECT count(*) FROM events e WHERE e.company_id = d.company_id AND e.type = r.event_type
			AND e.occurred_at >= r.window_start AND e.occurred_at < r.window_end) - coalesce(r.events, 0) AS late
	FROM todo JOIN runs r ON r.id = todo.id JOIN destinations d ON d.id = r.destination_id
)
UPDATE runs r SET late_checked_at = $3, late_events = greatest(counted.late, 0)
FROM counted WHERE r.id = counted.id
RETURNING counted.policy, greatest(counted.late, 0), ` + runColumnsOf("r")

// CheckLate counts again the events of up to limit scheduled runs delivered at or before
// deliveredBefore and not checked yet, records the count of late events on each, and returns
// those with late events, and how many it checked.
func (s *Store) CheckLate(ctx context.Context, deliveredBefore time.Time, limit int, now time.Time) ([]LateRun, int, error) {
	rows, err := s.db.Query(ctx, checkLateSQL, deliveredBefore, limit, now)
	if err != nil {
		return nil, 0, fmt.Errorf("count late events: %w", err)
	}
	all, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (LateRun, error) {
		var l LateRun
		var policy string
		var late int64
		r, err := scanRunWith(row, &policy, &late)
		l.Run, l.Policy, l.Late, l.Destination = r, policy, late, r.DestinationID
		return l, err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("count late events: %w", err)
	}
	var out []LateRun
	for _, l := range all {
		if l.Late > 0 {
			out = append(out, l)
		}
	}
	return out, len(all), nil
}

// ResendWindow queues a resend run of a scheduled run's window: the whole window, a new file.
func (s *Store) ResendWindow(ctx context.Context, d Destination, r Run, now time.Time) (Run, error) {
	t, err := events.LookupType(r.EventType)
	if err != nil {
		return Run{}, err
	}
	return s.CreateRun(ctx, NewRun{Destination: d, Type: t, Day: r.Day, Window: r.Window, Kind: KindResend, Now: now,
		NextAttempt: &now})
}
