package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/eventexport/eventexport/events"
	"github.com/eventexport/eventexport/export/store"
)

// maxResendDays is the longest range one re-send may cover: a year.
const maxResendDays = 365

func cmdResend(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	fs := newFlagSet("resend", stderr)
	destID := fs.String("destination", "", "destination `ID`")
	from := fs.String("from", "", "first day to re-send, `YYYY-MM-DD`, in the instance time zone")
	to := fs.String("to", "", "last day to re-send, `YYYY-MM-DD` (default: --from)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: eventexport resend --destination ID --from YYYY-MM-DD [--to YYYY-MM-DD]\n\n"+
			"Queues a new file of each day and event type of the destination; \"eventexport serve\" delivers them\n"+
			"with the usual retries. Prints the ids of the queued runs.")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	if *destID == "" {
		return badUsagef("--destination is required")
	}
	if *from == "" {
		return badUsagef("--from is required (YYYY-MM-DD)")
	}
	first, err := events.ParseDay(*from)
	if err != nil {
		return badUsage(fmt.Errorf("--from: %w", err))
	}
	last := first
	if *to != "" {
		if last, err = events.ParseDay(*to); err != nil {
			return badUsage(fmt.Errorf("--to: %w", err))
		}
	}
	days, err := resendDays(first, last)
	if err != nil {
		return asFlagError(err)
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
	now := time.Now()
	ids, err := queueResend(ctx, st, c, d, days, now)
	var ce *configError
	if errors.As(err, &ce) {
		return badUsage(ce.err)
	}
	if err != nil {
		return err
	}
	for _, id := range ids {
		fmt.Fprintln(stdout, id)
	}
	today := events.DayOf(now, c.Location)
	if !last.Before(today) {
		fmt.Fprintf(stderr, "note: %s is not over yet in %s: its file holds the events so far\n", last, c.Location)
	}
	if !d.Enabled {
		fmt.Fprintf(stderr, "note: destination %s is disabled; the re-send is delivered anyway\n", d.ID)
	}
	fmt.Fprintf(stderr, "queued %d run(s); \"eventexport serve\" delivers them\n", len(ids))
	return nil
}

// resendDays lists the days from first to last, which may be one year at most.
func resendDays(first, last events.Day) ([]events.Day, error) {
	if last.Before(first) {
		return nil, invalid("to", "%s is before the first day, %s", last, first)
	}
	days := []events.Day{}
	for d := first; !last.Before(d); d = d.AddDays(1) {
		if len(days) == maxResendDays {
			return nil, invalid("to", "%s to %s is more than %d days: re-send at most a year at a time", first, last, maxResendDays)
		}
		days = append(days, d)
	}
	return days, nil
}

// queueResend queues a new file of each day and event type of d, due at once, and returns
// the runs' ids. An event type this version does not know is a *configError.
func queueResend(ctx context.Context, st *store.Store, c config, d store.Destination, days []events.Day, now time.Time) ([]string, error) {
	types, err := d.Types()
	if err != nil {
		return nil, &configError{err}
	}
	var nrs []store.NewRun
	for _, day := range days {
		for _, t := range types {
			nrs = append(nrs, store.NewRun{Destination: d, Type: t, Day: day, Kind: store.KindResend,
				Location: c.Location, Now: now, NextAttempt: &now})
		}
	}
	return st.QueueRuns(ctx, nrs)
}
