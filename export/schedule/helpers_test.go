package schedule

import (
	"testing"
	"time"

	"github.com/eventexport/eventexport/events"
)

// zone loads a zone for a test.
func zone(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	return loc
}

// local returns the instant the wall clock of loc shows y-m-d h:mi, requiring that it shows it
// exactly once.
func local(t testing.TB, loc *time.Location, y int, m time.Month, d, h, mi int) time.Time {
	t.Helper()
	at := time.Date(y, m, d, h, mi, 0, 0, loc)
	if at.Hour() != h || at.Minute() != mi || at.Day() != d {
		t.Fatalf("%04d-%02d-%02d %02d:%02d is not shown by the clock of %s", y, m, d, h, mi, loc)
	}
	return at
}

func utc(y int, m time.Month, d, h, mi int) time.Time {
	return time.Date(y, m, d, h, mi, 0, 0, time.UTC)
}

func day(y int, m time.Month, d int) events.Day { return events.Day{Year: y, Month: m, Day: d} }

// one returns a schedule of one period of every in zone from start.
func one(start events.Day, every Every, zone string) Schedule {
	return Schedule{Start: start, Periods: []Period{{Every: every, Zone: zone}}, Default: time.UTC}
}

// walk returns the windows of s from the one holding from, through After, until one starts at
// or after to.
func walk(t testing.TB, s Schedule, from, to time.Time) ([]events.Window, []Period) {
	t.Helper()
	w, p, err := s.WindowAt(from)
	if err != nil {
		t.Fatalf("WindowAt(%s): %v", from, err)
	}
	var ws []events.Window
	var ps []Period
	for w.Start.Before(to) {
		ws = append(ws, w)
		ps = append(ps, p)
		if len(ws) > 100000 {
			t.Fatalf("no end to the windows from %s", from)
		}
		w, p = s.After(w)
	}
	return ws, ps
}

// checkTiles requires windows that are non-empty and meet: each starts where the one before
// ends.
func checkTiles(t testing.TB, ws []events.Window) {
	t.Helper()
	for i, w := range ws {
		if !w.End.After(w.Start) {
			t.Errorf("window %d %s is empty or reversed", i, w)
		}
		if i > 0 && !w.Start.Equal(ws[i-1].End) {
			t.Errorf("window %d %s does not start where %s ends: a gap or an overlap", i, w, ws[i-1])
		}
	}
}

// sameWindow reports whether a and b hold the same instants.
func sameWindow(a, b events.Window) bool { return a.Start.Equal(b.Start) && a.End.Equal(b.End) }

// transitions returns the instants at which loc's offset changes in [from, to).
func transitions(loc *time.Location, from, to time.Time) []time.Time {
	var out []time.Time
	t := from.In(loc)
	for {
		_, end := t.ZoneBounds()
		if end.IsZero() || !end.Before(to) {
			return out
		}
		out = append(out, end)
		t = end
	}
}

// wallClock is the reading of a zone's clock, as a time in UTC.
func wallClock(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), 0, time.UTC)
}

// aligned reports whether the wall reading w (in UTC) is a boundary reading of every: a
// multiple of the cadence from local midnight, Monday midnight for weeks.
func aligned(w time.Time, every Every) bool {
	if w.Second() != 0 || w.Minute() != 0 {
		return false
	}
	switch every {
	case Day:
		return w.Hour() == 0
	case Week:
		return w.Hour() == 0 && w.Weekday() == time.Monday
	}
	return w.Hour()%every.hours() == 0
}

// trace is a zone's clock read minute by minute: instants and the readings (as naive
// seconds: the Unix second of the same reading on a UTC clock).
type trace struct {
	from, to time.Time
	u, w     []int64
}

// readClock reads loc's clock each minute from three days before from until to.
func readClock(loc *time.Location, from, to time.Time) trace {
	tr := trace{from: from, to: to}
	for u := from.Add(-72 * time.Hour).Truncate(time.Minute); !u.After(to); u = u.Add(time.Minute) {
		tr.u = append(tr.u, u.Unix())
		tr.w = append(tr.w, wallClock(u, loc).Unix())
	}
	return tr
}

// alignedAt is aligned for a naive second.
func alignedAt(w int64, every Every) bool {
	return w%3600 == 0 && aligned(time.Unix(w, 0).UTC(), every)
}

// boundaries returns the boundaries of every within [from, to] of the trace, found the slow
// way, minute by minute from the standard library's reading of the zone, straight from the
// rules: for cadences shorter than a day, every instant at which the clock shows a boundary
// reading and every jump of the clock over one; for days and weeks, the first instant at which
// the clock shows midnight (Monday's) or later. Zones change offset on whole minutes.
func (tr trace) boundaries(every Every) []time.Time {
	var out []time.Time
	highest := tr.w[0]
	for i := 1; i < len(tr.u); i++ {
		u, w, prev := tr.u[i], tr.w[i], tr.w[i-1]
		boundary := false
		if every.Daily() {
			// The first time the clock reaches a boundary reading it has not reached before.
			for r := highest + 60; r <= w; r += 60 {
				boundary = boundary || alignedAt(r, every)
			}
		} else {
			boundary = alignedAt(w, every)
			if w-prev > 60 { // the clock jumped forward over (prev, w)
				for r := prev + 60; r < w; r += 60 {
					boundary = boundary || alignedAt(r, every)
				}
			}
		}
		if boundary && u >= tr.from.Unix() {
			out = append(out, time.Unix(u, 0))
		}
		highest = max(highest, w)
	}
	return out
}

// everies are the cadences.
var everies = []Every{Hour, Hours2, Hours3, Hours4, Hours6, Hours8, Hours12, Day, Week}

// nightlyAt is a nightly rule: every day at hh:mm on the clock of the time it is given.
type nightlyAt struct{ h, m int }

func (n nightlyAt) Next(t time.Time) time.Time {
	at := time.Date(t.Year(), t.Month(), t.Day(), n.h, n.m, 0, 0, t.Location())
	if !at.After(t) {
		at = time.Date(t.Year(), t.Month(), t.Day()+1, n.h, n.m, 0, 0, t.Location())
	}
	return at
}

// sameTimes reports whether a and b are the same instants.
func sameTimes(a, b []time.Time) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Equal(b[i]) {
			return false
		}
	}
	return true
}
