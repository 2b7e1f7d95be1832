// Package pgtest gives each test its own PostgreSQL schema, migrated from the embedded
// migrations, on a real server: DATABASE_URL; else PostgreSQL on 127.0.0.1:5432 if it lets
// user postgres in without a password; else a throwaway cluster started from the local server
// binaries, one per test binary (see package pgcluster).
//
// Creating and migrating a schema takes tens of milliseconds, and more with every migration,
// so a test binary keeps the schemas its tests are done with and gives them to later tests
// emptied: when a test ends, its schema's rows are deleted, unless the test changed the
// schema's structure or its migration records, in which case the schema is dropped. Cloning a
// template database instead (CREATE DATABASE ... TEMPLATE) copies a whole catalog and was
// slower still.
//
// Packages should stop what the tests started once they are done, with a TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// Without it, the throwaway cluster still ends with the test binary (on Linux), and the next
// test binary on the same server drops the schemas this one left.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/eventexport/eventexport/migrations"
	"github.com/eventexport/eventexport/migrations/pgcluster"
)

// DefaultURL is the server tried when DATABASE_URL is not set.
const DefaultURL = pgcluster.LocalURL

// schemaPrefix starts the names of the schemas this package makes, followed by the owning
// test binary's id in hex and a serial number.
const schemaPrefix = "eventexport_pgtest_"

// lockClass is the first key of the advisory lock a test binary holds on its id for as long as
// it runs: a lock nobody holds marks the schemas of a test binary that is gone.
const lockClass = 0x70677473 // "pgts"

// clusterEnv passes the URL of a throwaway cluster to the test binary's child processes (tests
// that run the binary again, in another time zone for instance), which use it rather than
// start clusters of their own. The cluster ends with the process that started it.
const clusterEnv = "EVENTEXPORT_PGTEST_CLUSTER"

// reuseMaxRows is how many rows a table may have for a test's schema to be emptied with
// DELETE; a bigger table is truncated.
const reuseMaxRows = 1000

// server is the test binary's PostgreSQL and what it made there.
var server struct {
	once sync.Once
	url  string
	how  string // which server, for the first test's log
	err  error

	stop   func() error // stops the throwaway cluster, if one was started
	id     uint32       // this test binary's id in the schema names
	keeper *pgx.Conn    // holds the advisory lock on id

	mu     sync.Mutex
	closed bool
	serial int
	admins []*pgx.Conn         // idle connections to url
	free   []*schema           // migrated schemas that no test uses
	made   map[string]struct{} // every schema made and not dropped yet
}

// BaseURL returns the server the tests use, failing tb with a clear message when there is none.
func BaseURL(tb testing.TB) string {
	tb.Helper()
	server.once.Do(func() {
		server.err = setup()
		if server.err == nil {
			tb.Logf("pgtest: %s", server.how)
		}
	})
	if server.err != nil {
		tb.Fatal(server.err)
	}
	return server.url
}

// setup finds or starts the server, takes this binary's id and drops what dead ones left.
func setup() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if u := os.Getenv("DATABASE_URL"); u != "" {
		if err := pgcluster.Ping(ctx, u); err != nil {
			return fmt.Errorf("these tests need PostgreSQL: DATABASE_URL=%s does not answer: %v", redact(u), err)
		}
		server.url, server.how = u, "DATABASE_URL="+redact(u)
	} else if err := pgcluster.Ping(ctx, DefaultURL); err == nil {
		server.url, server.how = DefaultURL, "PostgreSQL on 127.0.0.1:5432"
	} else if u := os.Getenv(clusterEnv); u != "" && pgcluster.Ping(ctx, u) == nil {
		server.url, server.how = u, "the parent test process's throwaway cluster at "+u
	} else {
		bin, berr := pgcluster.FindBin()
		if berr != nil {
			return fmt.Errorf("these tests need PostgreSQL: DATABASE_URL is not set, user postgres cannot log in "+
				"to 127.0.0.1:5432 (%v), and there are no PostgreSQL server binaries to start a throwaway cluster "+
				"with. Install them (Debian/Ubuntu: apt-get install postgresql) or set DATABASE_URL", err)
		}
		u, stop, serr := pgcluster.Start(ctx, pgcluster.Options{Bin: bin})
		if serr != nil {
			return fmt.Errorf("these tests need PostgreSQL: 127.0.0.1:5432 did not let user postgres in (%v), "+
				"and a throwaway cluster from %s did not start: %v", err, bin, serr)
		}
		server.url, server.stop = u, stop
		os.Setenv(clusterEnv, u)
		server.how = fmt.Sprintf("a throwaway cluster from %s at %s (127.0.0.1:5432: %v)", bin, u, err)
	}
	if err := claimID(ctx); err != nil {
		if server.stop != nil {
			server.stop()
		}
		return err
	}
	sweep(ctx)
	return nil
}

// claimID picks this binary's id and takes its advisory lock on a connection kept open until
// Close: its schemas are safe from other binaries' sweeps while the connection lives.
func claimID(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, server.url)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", redact(server.url), err)
	}
	for range 10 {
		var b [4]byte
		_, _ = rand.Read(b[:])
		id := binary.BigEndian.Uint32(b[:])
		var ok bool
		if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1, $2)", int32(lockClass), int32(id)).Scan(&ok); err != nil {
			conn.Close(ctx)
			return fmt.Errorf("take the test binary's advisory lock: %w", err)
		}
		if ok {
			server.id, server.keeper = id, conn
			server.made = map[string]struct{}{}
			return nil
		}
	}
	conn.Close(ctx)
	return errors.New("no free test binary id: ten advisory locks taken")
}

var schemaName = regexp.MustCompile("^" + schemaPrefix + "([0-9a-f]{8})_")

// sweep drops the schemas of test binaries that ended without Close (killed, or no TestMain).
func sweep(ctx context.Context) {
	rows, err := server.keeper.Query(ctx, "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1)", schemaPrefix)
	if err != nil {
		return
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return
	}
	byOwner := map[uint32][]string{}
	for _, n := range names {
		m := schemaName.FindStringSubmatch(n)
		if m == nil {
			continue
		}
		id, _ := strconv.ParseUint(m[1], 16, 32)
		if uint32(id) != server.id {
			byOwner[uint32(id)] = append(byOwner[uint32(id)], n)
		}
	}
	for id, schemas := range byOwner {
		var free bool
		if err := server.keeper.QueryRow(ctx, "SELECT pg_try_advisory_lock($1, $2)", int32(lockClass), int32(id)).Scan(&free); err != nil || !free {
			continue // its binary still runs
		}
		for _, s := range schemas {
			_, _ = server.keeper.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{s}.Sanitize()+" CASCADE")
		}
		_, _ = server.keeper.Exec(ctx, "SELECT pg_advisory_unlock($1, $2)", int32(lockClass), int32(id))
	}
}

// Close drops the schemas this test binary made and stops the throwaway cluster, if any. Call
// it after the tests have run (Main does); New fails after it.
func Close() error {
	server.mu.Lock()
	if server.closed || server.keeper == nil {
		server.closed = true
		server.mu.Unlock()
		return nil
	}
	server.closed = true
	admins, made := server.admins, server.made
	server.admins, server.free, server.made = nil, nil, nil
	server.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, c := range admins {
		c.Close(ctx)
	}
	var errs []error
	if server.stop != nil {
		// The whole cluster goes: no need to drop anything in it.
		server.keeper.Close(ctx)
		errs = append(errs, server.stop())
	} else {
		for s := range made {
			if _, err := server.keeper.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{s}.Sanitize()+" CASCADE"); err != nil {
				errs = append(errs, fmt.Errorf("drop schema %s: %w", s, err))
			}
		}
		errs = append(errs, server.keeper.Close(ctx)) // releases the advisory lock
	}
	return errors.Join(errs...)
}

// Main runs the tests, then Close, and exits: a TestMain for packages that use pgtest.
func Main(m *testing.M) {
	code := m.Run()
	if err := Close(); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// DB is one test's isolated database: a schema of its own on the test server.
type DB struct {
	// URL connects to the schema (search_path is set in it); pass it to the binary as DATABASE_URL.
	URL    string
	Schema string
	Pool   *pgxpool.Pool
}

// New gives tb a migrated schema with empty tables, for tb alone until it ends.
func New(tb testing.TB) *DB {
	tb.Helper()
	BaseURL(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := takeSchema(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	return open(tb, s.name, func() error { return release(s) })
}

// Empty gives tb an empty schema, never migrated, dropped when tb ends.
func Empty(tb testing.TB) *DB {
	tb.Helper()
	BaseURL(tb)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	name, err := createSchema(ctx, "e")
	if err != nil {
		tb.Fatal(err)
	}
	return open(tb, name, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := endSessions(ctx, name); err != nil {
			return err
		}
		return dropSchema(ctx, name)
	})
}

// open returns the DB of schema, with done registered to run when tb ends, after the pool
// is closed.
func open(tb testing.TB, schema string, done func() error) *DB {
	tb.Helper()
	u := schemaURL(server.url, schema)
	pool, err := pgxpool.New(context.Background(), u)
	if err != nil {
		_ = done()
		tb.Fatalf("open pool on schema %s: %v", schema, err)
	}
	tb.Cleanup(func() {
		pool.Close()
		if err := done(); err != nil {
			tb.Errorf("pgtest: %v", err)
		}
	})
	return &DB{URL: u, Schema: schema, Pool: pool}
}

// schema is a migrated schema with what is needed to tell whether a test changed more than
// its rows.
type schema struct {
	name    string
	catalog string            // fingerprint of the schema's catalog rows
	seeded  map[string]string // tables with rows after migration: checksum of the rows
	tables  []string          // the other tables, referencing tables before those they reference
}

// takeSchema returns a free migrated schema, or makes one.
func takeSchema(ctx context.Context) (*schema, error) {
	server.mu.Lock()
	if server.closed {
		server.mu.Unlock()
		return nil, errors.New("pgtest: New after Close")
	}
	if n := len(server.free); n > 0 {
		s := server.free[n-1]
		server.free = server.free[:n-1]
		server.mu.Unlock()
		return s, nil
	}
	server.mu.Unlock()

	name, err := createSchema(ctx, "m")
	if err != nil {
		return nil, err
	}
	// tern resets the session after each migration, so it gets a connection of its own.
	conn, err := pgx.Connect(ctx, searchPathURL(server.url, name))
	if err != nil {
		return nil, fmt.Errorf("connect to schema %s: %w", name, err)
	}
	_, err = migrations.Migrate(ctx, conn)
	conn.Close(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate schema %s: %w", name, err)
	}
	s := &schema{name: name, seeded: map[string]string{}}
	err = withAdmin(ctx, func(c *pgx.Conn) error {
		return pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error { return s.describe(ctx, tx) })
	})
	if err != nil {
		return nil, fmt.Errorf("describe schema %s: %w", name, err)
	}
	return s, nil
}

// createSchema makes a new schema of this binary's, kind being "m" (migrated) or "e" (empty).
func createSchema(ctx context.Context, kind string) (string, error) {
	server.mu.Lock()
	if server.closed {
		server.mu.Unlock()
		return "", errors.New("pgtest: New after Close")
	}
	server.serial++
	name := fmt.Sprintf("%s%08x_%s%d", schemaPrefix, server.id, kind, server.serial)
	server.made[name] = struct{}{}
	server.mu.Unlock()
	err := withAdmin(ctx, func(c *pgx.Conn) error {
		_, err := c.Exec(ctx, "CREATE SCHEMA "+name)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("create schema %s: %w", name, err)
	}
	return name, nil
}

// describe records s's catalog fingerprint, its seeded tables' checksums and the order to
// empty the other tables in.
func (s *schema) describe(ctx context.Context, tx pgx.Tx) error {
	if err := tx.QueryRow(ctx, catalogFingerprint, s.name).Scan(&s.catalog); err != nil {
		return err
	}
	rows, err := tx.Query(ctx, `SELECT c.relname FROM pg_class c
		WHERE c.relnamespace = $1::regnamespace AND c.relkind IN ('r', 'p')`, s.name)
	if err != nil {
		return err
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	var empty []string
	for _, t := range tables {
		var any bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT FROM "+s.qualify(t)+")").Scan(&any); err != nil {
			return err
		}
		if !any {
			empty = append(empty, t)
			continue
		}
		sum, err := s.checksum(ctx, tx, t)
		if err != nil {
			return err
		}
		s.seeded[t] = sum
	}
	// Foreign keys among the tables to empty: referencing tables go first.
	rows, err = tx.Query(ctx, `SELECT c.conrelid::regclass::text, c.confrelid::regclass::text FROM pg_constraint c
		WHERE c.contype = 'f' AND c.connamespace = $1::regnamespace`, s.name)
	if err != nil {
		return err
	}
	refs := map[string][]string{} // table -> tables referencing it
	err = forEachRow(rows, func(child, parent string) {
		child, parent = s.unqualify(child), s.unqualify(parent)
		if child != parent {
			refs[parent] = append(refs[parent], child)
		}
	})
	if err != nil {
		return err
	}
	s.tables = referencingFirst(empty, refs)
	return nil
}

// catalogFingerprint sums the identity and row version of the catalog rows of schema $1: of
// the objects in it (found by their dependency on it), and of its relations' columns,
// defaults, constraints, indexes, triggers, rules and policies. DDL in the schema changes
// it; DML, VACUUM and ANALYZE do not. Every lookup is by index: the catalogs of a busy
// shared server are not scanned.
const catalogFingerprint = `WITH objs AS MATERIALIZED (
  SELECT classid, objid, xmin FROM pg_depend
  WHERE refclassid = 'pg_namespace'::regclass AND refobjid = $1::regnamespace),
rels AS MATERIALIZED (SELECT objid AS oid FROM objs WHERE classid = 'pg_class'::regclass),
idx AS MATERIALIZED (SELECT indexrelid AS oid, xmin FROM pg_index WHERE indrelid IN (SELECT oid FROM rels))
SELECT md5(string_agg(r, ',' ORDER BY r)) FROM (
  SELECT 'n' || xmin FROM pg_namespace WHERE oid = $1::regnamespace
  UNION ALL SELECT 'd' || classid || '.' || objid || ':' || xmin FROM objs
  UNION ALL SELECT 'c' || oid || ':' || xmin FROM pg_class WHERE oid IN (SELECT oid FROM rels UNION ALL SELECT oid FROM idx)
  UNION ALL SELECT 'i' || oid || ':' || xmin FROM idx
  UNION ALL SELECT 'a' || attrelid || '.' || attnum || ':' || xmin FROM pg_attribute WHERE attrelid IN (SELECT oid FROM rels)
  UNION ALL SELECT 'f' || oid || ':' || xmin FROM pg_attrdef WHERE adrelid IN (SELECT oid FROM rels)
  UNION ALL SELECT 'k' || oid || ':' || xmin FROM pg_constraint WHERE conrelid IN (SELECT oid FROM rels)
  UNION ALL SELECT 't' || oid || ':' || xmin FROM pg_trigger WHERE tgrelid IN (SELECT oid FROM rels)
  UNION ALL SELECT 'r' || oid || ':' || xmin FROM pg_rewrite WHERE ev_class IN (SELECT oid FROM rels)
  UNION ALL SELECT 'p' || oid || ':' || xmin FROM pg_policy WHERE polrelid IN (SELECT oid FROM rels)
  UNION ALL SELECT 'o' || oid || ':' || xmin FROM pg_proc WHERE oid IN (SELECT objid FROM objs WHERE classid = 'pg_proc'::regclass)
  UNION ALL SELECT 'y' || oid || ':' || xmin FROM pg_type WHERE oid IN (SELECT objid FROM objs WHERE classid = 'pg_type'::regclass)
  UNION ALL SELECT 'e' || oid || ':' || xmin FROM pg_enum WHERE enumtypid IN (SELECT objid FROM objs WHERE classid = 'pg_type'::regclass)
) f(r)`

func (s *schema) qualify(table string) string { return pgx.Identifier{s.name, table}.Sanitize() }

// unqualify strips the schema from a regclass's text.
func (s *schema) unqualify(rel string) string {
	rel = strings.TrimPrefix(rel, s.name+".")
	return strings.Trim(rel, `"`)
}

func (s *schema) checksum(ctx context.Context, tx pgx.Tx, table string) (string, error) {
	var sum string
	err := tx.QueryRow(ctx, "SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) FROM "+s.qualify(table)+" t").Scan(&sum)
	return sum, err
}

// errChanged says a test changed a schema's structure or seeded rows.
var errChanged = errors.New("changed")

// release empties s for the next test, or drops it when the test changed its structure or its
// seeded rows, or when emptying fails.
func release(s *schema) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := endSessions(ctx, s.name)
	if err == nil {
		err = withAdmin(ctx, func(c *pgx.Conn) error {
			return pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error { return s.reset(ctx, tx) })
		})
	}
	server.mu.Lock()
	if server.closed { // Close dropped it, or the cluster is gone
		server.mu.Unlock()
		return nil
	}
	if err == nil {
		server.free = append(server.free, s)
		server.mu.Unlock()
		return nil
	}
	server.mu.Unlock()
	return dropSchema(ctx, s.name)
}

// reset empties s's tables, or fails if s is not as migrated but for its rows.
func (s *schema) reset(ctx context.Context, tx pgx.Tx) error {
	var catalog string
	if err := tx.QueryRow(ctx, catalogFingerprint, s.name).Scan(&catalog); err != nil {
		return err
	}
	if catalog != s.catalog {
		return errChanged
	}
	for t, want := range s.seeded {
		got, err := s.checksum(ctx, tx, t)
		if err != nil {
			return err
		}
		if got != want {
			return errChanged
		}
	}
	if len(s.tables) == 0 {
		return nil
	}
	// Up to reuseMaxRows+1 rows counted per table, in one query.
	counts := make([]string, len(s.tables))
	for i, t := range s.tables {
		counts[i] = fmt.Sprintf("(SELECT count(*) FROM (SELECT FROM %s LIMIT %d) x)", s.qualify(t), reuseMaxRows+1)
	}
	n := make([]int64, len(s.tables))
	dest := make([]any, len(n))
	for i := range n {
		dest[i] = &n[i]
	}
	if err := tx.QueryRow(ctx, "SELECT "+strings.Join(counts, ", ")).Scan(dest...); err != nil {
		return err
	}
	var del, trunc []string
	for i, t := range s.tables {
		switch {
		case n[i] > reuseMaxRows:
			trunc = append(trunc, s.qualify(t))
		case n[i] > 0:
			del = append(del, "DELETE FROM "+s.qualify(t))
		}
	}
	if len(trunc) > 0 {
		// A big table is truncated rather than left full of dead rows; truncating all the
		// tables with rows keeps the foreign keys happy.
		for i, t := range s.tables {
			if n[i] > 0 && n[i] <= reuseMaxRows {
				trunc = append(trunc, s.qualify(t))
			}
		}
		del = []string{"TRUNCATE " + strings.Join(trunc, ", ") + " CASCADE"}
	}
	if len(del) > 0 {
		if _, err := tx.Exec(ctx, strings.Join(del, "; ")); err != nil {
			return err
		}
	}
	// Sequences start over.
	if _, err := tx.Exec(ctx, `SELECT setval(format('%I.%I', schemaname, sequencename), start_value, false)
		FROM pg_sequences WHERE schemaname = $1 AND last_value IS NOT NULL`, s.name); err != nil {
		return err
	}
	if len(trunc) > 0 { // truncation gives tables new files, so new catalog rows
		return tx.QueryRow(ctx, catalogFingerprint, s.name).Scan(&s.catalog)
	}
	return nil
}

// endSessions ends the server sessions still connected to schema (the URL names them after
// it): whatever a test left running must not write into the next test's tables.
func endSessions(ctx context.Context, schema string) error {
	return withAdmin(ctx, func(c *pgx.Conn) error {
		for i := 0; ; i++ {
			var n int
			err := c.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
				WHERE application_name = $1 AND pid <> pg_backend_pid()`, schema).Scan(&n)
			if err != nil {
				return fmt.Errorf("end the sessions on schema %s: %w", schema, err)
			}
			if n == 0 {
				return nil
			}
			if i == 1000 {
				return fmt.Errorf("sessions on schema %s still there 2s after being terminated", schema)
			}
			time.Sleep(2 * time.Millisecond)
		}
	})
}

func dropSchema(ctx context.Context, name string) error {
	err := withAdmin(ctx, func(c *pgx.Conn) error {
		_, err := c.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE")
		return err
	})
	if err != nil {
		return fmt.Errorf("drop schema %s: %w", name, err)
	}
	server.mu.Lock()
	delete(server.made, name)
	server.mu.Unlock()
	return nil
}

// withAdmin runs f on an idle connection to the server, opening one if there is none.
func withAdmin(ctx context.Context, f func(*pgx.Conn) error) error {
	server.mu.Lock()
	var c *pgx.Conn
	if n := len(server.admins); n > 0 {
		c = server.admins[n-1]
		server.admins = server.admins[:n-1]
	}
	server.mu.Unlock()
	if c == nil {
		var err error
		if c, err = pgx.Connect(ctx, server.url); err != nil {
			return fmt.Errorf("connect to %s: %w", redact(server.url), err)
		}
	}
	err := f(c)
	server.mu.Lock()
	if err == nil && !server.closed && !c.IsClosed() && c.PgConn().TxStatus() == 'I' {
		server.admins = append(server.admins, c)
		c = nil
	}
	server.mu.Unlock()
	if c != nil {
		c.Close(context.Background())
	}
	return err
}

// referencingFirst orders tables so that each comes before the tables it references (refs maps
// a table to those referencing it); tables in a cycle come last, in name order.
func referencingFirst(tables []string, refs map[string][]string) []string {
	in := map[string]bool{}
	for _, t := range tables {
		in[t] = true
	}
	var out []string
	done := map[string]bool{}
	for len(out) < len(tables) {
		progress := false
		for _, t := range tables {
			if done[t] {
				continue
			}
			ready := true
			for _, r := range refs[t] {
				if in[r] && !done[r] {
					ready = false
				}
			}
			if ready {
				out, done[t], progress = append(out, t), true, true
			}
		}
		if !progress { // a cycle: DELETE may fail, and then the schema is dropped
			for _, t := range tables {
				if !done[t] {
					out, done[t] = append(out, t), true
				}
			}
		}
	}
	return out
}

func forEachRow(rows pgx.Rows, f func(a, b string)) error {
	defer rows.Close()
	for rows.Next() {
		var a, b string
		if err := rows.Scan(&a, &b); err != nil {
			return err
		}
		f(a, b)
	}
	return rows.Err()
}

// schemaURL is connString with search_path set to schema, and the sessions named after it.
func schemaURL(connString, schema string) string {
	u := searchPathURL(connString, schema)
	if strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://") {
		pu, _ := url.Parse(u)
		q := pu.Query()
		q.Set("application_name", schema)
		pu.RawQuery = q.Encode()
		return pu.String()
	}
	return u + " application_name=" + schema
}

// searchPathURL is WithSearchPath for a connString known to parse.
func searchPathURL(connString, schema string) string {
	u, err := WithSearchPath(connString, schema)
	if err != nil {
		panic(err)
	}
	return u
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
