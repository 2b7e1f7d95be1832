package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/eventexport/eventexport/delivery"
	"github.com/eventexport/eventexport/delivery/sftp"
	"github.com/eventexport/eventexport/events"
	"github.com/eventexport/eventexport/export"
	"github.com/eventexport/eventexport/export/store"
)

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	fs := newFlagSet("run", stderr)
	destID := fs.String("destination", "", "destination `ID`")
	date := fs.String("date", "", "the day to export, `YYYY-MM-DD`, in the instance time zone")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	if *destID == "" {
		return badUsagef("--destination is required")
	}
	if *date == "" {
		return badUsagef("--date is required (YYYY-MM-DD)")
	}
	day, err := events.ParseDay(*date)
	if err != nil {
		return badUsage(fmt.Errorf("--date: %w", err))
	}
	c, st, closeDB, err := openStoreFromEnv(ctx, getenv)
	if err != nil {
		return err
	}
	defer closeDB()
	d, err := loadDestination(ctx, st, *destID)
	if err != nil {
		return err
	}
	// Open the secrets and check the event types before any run is recorded: a configuration
	// problem changes nothing.
	if err := st.OpenSecrets(&d.Target); err != nil {
		return badUsage(err)
	}
	types, err := d.Types()
	if err != nil {
		return badUsage(err)
	}

	runner := newRunner(c, st, newLogger(stderr))
	failed := 0
	for _, t := range types {
		out, err := deliverDay(ctx, st, runner, c.Location, d, t, day)
		if err != nil {
			return err
		}
		if out.Err != nil {
			failed++
			fmt.Fprintf(stderr, "%s %s: delivery failed: %v\n", t.Name, day, out.Err)
			continue
		}
		fmt.Fprintf(stdout, "%s\t%d events\t%d bytes\n", out.RemotePath, out.Events, out.Bytes)
	}
	if failed > 0 {
		return &exitError{code: exitFailed}
	}
	return nil
}

// deliverDay records a manual run of one day of d's events of type t and makes its one attempt
// now. The error is about recording; a failed delivery is an Outcome with Err set.
func deliverDay(ctx context.Context, st *store.Store, runner *export.Runner, loc *time.Location,
	d store.Destination, t events.Type, day events.Day) (export.Outcome, error) {
	r, err := st.CreateRun(ctx, store.NewRun{Destination: d, Type: t, Day: day, Kind: store.KindManual,
		Location: loc, Now: time.Now()})
	if err != nil {
		return export.Outcome{}, err
	}
	src, err := runner.EventsSource(d, r)
	if err != nil {
		return export.Outcome{}, err
	}
	return runner.Attempt(ctx, d, r, src, nil)
}

// newRunner wires the export runner to SFTP delivery.
func newRunner(c config, st *store.Store, logger *slog.Logger) *export.Runner {
	return newRunnerWith(c, st, logger, nil)
}

// newRunnerWith is newRunner with a hook that sees, and may adjust, each delivery target's
// configuration before it connects, and gets the target it made.
func newRunnerWith(c config, st *store.Store, logger *slog.Logger, hook func(*sftp.Config) func(*sftp.Target)) *export.Runner {
	hostname, _ := os.Hostname()
	return export.NewRunner(export.RunnerConfig{
		Store:    st,
		Location: c.Location,
		Logger:   logger,
		Replica:  fmt.Sprintf("%s/%d", hostname, os.Getpid()),
		Classify: classify,
		Observe:  c.Observe,
		Connect: func(ctx context.Context, d store.Destination) (export.Sink, error) {
			if err := st.OpenSecrets(&d.Target); err != nil {
				return nil, err
			}
			cfg := targetConfig(c, d)
			var made func(*sftp.Target)
			if hook != nil {
				made = hook(&cfg)
			}
			t := sftp.New(cfg)
			if made != nil {
				made(t)
			}
			return t, nil
		},
	})
}

var _ export.Sink = (*sftp.Target)(nil)

// targetConfig is the delivery configuration of a destination whose secrets are open.
func targetConfig(c config, d store.Destination) sftp.Config {
	return sftp.Config{
		Host: d.Target.Host, Port: d.Target.Port, User: d.Target.User, Password: d.Target.Password,
		PrivateKey: d.Target.PrivateKey, Passphrase: d.Target.Passphrase, HostKey: d.Target.HostKey,
		Dir: d.Dir(), LegacyCrypto: d.Target.LegacyCrypto, SourceAddr: c.SourceAddr,
		ConnectTimeout: c.ConnectTimeout, AttemptTimeout: c.AttemptTimeout,
	}
}

// classify names a delivery error's class and whether retrying can help.
func classify(err error) (string, bool) {
	var de *delivery.Error
	if errors.As(err, &de) {
		return string(de.Class), delivery.IsPermanent(err)
	}
	if strings.HasPrefix(err.Error(), "read events") {
		return "database", false
	}
	return "other", false
}

// newLogger logs text lines to w: the CLI's diagnostics go to stderr.
func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
