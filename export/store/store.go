package store

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/eventexport/eventexport/events"
	"github.com/eventexport/eventexport/export/file"
)

// ErrNotFound is returned when a destination, target or run does not exist.
var ErrNotFound = errors.New("not found")

// Store keeps targets, destinations, runs and attempts in PostgreSQL. Secrets are sealed
// before they are written and opened only when a delivery needs them.
type Store struct {
	db       *pgxpool.Pool
	sealer   *Sealer // nil when no usable key is configured: secrets can be neither stored nor read
	noSealer error   // why sealer is nil
}

// NewStore returns a Store on db. sealer may be nil, with keyErr saying why (a missing or
// malformed key); then storing or reading a secret fails with keyErr, and everything else works.
func NewStore(db *pgxpool.Pool, sealer *Sealer, keyErr error) *Store {
	if sealer == nil && keyErr == nil {
		keyErr = ErrNoSecretKey
	}
	return &Store{db: db, sealer: sealer, noSealer: keyErr}
}

// DB returns the pool the store uses, for reading events in the same database.
func (s *Store) DB() *pgxpool.Pool { return s.db }

// Target is a server files are delivered to. Its secrets are only present after OpenSecrets.
type Target struct {
	ID           string
	Name         string
	Host         string
	Port         int
	User         string
	HostKey      string // pinned host key: SHA256 fingerprint or known_hosts line; "" when none yet
	BaseDir      string
	LegacyCrypto bool
	Shared       bool
	HasPassword  bool
	HasKey       bool

	Password   string
	PrivateKey []byte
	Passphrase []byte

	sealedPassword, sealedKey, sealedPassphrase []byte
}

// Destination is a company's integration: event types in one format, delivered to a target.
type Destination struct {
	ID         string
	CompanyID  string
	Name       string
	Target     Target
	Path       string // directory under the target's base directory
	Format     file.Format
	EventTypes []string
	Enabled    bool
	StartDate  events.Day
	AlertURL   string
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Types returns the registered event types the destination subscribes to; an unknown name
// (one a newer version stored) is an error naming it.
func (d Destination) Types() ([]events.Type, error) {
	types := make([]events.Type, 0, len(d.EventTypes))
	for _, name := range d.EventTypes {
		t, err := events.LookupType(name)
		if err != nil {
			return nil, fmt.Errorf("destination %s: %w", d.ID, err)
		}
		types = append(types, t)
	}
	return types, nil
}

// Dir is the remote directory the destination's files go to.
func (d Destination) Dir() string {
	switch {
	case d.Path == "":
		return d.Target.BaseDir
	case d.Target.BaseDir == "" || strings.HasPrefix(d.Path, "/"):
		return d.Path
	default:
		return path.Join(d.Target.BaseDir, d.Path)
	}
}

// NewDestination is what AddDestination stores: a destination on a shared target (TargetID),
// or on a target of its own (Target).
type NewDestination struct {
	CompanyID  string
	Name       string
	TargetID   string // a shared target; when empty, Target is stored as the destination's own
	Target     Target // Password, PrivateKey and Passphrase in the clear; sealed on the way in
	Path       string // directory under the target's base directory
	Format     file.Format
	EventTypes []string
	StartDate  events.Day
	AlertURL   string
}

// ParseUUID checks a UUID given by a user, naming the field when it is not one.
func ParseUUID(field, s string) (string, error) {
	u, err := uuid.Parse(strings.TrimSpace(s))
	if err != nil {
		return "", fmt.Errorf("%s %q is not a UUID", field, s)
	}
	return u.String(), nil
}

// HasSecrets reports whether the target holds a password or a private key in the clear, to
// be sealed when it is stored.
func (t Target) HasSecrets() bool { return t.Password != "" || len(t.PrivateKey) > 0 }

func (s *Store) seal(t *Target) error {
	if !t.HasSecrets() && len(t.Passphrase) == 0 {
		return nil
	}
	if s.sealer == nil {
		return s.noSealer
	}
	var err error
	if t.sealedPassword, err = s.sealer.Seal([]byte(t.Password)); err != nil {
		return err
	}
	if t.sealedKey, err = s.sealer.Seal(t.PrivateKey); err != nil {
		return err
	}
	t.sealedPassphrase, err = s.sealer.Seal(t.Passphrase)
	return err
}

// OpenSecrets decrypts the target's password, private key and passphrase.
func (s *Store) OpenSecrets(t *Target) error {
	if t.sealedPassword == nil && t.sealedKey == nil && t.sealedPassphrase == nil {
		return nil
	}
	if s.sealer == nil {
		return s.noSealer
	}
	pw, err := s.sealer.Open(t.sealedPassword)
	if err != nil {
		return fmt.Errorf("target %s password: %w", t.ID, err)
	}
	if t.PrivateKey, err = s.sealer.Open(t.sealedKey); err != nil {
		return fmt.Errorf("target %s private key: %w", t.ID, err)
	}
	if t.Passphrase, err = s.sealer.Open(t.sealedPassphrase); err != nil {
		return fmt.Errorf("target %s key passphrase: %w", t.ID, err)
	}
	t.Password = string(pw)
	// Opened once: a second call (a caller checking first, then the delivery) finds nothing
	// sealed and does not decrypt again.
	t.sealedPassword, t.sealedKey, t.sealedPassphrase = nil, nil, nil
	return nil
}

// AddDestination stores a destination, and its own target when it does not use a shared
// one, in one transaction.
func (s *Store) AddDestination(ctx context.Context, nd NewDestination) (Destination, error) {
	t := nd.Target
	if nd.TargetID == "" {
		if err := s.seal(&t); err != nil {
			return Destination{}, err
		}
	}
	var id string
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		targetID := nd.TargetID
		if targetID == "" {
			var err error
			if targetID, err = insertTarget(ctx, tx, t, false); err != nil {
				return err
			}
		} else if err := lockSharedTarget(ctx, tx, targetID); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `
			INSERT INTO destinations (company_id, name, target_id, path, format, event_types, start_date, alert_url)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			RETURNING id`,
			nd.CompanyID, nd.Name, targetID, nd.Path, string(nd.Format), nd.EventTypes, nd.StartDate.String(), nd.AlertURL).Scan(&id)
	})
	if err != nil {
		return Destination{}, fmt.Errorf("add destination: %w", err)
	}
	return s.Destination(ctx, id)
}

const destinationColumns = `
	d.id, d.company_id, d.name, d.path, d.format, d.event_types, d.enabled, d.start_date::text,
	d.alert_url, d.created_at, d.updated_at,
	t.id, coalesce(t.name, ''), t.host, t.port, t.username, t.host_key, t.base_dir, t.legacy_crypto, t.shared,
	t.password_sealed, t.private_key_sealed, t.passphrase_sealed`

func scanDestination(row pgx.Row) (Destination, error) {
	var d Destination
	var format, start string
	t := &d.Target
	err := row.Scan(&d.ID, &d.CompanyID, &d.Name, &d.Path, &format, &d.EventTypes, &d.Enabled, &start,
		&d.AlertURL, &d.CreatedAt, &d.UpdatedAt,
		&t.ID, &t.Name, &t.Host, &t.Port, &t.User, &t.HostKey, &t.BaseDir, &t.LegacyCrypto, &t.Shared,
		&t.sealedPassword, &t.sealedKey, &t.sealedPassphrase)
	if err != nil {
		return Destination{}, err
	}
	d.Format = file.Format(format)
	if d.StartDate, err = events.ParseDay(start); err != nil {
		return Destination{}, err
	}
	t.HasPassword = t.sealedPassword != nil
	t.HasKey = t.sealedKey != nil
	return d, nil
}

// Destination returns one destination with its target, secrets still sealed.
func (s *Store) Destination(ctx context.Context, id string) (Destination, error) {
	if _, err := uuid.Parse(id); err != nil {
		return Destination{}, fmt.Errorf("destination %q: %w", id, ErrNotFound)
	}
	d, err := scanDestination(s.db.QueryRow(ctx, `SELECT `+destinationColumns+`
		FROM destinations d JOIN targets t ON t.id = d.target_id WHERE d.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Destination{}, fmt.Errorf("destination %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Destination{}, fmt.Errorf("read destination %s: %w", id, err)
	}
	return d, nil
}

// Destinations lists every destination, oldest first.
func (s *Store) Destinations(ctx context.Context) ([]Destination, error) {
	rows, err := s.db.Query(ctx, `SELECT `+destinationColumns+`
		FROM destinations d JOIN targets t ON t.id = d.target_id ORDER BY d.created_at, d.id`)
	if err != nil {
		return nil, fmt.Errorf("list destinations: %w", err)
	}
	defer rows.Close()
	var out []Destination
	for rows.Next() {
		d, err := scanDestination(rows)
		if err != nil {
			return nil, fmt.Errorf("list destinations: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list destinations: %w", err)
	}
	return out, nil
}

// SetDestinationEnabled enables or disables a destination. A disabled destination gets no
// new scheduled runs.
func (s *Store) SetDestinationEnabled(ctx context.Context, id string, enabled bool) error {
	if _, err := uuid.Parse(id); err != nil {
		return fmt.Errorf("destination %q: %w", id, ErrNotFound)
	}
	tag, err := s.db.Exec(ctx, `UPDATE destinations SET enabled = $2, updated_at = now() WHERE id = $1`, id, enabled)
	if err != nil {
		return fmt.Errorf("update destination %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("destination %s: %w", id, ErrNotFound)
	}
	return nil
}

// PinHostKey records the host key of a target that has none pinned yet. It never replaces a
// pinned key: changing one is a deliberate act, not a side effect of a send.
func (s *Store) PinHostKey(ctx context.Context, targetID, pin string) error {
	tag, err := s.db.Exec(ctx, `UPDATE targets SET host_key = $2, updated_at = now() WHERE id = $1 AND host_key = ''`, targetID, pin)
	if err != nil {
		return fmt.Errorf("pin host key: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("pin host key: target %s already has a pinned host key", targetID)
	}
	return nil
}
