package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/eventexport/eventexport/export/file"
)

// Claim is a run a replica holds the lease of.
type Claim struct {
	Run
	Abandoned int  // attempts that were cut short (a replica died or stopped), not counted as retries
	Failing   bool // the destination's last run had failed for good when this one was claimed
}

// claimSQL takes up to $2 due runs: pending ones whose time has come, and running ones whose
// holder's lease has expired (the replica died mid-attempt: that attempt is marked abandoned).
// SKIP LOCKED lets replicas claim side by side without waiting for or taking each other's runs.
var claimSQL = `
WITH due AS (
	SELECT id FROM runs
	WHERE next_attempt_at <= $1 AND (status = '` + string(StatusPending) + `' OR (status = '` + string(StatusRunning) + `' AND lease_expires_at < $1))
	ORDER BY next_attempt_at, id
	LIMIT $2
	FOR UPDATE SKIP LOCKED
), claimed AS (
	UPDATE runs r SET status = $5, lease_owner = $3, lease_expires_at = $4, updated_at = $1
	FROM due WHERE r.id = due.id
	RETURNING r.*
), abandoned AS (
	UPDATE attempts a SET outcome = $6, finished_at = $1,
		error = 'the replica making this attempt stopped before it ended (its lease expired)'
	FROM claimed c WHERE a.run_id = c.id AND a.outcome = $7
	RETURNING a.run_id
)
SELECT ` + runColumns + `,
	(SELECT count(*) FROM attempts a WHERE a.run_id = c.id AND a.outcome = $6)
	+ (SELECT count(*) FROM abandoned x WHERE x.run_id = c.id),
	(SELECT d.failing_since IS NOT NULL FROM destinations d WHERE d.id = c.destination_id)
FROM claimed c`

// ClaimDue takes up to n due runs for replica, holding each until leaseUntil.
func (s *Store) ClaimDue(ctx context.Context, now time.Time, n int, replica string, leaseUntil time.Time) ([]Claim, error) {
	rows, err := s.db.Query(ctx, claimSQL, now, n, replica, leaseUntil, StatusRunning,
		OutcomeAbandoned, OutcomeRunning)
	if err != nil {
		return nil, fmt.Errorf("claim due runs: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Claim, error) {
		var c Claim
		var day, kind, status, format string
		r := &c.Run
		err := row.Scan(&r.ID, &r.DestinationID, &r.EventType, &day, &r.Window.Start, &r.Window.End, &kind, &status, &format,
			&r.Options, &r.PartPattern, &r.FileName, &r.RemotePath, &r.Attempts, &r.Events, &r.Bytes, &r.NextAttemptAt, &r.LastError, &r.LastErrorClass,
			&r.CreatedAt, &r.DeliveredAt, &r.FailedAt, &r.LateEvents, &c.Abandoned, &c.Failing)
		if err != nil {
			return c, err
		}
		r.Kind, r.Status, r.Format = RunKind(kind), RunStatus(status), file.Format(format)
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

// AbandonAttempt marks attempt n of a run as abandoned (the service stopped during it), with why.
func (s *Store) AbandonAttempt(ctx context.Context, runID string, n int, why string) error {
	_, err := s.db.Exec(ctx, `UPDATE attempts SET outcome = $3, error = $4 WHERE run_id = $1 AND number = $2`,
		runID, n, OutcomeAbandoned, why)
	if err != nil {
		return fmt.Errorf("record abandoned attempt: %w", err)
	}
	return nil
}

// SetFailing records that a destination's run failed for good, when it did (at, if the run
// does not say), unless the destination was failing already.
func (s *Store) SetFailing(ctx context.Context, destinationID, runID string, at time.Time) error {
	_, err := s.db.Exec(ctx, `UPDATE destinations SET failing_since = coalesce(failing_since,
		(SELECT failed_at FROM runs WHERE id = $3::uuid), $2) WHERE id = $1`, destinationID, at, runID)
	if err != nil {
		return fmt.Errorf("record failing destination: %w", err)
	}
	return nil
}

// ClearFailing records that a failing destination delivers again. It reports whether this call
// cleared it: of replicas delivering at once, exactly one sees true, and alerts.
func (s *Store) ClearFailing(ctx context.Context, destinationID string) (bool, error) {
	var cleared bool
	err := s.db.QueryRow(ctx, `UPDATE destinations SET failing_since = NULL
		WHERE id = $1 AND failing_since IS NOT NULL RETURNING true`, destinationID).Scan(&cleared)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("record recovered destination: %w", err)
	}
	return cleared, nil
}

// Release gives up replica's claim of a run without an attempt: it is due again at next.
func (s *Store) Release(ctx context.Context, runID, replica string, next, now time.Time) error {
	_, err := s.db.Exec(ctx, `UPDATE runs SET status = $5, next_attempt_at = $3, lease_owner = NULL,
		lease_expires_at = NULL, updated_at = $4 WHERE id = $1 AND status = $6 AND lease_owner = $2`,
		runID, replica, next, now, StatusPending, StatusRunning)
	if err != nil {
		return fmt.Errorf("release run %s: %w", runID, err)
	}
	return nil
}
