package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"

	"github.com/eventexport/eventexport/migrations"
)

func cmdMigrate(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	fs := newFlagSet("migrate", stderr)
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	c, err := loadConfig(getenv)
	if err != nil {
		return badUsage(err)
	}
	n, err := migrate(ctx, c.DatabaseURL)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "applied %d migration(s); schema is current\n", n)
	return nil
}

func migrate(ctx context.Context, databaseURL string) (int, error) {
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		return 0, fmt.Errorf("connect to the database: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return migrations.Migrate(ctx, conn)
}

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("eventexport "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses flags placed before, between or after positional arguments, and checks
// that exactly npos positional arguments were given.
func parseFlags(fs *flag.FlagSet, args []string, npos int) error {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if err == flag.ErrHelp {
				return &exitError{code: exitOK}
			}
			return badUsage(err)
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if len(pos) != npos {
		return badUsagef("want %d argument(s), got %d: %q", npos, len(pos), pos)
	}
	// Make the positional arguments available through fs.Args.
	return fs.Parse(append([]string{"--"}, pos...))
}
