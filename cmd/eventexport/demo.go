package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/eventexport/eventexport/delivery"
	"github.com/eventexport/eventexport/delivery/sftpserver"
	"github.com/eventexport/eventexport/events"
	"github.com/eventexport/eventexport/export/file"
	"github.com/eventexport/eventexport/export/store"
	"github.com/eventexport/eventexport/migrations"
)

// demoSchema holds the demo's tables, apart from anything else in the database.
const demoSchema = "eventexport_demo"

// demoCompany is the customer whose events the demo delivers.
const demoCompany = "3aabdfb8-3891-5011-ad35-8e2351c5fdaf"

// cmdDemo runs the nightly job end to end with nothing to configure: it finds or starts
// PostgreSQL, starts an SFTP server on loopback that stores into ./demo-sftp/, seeds
// yesterday's courseComplete events and delivers them as JSON and CSV.
func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	fs := newFlagSet("demo", stderr)
	dir := fs.String("dir", "demo-sftp", "`DIR` the demo SFTP server stores files in")
	n := fs.Int("events", 25, "how many events to seed for yesterday")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	if *n < 0 {
		return badUsagef("--events must not be negative")
	}
	loc, err := loadLocation(getenv)
	if err != nil {
		return badUsage(err)
	}

	dbURL, stopDB, err := demoDatabase(ctx, getenv, stdout)
	if err != nil {
		return err
	}
	defer stopDB()
	pool, err := demoSchemaPool(ctx, dbURL)
	if err != nil {
		return err
	}
	defer pool.Close()

	root, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	srv, err := sftpserver.Start(sftpserver.Options{User: "demo", Password: "s3cret:p@ss/word", Root: root})
	if err != nil {
		return fmt.Errorf("start the demo SFTP server: %w", err)
	}
	defer srv.Close()
	fmt.Fprintf(stdout, "sftp server: %s storing into %s\n", srv.Addr(), root)

	sealer, err := demoSealer(getenv)
	if err != nil {
		return err
	}
	st := store.NewStore(pool, sealer, nil)
	day := events.DayBefore(time.Now(), loc)
	if err := seedDemoEvents(ctx, pool, day.Window(loc), *n); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "seeded %d courseComplete events for %s (%s) in schema %s\n", *n, day, loc, demoSchema)

	c := config{Location: loc, Sealer: sealer, ConnectTimeout: 60 * time.Second, AttemptTimeout: 5 * time.Minute}
	svc := newService(c, st, newLogger(stderr), nil)
	for _, f := range []file.Format{file.FormatJSON, file.FormatCSV} {
		in := delivery.Input{}
		for k, v := range map[string]any{"company_id": demoCompany, "name": "demo " + string(f), "format": f,
			"event_types": []string{events.CourseComplete.Name}, "start_date": day.String(),
			"url": srv.URL("/outbox/" + string(f)), "host_key": srv.HostKeyPin()} {
			if in[k], err = json.Marshal(v); err != nil {
				return err
			}
		}
		d, err := svc.AddDestination(ctx, in)
		if err != nil {
			return err
		}
		outs, err := svc.RunDay(ctx, d.ID, day, newLogger(stderr))
		if err != nil {
			return err
		}
		out := outs[0]
		if out.Err != nil {
			return fmt.Errorf("deliver the %s file: %w", f, out.Err)
		}
		local := filepath.Join(root, filepath.FromSlash(strings.TrimPrefix(out.RemotePath, "/")))
		fmt.Fprintf(stdout, "\ndelivered %s (%d events, %d bytes) over SFTP to %s\n  file: %s\n",
			strings.ToUpper(string(f)), out.Events, out.Bytes, out.RemotePath, local)
		if err := printHead(stdout, local, 4, 160); err != nil {
			return err
		}
	}
	return nil
}

// demoSchemaPool recreates the demo schema, migrates it and returns a pool on it.
func demoSchemaPool(ctx context.Context, dbURL string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return nil, badUsagef("database URL: %v", err)
	}
	admin, err := pgx.ConnectConfig(ctx, cfg.ConnConfig.Copy())
	if err != nil {
		return nil, fmt.Errorf("connect to the database: %w", err)
	}
	defer admin.Close(context.WithoutCancel(ctx))
	if _, err := admin.Exec(ctx, "DROP SCHEMA IF EXISTS "+demoSchema+" CASCADE; CREATE SCHEMA "+demoSchema); err != nil {
		return nil, fmt.Errorf("create schema %s: %w", demoSchema, err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = demoSchema
	conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig.Copy())
	if err != nil {
		return nil, fmt.Errorf("connect to the database: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := migrations.Migrate(ctx, conn); err != nil {
		return nil, err
	}
	return pgxpool.NewWithConfig(ctx, cfg)
}

// demoSealer uses EVENTEXPORT_SECRET_KEY when set, or a key that lives as long as the demo.
func demoSealer(getenv env) (*store.Sealer, error) {
	if v := getenv("EVENTEXPORT_SECRET_KEY"); v != "" {
		key, err := store.ParseSecretKey(v)
		if err != nil {
			return nil, badUsage(err)
		}
		return store.NewSealer(key)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	return store.NewSealer(key)
}

// seedDemoEvents writes n courseComplete events of the demo company across w, plus events
// that must not be delivered: another company's, and the demo company's on the days around.
func seedDemoEvents(ctx context.Context, pool *pgxpool.Pool, w events.Window, n int) error {
	evs := events.Samples(demoCompany, w, n, false)
	other := events.Samples("7b0c9a4e-51b5-4d0e-9a55-3c8f3f0e0b11", w, 3, false)
	before := events.Samples(demoCompany, events.Window{Start: w.Start.Add(-time.Hour), End: w.Start}, 2, false)
	after := events.Samples(demoCompany, events.Window{Start: w.End, End: w.End.Add(time.Hour)}, 2, false)
	all := append(append(append(evs, other...), before...), after...)
	_, err := pool.CopyFrom(ctx, pgx.Identifier{"events"}, []string{"id", "company_id", "type", "occurred_at", "payload"},
		pgx.CopyFromSlice(len(all), func(i int) ([]any, error) {
			e := all[i]
			return []any{e.ID, e.CompanyID, e.Type, e.OccurredAt, string(e.Payload)}, nil
		}))
	if err != nil {
		return fmt.Errorf("seed events: %w", err)
	}
	return nil
}

// printHead prints the first lines of a file, each cut to width characters.
func printHead(w io.Writer, path string, lines, width int) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 64<<20)
	for i := 0; i < lines && sc.Scan(); i++ {
		line := []rune(strings.TrimRight(sc.Text(), "\r"))
		if len(line) > width {
			line = append(line[:width], []rune(" …")...)
		}
		fmt.Fprintf(w, "  | %s\n", string(line))
	}
	return sc.Err()
}
