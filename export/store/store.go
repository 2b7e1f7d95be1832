package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/eventexport/eventexport/delivery"
	"github.com/eventexport/eventexport/events"
	"github.com/eventexport/eventexport/export/file"
	"github.com/eventexport/eventexport/export/schedule"
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

// CanSeal reports whether secrets can be stored and read, and if not, why.
func (s *Store) CanSeal() error {
	if s.sealer == nil {
		return s.noSealer
	}
	return nil
}

// Target is a server files are delivered to: its kind, its transport's settings and its
// secrets. Secrets are in the clear only after OpenSecrets, or when about to be stored.
type Target struct {
	ID     string
	Name   string
	Shared bool
	delivery.Target

	sealed map[string][]byte
}

// Destination is a company's integration: event types in one format, delivered to a target.
type Destination struct {
	ID         string
	CompanyID  string
	Name       string
	Target     Target
	Path       string // directory on the target (under its base directory, where it has one)
	Format     file.Format
	Options    file.Options
	EventTypes []string
	Enabled    bool
	StartDate  events.Day
	AlertURL   string
	// Schedule is the destination's windows: its periods of cadence and zone.
	Schedule []schedule.Period
	// SendAfter is how long after a window ends its file is due; nil for the default rule.
	SendAfter *time.Duration
	// LateEvents is what to do when events arrive after their window was delivered: one of
	// LateIgnore, LateReport, LateResend.
	LateEvents string
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// What to do with events that arrive after their window was delivered.
const (
	LateIgnore = "ignore"
	LateReport = "report"
	LateResend = "resend"
)

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

// NewDestination is what AddDestination stores: a destination on a shared target (TargetID),
// or on a target of its own (Target).
type NewDestination struct {
	CompanyID  string
	Name       string
	TargetID   string // a shared target; when empty, Target is stored as the destination's own
	Target     Target // secrets in the clear; sealed on the way in
	Path       string
	Format     file.Format
	Options    file.Options
	EventTypes []string
	StartDate  events.Day
	AlertURL   string
	Schedule   []schedule.Period // nil: one day period in the instance's zone
	SendAfter  *time.Duration
	LateEvents string // "": LateReport
}

// ParseUUID checks a UUID given by a user, naming the field when it is not one.
func ParseUUID(field, s string) (string, error) {
	u, err := uuid.Parse(strings.TrimSpace(s))
	if err != nil {
		return "", fmt.Errorf("%s %q is not a UUID", field, s)
	}
	return u.String(), nil
}

// HasSecretsToStore reports whether t holds a secret in the clear to be sealed.
func (t Target) HasSecretsToStore() bool {
	for _, v := range t.Secrets {
		if len(v) > 0 {
			return true
		}
	}
	return false
}

// sealSecrets seals t's clear secrets; an empty one stays empty (it is removed).
func (s *Store) sealSecrets(t Target) (names []string, sealed [][]byte, err error) {
	for name, v := range t.Secrets {
		var b []byte
		if len(v) > 0 {
			if s.sealer == nil {
				return nil, nil, s.noSealer
			}
			if b, err = s.sealer.Seal(v); err != nil {
				return nil, nil, err
			}
		}
		names, sealed = append(names, name), append(sealed, b)
	}
	return names, sealed, nil
}

// OpenSecrets decrypts the target's secrets into t.Secrets.
func (s *Store) OpenSecrets(t *Target) error {
	if len(t.sealed) == 0 {
		return nil
	}
	if s.sealer == nil {
		return s.noSealer
	}
	open := make(map[string][]byte, len(t.sealed))
	for name, v := range t.sealed {
		plain, err := s.sealer.Open(v)
		if err != nil {
			return fmt.Errorf("target %s %s: %w", t.ID, strings.ReplaceAll(name, "_", " "), err)
		}
		open[name] = plain
	}
	t.Secrets = open
	// Opened once: a second call (a caller checking first, then the delivery) finds nothing
	// sealed and does not decrypt again.
	t.sealed = nil
	return nil
}

// AddDestination stores a destination, and its own target when it does not use a shared
// one, in one transaction.
func (s *Store) AddDestination(ctx context.Context, nd NewDestination) (Destination, error) {
	var id string
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		targetID := nd.TargetID
		if targetID == "" {
			var err error
			if targetID, err = s.insertTarget(ctx, tx, nd.Target, false); err != nil {
				return err
			}
		} else if err := lockSharedTarget(ctx, tx, targetID); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `
			INSERT INTO destinations (company_id, name, target_id, path, format, event_types, start_date, alert_url, file_options,
				schedule, send_after_seconds, late_events)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
			RETURNING id`,
			nd.CompanyID, nd.Name, targetID, nd.Path, string(nd.Format), nd.EventTypes, nd.StartDate.String(), nd.AlertURL,
			nd.Options, periodsArg(nd.Schedule), secondsArg(nd.SendAfter), cmp.Or(nd.LateEvents, LateReport)).Scan(&id)
	})
	if err != nil {
		return Destination{}, fmt.Errorf("add destination: %w", err)
	}
	return s.Destination(ctx, id)
}

const destinationColumns = `
	d.id, d.company_id, d.name, d.path, d.format, d.file_options, d.event_types, d.enabled, d.start_date::text,
	d.alert_url, d.schedule, d.send_after_seconds, d.late_events, d.created_at, d.updated_at, ` + targetColumns

func scanDestination(row pgx.Row) (Destination, error) {
	var d Destination
	var format, start string
	var periods []byte
	var sendAfter *int64
	dest := []any{&d.ID, &d.CompanyID, &d.Name, &d.Path, &format, &d.Options, &d.EventTypes, &d.Enabled, &start,
		&d.AlertURL, &periods, &sendAfter, &d.LateEvents, &d.CreatedAt, &d.UpdatedAt}
	tv, scanned := targetScan()
	if err := row.Scan(append(dest, tv...)...); err != nil {
		return Destination{}, err
	}
	d.Target = scanned()
	d.Format = file.Format(format)
	var err error
	if d.StartDate, err = events.ParseDay(start); err != nil {
		return Destination{}, err
	}
	if d.Schedule, err = schedule.UnmarshalPeriods(periods); err != nil {
		return Destination{}, err
	}
	d.SendAfter = durationOf(sendAfter)
	return d, nil
}

// periodsArg is the stored form of a schedule; nil is the default, one day period.
func periodsArg(ps []schedule.Period) []byte {
	if len(ps) == 0 {
		ps = []schedule.Period{{Every: schedule.Day}}
	}
	b, _ := schedule.MarshalPeriods(ps) // plain values: cannot fail
	return b
}

// secondsArg stores a duration in whole seconds; nil is NULL.
func secondsArg(d *time.Duration) *int64 {
	if d == nil {
		return nil
	}
	s := int64(*d / time.Second)
	return &s
}

func durationOf(s *int64) *time.Duration {
	if s == nil {
		return nil
	}
	d := time.Duration(*s) * time.Second
	return &d
}

// Destination returns one destination with its target, secrets still sealed. A removed
// destination is not found.
func (s *Store) Destination(ctx context.Context, id string) (Destination, error) {
	if _, err := uuid.Parse(id); err != nil {
		return Destination{}, fmt.Errorf("destination %q: %w", id, ErrNotFound)
	}
	d, err := scanDestination(s.db.QueryRow(ctx, `SELECT `+destinationColumns+`
		FROM destinations d JOIN targets t ON t.id = d.target_id WHERE d.id = $1 AND d.removed_at IS NULL`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Destination{}, fmt.Errorf("destination %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Destination{}, fmt.Errorf("read destination %s: %w", id, err)
	}
	return d, nil
}

// Destinations lists every destination not removed, oldest first.
func (s *Store) Destinations(ctx context.Context) ([]Destination, error) {
	rows, err := s.db.Query(ctx, `SELECT `+destinationColumns+`
		FROM destinations d JOIN targets t ON t.id = d.target_id WHERE d.removed_at IS NULL ORDER BY d.created_at, d.id`)
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
	tag, err := s.db.Exec(ctx, `UPDATE destinations SET enabled = $2, updated_at = now(), next_plan_at = NULL WHERE id = $1 AND removed_at IS NULL`, id, enabled)
	if err != nil {
		return fmt.Errorf("update destination %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("destination %s: %w", id, ErrNotFound)
	}
	return nil
}

// ErrPinned is returned when a send would pin an identity on a target that has one pinned.
var ErrPinned = errors.New("the target already pins its server's identity")

// PinTarget stores settings that pin the identity a server presented, on a target whose
// settings are still was: a concurrent change (another pin, an update) wins, and this call
// fails with ErrPinned. A pinned identity is never replaced by a send.
func (s *Store) PinTarget(ctx context.Context, targetID string, was, settings []byte) error {
	tag, err := s.db.Exec(ctx, `UPDATE targets SET settings = $3, updated_at = now() WHERE id = $1 AND settings = $2::jsonb`,
		targetID, string(was), string(settings))
	if err != nil {
		return fmt.Errorf("pin the server's identity: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("target %s: %w", targetID, ErrPinned)
	}
	return nil
}
