// Package schedule is when a destination's files are made: the windows of events each file
// holds, tiling time in the destination's zone at its cadence, and when each window's file is
// due. A destination's schedule is a list of periods: a change of cadence or zone takes effect
// at the end of the window in progress, so that windows always meet.
package schedule

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/eventexport/eventexport/events"
)

// Every is a window length: "hour", "2h", "3h", "4h", "6h", "8h", "12h", "day" or "week".
// Windows start at local midnight (weeks on Monday 00:00) and tile the calendar.
type Every string

// The cadences.
const (
	Hour     Every = "hour"
	Hours2   Every = "2h"
	Hours3   Every = "3h"
	Hours4   Every = "4h"
	Hours6   Every = "6h"
	Hours8   Every = "8h"
	Hours12  Every = "12h"
	Day      Every = "day"
	Week     Every = "week"
	everyAll       = "hour, 2h, 3h, 4h, 6h, 8h, 12h, day or week"
)

// ParseEvery reads a cadence. "1h", "24h" and "7d" are read as hour, day and week.
func ParseEvery(s string) (Every, error) {
	switch v := strings.ToLower(strings.TrimSpace(s)); v {
	case "hour", "1h", "hourly":
		return Hour, nil
	case "2h", "3h", "4h", "6h", "8h", "12h":
		return Every(v), nil
	case "day", "24h", "1d", "daily":
		return Day, nil
	case "week", "7d", "1w", "weekly":
		return Week, nil
	}
	return "", fmt.Errorf("%q is not a window length: give %s", s, everyAll)
}

// hours is the cadence in hours of the local clock, for cadences shorter than a day; 0 for day
// and week.
func (e Every) hours() int {
	switch e {
	case Hour:
		return 1
	case Hours2:
		return 2
	case Hours3:
		return 3
	case Hours4:
		return 4
	case Hours6:
		return 6
	case Hours8:
		return 8
	case Hours12:
		return 12
	}
	return 0
}

// Daily reports whether windows are a day or a week long, whose files are due at night.
func (e Every) Daily() bool { return e == Day || e == Week || e == "" }

// Period is a stretch of a destination's schedule: from From (zero: from the destination's
// start) until the next period's From, windows of Every in Zone.
type Period struct {
	From  time.Time `json:"from,omitzero"`
	Every Every     `json:"every"`
	// Zone is an IANA zone name; "" is the instance's zone.
	Zone string `json:"timezone,omitempty"`
}

// Nightly is the instance's nightly rule on the wall clock (a cron schedule parsed without a
// zone of its own): when day and week windows without a send-after delay are due.
type Nightly interface {
	Next(time.Time) time.Time
}

// Schedule is a destination's schedule.
type Schedule struct {
	// Start is the destination's first day: its first window starts at that day's first
	// instant in the first period's zone.
	Start events.Day
	// Periods are in order of From; the first one's From is zero.
	Periods []Period
	// SendAfter is how long after a window ends its file is due; nil for the default: day and
	// week windows at the first time Nightly names at or after their end (2am by default),
	// shorter ones 15 minutes after their end.
	SendAfter *time.Duration
	// Default is the instance's zone, for periods without one.
	Default *time.Location
	// Nightly is the instance's nightly rule; nil means as soon as the window is over.
	Nightly Nightly
}

// DefaultShortDelay is when a window shorter than a day is due after its end, by default.
const DefaultShortDelay = 15 * time.Minute

// ErrBeforeStart is asked of a window before the destination's start.
var ErrBeforeStart = errors.New("before the destination's start")

// LoadZone reads an IANA zone name; "" is def.
func LoadZone(name string, def *time.Location) (*time.Location, error) {
	if strings.TrimSpace(name) == "" {
		return def, nil
	}
	if name == "Local" || strings.ContainsAny(name, " \t") {
		return nil, fmt.Errorf("%q is not an IANA time zone name (such as Europe/London or America/New_York)", name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("%q is not an IANA time zone name (such as Europe/London or America/New_York)", name)
	}
	return loc, nil
}

// MarshalPeriods is the stored form of periods.
func MarshalPeriods(ps []Period) ([]byte, error) { return json.Marshal(ps) }

// UnmarshalPeriods reads the stored form of periods; empty is one day period in the
// instance's zone.
func UnmarshalPeriods(b []byte) ([]Period, error) {
	var ps []Period
	if len(b) > 0 {
		if err := json.Unmarshal(b, &ps); err != nil {
			return nil, fmt.Errorf("a stored schedule: %w", err)
		}
	}
	if len(ps) == 0 {
		ps = []Period{{Every: Day}}
	}
	return ps, nil
}
