package events

import (
	"fmt"
	"time"
)

// Day is a calendar day, independent of any time zone. Its Window in a zone gives the instants
// it covers there.
type Day struct {
	Year  int
	Month time.Month
	Day   int
}

const dayLayout = "2006-01-02"

// ParseDay parses a day written YYYY-MM-DD, rejecting days that do not exist ("2026-02-30").
func ParseDay(s string) (Day, error) {
	t, err := time.Parse(dayLayout, s)
	if err != nil || len(s) != len(dayLayout) {
		return Day{}, fmt.Errorf("bad day %q: want an existing date written YYYY-MM-DD, such as 2026-03-08", s)
	}
	return DayOf(t, time.UTC), nil
}

// DayOf returns the calendar day of t in loc.
func DayOf(t time.Time, loc *time.Location) Day {
	y, m, d := t.In(loc).Date()
	return Day{Year: y, Month: m, Day: d}
}

// DayBefore returns the calendar day before the one now falls on in loc: the day a nightly run
// fired at now exports.
func DayBefore(now time.Time, loc *time.Location) Day {
	return DayOf(now, loc).AddDays(-1)
}

// String returns the day written YYYY-MM-DD.
func (d Day) String() string {
	return fmt.Sprintf("%04d-%02d-%02d", d.Year, int(d.Month), d.Day)
}

// MarshalText writes the day as YYYY-MM-DD.
func (d Day) MarshalText() ([]byte, error) {
	return []byte(d.String()), nil
}

// UnmarshalText reads a day written YYYY-MM-DD.
func (d *Day) UnmarshalText(b []byte) error {
	p, err := ParseDay(string(b))
	if err != nil {
		return err
	}
	*d = p
	return nil
}

// AddDays returns the day n days after d (before it when n is negative).
func (d Day) AddDays(n int) Day {
	return DayOf(d.noonUTC().AddDate(0, 0, n), time.UTC)
}

// Before reports whether d is an earlier day than o.
func (d Day) Before(o Day) bool {
	if d.Year != o.Year {
		return d.Year < o.Year
	}
	if d.Month != o.Month {
		return d.Month < o.Month
	}
	return d.Day < o.Day
}

// Window returns the instants of d in loc: from local midnight of d to local midnight of the
// next day. It is 23, 24 or 25 hours long around daylight-saving changes; where a zone skips
// midnight itself, the day starts at its first instant.
func (d Day) Window(loc *time.Location) Window {
	return Window{Start: d.start(loc), End: d.AddDays(1).start(loc)}
}

// start returns the first instant of d in loc.
func (d Day) start(loc *time.Location) time.Time {
	t := time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, loc)
	// When midnight falls in a daylight-saving gap, time.Date may resolve it to an instant of
	// the day before; the day then starts where the zone's next offset takes effect.
	if DayOf(t, loc).Before(d) {
		_, end := t.ZoneBounds()
		t = end
	}
	return t
}

func (d Day) noonUTC() time.Time {
	return time.Date(d.Year, d.Month, d.Day, 12, 0, 0, 0, time.UTC)
}
