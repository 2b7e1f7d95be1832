// Package migrations owns the database schema: numbered SQL files embedded in the binary and
// the code that applies them, serialized across replicas by a PostgreSQL advisory lock.
package migrations

import (
	"context"
	"embed"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/tern/v2/migrate"
)

//go:embed *.sql
var files embed.FS

// versionTable records the applied schema version, beside the exporter's tables.
const versionTable = "eventexport_schema_version"

// Migrate applies every pending migration. It is idempotent, and replicas that run it at the
// same time wait for each other on an advisory lock instead of colliding.
func Migrate(ctx context.Context, conn *pgx.Conn) (applied int, err error) {
	m, err := newMigrator(ctx, conn)
	if err != nil {
		return 0, err
	}
	// Counted as they run, under the lock: a replica that waited for another finds nothing to do.
	m.OnStart = func(int32, string, string, string) { applied++ }
	if err := m.Migrate(ctx); err != nil {
		return applied, fmt.Errorf("apply migrations: %w", err)
	}
	return applied, nil
}

// MigrateTo applies the pending migrations up to version, to test what a migration does to
// the data an earlier version left.
func MigrateTo(ctx context.Context, conn *pgx.Conn, version int32) error {
	m, err := newMigrator(ctx, conn)
	if err != nil {
		return err
	}
	if err := m.MigrateTo(ctx, version); err != nil {
		return fmt.Errorf("apply migrations to version %d: %w", version, err)
	}
	return nil
}

// Querier runs a query: a *pgx.Conn, *pgxpool.Pool or pgx.Tx.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Status reports the applied and the latest known schema version. It only reads: a database
// never migrated is at version 0.
func Status(ctx context.Context, q Querier) (current, latest int, err error) {
	names, err := migrate.FindMigrations(files)
	if err != nil {
		return 0, 0, fmt.Errorf("load migrations: %w", err)
	}
	rows, err := q.Query(ctx, `SELECT version FROM `+versionTable)
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // undefined_table: never migrated
			return 0, len(names), nil
		}
		return 0, 0, fmt.Errorf("read schema version: %w", err)
	}
	v, err := pgx.CollectExactlyOneRow(rows, pgx.RowTo[int])
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, len(names), nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, len(names), nil
}

func newMigrator(ctx context.Context, conn *pgx.Conn) (*migrate.Migrator, error) {
	m, err := migrate.NewMigratorEx(ctx, conn, versionTable, &migrate.MigratorOptions{})
	if err != nil {
		return nil, fmt.Errorf("prepare migrations: %w", err)
	}
	if err := m.LoadMigrations(files); err != nil {
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	return m, nil
}
