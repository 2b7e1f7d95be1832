package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/eventexport/eventexport/export/store"
	"github.com/eventexport/eventexport/export/support"
)

const runsUsage = `Usage:
  eventexport runs list [--destination ID] [--status pending|running|delivered|failed] [--limit N] [--json]
  eventexport runs show RUN_ID [--json]
`

func cmdRuns(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, runsUsage)
		return &exitError{code: exitBadUsage}
	}
	sub, rest := args[0], args[1:]
	switch sub {
	case "list":
		return runsList(ctx, rest, stdout, stderr, getenv)
	case "show":
		return runsShow(ctx, rest, stdout, stderr, getenv)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, runsUsage)
		return nil
	}
	fmt.Fprint(stderr, runsUsage)
	return badUsagef("unknown subcommand %q", sub)
}

func runsList(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	fs := newFlagSet("runs list", stderr)
	destID := fs.String("destination", "", "only the runs of destination `ID`")
	status := fs.String("status", "", "only runs in this status: pending, running, delivered or failed")
	limit := fs.Int("limit", 1000, "at most `N` runs, the latest days first (0: all)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	if *limit < 0 {
		return badUsagef("--limit must not be negative")
	}
	f := support.RunFilter{Status: store.RunStatus(strings.TrimSpace(*status)), Limit: *limit,
		DestinationID: strings.TrimSpace(*destID)}
	_, svc, closeDB, err := openServiceFromEnv(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer closeDB()
	views, err := svc.Runs(ctx, f)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, views)
	}
	rows := make([][]string, 0, len(views))
	for _, v := range views {
		rows = append(rows, []string{v.ID, v.DestinationID, v.EventType, v.Day, v.Kind, v.Status,
			fmt.Sprint(len(v.Attempts)), optInt(v.Events), optInt(v.LateEvents), optInt(v.Bytes), optTime(v.NextAttemptAt),
			cmp.Or(v.RemotePath, v.FileName), oneLine(v.LastError, 80)})
	}
	return writeTable(stdout, []string{"ID", "DESTINATION", "TYPE", "DAY", "KIND", "STATUS", "ATTEMPTS", "EVENTS",
		"LATE", "BYTES", "NEXT ATTEMPT", "FILE", "LAST ERROR"}, rows)
}

func runsShow(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	fs := newFlagSet("runs show", stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args, 1); err != nil {
		return err
	}
	_, svc, closeDB, err := openServiceFromEnv(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer closeDB()
	v, err := svc.Run(ctx, fs.Arg(0))
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, v)
	}
	lastErr := v.LastError
	if v.LastErrorClass != "" {
		lastErr = "[" + v.LastErrorClass + "] " + lastErr
	}
	if err := writeFields(stdout, [][2]string{
		{"id", v.ID}, {"destination", v.DestinationID}, {"event type", v.EventType}, {"day", v.Day},
		{"window", v.WindowStart.Format(time.RFC3339) + " to " + v.WindowEnd.Format(time.RFC3339)},
		{"kind", v.Kind}, {"status", v.Status}, {"file", v.FileName}, {"remote path", v.RemotePath},
		{"events", optInt(v.Events)}, {"late events", optInt(v.LateEvents)}, {"bytes", optInt(v.Bytes)},
		{"created", v.CreatedAt.UTC().Format(time.RFC3339)},
		{"delivered", optTime(v.DeliveredAt)}, {"next attempt", optTime(v.NextAttemptAt)}, {"last error", lastErr},
	}); err != nil {
		return err
	}
	if len(v.Files) > 0 {
		fmt.Fprintf(stdout, "\nfiles (%d):\n", len(v.Files))
		rows := make([][]string, 0, len(v.Files))
		for _, f := range v.Files {
			rows = append(rows, []string{"  " + f.Name, fmt.Sprint(f.Bytes), fmt.Sprint(f.Events), f.SHA256})
		}
		if err := writeTable(stdout, []string{"  NAME", "BYTES", "EVENTS", "SHA256"}, rows); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "\nattempts (%d):\n", len(v.Attempts))
	rows := make([][]string, 0, len(v.Attempts))
	for _, a := range v.Attempts {
		e := a.Error
		if a.ErrorClass != "" {
			e = "[" + a.ErrorClass + "] " + e
		}
		if a.Permanent {
			e = "PERMANENT " + e
		}
		rows = append(rows, []string{fmt.Sprintf("  %d", a.Number), a.StartedAt.UTC().Format(time.RFC3339Nano),
			optTime(a.FinishedAt), a.Outcome, optInt(a.Events), optInt(a.Bytes), e})
	}
	return writeTable(stdout, []string{"  #", "STARTED", "FINISHED", "OUTCOME", "EVENTS", "BYTES", "ERROR"}, rows)
}

func optInt(n *int64) string {
	if n == nil {
		return "-"
	}
	return fmt.Sprint(*n)
}

func optTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n-1] + "…"
	}
	return s
}
