package events_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/eventexport/eventexport/events"
	"github.com/eventexport/eventexport/events/eventstest"
	"github.com/eventexport/eventexport/migrations/pgtest"
)

// marked returns an event whose payload is {"mark": mark}.
func marked(mark, company, typ string, at time.Time) events.Event {
	return events.Event{
		ID:         uuid.NewString(),
		CompanyID:  company,
		Type:       typ,
		OccurredAt: at,
		Payload:    fmt.Appendf(nil, `{"mark": %q}`, mark),
	}
}

// marks streams the window and returns the payloads' marks in the order received.
func marks(t *testing.T, q events.Querier, company string, w events.Window) []string {
	t.Helper()
	var got []string
	n, err := events.Stream(context.Background(), q, company, events.CourseComplete, w, func(p []byte) error {
		var v struct{ Mark string }
		if err := json.Unmarshal(p, &v); err != nil {
			return fmt.Errorf("payload %q: %w", p, err)
		}
		got = append(got, v.Mark)
		return nil
	})
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	if n != int64(len(got)) {
		t.Fatalf("Stream returned %d, passed %d payloads", n, len(got))
	}
	return got
}

func TestStreamSelectsTheDayInOrder(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ny := mustLoad(t, "America/New_York")
	for _, tt := range []struct {
		day   string
		hours time.Duration
	}{
		{"2026-03-08", 23},
		{"2026-11-01", 25},
	} {
		t.Run(tt.day, func(t *testing.T) {
			d, _ := events.ParseDay(tt.day)
			w := d.Window(ny)
			if w.Duration() != tt.hours*time.Hour {
				t.Fatalf("window lasts %v, want %dh", w.Duration(), tt.hours)
			}
			company, other := uuid.NewString(), uuid.NewString()
			cc := events.CourseComplete.Name
			tie := w.Start.Add(3 * time.Hour)
			// Three events at the same instant come out by id.
			// Three events at the same instant come out by id.
			ids := []string{uuid.NewString(), uuid.NewString(), uuid.NewString()}
			slices.Sort(ids)
			tied := make([]events.Event, 3)
			for i := range tied {
				tied[i] = marked(fmt.Sprintf("tie-%d", i+1), company, cc, tie)
				tied[i].ID = ids[i]
			}
			eventstest.Insert(t, db.Pool,
				marked("last", company, cc, w.End.Add(-time.Microsecond)),
				tied[2],
				marked("end", company, cc, w.End),
				marked("first", company, cc, w.Start),
				tied[0],
				marked("before", company, cc, w.Start.Add(-time.Microsecond)),
				marked("other-company", other, cc, tie),
				marked("other-type", company, "courseStarted", tie),
				marked("day-before", company, cc, w.Start.Add(-20*time.Hour)),
				marked("day-after", company, cc, w.End.Add(26*time.Hour)),
				marked("wall-clock-2am", company, cc, time.Date(d.Year, d.Month, d.Day, 2, 30, 0, 0, time.UTC)), // in UTC: not the local 2:30
				tied[1],
				marked("middle", company, cc, w.Start.Add(tt.hours*time.Hour/2)),
			)
			want := []string{"first", "tie-1", "tie-2", "tie-3", "middle", "last"}
			if got := marks(t, db.Pool, company, w); !slices.Equal(got, want) {
				t.Errorf("marks = %v, want %v", got, want)
			}
			if got := marks(t, db.Pool, other, w); !slices.Equal(got, []string{"other-company"}) {
				t.Errorf("other company's marks = %v, want [other-company]", got)
			}
			if got := marks(t, db.Pool, uuid.NewString(), w); len(got) != 0 {
				t.Errorf("unknown company's marks = %v, want none", got)
			}
			// The next day starts with the event at End.
			if got := marks(t, db.Pool, company, d.AddDays(1).Window(ny)); !slices.Equal(got, []string{"end"}) {
				t.Errorf("next day's marks = %v, want [end]", got)
			}
		})
	}
}

// TestStreamIgnoresTimeZones checks that neither the process's time zone nor the database
// session's changes which events belong to a window.
func TestStreamIgnoresTimeZones(t *testing.T) {
	t.Parallel()
	if !eventstest.InTimeZones(t, "Pacific/Kiritimati", "Pacific/Pago_Pago", "UTC") {
		return
	}
	db := pgtest.New(t)
	ny := mustLoad(t, "America/New_York")
	w := events.Day{Year: 2026, Month: time.November, Day: 1}.Window(ny)
	company := uuid.NewString()
	cc := events.CourseComplete.Name
	eventstest.Insert(t, db.Pool,
		marked("before", company, cc, w.Start.Add(-time.Microsecond)),
		marked("first", company, cc, w.Start),
		marked("last", company, cc, w.End.Add(-time.Microsecond)),
		marked("end", company, cc, w.End),
	)
	want := []string{"first", "last"}
	for _, session := range []string{"Pacific/Kiritimati", "Pacific/Pago_Pago", "America/New_York", "UTC"} {
		conn, err := pgx.Connect(context.Background(), db.URL+"&timezone="+session)
		if err != nil {
			t.Fatal(err)
		}
		// The same instants, in the process's local zone.
		lw := events.Window{Start: w.Start.Local(), End: w.End.Local()}
		if got := marks(t, conn, company, lw); !slices.Equal(got, want) {
			t.Errorf("session in %s: marks = %v, want %v", session, got, want)
		}
		conn.Close(context.Background())
	}
}

func TestStreamEmpty(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	w := events.Day{Year: 2026, Month: time.March, Day: 8}.Window(time.UTC)
	n, err := events.Stream(context.Background(), db.Pool, uuid.NewString(), events.CourseComplete, w, func([]byte) error {
		t.Fatal("fn called for an empty day")
		return nil
	})
	if n != 0 || err != nil {
		t.Fatalf("Stream = %d, %v; want 0, nil", n, err)
	}
}

func TestStreamRejectsBadInput(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	w := events.Day{Year: 2026, Month: time.March, Day: 8}.Window(time.UTC)
	noop := func([]byte) error { return nil }
	if _, err := events.Stream(context.Background(), db.Pool, "acme", events.CourseComplete, w, noop); err == nil || !strings.Contains(err.Error(), `"acme"`) {
		t.Errorf("Stream with company %q: error = %v, want one naming it", "acme", err)
	}
	if _, err := events.Stream(context.Background(), db.Pool, uuid.NewString(), events.CourseComplete, events.Window{Start: w.End, End: w.Start}, noop); err == nil {
		t.Errorf("Stream with a reversed window succeeded, want an error")
	}
}

// seedLarge writes enough events that the server cannot have sent them all before the client
// reads them: 32 MB, more than the socket buffers hold.
func seedLarge(t *testing.T, db *pgtest.DB) (string, events.Window, int) {
	t.Helper()
	const n = 4000
	company := uuid.NewString()
	w := events.Day{Year: 2026, Month: time.March, Day: 8}.Window(time.UTC)
	pad := strings.Repeat("x", 8<<10)
	evs := make([]events.Event, n)
	for i := range evs {
		evs[i] = events.Event{
			CompanyID:  company,
			Type:       events.CourseComplete.Name,
			OccurredAt: w.Start.Add(time.Duration(i) * time.Second),
			Payload:    fmt.Appendf(nil, `{"mark": "%d", "pad": %q}`, i, pad),
		}
	}
	eventstest.Insert(t, db.Pool, evs...)
	return company, w, n
}

func TestStreamStopsOnCallbackError(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	company, w, _ := seedLarge(t, db)
	errFull := errors.New("disk full")
	var calls int
	start := time.Now()
	n, err := events.Stream(context.Background(), db.Pool, company, events.CourseComplete, w, func([]byte) error {
		calls++
		if calls == 10 {
			return errFull
		}
		return nil
	})
	if !errors.Is(err, errFull) || n != 9 || calls != 10 {
		t.Fatalf("Stream = %d, %v after %d calls; want 9, the callback's error, after 10 calls", n, err, calls)
	}
	t.Logf("stopped after %v", time.Since(start))
	// The pool is still usable.
	if got := marks(t, db.Pool, uuid.NewString(), w); len(got) != 0 {
		t.Fatalf("marks = %v", got)
	}
}

func TestStreamReportsContextCancelledMidStream(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	company, w, total := seedLarge(t, db)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n, err := events.Stream(ctx, db.Pool, company, events.CourseComplete, w, func([]byte) error {
		cancel() // the first call cancels; the stream must not look complete
		return nil
	})
	if err == nil || n >= int64(total) {
		t.Fatalf("Stream = %d, %v; want fewer than %d events and an error", n, err, total)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v: want it to wrap context.Canceled", err)
	}
	t.Logf("Stream = %d, %v", n, err)
}

func TestStreamReportsLostConnectionMidStream(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	company, w, total := seedLarge(t, db)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	pid := conn.PgConn().PID()
	var calls int
	n, err := events.Stream(ctx, conn, company, events.CourseComplete, w, func([]byte) error {
		calls++
		if calls == 10 {
			var ok bool
			if err := db.Pool.QueryRow(ctx, "SELECT pg_terminate_backend($1)", pid).Scan(&ok); err != nil || !ok {
				return fmt.Errorf("terminate backend %d: %v, %v", pid, ok, err)
			}
		}
		return nil
	})
	if err == nil || n >= int64(total) {
		t.Fatalf("Stream = %d, %v; want fewer than %d events and an error", n, err, total)
	}
	t.Logf("Stream = %d, %v", n, err)
}

func TestStreamReportsTimeout(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	company, w, total := seedLarge(t, db)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	n, err := events.Stream(ctx, db.Pool, company, events.CourseComplete, w, func([]byte) error {
		time.Sleep(5 * time.Millisecond) // a slow consumer
		return nil
	})
	if err == nil || n >= int64(total) {
		t.Fatalf("Stream = %d, %v; want fewer than %d events and an error", n, err, total)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v: want it to wrap context.DeadlineExceeded", err)
	}
	t.Logf("Stream = %d, %v", n, err)
}
