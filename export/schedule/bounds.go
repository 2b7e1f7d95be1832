package schedule

import (
	"math"
	"time"
)

// The arithmetic of boundaries works in whole seconds: an instant is its Unix second, and a wall
// time is the Unix second of the same reading on a UTC clock (its "naive" second), so that wall
// days are always 86,400 seconds long and naive second 0 is a midnight (1970-01-01, a Thursday).
// Every boundary is a whole second: zones' offsets and transitions are.

const (
	hourSecs = 3600
	daySecs  = 24 * hourSecs
	weekSecs = 7 * daySecs
	// mondayNaive is the naive second of a Monday midnight: 1970-01-05.
	mondayNaive = 4 * daySecs
	// reach bounds how far, either way, a zone's clock is from UTC (offsets stay within about
	// -12h..+15h, local mean times included).
	reach = 26 * hourSecs
)

// cadence is a window length on the wall clock: boundaries are the instants at which the clock
// shows anchor plus a multiple of step.
type cadence struct {
	step   int64 // seconds of wall clock
	anchor int64 // the naive second of one boundary
	// once is for days and weeks: a midnight the clock shows twice is a boundary at its first
	// occurrence only. Shorter cadences take both.
	once bool
}

// cadenceOf returns the cadence of e; "" is a day.
func cadenceOf(e Every) (cadence, bool) {
	switch e {
	case Day, "":
		return cadence{step: daySecs, once: true}, true
	case Week:
		return cadence{step: weekSecs, anchor: mondayNaive, once: true}, true
	}
	if h := e.hours(); h > 0 {
		return cadence{step: int64(h) * hourSecs}, true
	}
	return cadence{}, false
}

// segment is a stretch of time over which a zone keeps one offset: [a, b), a and b being
// math.MinInt64 and math.MaxInt64 where the zone has no transition.
type segment struct {
	off  int64
	a, b int64
}

// segmentAt returns the segment of loc holding the instant sec.
func segmentAt(loc *time.Location, sec int64) segment {
	t := time.Unix(sec, 0).In(loc)
	_, off := t.Zone()
	start, end := t.ZoneBounds()
	s := segment{off: int64(off), a: math.MinInt64, b: math.MaxInt64}
	if !start.IsZero() {
		s.a = start.Unix()
	}
	if !end.IsZero() {
		s.b = end.Unix()
	}
	return s
}

// floorMod is x modulo m in [0, m).
func floorMod(x, m int64) int64 {
	r := x % m
	if r < 0 {
		r += m
	}
	return r
}

// ceilAligned returns the first aligned wall second at or after w.
func (c cadence) ceilAligned(w int64) int64 { return w + floorMod(c.anchor-w, c.step) }

// firstAtOrAfter returns the first instant at which loc's clock shows the naive second w or
// later: the first occurrence of w when the clock shows it, the instant the clock jumps over
// it when it is skipped.
func firstAtOrAfter(loc *time.Location, w int64) int64 {
	x := w - reach
	for {
		s := segmentAt(loc, x)
		u := max(x, w-s.off)
		if u < s.b {
			return u
		}
		x = s.b
	}
}

// wallOf returns the naive second loc's clock shows at the instant sec.
func wallOf(loc *time.Location, sec int64) int64 {
	_, off := time.Unix(sec, 0).In(loc).Zone()
	return sec + int64(off)
}

// prev returns the last boundary at or before the instant sec.
func (c cadence) prev(loc *time.Location, sec int64) int64 {
	if c.once {
		w := wallOf(loc, sec)
		w -= floorMod(w-c.anchor, c.step)
		// The clock shows w or later at sec, so its first occurrence is not after sec; a later
		// midnight is before sec only where the clock went back over it.
		b := firstAtOrAfter(loc, w)
		for range 3 {
			w += c.step
			v := firstAtOrAfter(loc, w)
			if v > sec {
				break
			}
			b = v
		}
		return b
	}
	x := sec
	s := segmentAt(loc, x)
	for {
		if u := x - floorMod(x+s.off-c.anchor, c.step); u >= s.a {
			return u
		}
		// No aligned reading in this segment: its start is a boundary when the clock jumped
		// forward over one there.
		before := segmentAt(loc, s.a-1)
		if s.off > before.off && c.ceilAligned(s.a+before.off) < s.a+s.off {
			return s.a
		}
		x, s = s.a-1, before
	}
}

// next returns the first boundary after the instant sec.
func (c cadence) next(loc *time.Location, sec int64) int64 {
	if c.once {
		w := wallOf(loc, sec)
		w -= floorMod(w-c.anchor, c.step)
		for {
			w += c.step
			if v := firstAtOrAfter(loc, w); v > sec {
				return v
			}
		}
	}
	s := segmentAt(loc, sec)
	x := sec + 1 // the first boundary at or after x, which may be where s ends
	for {
		if u := x + floorMod(c.anchor-x-s.off, c.step); u < s.b {
			return u
		}
		after := segmentAt(loc, s.b)
		if after.off > s.off && c.ceilAligned(s.b+s.off) < s.b+after.off {
			return s.b // the clock jumps over an aligned reading
		}
		x, s = s.b, after
	}
}
