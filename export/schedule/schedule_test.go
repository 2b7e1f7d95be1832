package schedule

import (
	"strings"
	"testing"
	"time"
)

func TestParseEvery(t *testing.T) {
	for in, want := range map[string]Every{
		"hour": Hour, "1h": Hour, "hourly": Hour, " HOUR ": Hour,
		"2h": Hours2, "3h": Hours3, "4h": Hours4, "6h": Hours6, "8h": Hours8, "12h": Hours12,
		"day": Day, "24h": Day, "1d": Day, "daily": Day, "Day": Day,
		"week": Week, "7d": Week, "1w": Week, "weekly": Week,
	} {
		got, err := ParseEvery(in)
		if err != nil || got != want {
			t.Errorf("ParseEvery(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "5h", "30m", "90m", "1.5h", "48h", "month", "2d", "0h", "-1h", "hours"} {
		got, err := ParseEvery(in)
		if err == nil {
			t.Errorf("ParseEvery(%q) = %q, want an error", in, got)
			continue
		}
		if !strings.Contains(err.Error(), "hour, 2h, 3h, 4h, 6h, 8h, 12h, day or week") {
			t.Errorf("ParseEvery(%q): %q does not list the window lengths", in, err)
		}
	}
	// Every cadence reads back as itself and has windows.
	for _, e := range everies {
		if got, err := ParseEvery(string(e)); err != nil || got != e {
			t.Errorf("ParseEvery(%q) = %q, %v", e, got, err)
		}
		if _, ok := cadenceOf(e); !ok {
			t.Errorf("no cadence for %q", e)
		}
		if e.Daily() != (e == Day || e == Week) {
			t.Errorf("%q.Daily() = %v", e, e.Daily())
		}
	}
}

func TestLoadZone(t *testing.T) {
	def := zone(t, "Asia/Kolkata")
	for _, name := range []string{"", "  "} {
		if loc, err := LoadZone(name, def); err != nil || loc != def {
			t.Errorf("LoadZone(%q) = %v, %v; want the default", name, loc, err)
		}
	}
	for _, name := range []string{"UTC", "Europe/London", "America/New_York", "Australia/Adelaide"} {
		if loc, err := LoadZone(name, def); err != nil || loc.String() != name {
			t.Errorf("LoadZone(%q) = %v, %v", name, loc, err)
		}
	}
	for _, name := range []string{"Local", "Mars/Olympus_Mons", "America/New York", "New_York", "../../etc/passwd", "Europe/London\t", "+05:30"} {
		if loc, err := LoadZone(name, def); err == nil {
			t.Errorf("LoadZone(%q) = %v, want an error", name, loc)
		} else if !strings.Contains(err.Error(), "IANA") {
			t.Errorf("LoadZone(%q): %v", name, err)
		}
	}
	// The cache answers the same, and remembers refusals.
	for range 2 {
		if loc, err := loadZone("Europe/London", def); err != nil || loc.String() != "Europe/London" {
			t.Errorf("loadZone(Europe/London) = %v, %v", loc, err)
		}
		if _, err := loadZone("Mars/Olympus_Mons", def); err == nil {
			t.Error("loadZone(Mars/Olympus_Mons): no error")
		}
		if loc, err := loadZone("", nil); err != nil || loc != time.UTC {
			t.Errorf(`loadZone("", nil) = %v, %v; want UTC`, loc, err)
		}
	}
}

func TestLoadZoneConcurrently(t *testing.T) {
	names := []string{"Europe/Paris", "Asia/Tokyo", "America/Chicago", "Africa/Nairobi", "Not/AZone"}
	done := make(chan bool)
	for i := range 8 {
		go func() {
			for j := range 50 {
				name := names[(i+j)%len(names)]
				loc, err := loadZone(name, nil)
				done <- (err == nil && loc.String() == name) || (err != nil && name == "Not/AZone")
			}
		}()
	}
	for range 8 * 50 {
		if !<-done {
			t.Error("a zone read wrong under concurrent loading")
		}
	}
}

func TestPeriodsRoundTrip(t *testing.T) {
	ps := []Period{
		{Every: Day},
		{From: utc(2026, 3, 11, 4, 0), Every: Hour, Zone: "America/New_York"},
		{From: time.Date(2026, 4, 1, 0, 0, 0, 0, zone(t, "Australia/Adelaide")), Every: Hours6, Zone: "Australia/Adelaide"},
		{From: utc(2026, 5, 1, 0, 0), Every: Week},
	}
	b, err := MarshalPeriods(ps)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(b); !strings.HasPrefix(s, `[{"every":"day"},{"from":"2026-03-11T04:00:00Z","every":"hour","timezone":"America/New_York"}`) {
		t.Errorf("stored form %s", s)
	}
	got, err := UnmarshalPeriods(b)
	if err != nil {
		t.Fatal(err)
	}
	if !samePeriods(got, ps) {
		t.Errorf("round trip %+v, want %+v", got, ps)
	}
	for _, empty := range []string{"", "[]", "null"} {
		got, err := UnmarshalPeriods([]byte(empty))
		if err != nil || !samePeriods(got, []Period{{Every: Day}}) {
			t.Errorf("UnmarshalPeriods(%q) = %+v, %v; want one day period", empty, got, err)
		}
	}
	for _, bad := range []string{"{", `{"every":"day"}`, `[{"from":"yesterday"}]`} {
		if got, err := UnmarshalPeriods([]byte(bad)); err == nil {
			t.Errorf("UnmarshalPeriods(%q) = %+v, want an error", bad, got)
		}
	}
	// A schedule read back plans the same windows.
	s := Schedule{Start: day(2026, 3, 1), Periods: ps, Default: time.UTC}
	r := s
	r.Periods = got
	a, _ := walk(t, s, s.StartInstant(), utc(2026, 6, 1, 0, 0))
	c, _ := walk(t, r, r.StartInstant(), utc(2026, 6, 1, 0, 0))
	if len(a) != len(c) {
		t.Fatalf("%d windows, %d read back", len(a), len(c))
	}
	for i := range a {
		if !sameWindow(a[i], c[i]) {
			t.Errorf("window %d: %s, read back %s", i, a[i], c[i])
		}
	}
}
