package export

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/eventexport/eventexport/delivery"
	"github.com/eventexport/eventexport/events"
	"github.com/eventexport/eventexport/export/file"
	"github.com/eventexport/eventexport/export/store"
)

// Sink receives a run's file: a delivery.Sink.
type Sink = delivery.Sink

// Source calls fn with each payload of a file, in order, and returns how many there were.
type Source func(ctx context.Context, fn func(payload []byte) error) (int64, error)

// RunnerConfig wires a Runner.
type RunnerConfig struct {
	Store    *store.Store
	Location *time.Location // the instance zone
	// Options are the service's delivery settings: source address and time limits.
	Options delivery.Options
	// Connect returns the sink for a destination; nil opens the destination's secrets and its
	// target's transport, found by kind in the delivery registry.
	Connect func(ctx context.Context, d store.Destination) (Sink, error)
	Now     func() time.Time
	Logger  *slog.Logger
	Replica string // recorded on each attempt
	// RecordWithin is how long recording an attempt's outcome is tried while the database does
	// not answer; default 30 s. It must end before the claim's lease does.
	RecordWithin time.Duration
	// Observe, when set, is told of every recorded attempt (for metrics): the run as it was
	// before the attempt, its outcome and how long it took.
	Observe func(run store.Run, out Outcome, took time.Duration)
}

// Runner makes delivery attempts of runs: it streams the run's events through the encoder
// into the sink and records the attempt and its outcome.
type Runner struct {
	cfg RunnerConfig
}

// NewRunner returns a Runner. Location defaults to UTC, Now to time.Now, Logger to discard.
func NewRunner(cfg RunnerConfig) *Runner {
	cfg.Location = cmp.Or(cfg.Location, time.UTC)
	cfg.RecordWithin = cmp.Or(cfg.RecordWithin, 30*time.Second)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Runner{cfg: cfg}
	if r.cfg.Connect == nil {
		r.cfg.Connect = r.connect
	}
	return r
}

// connect opens d's target through the transport of its kind.
func (r *Runner) connect(_ context.Context, d store.Destination) (Sink, error) {
	return Open(r.cfg.Store, d, r.cfg.Options)
}

// Open returns the sink of d's target: its secrets opened and its transport, found by kind.
func Open(st *store.Store, d store.Destination, o delivery.Options) (Sink, error) {
	if err := st.OpenSecrets(&d.Target); err != nil {
		return nil, &delivery.Error{Class: delivery.ClassConfig, Stage: delivery.StageConfig, Err: err,
			Hint: "The service cannot open the target's stored secrets: check EVENTEXPORT_SECRET_KEY (and EVENTEXPORT_SECRET_KEY_OLD during a rotation)"}
	}
	tr, err := delivery.Lookup(d.Target.Kind)
	if err != nil {
		return nil, &delivery.Error{Class: delivery.ClassConfig, Stage: delivery.StageConfig, Err: err}
	}
	return tr.Open(d.Target.Target, d.Path, o.WithDefaults())
}

// SourceError is a failure to read the events of a file: the database's side, not the
// customer's server.
type SourceError struct{ Err error }

func (e *SourceError) Error() string {
	return "reading the events from the database failed: " + e.Err.Error()
}
func (e *SourceError) Unwrap() error { return e.Err }

// Classify names the class of a failed attempt's error and whether retrying can help.
func Classify(err error) (class string, permanent bool) {
	var de *delivery.Error
	var se *SourceError
	var fe *FileError
	switch {
	case errors.As(err, &de):
		return string(de.Class), de.Permanent()
	case errors.As(err, &se):
		return "database", false
	case errors.As(err, &fe):
		// The same events make the same files: retrying cannot help.
		return "file", true
	}
	return "other", false
}

// Outcome is the result of one attempt.
type Outcome struct {
	Attempt int
	// RemotePath is where the file is: the run's file, its manifest when it has one, or its
	// first part.
	RemotePath string
	Files      []file.PartInfo // every file delivered, the manifest last
	Events     int64
	Bytes      int64
	Err        error // nil when delivered
	Class      string
	Permanent  bool
}

// Delivered reports whether the attempt delivered the file.
func (o Outcome) Delivered() bool { return o.Err == nil }

// EventsSource is the Source of a run's file: the destination's events of the run's type and day.
func (r *Runner) EventsSource(d store.Destination, run store.Run) (Source, error) {
	t, err := events.LookupType(run.EventType)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, fn func([]byte) error) (int64, error) {
		return events.Stream(ctx, r.cfg.Store.DB(), d.CompanyID, t, run.Window, fn)
	}, nil
}

// Attempt makes one delivery attempt of run to d now and records it. next, when not nil, is
// asked for the time of the following attempt should this one fail (nil from it: the run fails
// for good). The returned error is about recording, not delivery: a failed delivery is an
// Outcome with Err set.
func (r *Runner) Attempt(ctx context.Context, d store.Destination, run store.Run, src Source, next func(Outcome) *time.Time) (Outcome, error) {
	n, err := r.cfg.Store.BeginAttempt(ctx, run.ID, r.cfg.Replica, r.cfg.Now())
	if err != nil {
		return Outcome{}, err
	}
	started := time.Now()
	out, sink := r.deliver(ctx, d, run, src)
	out.Attempt = n
	if out.Err != nil {
		out.Class, out.Permanent = Classify(out.Err)
		var de *delivery.Error
		if next == nil && errors.As(out.Err, &de) {
			de.Once = true // nothing retries this attempt: its message must not say otherwise
		}
	}

	end := store.AttemptEnd{Delivered: out.Err == nil, RemotePath: out.RemotePath, Events: out.Events, Bytes: out.Bytes,
		Class: out.Class, Permanent: out.Permanent, Files: out.Files}
	if out.Err != nil {
		if next != nil {
			end.Next = next(out)
		}
		// The last attempt's message does not promise a retry.
		var de *delivery.Error
		if end.Next == nil && errors.As(out.Err, &de) {
			de.Once = true
		}
		end.Err = out.Err.Error()
		if c, ok := sink.(delivery.Cleaner); ok && end.Next == nil && mayLeavePartial(out.Err) {
			// The run has failed for good: nothing of it may stay on the customer's server.
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			if err := c.Clean(cctx, run.FileName); err != nil {
				r.cfg.Logger.Warn("could not remove the partial file of a failed run", slog.String("run", run.ID),
					slog.String("file", run.FileName), slog.String("error", err.Error()))
			}
			cancel()
		}
	}
	// Record the outcome even when ctx was cancelled mid-attempt (shutdown), and while the
	// database is away (it may be why the attempt failed), for up to RecordWithin: a bounded,
	// independent context keeps the history true, and the next attempt follows the schedule.
	took := time.Since(started)
	if err := r.record(ctx, run.ID, n, end); err != nil {
		r.cfg.Logger.Error("the outcome of a delivery attempt could not be recorded: the database did not answer",
			slog.String("run", run.ID), slog.Int("attempt", n), slog.Bool("delivered", out.Err == nil),
			slog.String("remote_path", out.RemotePath), slog.Any("attempt_error", out.Err), slog.String("error", err.Error()))
		return out, err
	}
	if r.cfg.Observe != nil {
		r.cfg.Observe(run, out, took)
	}

	outcome := "delivered"
	if out.Err != nil {
		outcome = "failed"
	}
	attrs := []any{
		slog.String("run", run.ID), slog.String("destination", d.ID), slog.String("company", d.CompanyID),
		slog.String("event_type", run.EventType), slog.String("day", run.Day.String()), slog.String("kind", string(run.Kind)),
		slog.Int("attempt", n), slog.String("outcome", outcome), slog.Duration("duration", took),
		slog.Int64("events", out.Events), slog.Int64("bytes", out.Bytes),
	}
	if out.Err != nil {
		r.cfg.Logger.Warn("delivery failed", append(attrs, slog.String("error", out.Err.Error()),
			slog.String("error_class", out.Class), slog.Bool("permanent", out.Permanent))...)
	} else {
		r.cfg.Logger.Info("delivered", append(attrs, slog.String("remote_path", out.RemotePath))...)
	}
	return out, nil
}

// mayLeavePartial reports whether a failed attempt may have left a partial file on the
// server: the upload or rename was under way when a limit passed or the connection broke.
func mayLeavePartial(err error) bool {
	var de *delivery.Error
	if !errors.As(err, &de) || (de.Stage != delivery.StageUpload && de.Stage != delivery.StageRename) {
		return false
	}
	return de.Class == delivery.ClassTimeout || de.Class == delivery.ClassConnLost || de.Class == delivery.ClassCanceled
}

// record stores how attempt n ended, trying again while the database does not answer, for up
// to RecordWithin.
func (r *Runner) record(ctx context.Context, runID string, n int, end store.AttemptEnd) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.RecordWithin)
	defer cancel()
	wait := 250 * time.Millisecond
	for {
		err := r.cfg.Store.FinishAttempt(rctx, runID, n, end, r.cfg.Now())
		if err == nil || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrSuperseded) {
			return err
		}
		select {
		case <-rctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// errSinkGone stops the producer when the sink returned before reading everything.
var errSinkGone = errors.New("delivery ended before the file was complete")

// deliver makes the run's files from src and hands them to the sink: one file streamed, or
// parts when the run's options limit its files; then the manifest, when asked for, last.
func (r *Runner) deliver(ctx context.Context, d store.Destination, run store.Run, src Source) (Outcome, Sink) {
	t, err := events.LookupType(run.EventType)
	if err != nil {
		return Outcome{Err: err}, nil
	}
	sink, err := r.cfg.Connect(ctx, d)
	if err != nil {
		return Outcome{Err: err}, nil
	}
	var stager file.Stager
	if key := run.Options.EncryptTo; key != "" {
		rec, err := file.ParseRecipient([]byte(key), r.cfg.Now())
		if err != nil {
			return Outcome{Err: &delivery.Error{Class: delivery.ClassConfig, Stage: delivery.StageConfig, Err: err,
				Hint: fmt.Sprintf("The destination's encryption key cannot be used: give the customer's current key with eventexport destinations update %s --encrypt-to FILE; retrying will not help", d.ID)}}, sink
		}
		stager = rec
	}
	f := files{r: r, sink: sink, run: run, typ: t, stager: stager}
	var out Outcome
	if wf, ok := sink.(delivery.WholeFiler); run.Options.Splits() || ok && wf.WholeFiles() {
		out = f.parts(ctx, src)
	} else {
		out = f.one(ctx, src)
	}
	if out.Err == nil && run.Options.Manifest {
		p, info, err := f.manifest(ctx, d, out)
		if err != nil {
			out.Err, out.RemotePath, out.Files = err, "", nil
		} else {
			out.RemotePath = p
			out.Files = append(out.Files, info)
		}
	}
	return out, sink
}
