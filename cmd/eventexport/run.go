package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/eventexport/eventexport/events"
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
	_, svc, closeDB, err := openServiceFromEnv(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer closeDB()
	outs, err := svc.RunDay(ctx, *destID, day, newLogger(stderr))
	if err != nil {
		return err
	}
	failed := 0
	for _, out := range outs {
		if out.Err != nil {
			failed++
			fmt.Fprintf(stderr, "%s %s: delivery failed: %v\n", out.EventType, day, out.Err)
			continue
		}
		fmt.Fprintf(stdout, "%s\t%d events\t%d bytes\n", out.RemotePath, out.Events, out.Bytes)
	}
	if failed > 0 {
		return &exitError{code: exitFailed}
	}
	return nil
}

// newLogger logs text lines to w: the CLI's diagnostics go to stderr.
func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
