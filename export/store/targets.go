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
	return fmt.Sprintf("target %s is used by %d destination(s): %s; point them elsewhere or remove them first",
		e.TargetID, len(e.Destinations), strings.Join(e.Destinations, ", "))
}

func (e *TargetInUseError) Unwrap() error { return ErrTargetInUse }

func insertTarget(ctx context.Context, tx pgx.Tx, t Target, shared bool) (string, error) {
	var id string
	err := tx.QueryRow(ctx, `
		INSERT INTO targets (name, host, port, username, password_sealed, private_key_sealed,
			passphrase_sealed, host_key, base_dir, legacy_crypto, shared)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		RETURNING id`,
		t.Name, t.Host, t.Port, t.User, t.sealedPassword, t.sealedKey, t.sealedPassphrase,
		t.HostKey, t.BaseDir, t.LegacyCrypto, shared).Scan(&id)
	if err != nil {
		return "", fmt.Errorf("insert target: %w", err)
	}
	return id, nil
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
	if err := s.seal(&t); err != nil {
		return Target{}, err
	}
	var id string
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		var err error
		id, err = insertTarget(ctx, tx, t, true)
		return err
	})
	if err != nil {
		return Target{}, fmt.Errorf("add target: %w", err)
	}
	return s.Target(ctx, id)
}

const targetColumns = `t.id, coalesce(t.name, ''), t.host, t.port, t.username, t.host_key, t.base_dir,
	t.legacy_crypto, t.shared, t.password_sealed, t.private_key_sealed, t.passphrase_sealed`

func scanTarget(row pgx.Row) (Target, error) {
	var t Target
	err := row.Scan(&t.ID, &t.Name, &t.Host, &t.Port, &t.User, &t.HostKey, &t.BaseDir, &t.LegacyCrypto, &t.Shared,
		&t.sealedPassword, &t.sealedKey, &t.sealedPassphrase)
	t.HasPassword = t.sealedPassword != nil
	t.HasKey = t.sealedKey != nil
	return t, err
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

// TargetUpdate changes some fields of a target; nil fields stay as they are. A change applies
// to every destination that uses the target.
type TargetUpdate struct {
	Name         *string
	Host         *string
	Port         *int
	User         *string
	Password     *string // "" removes the password
	PrivateKey   *[]byte // empty removes the key (and its passphrase)
	Passphrase   *[]byte
	HostKey      *string // "" unpins: the next test send may pin the presented key again
	BaseDir      *string
	LegacyCrypto *bool
}

// HasSecrets reports whether the update stores a password or a private key.
func (u TargetUpdate) HasSecrets() bool {
	return (u.Password != nil && *u.Password != "") || (u.PrivateKey != nil && len(*u.PrivateKey) > 0)
}

// UpdateTarget applies u to the shared target id.
func (s *Store) UpdateTarget(ctx context.Context, id string, u TargetUpdate) (Target, error) {
	if _, err := uuid.Parse(id); err != nil {
		return Target{}, fmt.Errorf("target %q: %w", id, ErrNotFound)
	}
	sets := []string{"updated_at = now()"}
	args := []any{id}
	set := func(col string, v any) {
		args = append(args, v)
		sets = append(sets, fmt.Sprintf("%s = $%d", col, len(args)))
	}
	sealed := func(plain []byte) ([]byte, error) {
		if len(plain) == 0 {
			return nil, nil
		}
		if s.sealer == nil {
			return nil, s.noSealer
		}
		return s.sealer.Seal(plain)
	}
	if u.Name != nil {
		set("name", *u.Name)
	}
	if u.Host != nil {
		set("host", *u.Host)
	}
	if u.Port != nil {
		set("port", *u.Port)
	}
	if u.User != nil {
		set("username", *u.User)
	}
	if u.Password != nil {
		v, err := sealed([]byte(*u.Password))
		if err != nil {
			return Target{}, err
		}
		set("password_sealed", v)
	}
	if u.PrivateKey != nil {
		v, err := sealed(*u.PrivateKey)
		if err != nil {
			return Target{}, err
		}
		set("private_key_sealed", v)
		if len(*u.PrivateKey) == 0 && u.Passphrase == nil {
			set("passphrase_sealed", nil)
		}
	}
	if u.Passphrase != nil {
		v, err := sealed(*u.Passphrase)
		if err != nil {
			return Target{}, err
		}
		set("passphrase_sealed", v)
	}
	if u.HostKey != nil {
		set("host_key", *u.HostKey)
	}
	if u.BaseDir != nil {
		set("base_dir", *u.BaseDir)
	}
	if u.LegacyCrypto != nil {
		set("legacy_crypto", *u.LegacyCrypto)
	}
	tag, err := s.db.Exec(ctx, `UPDATE targets SET `+strings.Join(sets, ", ")+` WHERE id = $1 AND shared`, args...)
	if err != nil {
		return Target{}, fmt.Errorf("update target %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return Target{}, fmt.Errorf("target %s: %w", id, ErrNotFound)
	}
	return s.Target(ctx, id)
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
		rows, err := tx.Query(ctx, `SELECT id::text FROM destinations WHERE target_id = $1 ORDER BY created_at, id`, id)
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
