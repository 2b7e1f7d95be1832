package schedule

import (
	"testing"
	"time"

	"github.com/eventexport/eventexport/events"
	"github.com/robfig/cron/v3"
)

func nightly(t *testing.T, spec string) Nightly {
	t.Helper()
	n, err := cron.ParseStandard(spec)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// zeroNightly names no time at all.
type zeroNightly struct{}

func (zeroNightly) Next(time.Time) time.Time { return time.Time{} }

// sameNightly names the instant it is given: a time before the window's end.
type sameNightly struct{}

func (sameNightly) Next(t time.Time) time.Time { return t }

func TestDue(t *testing.T) {
	at2 := nightly(t, "0 2 * * *")
	hour := 90 * time.Minute
	zero := time.Duration(0)
	cases := []struct {
		name      string
		zone      string
		every     Every
		sendAfter *time.Duration
		nightly   Nightly
		window    events.Day // the day holding the window's start (its start for days)
		startUTC  time.Time  // or the window's start, for shorter and week windows
		want      time.Time
	}{
		{name: "New York day before the spring change: 02:00 is skipped, due when the clock jumps to 03:00 EDT",
			zone: "America/New_York", every: Day, nightly: at2, window: day(2026, 3, 7), want: utc(2026, 3, 8, 7, 0)},
		{name: "New York day of the spring change: 02:00 EDT the next morning",
			zone: "America/New_York", every: Day, nightly: at2, window: day(2026, 3, 8), want: utc(2026, 3, 9, 6, 0)},
		{name: "New York day before the autumn change: 01:00-02:00 shows twice, 02:00 once, in EST",
			zone: "America/New_York", every: Day, nightly: at2, window: day(2026, 10, 31), want: utc(2026, 11, 1, 7, 0)},
		{name: "New York day before the autumn change, due 01:30: the first 01:30, EDT",
			zone: "America/New_York", every: Day, nightly: nightly(t, "30 1 * * *"), window: day(2026, 10, 31), want: utc(2026, 11, 1, 5, 30)},
		{name: "New York day before the spring change, due 02:30: skipped, at the jump",
			zone: "America/New_York", every: Day, nightly: nightly(t, "30 2 * * *"), window: day(2027, 3, 13), want: utc(2027, 3, 14, 7, 0)},
		{name: "New York day of the autumn change: 02:00 EST",
			zone: "America/New_York", every: Day, nightly: at2, window: day(2026, 11, 1), want: utc(2026, 11, 2, 7, 0)},
		{name: "New York week across the spring change: Monday 02:00 EDT",
			zone: "America/New_York", every: Week, nightly: at2, startUTC: utc(2026, 3, 2, 5, 0), want: utc(2026, 3, 9, 6, 0)},
		{name: "New York week across the autumn change: Monday 02:00 EST",
			zone: "America/New_York", every: Week, nightly: at2, startUTC: utc(2026, 10, 26, 4, 0), want: utc(2026, 11, 2, 7, 0)},
		{name: "New York day, due at midnight: at the end",
			zone: "America/New_York", every: Day, nightly: nightly(t, "0 0 * * *"), window: day(2026, 3, 7), want: utc(2026, 3, 8, 5, 0)},
		{name: "New York day, due at 23:00: the evening after",
			zone: "America/New_York", every: Day, nightly: nightly(t, "0 23 * * *"), window: day(2026, 3, 7), want: utc(2026, 3, 9, 3, 0)},
		{name: "Sydney day before the October change: 02:00 AEST is skipped, due at 03:00 AEDT",
			zone: "Australia/Sydney", every: Day, nightly: at2, window: day(2026, 10, 3), want: utc(2026, 10, 3, 16, 0)},
		{name: "Adelaide day before the April change: 02:00 shows twice, due at the first (ACDT)",
			zone: "Australia/Adelaide", every: Day, nightly: at2, window: day(2026, 4, 4), want: utc(2026, 4, 4, 15, 30)},
		{name: "Kolkata day: 02:00 IST",
			zone: "Asia/Kolkata", every: Day, nightly: at2, window: day(2026, 3, 8), want: utc(2026, 3, 8, 20, 30)},
		{name: "Havana day ending at the skipped midnight (01:00 CDT): 02:00 CDT",
			zone: "America/Havana", every: Day, nightly: at2, window: day(2026, 3, 7), want: utc(2026, 3, 8, 6, 0)},
		{name: "Havana day ending at the first of two midnights: 02:00 CST",
			zone: "America/Havana", every: Day, nightly: at2, window: day(2026, 10, 31), want: utc(2026, 11, 1, 7, 0)},
		{name: "the default zone for a period without one",
			every: Day, nightly: at2, window: day(2026, 3, 7), want: utc(2026, 3, 8, 7, 0)},
		{name: "no nightly rule: at the end",
			zone: "America/New_York", every: Day, window: day(2026, 3, 7), want: utc(2026, 3, 8, 5, 0)},
		{name: "a rule that names no time: at the end",
			zone: "America/New_York", every: Day, nightly: zeroNightly{}, window: day(2026, 3, 7), want: utc(2026, 3, 8, 5, 0)},
		{name: "a rule naming a time before the end: at the end",
			zone: "America/New_York", every: Week, nightly: sameNightly{}, startUTC: utc(2026, 3, 2, 5, 0), want: utc(2026, 3, 9, 4, 0)},
		{name: "hour: 15 minutes after the end, whatever the nightly rule",
			zone: "America/New_York", every: Hour, nightly: at2, startUTC: utc(2026, 3, 8, 6, 0), want: utc(2026, 3, 8, 7, 15)},
		{name: "the second 01:00 hour: 15 minutes after its end",
			zone: "America/New_York", every: Hour, nightly: at2, startUTC: utc(2026, 11, 1, 6, 0), want: utc(2026, 11, 1, 7, 15)},
		{name: "12h: 15 minutes after the end",
			zone: "Australia/Adelaide", every: Hours12, startUTC: utc(2026, 10, 4, 1, 30), want: utc(2026, 10, 4, 13, 45)},
		{name: "send-after on a day window",
			zone: "America/New_York", every: Day, sendAfter: &hour, nightly: at2, window: day(2026, 3, 7), want: utc(2026, 3, 8, 6, 30)},
		{name: "send-after on an hour window",
			zone: "America/New_York", every: Hour, sendAfter: &hour, startUTC: utc(2026, 3, 8, 6, 0), want: utc(2026, 3, 8, 8, 30)},
		{name: "a send-after of zero: at the end",
			zone: "America/New_York", every: Hours6, sendAfter: &zero, nightly: at2, startUTC: utc(2026, 3, 8, 5, 0), want: utc(2026, 3, 8, 10, 0)},
		{name: "a send-after of zero on a week: at the end",
			zone: "America/New_York", every: Week, sendAfter: &zero, nightly: at2, startUTC: utc(2026, 3, 2, 5, 0), want: utc(2026, 3, 9, 4, 0)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := one(day(2026, 1, 1), tc.every, tc.zone)
			s.Default = zone(t, "America/New_York")
			s.SendAfter = tc.sendAfter
			s.Nightly = tc.nightly
			at := tc.startUTC
			if at.IsZero() {
				at = tc.window.Window(s.Location(s.Periods[0])).Start
			}
			w, p, err := s.WindowAt(at)
			if err != nil {
				t.Fatal(err)
			}
			if !w.Start.Equal(at) {
				t.Fatalf("the window holding %s is %s", at, w)
			}
			got := s.Due(w, p)
			if !got.Equal(tc.want) {
				t.Errorf("Due(%s) = %s (%s UTC), want %s UTC", w, got, got.UTC(), tc.want)
			}
			if got.Before(w.End) {
				t.Errorf("due %s before the window's end %s", got, w.End)
			}
		})
	}
}

// TestDueEveryNight: over two years of days in zones with changes at night, every day window
// is due at 02:00 local after its end, or when the clock jumps over 02:00, within a day.
func TestDueEveryNight(t *testing.T) {
	for _, name := range []string{"America/New_York", "Europe/London", "Australia/Sydney", "Australia/Adelaide", "Asia/Kolkata", "America/Havana", "America/Santiago"} {
		loc := zone(t, name)
		s := one(day(2026, 1, 1), Day, name)
		s.Nightly = nightly(t, "0 2 * * *")
		for w, p := range s.Windows(utc(2026, 1, 1, 0, 0), utc(2028, 1, 1, 0, 0)) {
			due := s.Due(w, p)
			if !due.After(w.End) || due.Sub(w.End) > 26*time.Hour {
				t.Errorf("%s: %s due at %s", name, w, due)
				continue
			}
			l := due.In(loc)
			if l.Hour() == 2 && l.Minute() == 0 && l.Second() == 0 {
				// The first 02:00 after the end.
				for u := w.End; u.Before(due); u = u.Add(time.Minute) {
					if c := u.In(loc); c.Hour() == 2 && c.Minute() == 0 {
						t.Errorf("%s: %s due at %s, but the clock shows 02:00 at %s", name, w, due, u)
					}
				}
				continue
			}
			// Not 02:00: the clock jumps over 02:00 right then.
			before := due.Add(-time.Nanosecond).In(loc)
			if before.Hour() != 1 || l.Hour() < 3 {
				t.Errorf("%s: %s due at %s (%s), neither 02:00 nor a jump over it", name, w, due, l)
			}
		}
	}
}
