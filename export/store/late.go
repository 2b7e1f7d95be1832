package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/eventexport/eventexport/events"
)

// LateRun is a delivered scheduled run whose window was counted again: Late events arrived
// after it was delivered.
type LateRun struct {
	Run    Run
	Late   int64
	Policy string // the destination's LateEvents
	Resend string // the re-send queued of the window, if any
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
// deliveredBefore and not checked yet, records the count of late events on each, and queues a
// re-send of the window of those with late events whose destination re-sends them, in one
// transaction: a run is checked once, and its re-send is never lost. It returns the runs with
// late events (Resend set on those re-sent), and how many it checked.
func (s *Store) CheckLate(ctx context.Context, deliveredBefore time.Time, limit int, now time.Time) ([]LateRun, int, error) {
	var out []LateRun
	checked := 0
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, checkLateSQL, deliveredBefore, limit, now)
		if err != nil {
			return err
		}
		all, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (LateRun, error) {
			var l LateRun
			r, err := scanRunWith(row, &l.Policy, &l.Late)
			l.Run = r
			return l, err
		})
		if err != nil {
			return err
		}
		checked, out = len(all), nil
		for _, l := range all {
			if l.Late == 0 {
				continue
			}
			if l.Policy == LateResend {
				if l.Resend, err = s.resendWindow(ctx, tx, l.Run, now); err != nil {
					return err
				}
			}
			out = append(out, l)
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("count late events: %w", err)
	}
	return out, checked, nil
}

// resendWindow queues on tx a resend run of a scheduled run's window: the whole window, a
// new file. A removed destination gets none ("").
func (s *Store) resendWindow(ctx context.Context, tx pgx.Tx, r Run, now time.Time) (string, error) {
	d, err := scanDestination(tx.QueryRow(ctx, `SELECT `+destinationColumns+`
		FROM destinations d JOIN targets t ON t.id = d.target_id WHERE d.id = $1 AND d.removed_at IS NULL`, r.DestinationID))
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	t, err := events.LookupType(r.EventType)
	if err != nil {
		return "", err
	}
	return insertRun(ctx, tx, NewRun{Destination: d, Type: t, Day: r.Day, Window: r.Window, Kind: KindResend, Now: now,
		NextAttempt: &now})
}
