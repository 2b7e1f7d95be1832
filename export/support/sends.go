package support

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/eventexport/eventexport/delivery"
	"github.com/eventexport/eventexport/events"
	"github.com/eventexport/eventexport/export"
	"github.com/eventexport/eventexport/export/store"
)

// TestSendEvents is how many sample events a test file holds.
const TestSendEvents = 3

// TestSendResult is what a test send did: one file per event type of the destination.
type TestSendResult struct {
	Delivered bool           `json:"delivered"` // every file arrived
	Files     []TestSendFile `json:"files"`
	// URL is where the files went, redacted, for messages.
	URL string `json:"-"`
}

// TestSendFile is the outcome of one test file, its reason in plain words when it failed.
type TestSendFile struct {
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
	// PinnedHostKey is the fingerprint this send pinned (accept).
	PinnedHostKey string `json:"pinned_host_key,omitempty"`
	Hint          string `json:"hint,omitempty"`
}

// ErrPinned refuses to accept a presented host key when one is pinned already.
var ErrPinned = &Error{Kind: KindConflict, Code: "host_key_pinned", Field: "accept_host_key",
	Err: errors.New("the destination already has a pinned host key; a changed key is never accepted by a send")}

// TestSend delivers a test file of sample events, marked as test data, for each of the
// destination's event types now. With accept, and no identity pinned yet, the identity the
// server presents (its host key) is pinned once a file was delivered with it. The error is
// about the request or recording it; a failed delivery is a file with Delivered false.
func (s *Service) TestSend(ctx context.Context, id string, accept bool, logger *slog.Logger) (TestSendResult, error) {
	res := TestSendResult{Files: []TestSendFile{}}
	d, err := s.Destination(ctx, id)
	if err != nil {
		return res, err
	}
	res.URL = ViewDestination(d).URL
	tr, err := transportOf(d.Target)
	if err != nil {
		return res, err
	}
	if err := s.cfg.Store.OpenSecrets(&d.Target); err != nil {
		return res, configErr(err)
	}
	pinned := tr.Pinned(d.Target.Target)
	if accept && pinned {
		return res, pinnedError(d)
	}
	types, err := d.Types()
	if err != nil {
		return res, configErr(err)
	}
	var mu sync.Mutex
	var presenter delivery.Presenter
	opts := s.cfg.Options.WithDefaults()
	opts.AcceptUnknown = accept && !pinned
	runner := s.runner(logger, func(_ context.Context, d store.Destination) (export.Sink, error) {
		sink, err := tr.Open(d.Target.Target, d.Path, opts)
		if p, ok := sink.(delivery.Presenter); ok {
			mu.Lock()
			presenter = p
			mu.Unlock()
		}
		return sink, err
	})
	now := s.cfg.Now()
	day := events.DayBefore(now, s.cfg.Location)
	res.Delivered = true
	for _, t := range types {
		r, err := s.cfg.Store.CreateRun(ctx, store.NewRun{Destination: d, Type: t, Day: day, Kind: store.KindTest,
			Location: s.cfg.Location, Now: now})
		if err != nil {
			return res, err
		}
		samples := events.Samples(d.CompanyID, r.Window, TestSendEvents, true)
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
		f := TestSendFile{EventType: t.Name, RunID: r.ID, Delivered: out.Delivered(), RemotePath: out.RemotePath,
			Events: out.Events, Bytes: out.Bytes}
		// Trust on first use, as an explicit act: pin the identity the server presented once
		// it was seen to work.
		mu.Lock()
		p := presenter
		mu.Unlock()
		if out.Err == nil && opts.AcceptUnknown && !tr.Pinned(d.Target.Target) && p != nil {
			if fp, pin := p.Presented(); pin != "" {
				was := d.Target.Settings
				changed, err := tr.Pin(d.Target.Target, pin)
				if err != nil {
					return res, err
				}
				if err := s.cfg.Store.PinTarget(ctx, d.Target.ID, was, changed.Settings); err != nil {
					if errors.Is(err, store.ErrPinned) {
						return res, pinnedError(d)
					}
					return res, err
				}
				d.Target.Settings = changed.Settings
				f.PinnedHostKey = fp
			}
		}
		if out.Err != nil {
			res.Delivered = false
			f.Error, f.ErrorClass, f.Permanent = out.Err.Error(), out.Class, out.Permanent
			var de *delivery.Error
			if errors.As(out.Err, &de) && (de.Class == delivery.ClassHostKeyUnknown || de.Class == delivery.ClassCertificate && !pinned) {
				f.PresentedHostKey = de.Presented
			}
		}
		res.Files = append(res.Files, f)
	}
	return res, nil
}

// pinnedError is ErrPinned, naming the command that unpins.
func pinnedError(d store.Destination) error {
	how := fmt.Sprintf("eventexport destinations update %s --host-key", d.ID)
	if d.Target.Shared {
		how = fmt.Sprintf("eventexport targets update %s --host-key", d.Target.ID)
	}
	return &Error{Kind: ErrPinned.Kind, Code: ErrPinned.Code, Field: ErrPinned.Field,
		Err: fmt.Errorf("destination %s: %w (if the server's key really changed and the customer confirmed the new one, pin it with %s PIN, or unpin it with %s '' and send again with --accept-host-key)", d.ID, ErrPinned.Err, how, how)}
}

// MaxResendDays is the longest range one re-send may cover: a year.
const MaxResendDays = 365

// ResendResult lists the queued runs, and notes for people.
type ResendResult struct {
	Runs  []string `json:"runs"`
	Notes []string `json:"notes"`
}

// ResendDays lists the days from first to last, which may be one year at most.
func ResendDays(first, last events.Day) ([]events.Day, error) {
	if last.Before(first) {
		return nil, invalid("to", "%s is before the first day, %s", last, first)
	}
	days := []events.Day{}
	for d := first; !last.Before(d); d = d.AddDays(1) {
		if len(days) == MaxResendDays {
			return nil, invalid("to", "%s to %s is more than %d days: re-send at most a year at a time", first, last, MaxResendDays)
		}
		days = append(days, d)
	}
	return days, nil
}

// ParseDayRange reads a re-send's from and to (YYYY-MM-DD; to defaults to from).
func ParseDayRange(from, to string) ([]events.Day, error) {
	if strings.TrimSpace(from) == "" {
		return nil, invalid("from", "is required (YYYY-MM-DD)")
	}
	first, err := events.ParseDay(from)
	if err != nil {
		return nil, fieldErr("from", err)
	}
	last := first
	if to != "" {
		if last, err = events.ParseDay(to); err != nil {
			return nil, fieldErr("to", err)
		}
	}
	return ResendDays(first, last)
}

// Resend queues a new file of each day and event type of the destination, due at once;
// the service delivers them with the usual retries.
func (s *Service) Resend(ctx context.Context, id string, days []events.Day) (ResendResult, error) {
	res := ResendResult{Runs: []string{}, Notes: []string{}}
	d, err := s.Destination(ctx, id)
	if err != nil {
		return res, err
	}
	types, err := d.Types()
	if err != nil {
		return res, configErr(err)
	}
	now := s.cfg.Now()
	var nrs []store.NewRun
	windows, loc := s.windowsOfDays(d, days)
	for _, w := range windows {
		for _, t := range types {
			nrs = append(nrs, store.NewRun{Destination: d, Type: t, Day: events.DayOf(w.Start, loc(w)), Window: w,
				Kind: store.KindResend, Now: now, NextAttempt: &now})
		}
	}
	if res.Runs, err = s.cfg.Store.QueueRuns(ctx, nrs); err != nil {
		return res, err
	}
	if n := len(windows); n > 0 && windows[n-1].End.After(now) {
		w := windows[n-1]
		res.Notes = append(res.Notes, fmt.Sprintf("the window %s to %s is not over yet in %s: its file holds the events so far",
			w.Start.In(loc(w)).Format("2006-01-02 15:04"), w.End.In(loc(w)).Format("2006-01-02 15:04"), loc(w)))
	}
	if !d.Enabled {
		res.Notes = append(res.Notes, fmt.Sprintf("destination %s is disabled; the re-send is delivered anyway", d.ID))
	}
	return res, nil
}

// DayOutcome is one file of a day delivered now.
type DayOutcome struct {
	EventType string
	export.Outcome
}

// RunDay exports one day of the destination now, once per event type, with one delivery
// attempt each, recorded as manual runs; nothing retries them. The error is about the request
// or recording; a failed delivery is an outcome with Err set.
func (s *Service) RunDay(ctx context.Context, id string, day events.Day, logger *slog.Logger) ([]DayOutcome, error) {
	d, err := s.Destination(ctx, id)
	if err != nil {
		return nil, err
	}
	// Open the secrets and check the event types before any run is recorded: a configuration
	// problem changes nothing.
	if err := s.cfg.Store.OpenSecrets(&d.Target); err != nil {
		return nil, configErr(err)
	}
	if _, err := transportOf(d.Target); err != nil {
		return nil, err
	}
	types, err := d.Types()
	if err != nil {
		return nil, configErr(err)
	}
	runner := s.runner(logger, nil)
	var outs []DayOutcome
	for _, t := range types {
		r, err := s.cfg.Store.CreateRun(ctx, store.NewRun{Destination: d, Type: t, Day: day, Kind: store.KindManual,
			Location: s.cfg.Location, Now: s.cfg.Now()})
		if err != nil {
			return outs, err
		}
		src, err := runner.EventsSource(d, r)
		if err != nil {
			return outs, err
		}
		out, err := runner.Attempt(ctx, d, r, src, nil)
		if err != nil {
			return outs, err
		}
		outs = append(outs, DayOutcome{EventType: t.Name, Outcome: out})
	}
	return outs, nil
}

// RunFilter selects runs of the history.
type RunFilter = store.RunFilter

// Runs lists runs with their attempts, the latest days first. A destination filter may name a
// removed destination: its history stays readable.
func (s *Service) Runs(ctx context.Context, f RunFilter) ([]RunView, error) {
	switch f.Status {
	case "", store.StatusPending, store.StatusRunning, store.StatusDelivered, store.StatusFailed:
	default:
		return nil, invalid("status", "%q: want pending, running, delivered or failed", f.Status)
	}
	switch f.Kind {
	case "", store.KindScheduled, store.KindManual, store.KindResend, store.KindTest:
	default:
		return nil, invalid("kind", "%q: want scheduled, manual, resend or test", f.Kind)
	}
	if f.Day != "" {
		if _, err := events.ParseDay(f.Day); err != nil {
			return nil, fieldErr("day", err)
		}
	}
	if f.DestinationID != "" {
		id, err := store.ParseUUID("destination", f.DestinationID)
		if err != nil {
			return nil, fieldErr("destination", err)
		}
		ok, err := s.cfg.Store.DestinationExisted(ctx, id)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, notFound("destination", f.DestinationID)
		}
		f.DestinationID = id
	}
	runs, err := s.cfg.Store.Runs(ctx, f)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(runs))
	for i, run := range runs {
		ids[i] = run.ID
	}
	attempts, err := s.cfg.Store.AttemptsOf(ctx, ids)
	if err != nil {
		return nil, err
	}
	files, err := s.cfg.Store.FilesOf(ctx, ids)
	if err != nil {
		return nil, err
	}
	views := make([]RunView, 0, len(runs))
	for _, run := range runs {
		views = append(views, ViewRun(run, attempts[run.ID], files[run.ID]))
	}
	return views, nil
}

// Run returns one run with its attempts.
func (s *Service) Run(ctx context.Context, id string) (RunView, error) {
	id = strings.TrimSpace(id)
	if _, err := store.ParseUUID("run", id); err != nil {
		return RunView{}, notFound("run", id)
	}
	run, err := s.cfg.Store.Run(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return RunView{}, notFound("run", id)
	}
	if err != nil {
		return RunView{}, err
	}
	attempts, err := s.cfg.Store.Attempts(ctx, run.ID)
	if err != nil {
		return RunView{}, err
	}
	files, err := s.cfg.Store.FilesOf(ctx, []string{run.ID})
	if err != nil {
		return RunView{}, err
	}
	return ViewRun(run, attempts, files[run.ID]), nil
}
