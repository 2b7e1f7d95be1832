package pgtest

import (
	"context"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/eventexport/eventexport/migrations"
)

func TestMain(m *testing.M) { Main(m) }

func count(t *testing.T, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := q.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func schemaExists(t *testing.T, name string) bool {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), BaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	return count(t, conn, "SELECT count(*) FROM pg_namespace WHERE nspname = $1", name) == 1
}

const insertEvents = `INSERT INTO events SELECT gen_random_uuid(), gen_random_uuid(), 'courseComplete', now(), '{}'
	FROM generate_series(1, $1)`

// A test's rows are gone for the next test, which gets the same schema back; a test that
// changes the schema's structure or migration records has it dropped.
func TestSchemasAreEmptiedOrDropped(t *testing.T) {
	ctx := context.Background()
	var prev string
	use := func(name string, f func(t *testing.T, db *DB)) {
		t.Run(name, func(t *testing.T) {
			db := New(t)
			if n := count(t, db.Pool, "SELECT count(*) FROM events"); n != 0 {
				t.Errorf("a new schema has %d events", n)
			}
			cur, latest, err := migrations.Status(ctx, db.Pool)
			if err != nil || cur != latest {
				t.Errorf("schema at version %d of %d (%v)", cur, latest, err)
			}
			prev = db.Schema
			f(t, db)
		})
	}
	exec := func(sql string, args ...any) func(t *testing.T, db *DB) {
		return func(t *testing.T, db *DB) {
			if _, err := db.Pool.Exec(ctx, sql, args...); err != nil {
				t.Fatal(err)
			}
		}
	}

	use("a few rows", exec(insertEvents, 10))
	first := prev
	use("reused", exec(insertEvents, reuseMaxRows+10))
	if prev != first {
		t.Errorf("the second test got schema %s, want %s again", prev, first)
	}
	use("after a big table", exec("ALTER TABLE events ADD COLUMN extra int"))
	if prev != first {
		t.Errorf("the third test got schema %s, want %s again", prev, first)
	}
	if schemaExists(t, first) {
		t.Errorf("schema %s, altered by a test, was not dropped", first)
	}
	use("fresh after a change", exec("UPDATE eventexport_schema_version SET version = 1"))
	if prev == first {
		t.Errorf("a test got the altered schema %s back", first)
	}
	if schemaExists(t, prev) {
		t.Errorf("schema %s, whose migration records a test changed, was not dropped", prev)
	}
	use("fresh again", func(*testing.T, *DB) {})
}

// A session a test leaves open is ended with the test: it cannot write into the next one's.
func TestLeftSessionsAreEnded(t *testing.T) {
	ctx := context.Background()
	var left *pgx.Conn
	t.Run("leaves a session", func(t *testing.T) {
		db := New(t)
		var err error
		if left, err = pgx.Connect(ctx, db.URL); err != nil {
			t.Fatal(err)
		}
	})
	defer left.Close(ctx)
	if _, err := left.Exec(ctx, insertEvents, 1); err == nil {
		t.Error("the session left open by a finished test can still write")
	}
}

// Tests running at once get schemas of their own.
func TestParallelTestsGetTheirOwnSchema(t *testing.T) {
	var mu sync.Mutex
	inUse := map[string]bool{}
	for i := range 4 {
		t.Run("", func(t *testing.T) {
			t.Parallel()
			db := New(t)
			if _, err := db.Pool.Exec(context.Background(), insertEvents, i+1); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			if inUse[db.Schema] {
				t.Errorf("schema %s given to two tests at once", db.Schema)
			}
			inUse[db.Schema] = true
			mu.Unlock()
			defer func() {
				mu.Lock()
				delete(inUse, db.Schema)
				mu.Unlock()
			}()
			if n := count(t, db.Pool, "SELECT count(*) FROM events"); n != i+1 {
				t.Errorf("%d events, want the %d inserted", n, i+1)
			}
		})
	}
}

// Empty gives a schema never migrated, dropped after the test.
func TestEmpty(t *testing.T) {
	var name string
	t.Run("empty", func(t *testing.T) {
		db := Empty(t)
		name = db.Schema
		if n := count(t, db.Pool, "SELECT count(*) FROM pg_tables WHERE schemaname = $1", db.Schema); n != 0 {
			t.Errorf("an empty schema has %d tables", n)
		}
		conn, err := pgx.Connect(context.Background(), db.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		if n, err := migrations.Migrate(context.Background(), conn); err != nil || n == 0 {
			t.Fatalf("Migrate = %d, %v; want all migrations applied", n, err)
		}
	})
	if schemaExists(t, name) {
		t.Errorf("empty schema %s not dropped", name)
	}
}

func TestReferencingFirst(t *testing.T) {
	refs := map[string][]string{"targets": {"destinations", "secrets"}, "destinations": {"runs"}, "runs": {"attempts"}}
	got := referencingFirst([]string{"targets", "attempts", "destinations", "events", "runs", "secrets"}, refs)
	pos := map[string]int{}
	for i, t := range got {
		pos[t] = i
	}
	for parent, children := range refs {
		for _, c := range children {
			if pos[c] > pos[parent] {
				t.Errorf("%s before %s, which references it: %v", parent, c, got)
			}
		}
	}
	if len(got) != 6 {
		t.Errorf("got %v", got)
	}
}

// BenchmarkNew is what pgtest.New and the end of a test cost: a migrated schema given and
// emptied for the next test.
func BenchmarkNew(b *testing.B) {
	BaseURL(b)
	ctx := context.Background()
	for b.Loop() {
		s, err := takeSchema(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if err := endSessions(ctx, s.name); err != nil {
			b.Fatal(err)
		}
		if err := release(s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFreshSchema is what a test's database cost before schemas were reused: a schema
// created, migrated and dropped.
func BenchmarkFreshSchema(b *testing.B) {
	BaseURL(b)
	ctx := context.Background()
	for b.Loop() {
		name, err := createSchema(ctx, "m")
		if err != nil {
			b.Fatal(err)
		}
		conn, err := pgx.Connect(ctx, searchPathURL(server.url, name))
		if err != nil {
			b.Fatal(err)
		}
		_, err = migrations.Migrate(ctx, conn)
		conn.Close(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if err := dropSchema(ctx, name); err != nil {
			b.Fatal(err)
		}
	}
}
