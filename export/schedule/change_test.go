package schedule

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// checkChanged walks after from before the change to well after it: the windows tile; those
// before the new period's From are the old schedule's; the new period's first window starts at
// its From and ends at the new cadence's next boundary; the later ones are the new cadence's.
func checkChanged(t *testing.T, old Schedule, ps []Period, from, to time.Time) {
	t.Helper()
	changed := old
	changed.Periods = ps
	ws, wps := walk(t, changed, from, to)
	checkTiles(t, ws)
	last := ps[len(ps)-1]
	alone := one(day(2020, 1, 1), last.Every, last.Zone) // the new period's cadence, from long ago
	alone.Default = old.Default
	sawFrom := false
	for i, w := range ws {
		switch {
		case !w.End.After(last.From):
			ow, op, err := old.WindowAt(w.Start)
			if err != nil || !sameWindow(ow, w) || op != wps[i] {
				t.Errorf("window %s (%+v) before the change; the old schedule has %s (%+v), %v", w, wps[i], ow, op, err)
			}
		case w.Start.Before(last.From):
			t.Errorf("window %s straddles the change at %s", w, last.From)
		default:
			if wps[i] != last {
				t.Errorf("window %s of %+v, want the new period %+v", w, wps[i], last)
			}
			aw, _, _ := alone.WindowAt(w.Start)
			if w.Start.Equal(last.From) {
				sawFrom = true
				if !w.End.Equal(aw.End) {
					t.Errorf("the first window after the change %s ends at %s, the next %s boundary", w, aw.End, last.Every)
				}
			} else if !sameWindow(aw, w) {
				t.Errorf("window %s after the change; the new cadence has %s", w, aw)
			}
		}
	}
	if !sawFrom && last.From.Before(to) && !last.From.Before(from) {
		t.Errorf("no window starts at the change, %s", last.From)
	}
}

func TestChange(t *testing.T) {
	ny := zone(t, "America/New_York")
	base := one(day(2026, 1, 1), Day, "America/New_York")

	t.Run("mid-window: at the end of the window in progress", func(t *testing.T) {
		now := local(t, ny, 2026, 3, 10, 15, 0)
		ps := base.Change(now, Hour, "America/New_York")
		want := []Period{{Every: Day, Zone: "America/New_York"}, {From: local(t, ny, 2026, 3, 11, 0, 0), Every: Hour, Zone: "America/New_York"}}
		if !samePeriods(ps, want) {
			t.Fatalf("Change = %+v, want %+v", ps, want)
		}
		changed := base
		changed.Periods = ps
		if w, p, _ := changed.WindowAt(now); !sameWindow(w, day(2026, 3, 10).Window(ny)) || p.Every != Day {
			t.Errorf("the window in progress became %s of %+v", w, p)
		}
		if w, p, _ := changed.WindowAt(local(t, ny, 2026, 3, 11, 0, 30)); !w.Start.Equal(local(t, ny, 2026, 3, 11, 0, 0)) ||
			!w.End.Equal(local(t, ny, 2026, 3, 11, 1, 0)) || p.Every != Hour {
			t.Errorf("after the change %s of %+v", w, p)
		}
		checkChanged(t, base, ps, utc(2026, 3, 1, 0, 0), utc(2026, 3, 20, 0, 0))
	})

	t.Run("at a window's first instant: at its end", func(t *testing.T) {
		now := local(t, ny, 2026, 3, 10, 0, 0)
		ps := base.Change(now, Hours6, "America/New_York")
		if len(ps) != 2 || !ps[1].From.Equal(local(t, ny, 2026, 3, 11, 0, 0)) {
			t.Fatalf("Change = %+v", ps)
		}
	})

	t.Run("a week spanning the spring change", func(t *testing.T) {
		weekly := one(day(2026, 1, 1), Week, "America/New_York")
		now := local(t, ny, 2026, 3, 4, 9, 0) // Wednesday
		ps := weekly.Change(now, Day, "America/New_York")
		if len(ps) != 2 || !ps[1].From.Equal(utc(2026, 3, 9, 4, 0)) { // Monday 00:00 EDT
			t.Fatalf("Change = %+v", ps)
		}
		checkChanged(t, weekly, ps, utc(2026, 2, 1, 0, 0), utc(2026, 4, 1, 0, 0))
	})

	t.Run("in the first 01:00 hour of the autumn change: from the second 01:00, the first 4h window shorter", func(t *testing.T) {
		hourly := one(day(2026, 1, 1), Hour, "America/New_York")
		now := utc(2026, 11, 1, 5, 30) // 01:30 EDT
		ps := hourly.Change(now, Hours4, "America/New_York")
		if len(ps) != 2 || !ps[1].From.Equal(utc(2026, 11, 1, 6, 0)) { // 01:00 EST
			t.Fatalf("Change = %+v", ps)
		}
		changed := hourly
		changed.Periods = ps
		w, _, _ := changed.WindowAt(ps[1].From)
		if !w.End.Equal(utc(2026, 11, 1, 9, 0)) { // 04:00 EST: 3 hours
			t.Errorf("the first 4h window %s", w)
		}
		checkChanged(t, hourly, ps, utc(2026, 10, 30, 0, 0), utc(2026, 11, 5, 0, 0))
	})

	t.Run("in the second 01:00 hour", func(t *testing.T) {
		hourly := one(day(2026, 1, 1), Hour, "America/New_York")
		ps := hourly.Change(utc(2026, 11, 1, 6, 30), Hours4, "America/New_York") // 01:30 EST
		if len(ps) != 2 || !ps[1].From.Equal(utc(2026, 11, 1, 7, 0)) {
			t.Fatalf("Change = %+v", ps)
		}
		checkChanged(t, hourly, ps, utc(2026, 10, 30, 0, 0), utc(2026, 11, 5, 0, 0))
	})

	t.Run("zone and cadence: New York day to Sydney 6h, the first window shorter", func(t *testing.T) {
		now := local(t, ny, 2026, 3, 10, 12, 0)
		ps := base.Change(now, Hours6, "Australia/Sydney")
		from := utc(2026, 3, 11, 4, 0) // 00:00 EDT = 15:00 AEDT
		if len(ps) != 2 || !ps[1].From.Equal(from) || ps[1].Zone != "Australia/Sydney" {
			t.Fatalf("Change = %+v", ps)
		}
		changed := base
		changed.Periods = ps
		w, _, _ := changed.WindowAt(from)
		if !w.Start.Equal(from) || !w.End.Equal(utc(2026, 3, 11, 7, 0)) { // to 18:00 AEDT: 3 hours
			t.Errorf("the first Sydney window %s", w)
		}
		checkChanged(t, base, ps, utc(2026, 3, 1, 0, 0), utc(2026, 4, 15, 0, 0)) // over Sydney's April change
	})

	t.Run("zone only: Kolkata 6h to London 6h", func(t *testing.T) {
		kolkata := one(day(2026, 1, 1), Hours6, "Asia/Kolkata")
		now := utc(2026, 3, 28, 20, 0) // 01:30 IST on the 29th, London's change day
		ps := kolkata.Change(now, Hours6, "Europe/London")
		if len(ps) != 2 || !ps[1].From.Equal(utc(2026, 3, 29, 0, 30)) { // 06:00 IST
			t.Fatalf("Change = %+v", ps)
		}
		changed := kolkata
		changed.Periods = ps
		w, _, _ := changed.WindowAt(ps[1].From)
		if !w.End.Equal(utc(2026, 3, 29, 5, 0)) { // 06:00 BST
			t.Errorf("the first London window %s", w)
		}
		checkChanged(t, kolkata, ps, utc(2026, 3, 20, 0, 0), utc(2026, 4, 5, 0, 0))
	})

	t.Run("before the start: the schedule is replaced", func(t *testing.T) {
		later := one(day(2026, 6, 1), Day, "America/New_York")
		ps := later.Change(utc(2026, 5, 20, 0, 0), Hours3, "Europe/London")
		if want := []Period{{Every: Hours3, Zone: "Europe/London"}}; !samePeriods(ps, want) {
			t.Fatalf("Change = %+v, want %+v", ps, want)
		}
		later.Periods = ps
		if got := later.StartInstant(); !got.Equal(utc(2026, 5, 31, 23, 0)) { // midnight BST
			t.Errorf("the start is now %s", got)
		}
	})

	t.Run("a second change before the first takes effect replaces it", func(t *testing.T) {
		ps := base.Change(local(t, ny, 2026, 3, 10, 9, 0), Hour, "America/New_York")
		s2 := base
		s2.Periods = ps
		ps2 := s2.Change(local(t, ny, 2026, 3, 10, 18, 0), Hours12, "Europe/London")
		want := []Period{{Every: Day, Zone: "America/New_York"}, {From: local(t, ny, 2026, 3, 11, 0, 0), Every: Hours12, Zone: "Europe/London"}}
		if !samePeriods(ps2, want) {
			t.Fatalf("Change = %+v, want %+v", ps2, want)
		}
		if !samePeriods(s2.Periods, ps) {
			t.Errorf("Change altered the schedule's periods: %+v", s2.Periods)
		}
		checkChanged(t, base, ps2, utc(2026, 3, 1, 0, 0), utc(2026, 3, 20, 0, 0))
		// And back to what is in effect: the pending change is dropped.
		ps3 := s2.Change(local(t, ny, 2026, 3, 10, 20, 0), Day, "America/New_York")
		if !samePeriods(ps3, base.Periods) {
			t.Errorf("changing back before the change took effect: %+v, want %+v", ps3, base.Periods)
		}
	})

	t.Run("the same values: unchanged, in a new slice", func(t *testing.T) {
		ps := base.Change(local(t, ny, 2026, 3, 10, 9, 0), Day, "America/New_York")
		if !samePeriods(ps, base.Periods) {
			t.Fatalf("Change = %+v", ps)
		}
		ps[0].Every = Hour
		if base.Periods[0].Every != Day {
			t.Error("the result shares the schedule's periods")
		}
		noPeriods := Schedule{Start: day(2026, 1, 1), Default: ny}
		if ps := noPeriods.Change(local(t, ny, 2026, 3, 10, 9, 0), "", ""); !samePeriods(ps, []Period{{Every: Day}}) {
			t.Errorf("Change of a schedule without periods to the default = %+v", ps)
		}
	})

	t.Run("after a change took effect, another one", func(t *testing.T) {
		ps := base.Change(local(t, ny, 2026, 3, 10, 9, 0), Hour, "America/New_York")
		s2 := base
		s2.Periods = ps
		ps2 := s2.Change(utc(2026, 11, 1, 5, 30), Week, "Australia/Adelaide") // during the first 01:00 hour
		if len(ps2) != 3 || !ps2[2].From.Equal(utc(2026, 11, 1, 6, 0)) || !samePeriods(ps2[:2], ps) {
			t.Fatalf("Change = %+v", ps2)
		}
		checkChanged(t, s2, ps2, utc(2026, 3, 1, 0, 0), utc(2026, 12, 1, 0, 0))
	})
}

// TestChangesTile makes many changes at random instants, cadences and zones, as destinations'
// owners might: walking all the windows from the start, they tile, each belongs to the period
// in effect at its start, and each is a window of its period's cadence, cut only at the
// period's From.
func TestChangesTile(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	zones := []string{"", "America/New_York", "Europe/London", "Australia/Sydney", "Asia/Kolkata", "Australia/Adelaide", "America/Havana", "America/Santiago"}
	for n := range 40 {
		s := Schedule{Start: day(2026, 1, 1+rng.IntN(20)), Periods: []Period{{Every: everies[rng.IntN(len(everies))], Zone: zones[rng.IntN(len(zones))]}},
			Default: zone(t, "America/New_York")}
		now := s.StartInstant().Add(-48 * time.Hour)
		for range 6 {
			now = now.Add(time.Duration(rng.IntN(30*24*60)) * time.Minute)
			s.Periods = s.Change(now, everies[rng.IntN(len(everies))], zones[rng.IntN(len(zones))])
		}
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			ws, ps := walk(t, s, s.StartInstant(), now.Add(60*24*time.Hour))
			checkTiles(t, ws)
			if !ws[0].Start.Equal(s.StartInstant()) {
				t.Errorf("the first window %s does not start at the start %s", ws[0], s.StartInstant())
			}
			for i, w := range ws {
				k := slices.IndexFunc(s.Periods, func(p Period) bool { return p == ps[i] })
				if k < 0 {
					t.Fatalf("window %s of %+v, not one of %+v", w, ps[i], s.Periods)
				}
				if k > 0 && w.Start.Before(s.Periods[k].From) || k+1 < len(s.Periods) && w.End.After(s.Periods[k+1].From) {
					t.Errorf("window %s is outside its period %+v", w, s.Periods[k])
				}
				alone := one(day(2020, 1, 1), ps[i].Every, ps[i].Zone)
				alone.Default = s.Default
				aw, _, _ := alone.WindowAt(w.Start)
				if !w.End.Equal(aw.End) && !(k+1 < len(s.Periods) && w.End.Equal(s.Periods[k+1].From)) {
					t.Errorf("window %s ends neither at a %s boundary (%s) nor at the next period", w, ps[i].Every, aw)
				}
				if !w.Start.Equal(aw.Start) && !(k > 0 && w.Start.Equal(s.Periods[k].From)) && !(k == 0 && w.Start.Equal(s.StartInstant())) {
					t.Errorf("window %s starts neither at a %s boundary (%s) nor at its period's start", w, ps[i].Every, aw)
				}
			}
		})
	}
}

func samePeriods(a, b []Period) bool {
	return slices.EqualFunc(a, b, func(x, y Period) bool {
		return x.From.Equal(y.From) && x.Every == y.Every && x.Zone == y.Zone
	})
}
