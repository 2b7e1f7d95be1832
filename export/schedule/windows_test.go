package schedule

import (
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/eventexport/eventexport/events"
)

// dstDays are, per zone, the local days on which its clock changes in 2026 and 2027, with the
// change in hours (+1 forward, -1 back), found in the zone's rules; for a zone without changes,
// some ordinary days.
func dstDays(t *testing.T, loc *time.Location) map[events.Day]int {
	t.Helper()
	days := map[events.Day]int{}
	for _, tr := range transitions(loc, utc(2026, 1, 1, 0, 0), utc(2028, 1, 1, 0, 0)) {
		_, before := tr.Add(-time.Second).Zone()
		_, after := tr.Zone()
		days[events.DayOf(tr, loc)] = (after - before) / 3600
	}
	return days
}

// TestPlanningAcrossDaylightSaving walks every cadence over the 2026 and 2027 daylight-saving
// days of New York, London, Sydney (southern hemisphere), Kolkata (no change, half-hour
// offset) and Adelaide (half-hour offset with changes), from ten days before to ten days after,
// as planning does: the windows tile time, their boundaries are the instants the rules name,
// and WindowAt agrees with the walk.
func TestPlanningAcrossDaylightSaving(t *testing.T) {
	zones := []struct {
		name     string
		changes  int          // daylight-saving changes in 2026 and 2027
		ordinary []events.Day // days to walk when there are none
	}{
		{name: "America/New_York", changes: 4},
		{name: "Europe/London", changes: 4},
		{name: "Australia/Sydney", changes: 4},
		{name: "Asia/Kolkata", ordinary: []events.Day{day(2026, 3, 8), day(2026, 11, 1), day(2027, 2, 28)}},
		{name: "Australia/Adelaide", changes: 4},
	}
	for _, z := range zones {
		t.Run(z.name, func(t *testing.T) {
			t.Parallel()
			planAround(t, z.name, z.changes, z.ordinary)
		})
	}
}

// planAround checks every cadence around each day on which zone name changes its clock in
// 2026 and 2027 (wantChanges of them), and around the ordinary days.
func planAround(t *testing.T, name string, wantChanges int, ordinary []events.Day) {
	loc := zone(t, name)
	changes := dstDays(t, loc)
	if len(changes) != wantChanges {
		t.Fatalf("%s changes its clock on %d days of 2026 and 2027, want %d: %v", name, len(changes), wantChanges, changes)
	}
	days := append([]events.Day(nil), ordinary...)
	for d := range changes {
		days = append(days, d)
	}
	sort.Slice(days, func(i, j int) bool { return days[i].Before(days[j]) })
	for _, d := range days {
		clock := readClock(loc, d.AddDays(-10).Window(loc).Start, d.AddDays(10).Window(loc).Start)
		for _, every := range everies {
			t.Run(fmt.Sprintf("%s/%s", d, every), func(t *testing.T) {
				checkAround(t, loc, name, d, every, changes, clock)
			})
		}
	}
}

// checkAround checks the windows of every in loc from ten days before d to ten days after.
func checkAround(t *testing.T, loc *time.Location, name string, d events.Day, every Every, changes map[events.Day]int, clock trace) {
	s := one(day(2025, 12, 1), every, name)
	from := d.AddDays(-10).Window(loc).Start
	to := d.AddDays(10).Window(loc).Start
	ws, ps := walk(t, s, from, to)
	checkTiles(t, ws)
	for _, p := range ps {
		if p != s.Periods[0] {
			t.Fatalf("a window of period %+v, want %+v", p, s.Periods[0])
		}
	}

	// The boundaries are those the rules name.
	var got []time.Time
	for _, w := range ws {
		if !w.Start.Before(from) {
			got = append(got, w.Start)
		}
	}
	if last := ws[len(ws)-1].End; !last.After(to) {
		got = append(got, last)
	}
	want := clock.boundaries(every)
	if len(got) != len(want) {
		t.Fatalf("%d boundaries in [%s, %s], want %d:\ngot  %v\nwant %v", len(got), from, to, len(want), got, want)
	}
	for i := range got {
		if !got[i].Equal(want[i]) {
			t.Fatalf("boundary %d is %s, want %s", i, got[i], want[i])
		}
	}

	// Each boundary shows a boundary reading on the clock, or is the instant the clock jumps
	// over one.
	for _, b := range got {
		if aligned(wallClock(b, loc), every) {
			continue
		}
		start, _ := b.In(loc).ZoneBounds()
		_, before := b.Add(-time.Second).In(loc).Zone()
		_, after := b.In(loc).Zone()
		if !start.Equal(b) || after <= before {
			t.Errorf("boundary %s (%s local) is neither a %s reading nor a jump of the clock", b.UTC(), b.In(loc), every)
		}
	}

	// Per local day and cadence, what the issue names.
	perDay := map[events.Day][]events.Window{}
	for _, w := range ws {
		perDay[events.DayOf(w.Start, loc)] = append(perDay[events.DayOf(w.Start, loc)], w)
	}
	for dd := d.AddDays(-9); dd.Before(d.AddDays(9)); dd = dd.AddDays(1) {
		change := changes[dd]
		dws := perDay[dd]
		switch every {
		case Hour:
			if want := 24 - change; len(dws) != want {
				t.Errorf("%s: %d hour windows, want %d", dd, len(dws), want)
			}
		case Hours6:
			if len(dws) != 4 {
				t.Errorf("%s: %d 6h windows, want 4", dd, len(dws))
			}
			for i, w := range dws {
				e := w.End.In(loc)
				if e.Hour() != (i+1)*6%24 || e.Minute() != 0 || e.Second() != 0 {
					t.Errorf("%s: 6h window %d ends at %s local, want %02d:00", dd, i, e, (i+1)*6%24)
				}
			}
			if change == 1 {
				short := 0
				for _, w := range dws {
					if w.Duration() == 5*time.Hour {
						short++
					} else if w.Duration() != 6*time.Hour {
						t.Errorf("%s: 6h window %s lasts %s", dd, w, w.Duration())
					}
				}
				if short != 1 {
					t.Errorf("%s: %d windows of 5 hours on the 23-hour day, want 1", dd, short)
				}
			}
		case Day:
			if len(dws) != 1 {
				t.Fatalf("%s: %d day windows, want 1", dd, len(dws))
			}
			w := dws[0]
			if want := time.Duration(24-change) * time.Hour; w.Duration() != want {
				t.Errorf("%s: the day lasts %s, want %s", dd, w.Duration(), want)
			}
			if s := w.Start.In(loc); s.Hour() != 0 || s.Minute() != 0 || events.DayOf(s, loc) != dd {
				t.Errorf("%s: the day starts at %s", dd, s)
			}
			if !sameWindow(w, dd.Window(loc)) {
				t.Errorf("%s: day window %s, the events package's %s", dd, w, dd.Window(loc))
			}
		case Week:
			for _, w := range dws {
				s := w.Start.In(loc)
				if s.Weekday() != time.Monday || s.Hour() != 0 || s.Minute() != 0 {
					t.Errorf("a week starts at %s, not Monday 00:00", s)
				}
				if h := w.Duration().Hours(); h < 167 || h > 169 {
					t.Errorf("week %s lasts %s", w, w.Duration())
				}
			}
		}
		for _, w := range dws {
			if h := w.Duration(); h > time.Duration(every.hours()+1)*time.Hour && !every.Daily() {
				t.Errorf("%s: %s window %s lasts %s", dd, every, w, h)
			}
		}
	}

	// WindowAt agrees with the walk: at each boundary, just before and after it, in between, and
	// every 7 minutes over the three days around d (repeated hours included).
	check := func(at time.Time) {
		i := sort.Search(len(ws), func(i int) bool { return ws[i].End.After(at) })
		if i == len(ws) || at.Before(ws[0].Start) {
			return
		}
		w, p, err := s.WindowAt(at)
		if err != nil || !sameWindow(w, ws[i]) || p != s.Periods[0] {
			t.Errorf("WindowAt(%s = %s local) = %s, %v; the walk has %s", at.UTC(), at.In(loc), w, err, ws[i])
		}
	}
	for _, w := range ws {
		check(w.Start)
		check(w.Start.Add(w.Duration() / 2))
		check(w.End.Add(-time.Nanosecond))
	}
	for at := d.AddDays(-1).Window(loc).Start; at.Before(d.AddDays(2).Window(loc).Start); at = at.Add(11 * time.Minute) {
		check(at)
	}
}

// TestWindowsOnChangeDays pins the windows of the examples, instant by instant.
func TestWindowsOnChangeDays(t *testing.T) {
	type win struct{ start, end time.Time }
	cases := []struct {
		name  string
		zone  string
		every Every
		day   events.Day
		want  []win // the windows starting on day, in UTC
	}{
		{
			name: "New York 6h on the 23-hour day end at 06, 12, 18 and 00, the first 5 hours long",
			zone: "America/New_York", every: Hours6, day: day(2026, 3, 8),
			want: []win{{utc(2026, 3, 8, 5, 0), utc(2026, 3, 8, 10, 0)}, {utc(2026, 3, 8, 10, 0), utc(2026, 3, 8, 16, 0)},
				{utc(2026, 3, 8, 16, 0), utc(2026, 3, 8, 22, 0)}, {utc(2026, 3, 8, 22, 0), utc(2026, 3, 9, 4, 0)}},
		},
		{
			name: "New York 6h on the 25-hour day: the first is 7 hours long",
			zone: "America/New_York", every: Hours6, day: day(2026, 11, 1),
			want: []win{{utc(2026, 11, 1, 4, 0), utc(2026, 11, 1, 11, 0)}, {utc(2026, 11, 1, 11, 0), utc(2026, 11, 1, 17, 0)},
				{utc(2026, 11, 1, 17, 0), utc(2026, 11, 1, 23, 0)}, {utc(2026, 11, 1, 23, 0), utc(2026, 11, 2, 5, 0)}},
		},
		{
			name: "New York 12h on the 23-hour day",
			zone: "America/New_York", every: Hours12, day: day(2027, 3, 14),
			want: []win{{utc(2027, 3, 14, 5, 0), utc(2027, 3, 14, 16, 0)}, {utc(2027, 3, 14, 16, 0), utc(2027, 3, 15, 4, 0)}},
		},
		{
			name: "Kolkata 6h start at 00, 06, 12, 18 IST: 18:30, 00:30, 06:30, 12:30 UTC",
			zone: "Asia/Kolkata", every: Hours6, day: day(2026, 3, 8),
			want: []win{{utc(2026, 3, 7, 18, 30), utc(2026, 3, 8, 0, 30)}, {utc(2026, 3, 8, 0, 30), utc(2026, 3, 8, 6, 30)},
				{utc(2026, 3, 8, 6, 30), utc(2026, 3, 8, 12, 30)}, {utc(2026, 3, 8, 12, 30), utc(2026, 3, 8, 18, 30)}},
		},
		{
			name: "Kolkata day",
			zone: "Asia/Kolkata", every: Day, day: day(2026, 11, 1),
			want: []win{{utc(2026, 10, 31, 18, 30), utc(2026, 11, 1, 18, 30)}},
		},
		{
			name: "Adelaide 6h on the 23-hour day in October (+9:30 to +10:30)",
			zone: "Australia/Adelaide", every: Hours6, day: day(2026, 10, 4),
			want: []win{{utc(2026, 10, 3, 14, 30), utc(2026, 10, 3, 19, 30)}, {utc(2026, 10, 3, 19, 30), utc(2026, 10, 4, 1, 30)},
				{utc(2026, 10, 4, 1, 30), utc(2026, 10, 4, 7, 30)}, {utc(2026, 10, 4, 7, 30), utc(2026, 10, 4, 13, 30)}},
		},
		{
			name: "Adelaide 6h on the 25-hour day in April (+10:30 to +9:30)",
			zone: "Australia/Adelaide", every: Hours6, day: day(2026, 4, 5),
			want: []win{{utc(2026, 4, 4, 13, 30), utc(2026, 4, 4, 20, 30)}, {utc(2026, 4, 4, 20, 30), utc(2026, 4, 5, 2, 30)},
				{utc(2026, 4, 5, 2, 30), utc(2026, 4, 5, 8, 30)}, {utc(2026, 4, 5, 8, 30), utc(2026, 4, 5, 14, 30)}},
		},
		{
			name: "Adelaide day in April is 25 hours",
			zone: "Australia/Adelaide", every: Day, day: day(2027, 4, 4),
			want: []win{{utc(2027, 4, 3, 13, 30), utc(2027, 4, 4, 14, 30)}},
		},
		{
			name: "Sydney 2h in April: 02:00 shows twice, both are boundaries",
			zone: "Australia/Sydney", every: Hours2, day: day(2026, 4, 5),
			want: []win{{utc(2026, 4, 4, 13, 0), utc(2026, 4, 4, 15, 0)}, {utc(2026, 4, 4, 15, 0), utc(2026, 4, 4, 16, 0)},
				{utc(2026, 4, 4, 16, 0), utc(2026, 4, 4, 18, 0)}, {utc(2026, 4, 4, 18, 0), utc(2026, 4, 4, 20, 0)},
				{utc(2026, 4, 4, 20, 0), utc(2026, 4, 4, 22, 0)}, {utc(2026, 4, 4, 22, 0), utc(2026, 4, 5, 0, 0)},
				{utc(2026, 4, 5, 0, 0), utc(2026, 4, 5, 2, 0)}, {utc(2026, 4, 5, 2, 0), utc(2026, 4, 5, 4, 0)},
				{utc(2026, 4, 5, 4, 0), utc(2026, 4, 5, 6, 0)}, {utc(2026, 4, 5, 6, 0), utc(2026, 4, 5, 8, 0)},
				{utc(2026, 4, 5, 8, 0), utc(2026, 4, 5, 10, 0)}, {utc(2026, 4, 5, 10, 0), utc(2026, 4, 5, 12, 0)},
				{utc(2026, 4, 5, 12, 0), utc(2026, 4, 5, 14, 0)}},
		},
		{
			name: "Sydney 2h in October: the skipped 02:00 falls at the jump, 03:00 AEDT",
			zone: "Australia/Sydney", every: Hours2, day: day(2026, 10, 4),
			want: []win{{utc(2026, 10, 3, 14, 0), utc(2026, 10, 3, 16, 0)}, {utc(2026, 10, 3, 16, 0), utc(2026, 10, 3, 17, 0)},
				{utc(2026, 10, 3, 17, 0), utc(2026, 10, 3, 19, 0)}, {utc(2026, 10, 3, 19, 0), utc(2026, 10, 3, 21, 0)},
				{utc(2026, 10, 3, 21, 0), utc(2026, 10, 3, 23, 0)}, {utc(2026, 10, 3, 23, 0), utc(2026, 10, 4, 1, 0)},
				{utc(2026, 10, 4, 1, 0), utc(2026, 10, 4, 3, 0)}, {utc(2026, 10, 4, 3, 0), utc(2026, 10, 4, 5, 0)},
				{utc(2026, 10, 4, 5, 0), utc(2026, 10, 4, 7, 0)}, {utc(2026, 10, 4, 7, 0), utc(2026, 10, 4, 9, 0)},
				{utc(2026, 10, 4, 9, 0), utc(2026, 10, 4, 11, 0)}, {utc(2026, 10, 4, 11, 0), utc(2026, 10, 4, 13, 0)}},
		},
		{
			name: "London 4h in March: 01:00 GMT jumps to 02:00 BST",
			zone: "Europe/London", every: Hours4, day: day(2026, 3, 29),
			want: []win{{utc(2026, 3, 29, 0, 0), utc(2026, 3, 29, 3, 0)}, {utc(2026, 3, 29, 3, 0), utc(2026, 3, 29, 7, 0)},
				{utc(2026, 3, 29, 7, 0), utc(2026, 3, 29, 11, 0)}, {utc(2026, 3, 29, 11, 0), utc(2026, 3, 29, 15, 0)},
				{utc(2026, 3, 29, 15, 0), utc(2026, 3, 29, 19, 0)}, {utc(2026, 3, 29, 19, 0), utc(2026, 3, 29, 23, 0)}},
		},
		{
			name: "London 8h in October",
			zone: "Europe/London", every: Hours8, day: day(2026, 10, 25),
			want: []win{{utc(2026, 10, 24, 23, 0), utc(2026, 10, 25, 8, 0)}, {utc(2026, 10, 25, 8, 0), utc(2026, 10, 25, 16, 0)},
				{utc(2026, 10, 25, 16, 0), utc(2026, 10, 26, 0, 0)}},
		},
		{
			name: "Havana day in March: midnight is skipped, the day starts at 01:00 CDT",
			zone: "America/Havana", every: Day, day: day(2026, 3, 8),
			want: []win{{utc(2026, 3, 8, 5, 0), utc(2026, 3, 9, 4, 0)}},
		},
		{
			name: "Havana day in November: midnight shows twice, the day starts at the first",
			zone: "America/Havana", every: Day, day: day(2026, 11, 1),
			want: []win{{utc(2026, 11, 1, 4, 0), utc(2026, 11, 2, 5, 0)}},
		},
		{
			name: "Havana 12h in November: both midnights are boundaries",
			zone: "America/Havana", every: Hours12, day: day(2026, 11, 1),
			want: []win{{utc(2026, 11, 1, 4, 0), utc(2026, 11, 1, 5, 0)}, {utc(2026, 11, 1, 5, 0), utc(2026, 11, 1, 17, 0)},
				{utc(2026, 11, 1, 17, 0), utc(2026, 11, 2, 5, 0)}},
		},
		{
			name: "Santiago day in September: midnight is skipped, the day starts at 01:00 -03",
			zone: "America/Santiago", every: Day, day: day(2026, 9, 6),
			want: []win{{utc(2026, 9, 6, 4, 0), utc(2026, 9, 7, 3, 0)}},
		},
		{
			name: "Santiago 8h in September: the day's first window starts at the jump",
			zone: "America/Santiago", every: Hours8, day: day(2026, 9, 6),
			want: []win{{utc(2026, 9, 6, 4, 0), utc(2026, 9, 6, 11, 0)}, {utc(2026, 9, 6, 11, 0), utc(2026, 9, 6, 19, 0)},
				{utc(2026, 9, 6, 19, 0), utc(2026, 9, 7, 3, 0)}},
		},
		{
			name: "Santiago day in April: the Saturday is 25 hours",
			zone: "America/Santiago", every: Day, day: day(2026, 4, 4),
			want: []win{{utc(2026, 4, 4, 3, 0), utc(2026, 4, 5, 4, 0)}},
		},
		{
			name: "New York week across the March change: 167 hours from Monday to Monday",
			zone: "America/New_York", every: Week, day: day(2026, 3, 2),
			want: []win{{utc(2026, 3, 2, 5, 0), utc(2026, 3, 9, 4, 0)}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			loc := zone(t, tc.zone)
			s := one(day(2026, 1, 1), tc.every, tc.zone)
			dw := tc.day.Window(loc)
			var got []win
			for w := range s.Windows(dw.Start, dw.End) {
				if !w.Start.Before(dw.Start) {
					got = append(got, win{w.Start, w.End})
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("%d windows start on %s, want %d: %v", len(got), tc.day, len(tc.want), got)
			}
			for i := range got {
				if !got[i].start.Equal(tc.want[i].start) || !got[i].end.Equal(tc.want[i].end) {
					t.Errorf("window %d is [%s, %s), want [%s, %s)", i,
						got[i].start.UTC(), got[i].end.UTC(), tc.want[i].start.UTC(), tc.want[i].end.UTC())
				}
			}
		})
	}
}

// TestMidnightChangeZones walks the zones whose clocks change at midnight, Havana (skips it in
// March, shows it twice in November) and Santiago (skips it in September), for every cadence
// against the rules.
func TestMidnightChangeZones(t *testing.T) {
	for _, name := range []string{"America/Havana", "America/Santiago"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			midnightChanges(t, name)
		})
	}
}

// midnightChanges checks every cadence around the days zone name changes its clock.
func midnightChanges(t *testing.T, name string) {
	loc := zone(t, name)
	for d := range dstDays(t, loc) {
		from := d.AddDays(-8).Window(loc).Start
		to := d.AddDays(8).Window(loc).Start
		clock := readClock(loc, from, to)
		for _, every := range everies {
			t.Run(fmt.Sprintf("%s/%s", d, every), func(t *testing.T) {
				s := one(day(2025, 12, 1), every, name)
				ws, _ := walk(t, s, from, to)
				checkTiles(t, ws)
				var got []time.Time
				for _, w := range ws {
					if !w.Start.Before(from) {
						got = append(got, w.Start)
					}
				}
				if last := ws[len(ws)-1].End; !last.After(to) {
					got = append(got, last)
				}
				want := clock.boundaries(every)
				if !sameTimes(got, want) {
					t.Errorf("boundaries\n%v\nwant\n%v", got, want)
				}
				for _, w := range ws {
					if got, _, err := s.WindowAt(w.Start); err != nil || !sameWindow(got, w) {
						t.Errorf("WindowAt(%s) = %s, %v; want %s", w.Start, got, err, w)
					}
					if got, _, err := s.WindowAt(w.End.Add(-time.Nanosecond)); err != nil || !sameWindow(got, w) {
						t.Errorf("WindowAt(%s) = %s, %v; want %s", w.End.Add(-time.Nanosecond), got, err, w)
					}
				}
			})
		}
	}
}

// TestRepeatedHour: in the hour New York's clock shows twice, hour windows are the first 01:00
// and the second, and WindowAt tells them apart.
func TestRepeatedHour(t *testing.T) {
	s := one(day(2026, 1, 1), Hour, "America/New_York")
	cases := []struct{ at, start, end time.Time }{
		{utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 5, 0), utc(2026, 11, 1, 6, 0)},                      // 01:30 EDT
		{utc(2026, 11, 1, 6, 0), utc(2026, 11, 1, 6, 0), utc(2026, 11, 1, 7, 0)},                       // 01:00 EST
		{utc(2026, 11, 1, 6, 30), utc(2026, 11, 1, 6, 0), utc(2026, 11, 1, 7, 0)},                      // 01:30 EST
		{utc(2026, 11, 1, 6, 0).Add(-time.Nanosecond), utc(2026, 11, 1, 5, 0), utc(2026, 11, 1, 6, 0)}, // 01:59:59.999999999 EDT
		{utc(2026, 3, 8, 6, 59), utc(2026, 3, 8, 6, 0), utc(2026, 3, 8, 7, 0)},                         // 01:59 EST
		{utc(2026, 3, 8, 7, 0), utc(2026, 3, 8, 7, 0), utc(2026, 3, 8, 8, 0)},                          // 03:00 EDT
	}
	for _, tc := range cases {
		w, p, err := s.WindowAt(tc.at)
		if err != nil || !w.Start.Equal(tc.start) || !w.End.Equal(tc.end) || p != s.Periods[0] {
			t.Errorf("WindowAt(%s) = %s, %+v, %v; want [%s, %s)", tc.at, w, p, err, tc.start, tc.end)
		}
	}
}

func TestStart(t *testing.T) {
	ny := zone(t, "America/New_York")
	s := one(day(2026, 3, 4), Week, "America/New_York") // a Wednesday
	if got, want := s.StartInstant(), local(t, ny, 2026, 3, 4, 0, 0); !got.Equal(want) {
		t.Errorf("StartInstant = %s, want %s", got, want)
	}
	// The first window runs from the start to the next Monday.
	w, _, err := s.WindowAt(s.StartInstant())
	if err != nil || !w.Start.Equal(s.StartInstant()) || !w.End.Equal(local(t, ny, 2026, 3, 9, 0, 0)) {
		t.Errorf("first window %s, %v", w, err)
	}
	if _, _, err := s.WindowAt(s.StartInstant().Add(-time.Nanosecond)); !errors.Is(err, ErrBeforeStart) {
		t.Errorf("WindowAt before the start: %v, want ErrBeforeStart", err)
	}
	// After a window before the start is the first window.
	if w2, _ := s.After(events.Window{End: utc(2020, 1, 1, 0, 0)}); !sameWindow(w2, w) {
		t.Errorf("After a window before the start: %s, want %s", w2, w)
	}
	// The start is in the first period's zone; "" is the default zone.
	s = Schedule{Start: day(2026, 3, 8), Periods: []Period{{Every: Hour}}, Default: zone(t, "Asia/Kolkata")}
	if got := s.StartInstant(); !got.Equal(utc(2026, 3, 7, 18, 30)) {
		t.Errorf("StartInstant in the default zone = %s", got)
	}
	s.Default = nil // UTC
	if got := s.StartInstant(); !got.Equal(utc(2026, 3, 8, 0, 0)) {
		t.Errorf("StartInstant without a default zone = %s", got)
	}
	// The start day's midnight is skipped: the start is when the clock jumps.
	s = one(day(2026, 9, 6), Day, "America/Santiago")
	if got := s.StartInstant(); !got.Equal(utc(2026, 9, 6, 4, 0)) {
		t.Errorf("StartInstant on a day without midnight = %s", got)
	}
	// No periods: one day period in the default zone.
	s = Schedule{Start: day(2026, 3, 8), Default: ny}
	if w, p, err := s.WindowAt(utc(2026, 3, 8, 12, 0)); err != nil || !sameWindow(w, day(2026, 3, 8).Window(ny)) || p.Every != Day {
		t.Errorf("a schedule without periods: %s, %+v, %v", w, p, err)
	}
}

func TestUnreadablePeriods(t *testing.T) {
	s := one(day(2026, 1, 1), "90m", "")
	if _, _, err := s.WindowAt(utc(2026, 2, 1, 0, 0)); err == nil {
		t.Error("a window of an unknown cadence")
	}
	s = one(day(2026, 1, 1), Hour, "Mars/Olympus_Mons")
	if _, _, err := s.WindowAt(utc(2026, 2, 1, 0, 0)); err == nil {
		t.Error("a window in an unknown zone")
	}
	// After cannot fail: it reads such a period as a day in the default zone.
	w, _ := s.After(events.Window{End: utc(2026, 2, 1, 0, 0)})
	if !w.End.Equal(utc(2026, 2, 2, 0, 0)) {
		t.Errorf("After in an unknown zone: %s", w)
	}
	if loc := s.Location(s.Periods[0]); loc != time.UTC {
		t.Errorf("Location of an unknown zone = %s, want the default", loc)
	}
}

// TestWindowsIterator covers the helper that lists windows.
func TestWindowsIterator(t *testing.T) {
	s := one(day(2026, 3, 8), Hours6, "America/New_York")
	var n int
	for w := range s.Windows(utc(2026, 1, 1, 0, 0), utc(2026, 3, 9, 4, 0)) { // from before the start
		if n == 0 && !w.Start.Equal(s.StartInstant()) {
			t.Errorf("the first window %s does not start at the start", w)
		}
		n++
	}
	if n != 4 {
		t.Errorf("%d windows on the first day, want 4", n)
	}
	for range s.Windows(utc(2026, 3, 8, 12, 0), utc(2026, 3, 30, 0, 0)) {
		break // stopping early is fine
	}
}

// TestPeriodCuts: periods are cut at the next period's From even where it is not a boundary
// of the earlier one (periods not made by Change), and no window starts before the start.
func TestPeriodCuts(t *testing.T) {
	ny := zone(t, "America/New_York")
	cut := local(t, ny, 2026, 3, 10, 10, 17)
	s := Schedule{Start: day(2026, 3, 1), Default: ny, Periods: []Period{
		{Every: Day},
		{From: cut, Every: Hours6},
		{From: utc(2026, 2, 1, 0, 0), Every: Week}, // before the one before: in effect from cut
		{From: local(t, ny, 2026, 3, 20, 3, 0), Every: Hour, Zone: "Asia/Kolkata"},
	}}
	ws, ps := walk(t, s, s.StartInstant(), utc(2026, 4, 1, 0, 0))
	checkTiles(t, ws)
	for i, w := range ws {
		if w.Start.Before(cut) && ps[i].Every != Day || !w.Start.Before(cut) && w.Start.Before(local(t, ny, 2026, 3, 20, 3, 0)) && ps[i].Every != Week {
			t.Errorf("window %s of %+v", w, ps[i])
		}
		if w.Start.Before(cut) && w.End.After(cut) {
			t.Errorf("window %s straddles the cut at %s", w, cut)
		}
	}
	w, p, err := s.WindowAt(cut.Add(time.Hour))
	if err != nil || !w.Start.Equal(cut) || !w.End.Equal(local(t, ny, 2026, 3, 16, 0, 0)) || p.Every != Week {
		t.Errorf("the window after the cut: %s, %+v, %v", w, p, err)
	}
	if w, _, _ := s.WindowAt(cut.Add(-time.Nanosecond)); !w.End.Equal(cut) {
		t.Errorf("the window before the cut: %s", w)
	}

	// A period whose From is before the start does not move the start.
	early := Schedule{Start: day(2026, 3, 4), Default: ny, Periods: []Period{{Every: Day}, {From: utc(2026, 2, 1, 0, 0), Every: Week}}}
	w, p, err = early.WindowAt(early.StartInstant().Add(time.Hour))
	if err != nil || !w.Start.Equal(early.StartInstant()) || !w.End.Equal(local(t, ny, 2026, 3, 9, 0, 0)) || p.Every != Week {
		t.Errorf("the first window: %s, %+v, %v", w, p, err)
	}

	// After a window ending between boundaries, the next starts there and ends at a boundary.
	hourly := one(day(2026, 1, 1), Hour, "America/New_York")
	w, _ = hourly.After(events.Window{Start: utc(2026, 3, 8, 6, 0), End: utc(2026, 3, 8, 6, 20)})
	if !w.Start.Equal(utc(2026, 3, 8, 6, 20)) || !w.End.Equal(utc(2026, 3, 8, 7, 0)) {
		t.Errorf("After a window ending mid-hour: %s", w)
	}
}
