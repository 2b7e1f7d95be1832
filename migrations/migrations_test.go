package migrations_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/eventexport/eventexport/migrations"
	"github.com/eventexport/eventexport/migrations/pgtest"
)

// Two replicas migrating one database at the same moment must both succeed, and the schema
// must end up applied once.
func TestMigrateConcurrentAndIdempotent(t *testing.T) {
	db := pgtest.New(t) // already migrated once
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := pgx.Connect(ctx, db.URL)
			if err != nil {
				errs[i] = err
				return
			}
			defer conn.Close(ctx)
			n, err := migrations.Migrate(ctx, conn)
			if err == nil && n != 0 {
				t.Errorf("replica %d applied %d migrations on an up-to-date schema, want 0", i, n)
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
	}

	conn, err := pgx.Connect(ctx, db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	cur, latest, err := migrations.Status(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	if cur != latest || latest == 0 {
		t.Errorf("schema version = %d, latest = %d; want equal and non-zero", cur, latest)
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename IN ('events','targets','destinations','runs','attempts')", db.Schema).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 5 {
		t.Errorf("found %d of the 5 tables in schema %s", n, db.Schema)
	}
}

// Fresh replicas racing on an empty schema: exactly one applies the migrations.
func TestMigrateFreshRace(t *testing.T) {
	base := pgtest.BaseURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	schema := "eventexport_test_race"
	_, _ = admin.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = admin.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE") })
	u, err := pgtest.WithSearchPath(base, schema)
	if err != nil {
		t.Fatal(err)
	}

	// Status only reads: an empty schema is at version 0 and stays empty.
	probe, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	cur, latest, err := migrations.Status(ctx, probe)
	probe.Close(ctx)
	if err != nil || cur != 0 || latest == 0 {
		t.Fatalf("Status of an empty schema = %d, %d, %v; want 0, latest, nil", cur, latest, err)
	}
	var tables int
	if err := admin.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = $1", schema).Scan(&tables); err != nil || tables != 0 {
		t.Fatalf("Status created %d tables (%v)", tables, err)
	}

	var wg sync.WaitGroup
	applied := make([]int, 3)
	errs := make([]error, 3)
	for i := range applied {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := pgx.Connect(ctx, u)
			if err != nil {
				errs[i] = err
				return
			}
			defer conn.Close(ctx)
			applied[i], errs[i] = migrations.Migrate(ctx, conn)
		}()
	}
	wg.Wait()
	total := 0
	for i := range applied {
		if errs[i] != nil {
			t.Errorf("replica %d: %v", i, errs[i])
		}
		total += applied[i]
	}
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	_, latest, err = migrations.Status(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	if total != latest {
		t.Errorf("replicas applied %d migrations in all, want %d (each exactly once)", total, latest)
	}
}
