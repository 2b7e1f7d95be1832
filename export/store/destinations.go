package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/eventexport/eventexport/events"
	"github.com/eventexport/eventexport/export/file"
	"github.com/eventexport/eventexport/export/schedule"
)

// DestinationUpdate changes some settings of a destination; nil fields stay as they are.
type DestinationUpdate struct {
	Name       *string
	Path       *string
	Format     *file.Format
	Options    *file.Options
	EventTypes []string // nil: unchanged
	StartDate  *events.Day
	AlertURL   *string
	Schedule   []schedule.Period // nil: unchanged
	// SendAfter, when SetSendAfter, is the new delay; nil for the default rule.
	SetSendAfter bool
	SendAfter    *time.Duration
	LateEvents   *string
	// SharedTargetID moves the destination onto a shared target; its own target, if it had
	// one, is removed with its secrets.
	SharedTargetID *string
	// OwnTarget is the destination's own target as it is to be: the one it has, changed (same
	// ID; secrets in the clear, an empty one removed), or a new one (empty ID) replacing a
	// shared target or its own.
	OwnTarget *Target
}

// lockDestination locks destination id, not removed, for the rest of tx, and returns its
// target and whether that target is shared. verb names the operation in errors.
func lockDestination(ctx context.Context, tx pgx.Tx, id, verb string) (targetID string, shared bool, err error) {
	err = tx.QueryRow(ctx, `SELECT d.target_id::text, t.shared FROM destinations d JOIN targets t ON t.id = d.target_id
		WHERE d.id = $1 AND d.removed_at IS NULL FOR UPDATE OF d`, id).Scan(&targetID, &shared)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, fmt.Errorf("destination %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return "", false, fmt.Errorf("%s destination %s: %w", verb, id, err)
	}
	return targetID, shared, nil
}

// UpdateDestination applies u to destination id in one transaction: a change takes effect
// from the next run (runs created before keep their file names and formats).
func (s *Store) UpdateDestination(ctx context.Context, id string, u DestinationUpdate) (Destination, error) {
	if _, err := uuid.Parse(id); err != nil {
		return Destination{}, fmt.Errorf("destination %q: %w", id, ErrNotFound)
	}
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		targetID, shared, err := lockDestination(ctx, tx, id, "update")
		if err != nil {
			return err
		}
		sets := []string{"updated_at = now()"}
		args := []any{id}
		set := func(col string, v any) {
			args = append(args, v)
			sets = append(sets, fmt.Sprintf("%s = $%d", col, len(args)))
		}
		oldOwn := "" // the destination's own target, when it is to go
		switch {
		case u.SharedTargetID != nil:
			if err := lockSharedTarget(ctx, tx, *u.SharedTargetID); err != nil {
				return err
			}
			set("target_id", *u.SharedTargetID)
			if !shared {
				oldOwn = targetID
			}
		case u.OwnTarget != nil && u.OwnTarget.ID == "":
			newID, err := s.insertTarget(ctx, tx, *u.OwnTarget, false)
			if err != nil {
				return err
			}
			set("target_id", newID)
			if !shared {
				oldOwn = targetID
			}
		case u.OwnTarget != nil:
			if u.OwnTarget.ID != targetID || shared {
				return fmt.Errorf("update destination %s: target %s is not its own", id, u.OwnTarget.ID)
			}
			if err := s.updateTarget(ctx, tx, *u.OwnTarget); err != nil {
				return err
			}
		}
		if u.Name != nil {
			set("name", *u.Name)
		}
		if u.Path != nil {
			set("path", *u.Path)
		}
		if u.Format != nil {
			set("format", string(*u.Format))
		}
		if u.Options != nil {
			set("file_options", *u.Options)
		}
		if u.EventTypes != nil {
			set("event_types", u.EventTypes)
		}
		if u.StartDate != nil {
			set("start_date", u.StartDate.String())
			// Planning starts again from the (new) start, within the catch-up days.
			sets = append(sets, "planned_until = NULL")
		}
		if u.Schedule != nil {
			set("schedule", periodsArg(u.Schedule))
		}
		if u.SetSendAfter {
			set("send_after_seconds", secondsArg(u.SendAfter))
		}
		if u.LateEvents != nil {
			set("late_events", *u.LateEvents)
		}
		// Planning looks at the destination again at once.
		sets = append(sets, "next_plan_at = NULL")
		if u.AlertURL != nil {
			set("alert_url", *u.AlertURL)
		}
		if _, err := tx.Exec(ctx, `UPDATE destinations SET `+strings.Join(sets, ", ")+` WHERE id = $1`, args...); err != nil {
			return fmt.Errorf("update destination %s: %w", id, err)
		}
		if oldOwn != "" {
			if _, err := tx.Exec(ctx, `DELETE FROM targets WHERE id = $1 AND NOT shared`, oldOwn); err != nil {
				return fmt.Errorf("remove the destination's former target: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return Destination{}, err
	}
	return s.Destination(ctx, id)
}

// ReasonRemoved is the error recorded on the runs a removal leaves undelivered.
const ReasonRemoved = "the destination was removed before this file was delivered"

// RemoveDestination removes a destination: it gets no more runs, its own target and secrets
// are deleted, and its runs not yet delivered fail with ReasonRemoved. Its row stays, marked
// removed, so that its run history stays readable.
func (s *Store) RemoveDestination(ctx context.Context, id string) error {
	if _, err := uuid.Parse(id); err != nil {
		return fmt.Errorf("destination %q: %w", id, ErrNotFound)
	}
	return pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		targetID, shared, err := lockDestination(ctx, tx, id, "remove")
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE destinations SET removed_at = now(), updated_at = now(), enabled = false,
			target_id = NULL, failing_since = NULL WHERE id = $1`, id); err != nil {
			return fmt.Errorf("remove destination %s: %w", id, err)
		}
		if !shared {
			if _, err := tx.Exec(ctx, `DELETE FROM targets WHERE id = $1`, targetID); err != nil {
				return fmt.Errorf("remove the destination's target: %w", err)
			}
		}
		// Runs waiting for an attempt fail now; one in flight fails when its attempt ends.
		_, err = tx.Exec(ctx, `UPDATE runs SET status = $2, next_attempt_at = NULL, failed_at = now(), updated_at = now(),
			last_error = $3, last_error_class = 'removed' WHERE destination_id = $1 AND status = $4`,
			id, StatusFailed, ReasonRemoved, StatusPending)
		if err != nil {
			return fmt.Errorf("remove destination %s: %w", id, err)
		}
		return nil
	})
}

// FailRun ends a run for good without an attempt, with why: its destination is gone.
func (s *Store) FailRun(ctx context.Context, runID, why string) error {
	_, err := s.db.Exec(ctx, `UPDATE runs SET status = $2, next_attempt_at = NULL, failed_at = now(), updated_at = now(),
		last_error = $3, lease_owner = NULL, lease_expires_at = NULL WHERE id = $1 AND status IN ($4, $5)`,
		runID, StatusFailed, why, StatusPending, StatusRunning)
	if err != nil {
		return fmt.Errorf("fail run %s: %w", runID, err)
	}
	return nil
}

// DestinationExisted reports whether destination id exists or existed (was removed).
func (s *Store) DestinationExisted(ctx context.Context, id string) (bool, error) {
	var ok bool
	if err := s.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM destinations WHERE id = $1)`, id).Scan(&ok); err != nil {
		return false, fmt.Errorf("read destination %s: %w", id, err)
	}
	return ok, nil
}
