package store

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/eventexport/eventexport/delivery"
	"github.com/eventexport/eventexport/events"
	"github.com/eventexport/eventexport/export/file"
	"github.com/eventexport/eventexport/migrations/pgtest"
)

// Health tells, for every destination in one query: its latest delivered file (the latest
// window, tests aside), what is retrying and since when, and what failed for good.
func TestHealth(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := NewStore(pgtest.New(t).Pool, nil, nil)
	add := func() Destination {
		d, err := s.AddDestination(ctx, NewDestination{CompanyID: uuid.NewString(),
			Target: Target{Target: delivery.Target{Kind: "test", Settings: []byte(`{}`)}}, Format: file.FormatJSON,
			EventTypes: []string{events.CourseComplete.Name}, StartDate: events.Day{Year: 2026, Month: 6, Day: 1}})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	base := time.Date(2026, 6, 10, 0, 0, 0, 0, time.UTC)
	run := func(d Destination, kind RunKind, hour int) Run {
		w := events.Window{Start: base.Add(time.Duration(hour) * time.Hour), End: base.Add(time.Duration(hour+1) * time.Hour)}
		r, err := s.CreateRun(ctx, NewRun{Destination: d, Type: events.CourseComplete, Day: events.DayOf(w.Start, time.UTC),
			Window: w, Kind: kind, Now: w.End})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	attempt := func(r Run, end AttemptEnd, at time.Time) {
		n, err := s.BeginAttempt(ctx, r.ID, "test", at)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.FinishAttempt(ctx, r.ID, n, end, at); err != nil {
			t.Fatal(err)
		}
	}
	delivered := AttemptEnd{Delivered: true, RemotePath: "/in/x", Events: 3, Bytes: 10}
	next := base.Add(30 * time.Hour)
	failed := AttemptEnd{Err: "could not connect", Class: string(delivery.ClassRefused), Next: &next}

	healthy, retrying, failing, fresh := add(), add(), add(), add()
	attempt(run(healthy, KindScheduled, 1), delivered, base.Add(2*time.Hour))
	latest := run(healthy, KindScheduled, 2)
	attempt(latest, delivered, base.Add(3*time.Hour))
	attempt(run(healthy, KindTest, 5), delivered, base.Add(6*time.Hour)) // tests do not count

	attempt(run(retrying, KindScheduled, 1), delivered, base.Add(2*time.Hour))
	r := run(retrying, KindScheduled, 2)
	attempt(r, failed, base.Add(3*time.Hour))

	f := run(failing, KindScheduled, 1)
	attempt(f, AttemptEnd{Err: "authentication failed", Class: string(delivery.ClassAuth), Permanent: true}, base.Add(2*time.Hour))
	if err := s.SetFailing(ctx, failing.ID, f.ID, base.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}

	h, err := s.Health(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := h[healthy.ID]; got.LastDelivered == nil || got.LastDelivered.RunID != latest.ID || got.Retrying != 0 || got.FailingSince != nil {
		t.Errorf("healthy: %+v, want its latest window's file %s and nothing failing", got, latest.ID)
	}
	if got := h[retrying.ID]; got.Retrying != 1 || got.NextAttemptAt == nil || !got.NextAttemptAt.Equal(next) ||
		got.LastErrorClass != string(delivery.ClassRefused) || got.TroubleSince == nil || !got.TroubleSince.Equal(base.Add(3*time.Hour)) {
		t.Errorf("retrying: %+v", got)
	}
	if got := h[failing.ID]; got.FailingSince == nil || !got.FailingSince.Equal(base.Add(2*time.Hour)) ||
		got.LastErrorClass != string(delivery.ClassAuth) || got.LastDelivered != nil {
		t.Errorf("failed: %+v", got)
	}
	if got, ok := h[fresh.ID]; !ok || got.LastDelivered != nil || got.Retrying != 0 || got.FailingSince != nil {
		t.Errorf("new destination: %+v (listed %v)", got, ok)
	}
	if err := s.RemoveDestination(ctx, fresh.ID); err != nil {
		t.Fatal(err)
	}
	if h, _ = s.Health(ctx); len(h) != 3 {
		t.Errorf("%d destinations after a removal, want 3", len(h))
	}
}
