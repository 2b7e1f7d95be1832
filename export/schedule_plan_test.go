package export

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/eventexport/eventexport/delivery"
	"github.com/eventexport/eventexport/events"
	"github.com/eventexport/eventexport/export/file"
	"github.com/eventexport/eventexport/export/schedule"
	"github.com/eventexport/eventexport/export/store"
	"github.com/eventexport/eventexport/migrations/pgtest"
)

var allEvery = []schedule.Every{schedule.Hour, schedule.Hours2, schedule.Hours3, schedule.Hours4, schedule.Hours6,
	schedule.Hours8, schedule.Hours12, schedule.Day, schedule.Week}

// addScheduled stores a destination with a schedule of one period.
func addScheduled(t testing.TB, s *store.Store, start events.Day, every schedule.Every, zone string, sendAfter *time.Duration) store.Destination {
	t.Helper()
	d, err := s.AddDestination(context.Background(), store.NewDestination{
		CompanyID: uuid.NewString(), Target: store.Target{Target: delivery.Target{Kind: "test", Settings: []byte(`{}`)}},
		Format: file.FormatJSON, EventTypes: []string{events.CourseComplete.Name}, StartDate: start,
		Schedule: []schedule.Period{{Every: every, Zone: zone}}, SendAfter: sendAfter,
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// transitions returns the instants in [from, to) at which loc's offset changes.
func transitions(loc *time.Location, from, to time.Time) []time.Time {
	var out []time.Time
	for t := from; t.Before(to); {
		_, end := t.In(loc).ZoneBounds()
		if end.IsZero() || !end.Before(to) {
			break
		}
		out = append(out, end)
		t = end
	}
	return out
}

// checkTiling checks that runs (ordered by window start) tile time from their first start
// with no gap and no overlap, one run per window, each created once its window was due.
func checkTiling(t *testing.T, label string, runs []plannedRun, sch schedule.Schedule) {
	t.Helper()
	if len(runs) == 0 {
		t.Errorf("%s: no runs", label)
		return
	}
	for i, r := range runs {
		if !r.Start.Before(r.End) {
			t.Errorf("%s: empty window [%s, %s)", label, r.Start, r.End)
		}
		if i > 0 && !r.Start.Equal(runs[i-1].End) {
			t.Errorf("%s: window %d starts at %s, the one before ends at %s (a gap or an overlap)", label, i, r.Start, runs[i-1].End)
		}
		w, p, err := sch.WindowAt(r.Start)
		if err != nil || !w.Start.Equal(r.Start) || !w.End.Equal(r.End) {
			t.Errorf("%s: run window [%s, %s) is not the schedule's %s (%v)", label, r.Start, r.End, w, err)
			continue
		}
		if due := sch.Due(w, p); r.CreatedAt.Before(due) {
			t.Errorf("%s: window %s planned at %s, before it was due at %s", label, w, r.CreatedAt, due)
		}
		m := fileNameRE.FindStringSubmatch(r.FileName)
		if m == nil || m[1] != strconv.FormatInt(r.Start.Unix(), 10) {
			t.Errorf("%s: file name %q does not carry the window's start %d", label, r.FileName, r.Start.Unix())
		}
	}
}

// Planning with a fake clock over the 2026 and 2027 daylight-saving days of New York, London,
// Sydney, Adelaide and Kolkata, for every cadence, with two planners racing: windows tile time,
// each has exactly one run, planned once it was due; the hours of the changing days number 23
// or 25.
func TestPlanEveryCadenceOverDaylightSavingDays(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("slow")
	}
	type tc struct {
		zone string
		at   time.Time // an instant the zone's offset changes; for Kolkata, an ordinary day
	}
	var cases []tc
	for _, zone := range []string{"America/New_York", "Europe/London", "Australia/Sydney", "Australia/Adelaide"} {
		loc := mustLoad(zone)
		for _, at := range transitions(loc, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC)) {
			cases = append(cases, tc{zone, at})
		}
	}
	cases = append(cases, tc{"Asia/Kolkata", time.Date(2026, 3, 8, 12, 0, 0, 0, time.UTC)})
	if len(cases) != 17 {
		t.Fatalf("%d cases, want 16 daylight-saving changes and a day in Kolkata", len(cases))
	}
	for _, c := range cases {
		name := fmt.Sprintf("%s %s", c.zone, c.at.In(mustLoad(c.zone)).Format("2006-01-02"))
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			loc := mustLoad(c.zone)
			s := store.NewStore(pgtest.New(t).Pool, nil, nil)
			changeDay := events.DayOf(c.at, loc)
			start := changeDay.AddDays(-2)
			dests := map[schedule.Every]store.Destination{}
			for _, e := range allEvery {
				dests[e] = addScheduled(t, s, start, e, c.zone, nil)
			}
			clk := &clock{}
			cfg := PlannerConfig{Store: s, Location: newYork, Schedule: parseSchedule(t, "0 2 * * *"), Now: clk.Now}
			planners := []*Planner{NewPlanner(cfg), NewPlanner(cfg)}
			end := changeDay.AddDays(3).Window(loc).Start.Add(3 * time.Hour)
			for now := start.Window(loc).Start; now.Before(end); now = now.Add(40 * time.Minute) {
				clk.Set(now)
				var wg sync.WaitGroup
				for _, p := range planners {
					wg.Go(func() {
						if _, err := p.Plan(ctx); err != nil {
							t.Error(err)
						}
					})
				}
				wg.Wait()
			}
			for _, e := range allEvery {
				d := dests[e]
				sch := ScheduleOf(d.StartDate, d.Schedule, nil, cfg)
				runs := runsOf(t, s, d.ID)
				checkTiling(t, string(e), runs, sch)
				if first := start.Window(loc).Start; len(runs) > 0 && !runs[0].Start.Equal(first) {
					t.Errorf("%s: first window starts at %s, want the start day's midnight %s", e, runs[0].Start, first)
				}
				// Every window due by the end is there.
				if len(runs) > 0 {
					next, p := sch.After(events.Window{Start: runs[len(runs)-1].Start, End: runs[len(runs)-1].End})
					if due := sch.Due(next, p); due.Before(end.Add(-40 * time.Minute)) {
						t.Errorf("%s: the window %s was due at %s but has no run", e, next, due)
					}
				}
				if e != schedule.Hour {
					continue
				}
				// Hours of the changing day: 23, 25, or 24 where nothing changes.
				dayWin := changeDay.Window(loc)
				n := 0
				for _, r := range runs {
					if dayWin.Contains(r.Start) {
						n++
					}
				}
				if want := int(dayWin.Duration() / time.Hour); n != want || (c.zone != "Asia/Kolkata" && n == 24) {
					t.Errorf("hour windows on %s: %d, want %d (the day is %s long)", changeDay, n, want, dayWin.Duration())
				}
			}
		})
	}
}

// After an outage, one planning catches up every missed window of mixed cadences within the
// catch-up days, and nothing older; planning again creates nothing.
func TestPlanCatchesUpMixedCadences(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := store.NewStore(pgtest.New(t).Pool, nil, nil)
	hourly := addScheduled(t, s, day("2026-05-01"), schedule.Hour, "Europe/London", nil)
	sixHours := addScheduled(t, s, day("2026-05-01"), schedule.Hours6, "Asia/Kolkata", nil)
	daily := addScheduled(t, s, day("2026-05-01"), schedule.Day, "", nil)
	weekly := addScheduled(t, s, day("2026-05-01"), schedule.Week, "Australia/Sydney", nil)
	clk := &clock{t: time.Date(2026, 6, 10, 12, 0, 0, 0, time.UTC)}
	cfg := PlannerConfig{Store: s, Location: newYork, Schedule: parseSchedule(t, "0 2 * * *"), Now: clk.Now, CatchUpDays: 3}
	p := NewPlanner(cfg)
	if _, err := p.Plan(ctx); err != nil {
		t.Fatal(err)
	}
	horizon := clk.Now().AddDate(0, 0, -3)
	for _, d := range []store.Destination{hourly, sixHours, daily, weekly} {
		runs := runsOf(t, s, d.ID)
		sch := ScheduleOf(d.StartDate, d.Schedule, nil, cfg)
		checkTiling(t, string(d.Schedule[0].Every), runs, sch)
		if len(runs) == 0 {
			continue
		}
		if !runs[0].End.After(horizon) || runs[0].Start.After(horizon) {
			t.Errorf("%s: first window caught up %s to %s, want the one holding %s", d.Schedule[0].Every, runs[0].Start, runs[0].End, horizon)
		}
		last := runs[len(runs)-1]
		next, per := sch.After(events.Window{Start: last.Start, End: last.End})
		if !sch.Due(next, per).After(clk.Now()) {
			t.Errorf("%s: window %s is due but was not caught up", d.Schedule[0].Every, next)
		}
	}
	if n := len(runsOf(t, s, hourly.ID)); n < 3*24-1 || n > 3*24+1 {
		t.Errorf("hourly: %d windows caught up over 3 days", n)
	}
	plan, err := p.Plan(ctx)
	if err != nil || plan.Created != 0 {
		t.Errorf("planning again created %d runs (%v), want none", plan.Created, err)
	}
	// Reads only the destinations with a window due: none now.
	if plan.Destinations != 0 || plan.Statements > 2 {
		t.Errorf("planning with nothing due read %d destinations in %d statements", plan.Destinations, plan.Statements)
	}
}

// A send-after delay moves when a window is planned; the default for short windows is 15
// minutes after their end.
func TestPlanSendAfter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := store.NewStore(pgtest.New(t).Pool, nil, nil)
	ninety := 90 * time.Minute
	delayed := addScheduled(t, s, day("2026-06-10"), schedule.Hour, "UTC", &ninety)
	plain := addScheduled(t, s, day("2026-06-10"), schedule.Hour, "UTC", nil)
	clk := &clock{t: time.Date(2026, 6, 10, 1, 14, 0, 0, time.UTC)}
	p := NewPlanner(PlannerConfig{Store: s, Location: newYork, Now: clk.Now})
	count := func(d store.Destination) int { return len(runsOf(t, s, d.ID)) }
	if _, err := p.Plan(ctx); err != nil {
		t.Fatal(err)
	}
	if count(plain) != 0 || count(delayed) != 0 {
		t.Fatalf("at 01:14, %d and %d windows planned, want none", count(plain), count(delayed))
	}
	clk.Set(time.Date(2026, 6, 10, 1, 15, 0, 0, time.UTC))
	plan, err := p.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if count(plain) != 1 || count(delayed) != 0 {
		t.Errorf("at 01:15, %d and %d windows planned, want 1 (00:00-01:00) and 0", count(plain), count(delayed))
	}
	if want := time.Date(2026, 6, 10, 2, 15, 0, 0, time.UTC); !plan.NextDue.Equal(want) {
		t.Errorf("next due %s, want %s (the plain 01:00 window)", plan.NextDue, want)
	}
	clk.Set(time.Date(2026, 6, 10, 2, 29, 0, 0, time.UTC))
	if _, err := p.Plan(ctx); err != nil {
		t.Fatal(err)
	}
	if count(delayed) != 0 {
		t.Errorf("at 02:29, the delayed 00:00 window is planned; it is due at 02:30")
	}
	clk.Set(time.Date(2026, 6, 10, 2, 30, 0, 0, time.UTC))
	if _, err := p.Plan(ctx); err != nil {
		t.Fatal(err)
	}
	if count(delayed) != 1 || count(plain) != 2 {
		t.Errorf("at 02:30, %d delayed and %d plain windows planned, want 1 and 2", count(delayed), count(plain))
	}
}

// A change of cadence and zone mid-window, across Sydney's daylight-saving change, and a change
// of zone alone: each takes effect at the end of the window in progress; windows still tile,
// one run each, the first window after the change shorter so that they meet.
func TestPlanScheduleChanges(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name             string
		every            schedule.Every
		zone             string
		start            string
		changeAt         time.Time
		toEvery          schedule.Every
		toZone           string
		until            time.Time
		firstAfterChange time.Duration // the length of the first window of the new schedule
	}{
		{"New York day to Sydney 6h over Sydney's change", schedule.Day, "America/New_York", "2026-03-30",
			time.Date(2026, 4, 3, 17, 0, 0, 0, time.UTC), schedule.Hours6, "Australia/Sydney",
			time.Date(2026, 4, 7, 0, 0, 0, 0, time.UTC), 3 * time.Hour},
		{"London hourly to Kolkata hourly", schedule.Hour, "Europe/London", "2026-06-01",
			time.Date(2026, 6, 2, 10, 20, 0, 0, time.UTC), schedule.Hour, "Asia/Kolkata",
			time.Date(2026, 6, 3, 0, 0, 0, 0, time.UTC), 30 * time.Minute},
		{"Kolkata 12h to week", schedule.Hours12, "Asia/Kolkata", "2026-06-01",
			time.Date(2026, 6, 3, 3, 0, 0, 0, time.UTC), schedule.Week, "Asia/Kolkata",
			time.Date(2026, 6, 16, 0, 0, 0, 0, time.UTC), 4*24*time.Hour + 12*time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := store.NewStore(pgtest.New(t).Pool, nil, nil)
			d := addScheduled(t, s, day(tc.start), tc.every, tc.zone, nil)
			clk := &clock{}
			cfg := PlannerConfig{Store: s, Location: newYork, Schedule: parseSchedule(t, "0 2 * * *"), Now: clk.Now}
			p := NewPlanner(cfg)
			changed := false
			for now := day(tc.start).Window(mustLoad(tc.zone)).Start; now.Before(tc.until); now = now.Add(20 * time.Minute) {
				clk.Set(now)
				if !changed && !now.Before(tc.changeAt) {
					sch := ScheduleOf(d.StartDate, d.Schedule, nil, cfg)
					periods := sch.Change(now, tc.toEvery, tc.toZone)
					var err error
					if d, err = s.UpdateDestination(ctx, d.ID, store.DestinationUpdate{Schedule: periods}); err != nil {
						t.Fatal(err)
					}
					changed = true
					if len(d.Schedule) != 2 || d.Schedule[1].From.Before(now) {
						t.Fatalf("schedule after the change: %+v; want a second period from the end of the window in progress", d.Schedule)
					}
				}
				if _, err := p.Plan(ctx); err != nil {
					t.Fatal(err)
				}
			}
			sch := ScheduleOf(d.StartDate, d.Schedule, nil, cfg)
			runs := runsOf(t, s, d.ID)
			checkTiling(t, tc.name, runs, sch)
			from := d.Schedule[1].From
			var before, after int
			for _, r := range runs {
				if r.Start.Before(from) {
					before++
					if r.End.After(from) {
						t.Errorf("window %s to %s of the old schedule runs past the change at %s", r.Start, r.End, from)
					}
				} else {
					if after == 0 && r.End.Sub(r.Start) != tc.firstAfterChange {
						t.Errorf("first window of the new schedule: %s to %s (%s), want %s long", r.Start, r.End, r.End.Sub(r.Start), tc.firstAfterChange)
					}
					after++
				}
			}
			if before == 0 || after < 2 {
				t.Errorf("%d windows before the change at %s and %d after, want some of each", before, from, after)
			}
		})
	}
}

// BenchmarkPlanMixedCadences plans 100,000 destinations of mixed cadences and zones, one hour
// of the clock per iteration: the hourly ones, and the others whose window ends, are due.
func BenchmarkPlanMixedCadences(b *testing.B) {
	db := pgtest.New(b)
	s := store.NewStore(db.Pool, nil, nil)
	const n = 100_000
	_, err := db.Pool.Exec(context.Background(), `
		WITH t AS (INSERT INTO targets (kind, settings) VALUES ('test', '{}') RETURNING id)
		INSERT INTO destinations (company_id, target_id, format, event_types, start_date, schedule)
		SELECT gen_random_uuid(), t.id, 'json', ARRAY['courseComplete'], '2026-06-03',
			jsonb_build_array(jsonb_build_object(
				'every', (ARRAY['hour', '2h', '6h', 'day', 'day', 'week'])[1 + i % 6],
				'timezone', (ARRAY['America/New_York', 'Europe/London', 'Australia/Sydney', 'Asia/Kolkata', 'Australia/Adelaide', ''])[1 + i / 6 % 6]))
		FROM t, generate_series(1, $1::int) AS i`, n)
	if err != nil {
		b.Fatal(err)
	}
	clk := &clock{t: time.Date(2026, 6, 3, 12, 20, 0, 0, time.UTC)}
	p := NewPlanner(PlannerConfig{Store: s, Location: newYork, Schedule: parseSchedule(b, "0 2 * * *"), Now: clk.Now})
	if _, err := p.Plan(context.Background()); err != nil {
		b.Fatal(err)
	}
	var runs, statements, dests int64
	b.ResetTimer()
	for i := range b.N {
		clk.Set(time.Date(2026, 6, 3, 13+i, 20, 0, 0, time.UTC))
		plan, err := p.Plan(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		runs += plan.Created
		statements += int64(plan.Statements)
		dests += int64(plan.Destinations)
	}
	b.ReportMetric(float64(runs)/float64(b.N), "runs/op")
	b.ReportMetric(float64(dests)/float64(b.N), "destinations/op")
	b.ReportMetric(float64(statements)/float64(b.N), "statements/op")
}
