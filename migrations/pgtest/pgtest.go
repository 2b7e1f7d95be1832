// Package pgtest gives each test its own PostgreSQL schema, migrated from the embedded
// migrations, on a real server: DATABASE_URL, or else PostgreSQL on 127.0.0.1:5432.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/eventexport/eventexport/migrations"
)

// DefaultURL is the server tried when DATABASE_URL is not set.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// BaseURL returns the server the tests use, failing tb with a clear message when none answers.
func BaseURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("DATABASE_URL")
	if u == "" {
		u = DefaultURL
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		tb.Fatalf("these tests need PostgreSQL: none answered at %s (%v); start one or set DATABASE_URL", redact(u), err)
	}
	conn.Close(ctx)
	return u
}

// DB is one test's isolated database: a fresh schema on the test server.
type DB struct {
	// URL connects to the schema (search_path is set in it); pass it to the binary as DATABASE_URL.
	URL    string
	Schema string
	Pool   *pgxpool.Pool
}

// New creates a schema, applies the migrations in it and drops it when the test ends.
func New(tb testing.TB) *DB {
	tb.Helper()
	base := BaseURL(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "eventexport_test_" + hex.EncodeToString(b[:])

	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		tb.Fatalf("connect to %s: %v", redact(base), err)
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		tb.Fatalf("create schema %s: %v", schema, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})

	u, err := WithSearchPath(base, schema)
	if err != nil {
		tb.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		tb.Fatalf("connect to schema %s: %v", schema, err)
	}
	if _, err := migrations.Migrate(ctx, conn); err != nil {
		conn.Close(ctx)
		tb.Fatalf("migrate schema %s: %v", schema, err)
	}
	conn.Close(ctx)

	pool, err := pgxpool.New(context.Background(), u)
	if err != nil {
		tb.Fatalf("open pool on schema %s: %v", schema, err)
	}
	tb.Cleanup(pool.Close)
	return &DB{URL: u, Schema: schema, Pool: pool}
}

// WithSearchPath returns connString with search_path set to schema, for URL and keyword/value forms.
func WithSearchPath(connString, schema string) (string, error) {
	if strings.HasPrefix(connString, "postgres://") || strings.HasPrefix(connString, "postgresql://") {
		u, err := url.Parse(connString)
		if err != nil {
			return "", fmt.Errorf("parse database URL: %w", err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	return connString + " search_path=" + schema, nil
}

func redact(connString string) string {
	u, err := url.Parse(connString)
	if err != nil || u.User == nil {
		return connString
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
