package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/eventexport/eventexport/events"
)

// cmdPlan prints a destination's next windows: what each file will hold and when it is due.
func cmdPlan(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	fs := newFlagSet("plan", stderr)
	destID := fs.String("destination", "", "destination `ID`")
	next := fs.Int("next", 10, "how many windows to print (`N`)")
	from := fs.String("from", "", "start at the window holding local midnight of `DATE` (YYYY-MM-DD, in the destination's zone); default: the window in progress")
	asJSON := fs.Bool("json", false, "print JSON")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: eventexport plan --destination ID [--next N] [--from YYYY-MM-DD] [--json]\n\n"+
			"Prints the destination's next windows: their bounds in its zone and in UTC, their length, and when\n"+
			"each window's file is due.")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	if *destID == "" {
		return badUsagef("--destination is required")
	}
	var day *events.Day
	if strings.TrimSpace(*from) != "" {
		d, err := events.ParseDay(strings.TrimSpace(*from))
		if err != nil {
			return badUsagef("--from: %v", err)
		}
		day = &d
	}
	_, svc, closeDB, err := openServiceFromEnv(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer closeDB()
	ws, err := svc.Windows(ctx, *destID, day, *next)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, ws)
	}
	rows := make([][]string, 0, len(ws))
	for _, w := range ws {
		rows = append(rows, []string{w.Local, w.Start.Format("2006-01-02T15:04Z") + " to " + w.End.Format("2006-01-02T15:04Z"),
			fmt.Sprintf("%g", w.Hours), w.Every, w.DueLocal})
	}
	return writeTable(stdout, []string{"WINDOW (LOCAL)", "UTC", "HOURS", "EVERY", "DUE"}, rows)
}
