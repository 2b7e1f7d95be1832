package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// ErrTargetInUse is returned when a target still used by destinations is removed.
var ErrTargetInUse = errors.New("target is in use")

// TargetInUseError lists the destinations that still use a target.
type TargetInUseError struct {
	TargetID     string
	Destinations []string
}

func (e *TargetInUseError) Error() string {
	return fmt.Sprintf("target %s is used by %d destination(s): %s; move each to another target (eventexport destinations update ID --target OTHER) or remove it (eventexport destinations remove ID) first",
		e.TargetID, len(e.Destinations), strings.Join(e.Destinations, ", "))
}

func (e *TargetInUseError) Unwrap() error { return ErrTargetInUse }

func (s *Store) insertTarget(ctx context.Context, tx pgx.Tx, t Target, shared bool) (string, error) {
	names, sealed, err := s.sealSecrets(t)
	if err != nil {
		return "", err
	}
	var id string
	err = tx.QueryRow(ctx, `INSERT INTO targets (name, kind, settings, shared) VALUES ($1, $2, $3, $4) RETURNING id`,
		t.Name, t.Kind, string(t.Settings), shared).Scan(&id)
	if err != nil {
		return "", fmt.Errorf("insert target: %w", err)
	}
	if err := writeSecrets(ctx, tx, id, names, sealed); err != nil {
		return "", err
	}
	return id, nil
}

// writeSecrets stores sealed secrets of a target by name; an empty one is removed.
func writeSecrets(ctx context.Context, tx pgx.Tx, targetID string, names []string, sealed [][]byte) error {
	if len(names) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `
		WITH given AS (SELECT * FROM unnest($2::text[], $3::bytea[]) AS g(name, sealed)),
		removed AS (
			DELETE FROM target_secrets s USING given g
			WHERE s.target_id = $1 AND s.name = g.name AND g.sealed IS NULL
		)
		INSERT INTO target_secrets (target_id, name, sealed)
		SELECT $1, name, sealed FROM given WHERE sealed IS NOT NULL
		ON CONFLICT (target_id, name) DO UPDATE SET sealed = excluded.sealed`, targetID, names, sealed)
	if err != nil {
		return fmt.Errorf("store target secrets: %w", err)
	}
	return nil
}

// lockSharedTarget checks that a shared target exists and keeps it from being removed until
// the transaction ends.
func lockSharedTarget(ctx context.Context, tx pgx.Tx, id string) error {
	if _, err := uuid.Parse(id); err != nil {
		return fmt.Errorf("target %q: %w", id, ErrNotFound)
	}
	var shared bool
	err := tx.QueryRow(ctx, `SELECT shared FROM targets WHERE id = $1 FOR SHARE`, id).Scan(&shared)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && !shared) {
		return fmt.Errorf("target %s: %w", id, ErrNotFound)
	}
	return err
}

// AddTarget stores a shared target: one server that several destinations deliver to.
func (s *Store) AddTarget(ctx context.Context, t Target) (Target, error) {
	var id string
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		var err error
		id, err = s.insertTarget(ctx, tx, t, true)
		return err
	})
	if err != nil {
		return Target{}, fmt.Errorf("add target: %w", err)
	}
	return s.Target(ctx, id)
}

const targetColumns = `t.id, coalesce(t.name, ''), t.kind, t.settings::text, t.shared,
	ARRAY(SELECT name FROM target_secrets x WHERE x.target_id = t.id ORDER BY name),
	ARRAY(SELECT sealed FROM target_secrets x WHERE x.target_id = t.id ORDER BY name)`

// targetScan returns the scan destinations of targetColumns, and a function making the
// target of what was scanned.
func targetScan() ([]any, func() Target) {
	var t Target
	var settings string
	var names []string
	var sealed [][]byte
	return []any{&t.ID, &t.Name, &t.Kind, &settings, &t.Shared, &names, &sealed}, func() Target {
		t.Settings = []byte(settings)
		t.Has = make(map[string]bool, len(names))
		t.sealed = make(map[string][]byte, len(names))
		for i, n := range names {
			t.Has[n] = true
			t.sealed[n] = sealed[i]
		}
		return t
	}
}

func scanTarget(row pgx.Row) (Target, error) {
	dest, made := targetScan()
	if err := row.Scan(dest...); err != nil {
		return Target{}, err
	}
	return made(), nil
}

// Target returns one shared target, secrets still sealed.
func (s *Store) Target(ctx context.Context, id string) (Target, error) {
	if _, err := uuid.Parse(id); err != nil {
		return Target{}, fmt.Errorf("target %q: %w", id, ErrNotFound)
	}
	t, err := scanTarget(s.db.QueryRow(ctx, `SELECT `+targetColumns+` FROM targets t WHERE t.id = $1 AND t.shared`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Target{}, fmt.Errorf("target %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Target{}, fmt.Errorf("read target %s: %w", id, err)
	}
	return t, nil
}

// Targets lists the shared targets, oldest first.
func (s *Store) Targets(ctx context.Context) ([]Target, error) {
	rows, err := s.db.Query(ctx, `SELECT `+targetColumns+` FROM targets t WHERE t.shared ORDER BY t.created_at, t.id`)
	if err != nil {
		return nil, fmt.Errorf("list targets: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Target, error) { return scanTarget(row) })
	if err != nil {
		return nil, fmt.Errorf("list targets: %w", err)
	}
	return out, nil
}

// updateTarget stores t's name, kind and settings, and its secrets in the clear (an empty
// one is removed), in tx.
func (s *Store) updateTarget(ctx context.Context, tx pgx.Tx, t Target) error {
	names, sealed, err := s.sealSecrets(t)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE targets SET name = $2, kind = $3, settings = $4, updated_at = now() WHERE id = $1`,
		t.ID, t.Name, t.Kind, string(t.Settings)); err != nil {
		return fmt.Errorf("update target %s: %w", t.ID, err)
	}
	return writeSecrets(ctx, tx, t.ID, names, sealed)
}

// UpdateTarget stores the changed shared target t (as Configure made it: secrets given in
// the clear, an empty one removed). A change applies to every destination that uses it.
func (s *Store) UpdateTarget(ctx context.Context, t Target) (Target, error) {
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		if err := lockSharedTarget(ctx, tx, t.ID); err != nil {
			return err
		}
		return s.updateTarget(ctx, tx, t)
	})
	if err != nil {
		return Target{}, err
	}
	return s.Target(ctx, t.ID)
}

// RemoveTarget deletes a shared target that no destination uses; otherwise it returns a
// *TargetInUseError naming them.
func (s *Store) RemoveTarget(ctx context.Context, id string) error {
	if _, err := uuid.Parse(id); err != nil {
		return fmt.Errorf("target %q: %w", id, ErrNotFound)
	}
	return pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		var shared bool
		err := tx.QueryRow(ctx, `SELECT shared FROM targets WHERE id = $1 FOR UPDATE`, id).Scan(&shared)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && !shared) {
			return fmt.Errorf("target %s: %w", id, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("remove target %s: %w", id, err)
		}
		rows, err := tx.Query(ctx, `SELECT id::text FROM destinations WHERE target_id = $1 AND removed_at IS NULL ORDER BY created_at, id`, id)
		if err != nil {
			return fmt.Errorf("remove target %s: %w", id, err)
		}
		users, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("remove target %s: %w", id, err)
		}
		if len(users) > 0 {
			return &TargetInUseError{TargetID: id, Destinations: users}
		}
		_, err = tx.Exec(ctx, `DELETE FROM targets WHERE id = $1`, id)
		return err
	})
}
