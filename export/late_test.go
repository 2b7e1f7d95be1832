package export

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/eventexport/eventexport/delivery"
	"github.com/eventexport/eventexport/events"
	"github.com/eventexport/eventexport/events/eventstest"
	"github.com/eventexport/eventexport/export/file"
	"github.com/eventexport/eventexport/export/schedule"
	"github.com/eventexport/eventexport/export/store"
	"github.com/eventexport/eventexport/migrations/pgtest"
)

// Events inserted after their window was delivered are counted a day later, once: reported in
// one alert naming the destination, the window and the count; re-sent once as a new run of the
// whole window; or only recorded.
func TestLateEvents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.New(t)
	s := store.NewStore(db.Pool, nil, nil)
	var mu sync.Mutex
	var alerts []Alert
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a Alert
		_ = json.NewDecoder(r.Body).Decode(&a)
		mu.Lock()
		alerts = append(alerts, a)
		mu.Unlock()
	}))
	defer hook.Close()

	window := events.Window{Start: time.Date(2026, 6, 10, 4, 0, 0, 0, time.UTC), End: time.Date(2026, 6, 10, 5, 0, 0, 0, time.UTC)}
	deliveredAt := window.End.Add(20 * time.Minute)
	type dest struct {
		d    store.Destination
		run  store.Run
		late int
	}
	add := func(policy string, late int) dest {
		d, err := s.AddDestination(ctx, store.NewDestination{
			CompanyID: uuid.NewString(), Target: store.Target{Target: delivery.Target{Kind: "test", Settings: []byte(`{}`)}},
			Format: file.FormatJSON, EventTypes: []string{events.CourseComplete.Name}, StartDate: day("2026-06-10"),
			Schedule: []schedule.Period{{Every: schedule.Hour, Zone: "UTC"}}, LateEvents: policy,
		})
		if err != nil {
			t.Fatal(err)
		}
		eventstest.Generate(t, db.Pool, d.CompanyID, window, 5)
		r, err := s.CreateRun(ctx, store.NewRun{Destination: d, Type: events.CourseComplete, Day: day("2026-06-10"), Window: window,
			Kind: store.KindScheduled, Now: window.End})
		if err != nil {
			t.Fatal(err)
		}
		n, err := s.BeginAttempt(ctx, r.ID, "test", deliveredAt)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.FinishAttempt(ctx, r.ID, n, store.AttemptEnd{Delivered: true, RemotePath: "/x", Events: 5, Bytes: 10}, deliveredAt); err != nil {
			t.Fatal(err)
		}
		// Late: inside the window, inserted after delivery; and one after the window, not late.
		eventstest.Generate(t, db.Pool, d.CompanyID, events.Window{Start: window.Start.Add(time.Minute), End: window.End}, late)
		eventstest.Generate(t, db.Pool, d.CompanyID, events.Window{Start: window.End, End: window.End.Add(time.Minute)}, 1)
		return dest{d, r, late}
	}
	report, resend, ignore, onTime := add(store.LateReport, 3), add(store.LateResend, 2), add(store.LateIgnore, 4), add(store.LateReport, 0)

	clk := &clock{t: deliveredAt.Add(23 * time.Hour)}
	alerter := NewAlerter(AlerterConfig{Backoff: time.Millisecond})
	c := NewLateChecker(LateCheckerConfig{Store: s, Alerter: alerter, AlertURL: hook.URL, Now: clk.Now})
	if n, err := c.Check(ctx); err != nil || n != 0 {
		t.Fatalf("before a day has passed: %d late (%v), want none checked", n, err)
	}
	clk.Set(deliveredAt.Add(24 * time.Hour))
	if n, err := c.Check(ctx); err != nil || n != 3 {
		t.Fatalf("a day after delivery: %d runs with late events (%v), want 3", n, err)
	}
	if n, err := c.Check(ctx); err != nil || n != 0 {
		t.Errorf("checking again: %d (%v), want none: each run is checked once", n, err)
	}
	alerter.Close(ctx)

	for _, x := range []dest{report, resend, ignore, onTime} {
		r, err := s.Run(ctx, x.run.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r.LateEvents == nil || *r.LateEvents != int64(x.late) {
			t.Errorf("%s: late events %v, want %d", x.d.LateEvents, r.LateEvents, x.late)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(alerts) != 1 || alerts[0].Kind != AlertLateEvents || alerts[0].Destination != report.d.ID || alerts[0].LateEvents != 3 ||
		alerts[0].WindowStart != "2026-06-10T04:00:00Z" || alerts[0].WindowEnd != "2026-06-10T05:00:00Z" {
		t.Errorf("alerts %+v, want one late_events alert for the report destination's window with 3 events", alerts)
	}
	var resends []struct {
		dest       string
		start, end time.Time
	}
	rows, err := db.Pool.Query(ctx, `SELECT destination_id::text, window_start, window_end FROM runs WHERE kind = 'resend'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var r struct {
			dest       string
			start, end time.Time
		}
		if err := rows.Scan(&r.dest, &r.start, &r.end); err != nil {
			t.Fatal(err)
		}
		resends = append(resends, r)
	}
	if len(resends) != 1 || resends[0].dest != resend.d.ID || !resends[0].start.Equal(window.Start) || !resends[0].end.Equal(window.End) {
		t.Errorf("re-sends %+v, want one of the resend destination's whole window", resends)
	}
}
