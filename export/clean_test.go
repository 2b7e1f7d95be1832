package export

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/eventexport/eventexport/delivery"
	"github.com/eventexport/eventexport/export/file"
	"github.com/eventexport/eventexport/export/store"
	"github.com/eventexport/eventexport/migrations/pgtest"
)

// cleaningSink fails every Put and records what it is asked to clean.
type cleaningSink struct {
	mu      sync.Mutex
	cleaned []string
}

// errStalled is a server that stopped answering mid-upload: a partial file may be left.
var errStalled = &delivery.Error{Class: delivery.ClassTimeout, Stage: delivery.StageUpload, Limit: delivery.LimitAttempt,
	Err: errors.New("attempt timeout")}

func (s *cleaningSink) Put(context.Context, string, io.Reader) (string, error) { return "", errStalled }

func (s *cleaningSink) Clean(_ context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cleaned = append(s.cleaned, name)
	return nil
}

// The partial file of a run is removed from the customer's server once the run has failed for
// good (and after a manual attempt, which nothing retries), not while retries are due.
func TestPartialFileRemovedOnceARunFailsForGood(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	st := store.NewStore(db.Pool, nil, nil)
	c := &clock{t: wall("2026-06-10 02:00")}
	d := addTestDestination(t, st, day("2026-06-09"), file.FormatJSON)
	run, err := st.CreateRun(context.Background(), store.NewRun{Destination: d, Type: mustType(t), Day: day("2026-06-09"),
		Kind: store.KindScheduled, Location: newYork, Now: c.Now()})
	if err != nil {
		t.Fatal(err)
	}
	sink := &cleaningSink{}
	runner := NewRunner(RunnerConfig{Store: st, Location: newYork, Now: c.Now,
		Connect: func(context.Context, store.Destination) (Sink, error) { return sink, nil }})
	src := func(context.Context, func([]byte) error) (int64, error) { return 0, nil }

	later := c.Now().Add(time.Minute)
	if _, err := runner.Attempt(context.Background(), d, run, src, func(Outcome) *time.Time { return &later }); err != nil {
		t.Fatal(err)
	}
	if len(sink.cleaned) != 0 {
		t.Errorf("cleaned %v while a retry is due; want nothing cleaned", sink.cleaned)
	}
	if _, err := runner.Attempt(context.Background(), d, run, src, func(Outcome) *time.Time { return nil }); err != nil {
		t.Fatal(err)
	}
	if len(sink.cleaned) != 1 || sink.cleaned[0] != run.FileName {
		t.Errorf("cleaned %v after the last attempt; want %s", sink.cleaned, run.FileName)
	}

	// A server never reached holds nothing of the run: there is nothing to clean.
	refused := &cleaningSink{}
	runner = NewRunner(RunnerConfig{Store: st, Location: newYork, Now: c.Now,
		Connect: func(context.Context, store.Destination) (Sink, error) { return refusingSink{refused}, nil }})
	if _, err := runner.Attempt(context.Background(), d, run, src, func(Outcome) *time.Time { return nil }); err != nil {
		t.Fatal(err)
	}
	if len(refused.cleaned) != 0 {
		t.Errorf("cleaned %v after a refused connection; want nothing", refused.cleaned)
	}
}

// refusingSink is a cleaningSink whose server refuses connections.
type refusingSink struct{ *cleaningSink }

func (refusingSink) Put(context.Context, string, io.Reader) (string, error) { return "", errDown }
