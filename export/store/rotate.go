package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Rotation is what RotateSecrets did.
type Rotation struct {
	Targets  int // targets holding secrets
	Resealed int // secrets sealed anew under the current key
	Current  int // secrets that were sealed under the current key already
}

// UnreadableSecretsError names the targets whose secrets no configured key opens.
type UnreadableSecretsError struct {
	Targets []string
}

func (e *UnreadableSecretsError) Error() string {
	return fmt.Sprintf("%d target(s) hold secrets that none of the configured keys opens: %s; add the key they were sealed with to EVENTEXPORT_SECRET_KEY_OLD and rotate again, or store their secrets anew",
		len(e.Targets), strings.Join(e.Targets, ", "))
}

// RotateSecrets seals every stored password, private key and passphrase anew under the
// store's current key, opening them with the current or an old key. Each target is rewritten
// in a transaction of its own that holds its row, so a concurrent change of the target is
// never lost, and running it again (or on two replicas at once) is harmless. Targets whose
// secrets no key opens are left as they are and named in an *UnreadableSecretsError, after
// the others were rotated.
func (s *Store) RotateSecrets(ctx context.Context) (Rotation, error) {
	var rot Rotation
	if s.sealer == nil {
		return rot, s.noSealer
	}
	rows, err := s.db.Query(ctx, `SELECT DISTINCT target_id::text FROM target_secrets ORDER BY 1`)
	if err != nil {
		return rot, fmt.Errorf("list targets with secrets: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return rot, fmt.Errorf("list targets with secrets: %w", err)
	}
	var unreadable []string
	for _, id := range ids {
		resealed, current, err := s.rotateTarget(ctx, id)
		var open *openError
		switch {
		case errors.As(err, &open):
			unreadable = append(unreadable, id)
			continue
		case err != nil:
			return rot, fmt.Errorf("rotate the secrets of target %s: %w", id, err)
		}
		rot.Targets++
		rot.Resealed += resealed
		rot.Current += current
	}
	if len(unreadable) > 0 {
		return rot, &UnreadableSecretsError{Targets: unreadable}
	}
	return rot, nil
}

// openError is a stored secret that the configured keys do not open.
type openError struct{ err error }

func (e *openError) Error() string { return e.err.Error() }

func (s *Store) rotateTarget(ctx context.Context, id string) (resealed, current int, err error) {
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		resealed, current = 0, 0
		// The target's row is locked, so a concurrent change of its secrets waits for this one.
		var locked string
		err := tx.QueryRow(ctx, `SELECT id::text FROM targets WHERE id = $1 FOR UPDATE`, id).Scan(&locked)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // removed meanwhile
		}
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT name, sealed FROM target_secrets WHERE target_id = $1 ORDER BY name`, id)
		if err != nil {
			return err
		}
		type secret struct {
			name   string
			sealed []byte
		}
		secrets, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (secret, error) {
			var sc secret
			return sc, r.Scan(&sc.name, &sc.sealed)
		})
		if err != nil {
			return err
		}
		var names []string
		var resealedValues [][]byte
		for _, sc := range secrets {
			if s.sealer.Current(sc.sealed) {
				current++
				continue
			}
			plain, err := s.sealer.Open(sc.sealed)
			if err != nil {
				return &openError{err}
			}
			v, err := s.sealer.Seal(plain)
			if err != nil {
				return err
			}
			names, resealedValues = append(names, sc.name), append(resealedValues, v)
			resealed++
		}
		return writeSecrets(ctx, tx, id, names, resealedValues)
	})
	return resealed, current, err
}
