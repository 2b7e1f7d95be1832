package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/eventexport/eventexport/export/store"
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

// runView is what runs list and show print.
type runView struct {
	ID            string        `json:"id"`
	DestinationID string        `json:"destination_id"`
	EventType     string        `json:"event_type"`
	Day           string        `json:"day"`
	Kind          string        `json:"kind"`
	Status        string        `json:"status"`
	Attempts      []attemptView `json:"attempts"`
	FileName      string        `json:"file_name"`
	RemotePath    string        `json:"remote_path"`
	Events        *int64        `json:"events"`
	Bytes         *int64        `json:"bytes"`
	CreatedAt     time.Time     `json:"created_at"`
	DeliveredAt   *time.Time    `json:"delivered_at"`
	NextAttemptAt *time.Time    `json:"next_attempt_at"`
	LastError     string        `json:"last_error"`

	lastErrorClass string
}

type attemptView struct {
	Number     int        `json:"number"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	Outcome    string     `json:"outcome"`
	Error      string     `json:"error"`
	ErrorClass string     `json:"error_class"`
	Permanent  bool       `json:"permanent"`
	Bytes      *int64     `json:"bytes"`
	Events     *int64     `json:"events"`
}

func viewRun(r store.Run, attempts []store.Attempt) runView {
	v := runView{ID: r.ID, DestinationID: r.DestinationID, EventType: r.EventType, Day: r.Day.String(),
		Kind: string(r.Kind), Status: string(r.Status), Attempts: []attemptView{}, FileName: r.FileName,
		RemotePath: r.RemotePath, Events: r.Events, Bytes: r.Bytes, CreatedAt: r.CreatedAt,
		DeliveredAt: r.DeliveredAt, LastError: r.LastError, lastErrorClass: r.LastErrorClass}
	if r.Status == store.StatusPending || r.Status == store.StatusRunning {
		v.NextAttemptAt = r.NextAttemptAt
	}
	for _, a := range attempts {
		v.Attempts = append(v.Attempts, attemptView{Number: a.Number, StartedAt: a.StartedAt, FinishedAt: a.FinishedAt,
			Outcome: a.Outcome, Error: a.Error, ErrorClass: a.ErrorClass, Permanent: a.Permanent, Bytes: a.Bytes, Events: a.Events})
	}
	return v
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
	f := store.RunFilter{Status: store.RunStatus(strings.TrimSpace(*status)), Limit: *limit}
	switch f.Status {
	case "", store.StatusPending, store.StatusRunning, store.StatusDelivered, store.StatusFailed:
	default:
		return badUsagef("--status %q: want pending, running, delivered or failed", *status)
	}
	if *limit < 0 {
		return badUsagef("--limit must not be negative")
	}
	if *destID != "" {
		id, err := store.ParseUUID("--destination", *destID)
		if err != nil {
			return badUsage(err)
		}
		f.DestinationID = id
	}
	_, st, closeDB, err := openStoreFromEnv(ctx, getenv)
	if err != nil {
		return err
	}
	defer closeDB()
	if f.DestinationID != "" {
		if _, err := loadDestination(ctx, st, f.DestinationID); err != nil {
			return err
		}
	}
	runs, err := st.Runs(ctx, f)
	if err != nil {
		return err
	}
	ids := make([]string, len(runs))
	for i, r := range runs {
		ids[i] = r.ID
	}
	attempts, err := st.AttemptsOf(ctx, ids)
	if err != nil {
		return err
	}
	views := make([]runView, 0, len(runs))
	for _, r := range runs {
		views = append(views, viewRun(r, attempts[r.ID]))
	}
	if *asJSON {
		return writeJSON(stdout, views)
	}
	rows := make([][]string, 0, len(views))
	for _, v := range views {
		rows = append(rows, []string{v.ID, v.DestinationID, v.EventType, v.Day, v.Kind, v.Status,
			fmt.Sprint(len(v.Attempts)), optInt(v.Events), optInt(v.Bytes), optTime(v.NextAttemptAt),
			cmp.Or(v.RemotePath, v.FileName), oneLine(v.LastError, 80)})
	}
	return writeTable(stdout, []string{"ID", "DESTINATION", "TYPE", "DAY", "KIND", "STATUS", "ATTEMPTS", "EVENTS",
		"BYTES", "NEXT ATTEMPT", "FILE", "LAST ERROR"}, rows)
}

func runsShow(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	fs := newFlagSet("runs show", stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args, 1); err != nil {
		return err
	}
	id := strings.TrimSpace(fs.Arg(0))
	if _, err := uuid.Parse(id); err != nil {
		return badUsagef("no run with id %q", fs.Arg(0))
	}
	_, st, closeDB, err := openStoreFromEnv(ctx, getenv)
	if err != nil {
		return err
	}
	defer closeDB()
	r, err := st.Run(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return badUsagef("no run with id %q", id)
	}
	if err != nil {
		return err
	}
	attempts, err := st.Attempts(ctx, r.ID)
	if err != nil {
		return err
	}
	v := viewRun(r, attempts)
	if *asJSON {
		return writeJSON(stdout, v)
	}
	lastErr := v.LastError
	if v.lastErrorClass != "" {
		lastErr = "[" + v.lastErrorClass + "] " + lastErr
	}
	if err := writeFields(stdout, [][2]string{
		{"id", v.ID}, {"destination", v.DestinationID}, {"event type", v.EventType}, {"day", v.Day},
		{"kind", v.Kind}, {"status", v.Status}, {"file", v.FileName}, {"remote path", v.RemotePath},
		{"events", optInt(v.Events)}, {"bytes", optInt(v.Bytes)}, {"created", v.CreatedAt.UTC().Format(time.RFC3339)},
		{"delivered", optTime(v.DeliveredAt)}, {"next attempt", optTime(v.NextAttemptAt)}, {"last error", lastErr},
	}); err != nil {
		return err
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
