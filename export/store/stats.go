package store

import (
	"context"
	"fmt"
	"time"
)

// RunCount is how many runs of a kind are in a status.
type RunCount struct {
	Kind   RunKind
	Status RunStatus
	N      int64
}

// LastDelivery is when an enabled destination last delivered a file (test files not counted),
// or its creation when it never did.
type LastDelivery struct {
	DestinationID, CompanyID string
	At                       time.Time
}

// Stats is the state of the queue and the destinations, for metrics.
type Stats struct {
	Runs           []RunCount
	Due            int64     // runs whose time has come, or whose replica died
	Waiting        int64     // runs waiting for a later retry
	OldestDue      time.Time // when the longest-due run became due; zero when none is
	LastDeliveries []LastDelivery
}

// Stats reads the queue and the destinations' last deliveries at now, in two aggregate queries.
func (s *Store) Stats(ctx context.Context, now time.Time) (Stats, error) {
	var st Stats
	rows, err := s.db.Query(ctx, `
		SELECT kind, status, count(*),
			count(*) FILTER (WHERE (status = $2 AND next_attempt_at <= $1)
				OR (status = $3 AND lease_expires_at < $1)),
			count(*) FILTER (WHERE status = $2 AND next_attempt_at > $1),
			min(CASE WHEN status = $3 THEN lease_expires_at ELSE next_attempt_at END)
				FILTER (WHERE (status = $2 AND next_attempt_at <= $1)
				OR (status = $3 AND lease_expires_at < $1))
		FROM runs GROUP BY kind, status`, now, StatusPending, StatusRunning)
	if err != nil {
		return st, fmt.Errorf("count runs: %w", err)
	}
	for rows.Next() {
		var rc RunCount
		var kind, status string
		var d, w int64
		var o *time.Time
		if err := rows.Scan(&kind, &status, &rc.N, &d, &w, &o); err != nil {
			rows.Close()
			return st, fmt.Errorf("count runs: %w", err)
		}
		rc.Kind, rc.Status = RunKind(kind), RunStatus(status)
		st.Runs = append(st.Runs, rc)
		st.Due += d
		st.Waiting += w
		if o != nil && (st.OldestDue.IsZero() || o.Before(st.OldestDue)) {
			st.OldestDue = *o
		}
	}
	if err := rows.Err(); err != nil {
		return st, fmt.Errorf("count runs: %w", err)
	}

	rows, err = s.db.Query(ctx, `
		SELECT d.id::text, d.company_id::text, coalesce(max(r.delivered_at), d.created_at)
		FROM destinations d
		LEFT JOIN runs r ON r.destination_id = d.id AND r.status = $1 AND r.kind <> $2
		WHERE d.enabled
		GROUP BY d.id`, StatusDelivered, KindTest)
	if err != nil {
		return st, fmt.Errorf("read last deliveries: %w", err)
	}
	for rows.Next() {
		var a LastDelivery
		if err := rows.Scan(&a.DestinationID, &a.CompanyID, &a.At); err != nil {
			rows.Close()
			return st, fmt.Errorf("read last deliveries: %w", err)
		}
		st.LastDeliveries = append(st.LastDeliveries, a)
	}
	if err := rows.Err(); err != nil {
		return st, fmt.Errorf("read last deliveries: %w", err)
	}
	return st, nil
}
