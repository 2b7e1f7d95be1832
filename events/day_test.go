package events_test

import (
	"strings"
	"testing"
	"time"

	"github.com/eventexport/eventexport/events"
	"github.com/eventexport/eventexport/events/eventstest"
)

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("load time zone %s: %v", name, err)
	}
	return loc
}

func TestParseDay(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want events.Day
		ok   bool
	}{
		{"2026-03-08", events.Day{Year: 2026, Month: time.March, Day: 8}, true},
		{"2024-02-29", events.Day{Year: 2024, Month: time.February, Day: 29}, true},
		{"0001-01-01", events.Day{Year: 1, Month: time.January, Day: 1}, true},
		{"9999-12-31", events.Day{Year: 9999, Month: time.December, Day: 31}, true},
		{"2026-02-30", events.Day{}, false},
		{"2025-02-29", events.Day{}, false},
		{"2026-13-01", events.Day{}, false},
		{"2026-00-10", events.Day{}, false},
		{"2026-01-00", events.Day{}, false},
		{"2026-1-8", events.Day{}, false},
		{"2026-03-8", events.Day{}, false},
		{"26-03-08", events.Day{}, false},
		{"2026/03/08", events.Day{}, false},
		{"20260308", events.Day{}, false},
		{" 2026-03-08", events.Day{}, false},
		{"2026-03-08 ", events.Day{}, false},
		{"2026-03-08T00:00:00Z", events.Day{}, false},
		{"+2026-03-08", events.Day{}, false},
		{"yesterday", events.Day{}, false},
		{"", events.Day{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := events.ParseDay(tt.in)
			if !tt.ok {
				if err == nil {
					t.Fatalf("ParseDay(%q) = %v, want an error", tt.in, got)
				}
				if !strings.Contains(err.Error(), `"`+tt.in+`"`) || !strings.Contains(err.Error(), "YYYY-MM-DD") {
					t.Errorf("ParseDay(%q) error %q: want it to name the input and the expected form", tt.in, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseDay(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseDay(%q) = %#v, want %#v", tt.in, got, tt.want)
			}
			if s := got.String(); s != tt.in {
				t.Errorf("ParseDay(%q).String() = %q, want the input back", tt.in, s)
			}
		})
	}
}

func TestDayText(t *testing.T) {
	t.Parallel()
	d := events.Day{Year: 2026, Month: time.November, Day: 1}
	b, err := d.MarshalText()
	if err != nil || string(b) != "2026-11-01" {
		t.Fatalf("MarshalText = %q, %v; want 2026-11-01", b, err)
	}
	var got events.Day
	if err := got.UnmarshalText(b); err != nil || got != d {
		t.Fatalf("UnmarshalText(%q) = %v, %v; want %v", b, got, err, d)
	}
	if err := got.UnmarshalText([]byte("2026-11-31")); err == nil {
		t.Fatalf("UnmarshalText(2026-11-31) succeeded, want an error")
	}
}

func TestAddDaysAndBefore(t *testing.T) {
	t.Parallel()
	day := func(s string) events.Day {
		d, err := events.ParseDay(s)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	tests := []struct {
		from string
		n    int
		want string
	}{
		{"2026-03-08", 1, "2026-03-09"},
		{"2026-03-08", -1, "2026-03-07"},
		{"2026-03-08", 0, "2026-03-08"},
		{"2024-02-28", 1, "2024-02-29"},
		{"2026-02-28", 1, "2026-03-01"},
		{"2026-12-31", 1, "2027-01-01"},
		{"2026-01-01", -1, "2025-12-31"},
		{"2026-01-01", 365, "2027-01-01"},
		{"2026-11-01", -7, "2026-10-25"},
	}
	for _, tt := range tests {
		got := day(tt.from).AddDays(tt.n)
		if got.String() != tt.want {
			t.Errorf("%s.AddDays(%d) = %s, want %s", tt.from, tt.n, got, tt.want)
		}
		if tt.n > 0 && !day(tt.from).Before(got) {
			t.Errorf("%s.Before(%s) = false, want true", tt.from, got)
		}
		if tt.n > 0 && got.Before(day(tt.from)) {
			t.Errorf("%s.Before(%s) = true, want false", got, tt.from)
		}
	}
	if d := day("2026-03-08"); d.Before(d) {
		t.Errorf("a day is before itself")
	}
	if !day("2025-12-31").Before(day("2026-01-01")) || !day("2026-01-31").Before(day("2026-02-01")) {
		t.Errorf("Before compares years and months wrong")
	}
}

func TestDayBefore(t *testing.T) {
	t.Parallel()
	ny := mustLoad(t, "America/New_York")
	tests := []struct {
		now  time.Time
		want string
	}{
		// The nightly firing at 2am local time exports the previous local day.
		{time.Date(2026, 3, 9, 2, 0, 0, 0, ny), "2026-03-08"},
		{time.Date(2026, 11, 2, 2, 0, 0, 0, ny), "2026-11-01"},
		// 01:00 UTC on March 9 is still the evening of March 8 in New York.
		{time.Date(2026, 3, 9, 1, 0, 0, 0, time.UTC), "2026-03-07"},
		{time.Date(2026, 1, 1, 0, 0, 0, 0, ny), "2025-12-31"},
	}
	for _, tt := range tests {
		if got := events.DayBefore(tt.now, ny); got.String() != tt.want {
			t.Errorf("DayBefore(%s, New York) = %s, want %s", tt.now.Format(time.RFC3339), got, tt.want)
		}
	}
}

func TestWindow(t *testing.T) {
	t.Parallel()
	utc := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		zone, day  string
		start, end string
		hours      int
	}{
		{"America/New_York", "2026-03-07", "2026-03-07T05:00:00Z", "2026-03-08T05:00:00Z", 24},
		// Spring forward: 2:00-2:59 does not exist.
		{"America/New_York", "2026-03-08", "2026-03-08T05:00:00Z", "2026-03-09T04:00:00Z", 23},
		// Fall back: 1:00-1:59 happens twice.
		{"America/New_York", "2026-11-01", "2026-11-01T04:00:00Z", "2026-11-02T05:00:00Z", 25},
		{"UTC", "2026-03-08", "2026-03-08T00:00:00Z", "2026-03-09T00:00:00Z", 24},
		{"Asia/Kolkata", "2026-03-08", "2026-03-07T18:30:00Z", "2026-03-08T18:30:00Z", 24},
		// Zones whose clocks jump from 00:00 to 01:00: the day starts at 01:00.
		{"America/Santiago", "2026-09-06", "2026-09-06T04:00:00Z", "2026-09-07T03:00:00Z", 23},
		{"Asia/Beirut", "2026-03-29", "2026-03-28T22:00:00Z", "2026-03-29T21:00:00Z", 23},
		{"America/Havana", "2026-03-08", "2026-03-08T05:00:00Z", "2026-03-09T04:00:00Z", 23},
		// Santiago falls back from 24:00 to 23:00: the day before has 25 hours.
		{"America/Santiago", "2026-04-04", "2026-04-04T03:00:00Z", "2026-04-05T04:00:00Z", 25},
	}
	for _, tt := range tests {
		t.Run(tt.zone+"/"+tt.day, func(t *testing.T) {
			loc := mustLoad(t, tt.zone)
			d, err := events.ParseDay(tt.day)
			if err != nil {
				t.Fatal(err)
			}
			w := d.Window(loc)
			if !w.Start.Equal(utc(tt.start)) || !w.End.Equal(utc(tt.end)) {
				t.Errorf("Window = [%s, %s), want [%s, %s)", w.Start.UTC().Format(time.RFC3339), w.End.UTC().Format(time.RFC3339), tt.start, tt.end)
			}
			if got := w.Duration(); got != time.Duration(tt.hours)*time.Hour {
				t.Errorf("window lasts %v, want %dh", got, tt.hours)
			}
		})
	}
}

// TestWindowsTile checks, for every day of two years in zones with unusual daylight-saving
// rules, that each day's window starts on that day, ends where the next one starts, and that
// the day's first instant is in it while the instant before is not.
func TestWindowsTile(t *testing.T) {
	t.Parallel()
	zones := []string{"America/New_York", "America/Santiago", "Asia/Beirut", "America/Havana",
		"Europe/London", "Australia/Lord_Howe", "Pacific/Apia", "Asia/Kolkata", "UTC"}
	for _, zone := range zones {
		loc := mustLoad(t, zone)
		d := events.Day{Year: 2025, Month: time.January, Day: 1}
		for range 2 * 366 {
			w, next := d.Window(loc), d.AddDays(1).Window(loc)
			if !w.End.Equal(next.Start) {
				t.Fatalf("%s %s: window ends at %s, next day starts at %s", zone, d, w.End, next.Start)
			}
			if got := events.DayOf(w.Start, loc); got != d {
				t.Fatalf("%s %s: window starts on %s", zone, d, got)
			}
			if got := events.DayOf(w.Start.Add(-time.Nanosecond), loc); !got.Before(d) {
				t.Fatalf("%s %s: the instant before the window is on %s, want an earlier day", zone, d, got)
			}
			if got := events.DayOf(w.End.Add(-time.Nanosecond), loc); got != d {
				t.Fatalf("%s %s: the window's last instant is on %s", zone, d, got)
			}
			if h := w.Duration(); h < 22*time.Hour || h > 26*time.Hour {
				t.Fatalf("%s %s: window lasts %v", zone, d, h)
			}
			d = d.AddDays(1)
		}
	}
}

// TestWindowIgnoresLocal checks that the process's own time zone plays no part.
func TestWindowIgnoresLocal(t *testing.T) {
	t.Parallel()
	if !eventstest.InTimeZones(t, "Pacific/Kiritimati", "Pacific/Pago_Pago", "Asia/Kolkata", "UTC") {
		return
	}
	ny := mustLoad(t, "America/New_York")
	d := events.Day{Year: 2026, Month: time.March, Day: 8}
	w := d.Window(ny)
	if !w.Start.Equal(time.Date(2026, 3, 8, 5, 0, 0, 0, time.UTC)) || !w.End.Equal(time.Date(2026, 3, 9, 4, 0, 0, 0, time.UTC)) {
		t.Errorf("Window = %s, want [2026-03-08T05:00:00Z, 2026-03-09T04:00:00Z)", w)
	}
	if got := events.DayBefore(time.Date(2026, 3, 9, 2, 0, 0, 0, ny), ny); got != d {
		t.Errorf("DayBefore = %s, want %s", got, d)
	}
	if got := events.DayOf(time.Date(2026, 3, 9, 4, 59, 0, 0, time.UTC), ny); got != d.AddDays(1) {
		t.Errorf("DayOf = %s, want %s", got, d.AddDays(1))
	}
}

func TestWindowContains(t *testing.T) {
	t.Parallel()
	w := events.Day{Year: 2026, Month: time.March, Day: 8}.Window(time.UTC)
	for _, tt := range []struct {
		at   time.Time
		want bool
	}{
		{w.Start, true},
		{w.End.Add(-time.Microsecond), true},
		{w.End, false},
		{w.Start.Add(-time.Microsecond), false},
	} {
		if got := w.Contains(tt.at); got != tt.want {
			t.Errorf("%s.Contains(%s) = %v, want %v", w, tt.at.Format(time.RFC3339Nano), got, tt.want)
		}
	}
}
