package schedule

import (
	"fmt"
	"iter"
	"time"

	"github.com/eventexport/eventexport/events"
)

// defaultPeriods is the schedule of a destination without periods: one day period in the
// instance's zone. Read only.
var defaultPeriods = []Period{{Every: Day}}

func (s Schedule) periods() []Period {
	if len(s.Periods) == 0 {
		return defaultPeriods
	}
	return s.Periods
}

// StartInstant is the first instant of the destination's start day in the first period's zone.
func (s Schedule) StartInstant() time.Time {
	loc := s.Location(s.periods()[0])
	return time.Unix(s.startSec(loc), 0).In(loc)
}

func (s Schedule) startSec(loc *time.Location) int64 { return firstAtOrAfter(loc, s.startNaive()) }

// startNaive is the naive second of the start day's midnight.
func (s Schedule) startNaive() int64 {
	return time.Date(s.Start.Year, s.Start.Month, s.Start.Day, 0, 0, 0, 0, time.UTC).Unix()
}

// started reports whether t is surely not before the start, without finding the start: no
// zone is reach or more from UTC.
func (s Schedule) started(t time.Time) bool { return t.Unix() >= s.startNaive()+reach }

// span is where period i of a schedule is in effect: [from, to), to zero when it lasts.
type span struct {
	i        int
	from, to time.Time
}

// spanAt returns the period in effect at t, which is not before the start. A period is in
// effect from the latest of its From and those of the periods before it (the first from the
// start), until the next period's. The span's from is left zero for the first period: window
// cuts windows at the start.
func (s Schedule) spanAt(t time.Time) span {
	ps := s.periods()
	var sp span
	for i := 1; i < len(ps); i++ {
		if ps[i].From.After(t) {
			sp.to = ps[i].From
			break
		}
		sp.i = i
		if ps[i].From.After(sp.from) {
			sp.from = ps[i].From
		}
	}
	return sp
}

// resolve returns the cadence and zone of p, or an error when the period cannot be read (a
// cadence or zone stored by a newer version, or a zone the system lost).
func (s Schedule) resolve(p Period) (cadence, *time.Location, error) {
	c, ok := cadenceOf(p.Every)
	if !ok {
		return cadence{}, nil, fmt.Errorf("%q is not a window length: give %s", p.Every, everyAll)
	}
	loc, err := loadZone(p.Zone, s.Default)
	if err != nil {
		return cadence{}, nil, err
	}
	return c, loc, nil
}

// resolveOr is resolve reading a period that cannot be read as a day in the default zone.
func (s Schedule) resolveOr(p Period) (cadence, *time.Location) {
	c, loc, err := s.resolve(p)
	if err != nil {
		c, _ = cadenceOf(Day)
		loc = s.defaultZone()
	}
	return c, loc
}

// WindowAt returns the window holding t, and the period it belongs to. Windows are cut at
// period boundaries: the first window of a period starts at its From (the destination's start
// for the first), and may be shorter so that windows meet. t before the start is ErrBeforeStart.
func (s Schedule) WindowAt(t time.Time) (events.Window, Period, error) {
	ps := s.periods()
	if _, _, err := s.resolve(ps[0]); err != nil {
		return events.Window{}, Period{}, err
	}
	if !s.started(t) && t.Before(s.StartInstant()) {
		return events.Window{}, Period{}, ErrBeforeStart
	}
	sp := s.spanAt(t)
	p := ps[sp.i]
	c, loc, err := s.resolve(p)
	if err != nil {
		return events.Window{}, Period{}, err
	}
	return s.window(c, loc, sp, t, false), p, nil
}

// window returns the window of period span sp holding t, or starting at t when at is set.
func (s Schedule) window(c cadence, loc *time.Location, sp span, t time.Time, at bool) events.Window {
	sec := t.Unix()
	begin := t
	if !at {
		begin = time.Unix(c.prev(loc, sec), 0)
		if sp.from.After(begin) {
			begin = sp.from
		}
		if !s.started(begin) {
			if start := s.StartInstant(); start.After(begin) {
				begin = start // no window starts before the destination
			}
		}
	}
	end := time.Unix(c.next(loc, sec), 0)
	if !sp.to.IsZero() && sp.to.Before(end) {
		end = sp.to
	}
	return events.Window{Start: begin.In(loc), End: end.In(loc)}
}

// After returns the window that starts where w ends. It ends at the next boundary of the
// period in effect at w.End (or where the next period starts), so that windows meet even where
// w.End is not a boundary. A period that cannot be read is read as a day in the default zone;
// before the destination's start, it is the first window.
func (s Schedule) After(w events.Window) (events.Window, Period) {
	ps := s.periods()
	t := w.End
	if !s.started(t) {
		if start := s.StartInstant(); t.Before(start) {
			t = start
		}
	}
	sp := s.spanAt(t)
	p := ps[sp.i]
	c, loc := s.resolveOr(p)
	return s.window(c, loc, sp, t, true), p
}

// Windows returns the windows that meet [from, to) in order, with their periods: from the one
// holding from (or the first one, when from is before the start).
func (s Schedule) Windows(from, to time.Time) iter.Seq2[events.Window, Period] {
	return func(yield func(events.Window, Period) bool) {
		if start := s.StartInstant(); from.Before(start) {
			from = start
		}
		w, p, err := s.WindowAt(from)
		if err != nil {
			return
		}
		for w.Start.Before(to) {
			if !yield(w, p) {
				return
			}
			w, p = s.After(w)
		}
	}
}

// Due returns when the file of window w (of period p) is due.
func (s Schedule) Due(w events.Window, p Period) time.Time {
	if s.SendAfter != nil {
		return w.End.Add(*s.SendAfter)
	}
	if !p.Every.Daily() {
		return w.End.Add(DefaultShortDelay)
	}
	if s.Nightly == nil {
		return w.End
	}
	loc := s.Location(p)
	end := w.End.Unix()
	// Read the rule on a clock without daylight-saving changes (UTC stands in for the wall
	// clock), then place the wall time found in the zone: a time the clock skips is reached
	// when it jumps, one it shows twice at its first occurrence.
	next := s.Nightly.Next(time.Unix(wallOf(loc, end)-1, 0).UTC())
	if next.IsZero() {
		return w.End
	}
	_, off := next.Zone()
	due := firstAtOrAfter(loc, next.Unix()+int64(off))
	if due < end {
		return w.End
	}
	return time.Unix(due, 0).In(loc)
}

// Change returns the schedule's periods with every and zone in effect from the end of the
// window in progress at now; the first window of the new period may be shorter, so that the
// windows meet. A change not yet in effect is replaced. Before the destination's start, the
// schedule is replaced whole.
func (s Schedule) Change(now time.Time, every Every, zone string) []Period {
	if every == "" {
		every = Day
	}
	if !s.started(now) && now.Before(s.StartInstant()) {
		return []Period{{Every: every, Zone: zone}}
	}
	ps := s.periods()
	sp := s.spanAt(now)
	out := make([]Period, sp.i+1, sp.i+2)
	copy(out, ps[:sp.i+1])
	cur := out[sp.i]
	if (cur.Every == every || cur.Every == "" && every == Day) && cur.Zone == zone {
		// What is in effect stays: a change not yet in effect is dropped.
		return out
	}
	from := sp.to // a change not yet in effect is replaced, from the same instant
	if from.IsZero() {
		c, loc := s.resolveOr(cur)
		from = s.window(c, loc, sp, now, false).End
	}
	return append(out, Period{From: from.UTC(), Every: every, Zone: zone})
}
