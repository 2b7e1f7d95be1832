package main

import (
	"context"
	"fmt"
	"io"

	"github.com/eventexport/eventexport/export/support"
)

func cmdResend(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	fs := newFlagSet("resend", stderr)
	destID := fs.String("destination", "", "destination `ID`")
	from := fs.String("from", "", "first day to re-send, `YYYY-MM-DD`, in the destination's time zone")
	to := fs.String("to", "", "last day to re-send, `YYYY-MM-DD` (default: --from)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: eventexport resend --destination ID --from YYYY-MM-DD [--to YYYY-MM-DD]\n\n"+
			"Queues a new file of each window of those days and each event type of the destination; \"eventexport\n"+
			"serve\" delivers them with the usual retries. Prints the ids of the queued runs.")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	if *destID == "" {
		return badUsagef("--destination is required")
	}
	days, err := support.ParseDayRange(*from, *to)
	if err != nil {
		return err
	}
	_, svc, closeDB, err := openServiceFromEnv(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer closeDB()
	res, err := svc.Resend(ctx, *destID, days)
	if err != nil {
		return err
	}
	for _, id := range res.Runs {
		fmt.Fprintln(stdout, id)
	}
	for _, n := range res.Notes {
		fmt.Fprintf(stderr, "note: %s\n", n)
	}
	fmt.Fprintf(stderr, "queued %d run(s); \"eventexport serve\" delivers them\n", len(res.Runs))
	return nil
}
