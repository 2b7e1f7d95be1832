package schedule

import (
	"time"

	"github.com/eventexport/eventexport/events"
)

// StartInstant is the first instant of the destination's start day in the first period's zone.
func (s Schedule) StartInstant() time.Time {
	panic("not implemented")
}

// WindowAt returns the window holding t, and the period it belongs to. Windows are cut at
// period boundaries: the first window of a period starts at its From (the destination's start
// for the first), and may be shorter so that windows meet. t before the start is ErrBeforeStart.
func (s Schedule) WindowAt(t time.Time) (events.Window, Period, error) {
	panic("not implemented")
}

// After returns the window that starts where w ends.
func (s Schedule) After(w events.Window) (events.Window, Period) {
	panic("not implemented")
}

// Due returns when the file of window w (of period p) is due.
func (s Schedule) Due(w events.Window, p Period) time.Time {
	panic("not implemented")
}

// Change returns the schedule's periods with every and zone in effect from the end of the
// window in progress at now; the first window of the new period may be shorter, so that the
// windows meet. A change not yet in effect is replaced. Before the destination's start, the
// schedule is replaced whole.
func (s Schedule) Change(now time.Time, every Every, zone string) []Period {
	panic("not implemented")
}
