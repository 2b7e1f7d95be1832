package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/eventexport/eventexport/delivery"
	"github.com/eventexport/eventexport/delivery/sftp"
	"github.com/eventexport/eventexport/events"
	"github.com/eventexport/eventexport/export/store"
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
	c, st, closeDB, err := openStoreFromEnv(ctx, getenv)
	if err != nil {
		return err
	}
	defer closeDB()
	d, err := loadDestination(ctx, st, fs.Arg(0))
	if err != nil {
		return err
	}
	res, err := testSend(ctx, st, c, d, *accept, newLogger(stderr))
	var ce *configError
	switch {
	case errors.Is(err, errHostKeyPinned):
		return badUsage(fmt.Errorf("--accept-host-key: %w", err))
	case errors.As(err, &ce):
		return badUsage(ce.err)
	case err != nil:
		return err
	}
	for _, f := range res.Files {
		if f.PinnedHostKey != "" {
			fmt.Fprintf(stdout, "pinned host key %s\n", f.PinnedHostKey)
		}
		if !f.Delivered {
			fmt.Fprintf(stdout, "test file NOT delivered: %s\n", f.Error)
			if f.Hint != "" {
				fmt.Fprintln(stdout, f.Hint)
			}
			continue
		}
		fmt.Fprintf(stdout, "test file delivered: %s\t%d events\t%d bytes\n", f.RemotePath, f.Events, f.Bytes)
	}
	if !res.Delivered {
		return &exitError{code: exitFailed}
	}
	return nil
}

// configError is a request the service's configuration cannot serve (a missing or wrong
// secret key, an event type this version does not know): nothing was changed.
type configError struct{ err error }

func (e *configError) Error() string { return e.err.Error() }
func (e *configError) Unwrap() error { return e.err }

// errHostKeyPinned refuses to accept a presented host key when one is pinned already.
var errHostKeyPinned = errors.New("the destination already has a pinned host key; a changed key is never accepted by a send (remove the pin first if the server's key really changed)")

// testSendResult is what a test send did: one file per event type of the destination.
type testSendResult struct {
	Delivered bool           `json:"delivered"` // every file arrived
	Files     []testSendFile `json:"files"`
}

// testSendFile is the outcome of one test file, its reason in plain words when it failed.
type testSendFile struct {
	EventType  string `json:"event_type"`
	RunID      string `json:"run_id"`
	Delivered  bool   `json:"delivered"`
	RemotePath string `json:"remote_path,omitempty"`
	Events     int64  `json:"events"`
	Bytes      int64  `json:"bytes"`
	Error      string `json:"error,omitempty"`
	ErrorClass string `json:"error_class,omitempty"`
	Permanent  bool   `json:"permanent,omitempty"`
	// PresentedHostKey is the fingerprint the server presented when it was not trusted.
	PresentedHostKey string `json:"presented_host_key,omitempty"`
	// PinnedHostKey is the fingerprint this send pinned (accept_host_key).
	PinnedHostKey string `json:"pinned_host_key,omitempty"`
	Hint          string `json:"hint,omitempty"`
}

// testSend delivers a test file of each of d's event types now. With accept, and no host key
// pinned yet, the key the server presents is pinned once a file was delivered with it. The
// error is about the request (errHostKeyPinned, a *configError) or recording it; a failed
// delivery is a file with Delivered false.
func testSend(ctx context.Context, st *store.Store, c config, d store.Destination, accept bool, logger *slog.Logger) (testSendResult, error) {
	res := testSendResult{Files: []testSendFile{}}
	if err := st.OpenSecrets(&d.Target); err != nil {
		return res, &configError{err}
	}
	if accept && d.Target.HostKey != "" {
		return res, fmt.Errorf("destination %s: %w", d.ID, errHostKeyPinned)
	}
	types, err := d.Types()
	if err != nil {
		return res, &configError{err}
	}

	var target *sftp.Target
	runner := newRunnerWith(c, st, logger, func(cfg *sftp.Config) func(*sftp.Target) {
		cfg.AcceptUnknownHostKey = accept && cfg.HostKey == ""
		return func(t *sftp.Target) { target = t }
	})
	now := time.Now()
	day := events.DayBefore(now, c.Location)
	res.Delivered = true
	for _, t := range types {
		r, err := st.CreateRun(ctx, store.NewRun{Destination: d, Type: t, Day: day, Kind: store.KindTest,
			Location: c.Location, Now: now})
		if err != nil {
			return res, err
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
			return res, err
		}
		f := testSendFile{EventType: t.Name, RunID: r.ID, Delivered: out.Delivered(), RemotePath: out.RemotePath,
			Events: out.Events, Bytes: out.Bytes}
		// Trust on first use, as an explicit act: pin the key the server presented once it
		// was seen to work.
		if out.Err == nil && accept && d.Target.HostKey == "" && target != nil {
			fp, line := target.PresentedHostKey()
			if line != "" {
				if err := st.PinHostKey(ctx, d.Target.ID, line); err != nil {
					return res, err
				}
				d.Target.HostKey = line
				f.PinnedHostKey = fp
			}
		}
		if out.Err != nil {
			res.Delivered = false
			f.Error, f.ErrorClass, f.Permanent = out.Err.Error(), out.Class, out.Permanent
			var de *delivery.Error
			if errors.As(out.Err, &de) && de.Class == delivery.ClassHostKeyUnknown {
				f.PresentedHostKey = de.Presented
				f.Hint = fmt.Sprintf("if %s is the key of %s, run again with --accept-host-key to pin it", de.Presented, redactedURL(d))
			}
		}
		res.Files = append(res.Files, f)
	}
	return res, nil
}
