// Command eventexport-bench measures whole runs: it seeds N courseComplete events for one
// company and day, then runs `eventexport run` as a child process delivering that day into a
// local SFTP server, and reports events/s, MB/s and the child's peak RSS. With -baseline it
// also measures, in the same way, a minimal streaming program (pgx → JSON array → SFTP with
// concurrent writes) for comparison.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/eventexport/eventexport/events"
	"github.com/eventexport/eventexport/events/eventstest"
	"github.com/eventexport/eventexport/migrations"
)

const (
	schema  = "eventexport_bench"
	company = "5b1c3e9e-6f1d-4c53-9c0e-5e2b8d7a4f10"
)

var benchDay = events.Day{Year: 2026, Month: time.March, Day: 8} // a 23-hour day in New York

func main() {
	n := flag.Int("events", 1_000_000, "events in the day")
	format := flag.String("format", "json", "file format: json, csv, jsonl or json-flat")
	var options stringList
	flag.Var(&options, "option", "a file option flag of destinations add, such as --compress=gzip, --encrypt-to=FILE or --max-file-size=15MB (repeatable)")
	bin := flag.String("bin", "bin/eventexport", "the eventexport binary to measure")
	baseline := flag.Bool("baseline", false, "also measure the minimal streaming program")
	repeat := flag.Int("repeat", 1, "runs to measure")
	server := flag.String("server", "sshd", "SFTP server to deliver to: sshd (OpenSSH on a loopback port) or inprocess")
	child := flag.Bool("baseline-child", false, "internal: run the minimal program")
	flag.Parse()
	if *child {
		if err := baselineChild(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if err := bench(*n, *format, options, *bin, *server, *baseline, *repeat); err != nil {
		fmt.Fprintln(os.Stderr, "eventexport-bench:", err)
		os.Exit(1)
	}
}

func bench(n int, format string, options []string, bin, server string, baseline bool, repeat int) error {
	ctx := context.Background()
	base := os.Getenv("DATABASE_URL")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	cfg, err := pgxpool.ParseConfig(base)
	if err != nil {
		return err
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := seed(ctx, base, pool, n); err != nil {
		return err
	}

	srv, err := startServer(server)
	if err != nil {
		return err
	}
	defer srv.close()

	key := make([]byte, 32)
	_, _ = rand.Read(key)
	dbURL := withSearchPath(base)
	env := append(os.Environ(), "DATABASE_URL="+dbURL, "EVENTEXPORT_TIMEZONE=America/New_York",
		"EVENTEXPORT_SECRET_KEY="+base64.StdEncoding.EncodeToString(key))
	if _, err := pool.Exec(ctx, "DELETE FROM attempts; DELETE FROM runs; DELETE FROM destinations; DELETE FROM targets"); err != nil {
		return err
	}
	out, err := command(bin, env, append([]string{"destinations", "add", "--company", company, "--url", srv.url,
		"--format", format, "--host-key", srv.pin}, append(srv.args, options...)...)...).Output()
	if err != nil {
		return fmt.Errorf("destinations add: %w", err)
	}
	dest := strings.TrimSpace(string(out))

	fmt.Printf("day %s, %d events, format %s %v, %s on %s\n", benchDay, n, format, options, srv.name, srv.addr)
	for range repeat {
		if err := measure("eventexport run", command(bin, env, "run", "--destination", dest, "--date", benchDay.String()), n); err != nil {
			return err
		}
		if baseline {
			self, _ := os.Executable()
			c := command(self, append(env, "BENCH_SFTP_ADDR="+srv.addr, "BENCH_SFTP_USER="+srv.user,
				"BENCH_SFTP_PASSWORD="+srv.password, "BENCH_SFTP_KEY="+srv.keyFile, "BENCH_SFTP_DIR="+srv.dir), "-baseline-child")
			if err := measure("baseline", c, n); err != nil {
				return err
			}
		}
		files, _ := filepath.Glob(filepath.Join(srv.local, "*"))
		for _, f := range files {
			os.Remove(f)
		}
	}
	return nil
}

func command(bin string, env []string, args ...string) *exec.Cmd {
	c := exec.Command(bin, args...)
	c.Env = env
	c.Stderr = os.Stderr
	return c
}

// measure runs c and reports its wall time, throughput and peak RSS.
func measure(name string, c *exec.Cmd, n int) error {
	var out bytes.Buffer
	c.Stdout = &out
	start := time.Now()
	if err := c.Run(); err != nil {
		return fmt.Errorf("%s: %w\n%s", name, err, out.String())
	}
	wall := time.Since(start)
	var bytesOut int64
	if f := strings.Fields(out.String()); len(f) >= 5 {
		fmt.Sscan(f[3], &bytesOut)
	}
	ru := c.ProcessState.SysUsage().(*syscall.Rusage)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	fmt.Printf("%-16s %8.2f s  %10.0f events/s  %7.1f MB/s  peak RSS %5.1f MiB  CPU %5.2f s  (%d bytes)\n", name,
		wall.Seconds(), float64(n)/wall.Seconds(), float64(bytesOut)/1e6/wall.Seconds(), float64(ru.Maxrss)/1024, // KiB on Linux
		cpu.Seconds(), bytesOut)
	return nil
}

// seed fills the bench schema with n events for the bench day, unless it already holds them.
func seed(ctx context.Context, base string, pool *pgxpool.Pool, n int) error {
	var have int
	err := pool.QueryRow(ctx, "SELECT count(*) FROM events WHERE company_id = $1", company).Scan(&have)
	if err == nil && have == n {
		return nil
	}
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		return err
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE; CREATE SCHEMA "+schema); err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, withSearchPath(base))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if _, err := migrations.Migrate(ctx, conn); err != nil {
		return err
	}
	fmt.Printf("seeding %d events…\n", n)
	ny, _ := time.LoadLocation("America/New_York")
	w := benchDay.Window(ny)
	step := w.Duration() / time.Duration(max(n, 1))
	i := 0
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"events"}, []string{"id", "company_id", "type", "occurred_at", "payload"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i == n {
				return nil, nil
			}
			id := uuid.NewString()
			row := []any{id, company, events.CourseComplete.Name, w.Start.Add(time.Duration(i) * step),
				string(eventstest.CourseCompletePayload(i, id, company))}
			i++
			return row, nil
		}))
	if err != nil {
		return err
	}
	_, err = conn.Exec(ctx, "VACUUM ANALYZE events")
	return err
}

func withSearchPath(base string) string {
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema
}

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, " ") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }
