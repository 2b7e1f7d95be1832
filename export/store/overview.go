package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/eventexport/eventexport/events"
)

// DestinationHealth is what support's overview needs of a destination's runs: its latest
// delivered file, what is waiting, and what is failing.
type DestinationHealth struct {
	DestinationID string
	// FailingSince is set when a run failed for good and nothing was delivered since.
	FailingSince *time.Time
	// LastDelivered is the delivered run of the latest day (tests aside), if any.
	LastDelivered *DeliveredFile
	// NextAttemptAt is the earliest due time of the destination's pending runs.
	NextAttemptAt *time.Time
	// Retrying counts the pending runs whose latest attempt failed.
	Retrying int
	// TroubleSince is the first failed attempt of the runs retrying now or failed for good
	// since FailingSince; LastError and LastErrorClass are the latest such attempt's.
	TroubleSince   *time.Time
	LastError      string
	LastErrorClass string
}

// DeliveredFile is a delivered run as the overview shows it.
type DeliveredFile struct {
	RunID       string
	EventType   string
	Day         events.Day
	FileName    string
	RemotePath  string
	DeliveredAt time.Time
	Events      *int64
	Bytes       *int64
}

// Health reads the health of every destination not removed, by id, in one query.
func (s *Store) Health(ctx context.Context) (map[string]DestinationHealth, error) {
	rows, err := s.db.Query(ctx, `
		SELECT d.id::text, d.failing_since,
			l.id::text, l.event_type, l.day::text, l.file_name, l.remote_path, l.delivered_at, l.events, l.bytes,
			p.next_attempt_at, coalesce(p.retrying, 0),
			t.since, coalesce(t.error, ''), coalesce(t.error_class, '')
		FROM destinations d
		LEFT JOIN LATERAL (
			SELECT r.id, r.event_type, r.day, r.file_name, r.remote_path, r.delivered_at, r.events, r.bytes
			FROM runs r
			WHERE r.destination_id = d.id AND r.status = 'delivered' AND r.kind <> 'test'
			ORDER BY r.day DESC, r.window_start DESC, r.created_at DESC LIMIT 1) l ON true
		LEFT JOIN LATERAL (
			SELECT min(r.next_attempt_at) AS next_attempt_at,
				count(*) FILTER (WHERE r.attempts > 0 AND r.last_error <> '') AS retrying
			FROM runs r
			WHERE r.destination_id = d.id AND r.status IN ('pending', 'running') AND r.kind <> 'test') p ON true
		LEFT JOIN LATERAL (
			SELECT min(a.started_at) AS since,
				(array_agg(a.error ORDER BY a.started_at DESC))[1] AS error,
				(array_agg(a.error_class ORDER BY a.started_at DESC))[1] AS error_class
			FROM runs r JOIN attempts a ON a.run_id = r.id AND a.outcome = 'failed'
			WHERE r.destination_id = d.id AND r.kind IN ('scheduled', 'resend')
				AND (r.status IN ('pending', 'running') AND r.last_error <> ''
					OR r.status = 'failed' AND r.failed_at >= d.failing_since)) t ON true
		WHERE d.removed_at IS NULL`)
	if err != nil {
		return nil, fmt.Errorf("read destination health: %w", err)
	}
	out := map[string]DestinationHealth{}
	var h DestinationHealth
	var (
		runID, eventType, day, fileName, remotePath *string
		deliveredAt                                 *time.Time
		evs, bytes                                  *int64
	)
	_, err = pgx.ForEachRow(rows, []any{&h.DestinationID, &h.FailingSince, &runID, &eventType, &day, &fileName, &remotePath,
		&deliveredAt, &evs, &bytes, &h.NextAttemptAt, &h.Retrying, &h.TroubleSince, &h.LastError, &h.LastErrorClass}, func() error {
		// pgx may reuse what the pointers point to from row to row: keep copies.
		v := h
		v.FailingSince, v.NextAttemptAt, v.TroubleSince = clone(h.FailingSince), clone(h.NextAttemptAt), clone(h.TroubleSince)
		v.LastDelivered = nil
		if runID != nil && deliveredAt != nil {
			d, err := events.ParseDay(*day)
			if err != nil {
				return err
			}
			v.LastDelivered = &DeliveredFile{RunID: *runID, EventType: *eventType, Day: d, FileName: *fileName,
				RemotePath: *remotePath, DeliveredAt: *deliveredAt, Events: clone(evs), Bytes: clone(bytes)}
		}
		out[v.DestinationID] = v
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read destination health: %w", err)
	}
	return out, nil
}

// clone returns a pointer to a copy of *p, or nil.
func clone[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
