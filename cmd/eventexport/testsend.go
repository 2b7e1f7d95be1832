package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/eventexport/eventexport/delivery"
	"github.com/eventexport/eventexport/events"
	"github.com/eventexport/eventexport/export"
)

// testSendEvents is how many sample events a test file holds.
const testSendEvents = 3

// cmdTestSend delivers a small file of sample events, marked as test data, to a destination
// now, and says at once whether it worked and, if not, why.
func cmdTestSend(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	fs := newFlagSet("test-send", stderr)
	accept := fs.Bool("accept-host-key", false, "pin the host key the server presents, when none is pinned yet")
	if err := parseFlags(fs, args, 1); err != nil {
		return err
	}
	c, err := loadConfig(getenv)
	if err != nil {
		return badUsage(err)
	}
	store, closeDB, err := openStore(ctx, c)
	if err != nil {
		return err
	}
	defer closeDB()
	d, err := loadDestination(ctx, store, fs.Arg(0))
	if err != nil {
		return err
	}
	if err := store.OpenSecrets(&d.Target); err != nil {
		return badUsage(err)
	}
	if *accept && d.Target.HostKey != "" {
		return badUsagef("--accept-host-key: destination %s already has a pinned host key; a changed key is never accepted by a send (remove the pin first if the server's key really changed)", d.ID)
	}
	types := make([]events.Type, 0, len(d.EventTypes))
	for _, name := range d.EventTypes {
		t, err := events.LookupType(name)
		if err != nil {
			return badUsage(err)
		}
		types = append(types, t)
	}

	var target *delivery.Target
	runner := newRunnerWith(c, store, newLogger(stderr), func(cfg *delivery.Config) func(*delivery.Target) {
		cfg.AcceptUnknownHostKey = *accept && cfg.HostKey == ""
		return func(t *delivery.Target) { target = t }
	})
	now := time.Now()
	day := events.DayBefore(now, c.Location)
	failed := false
	for _, t := range types {
		r, err := store.CreateRun(ctx, export.NewRun{Destination: d, Type: t, Day: day, Kind: export.KindTest,
			Location: c.Location, Now: now})
		if err != nil {
			return err
		}
		samples := events.Samples(d.CompanyID, r.Window, testSendEvents, true)
		src := func(ctx context.Context, fn func([]byte) error) (int64, error) {
			for i, e := range samples {
				if err := fn(e.Payload); err != nil {
					return int64(i), err
				}
			}
			return int64(len(samples)), nil
		}
		out, err := runner.Attempt(ctx, d, r, src, nil)
		if err != nil {
			return err
		}
		// Trust on first use, as an explicit act: pin the key the server presented once it
		// was seen to work.
		if out.Err == nil && *accept && d.Target.HostKey == "" && target != nil {
			fp, line := target.PresentedHostKey()
			if line != "" {
				if err := store.PinHostKey(ctx, d.Target.ID, line); err != nil {
					return err
				}
				d.Target.HostKey = line
				fmt.Fprintf(stdout, "pinned host key %s\n", fp)
			}
		}
		if out.Err != nil {
			failed = true
			fmt.Fprintf(stdout, "test file NOT delivered: %v\n", out.Err)
			var de *delivery.Error
			if errors.As(out.Err, &de) && de.Class == delivery.ClassHostKeyUnknown {
				fmt.Fprintf(stdout, "if %s is the key of %s, run again with --accept-host-key to pin it\n", de.Presented, redactedURL(d))
			}
			continue
		}
		fmt.Fprintf(stdout, "test file delivered: %s\t%d events\t%d bytes\n", out.RemotePath, out.Events, out.Bytes)
	}
	if failed {
		return &exitError{code: exitFailed}
	}
	return nil
}
