package schedule

import (
	"testing"
	"time"
)

// BenchmarkWindowAfter is planning's step: the next hour window of a New York destination and
// when it is due.
func BenchmarkWindowAfter(b *testing.B) {
	s := one(day(2026, 1, 1), Hour, "America/New_York")
	w0, _, err := s.WindowAt(utc(2026, 3, 1, 0, 0))
	if err != nil {
		b.Fatal(err)
	}
	w := w0
	b.ReportAllocs()
	for b.Loop() {
		var p Period
		w, p = s.After(w)
		_ = s.Due(w, p)
		if w.Start.Year() > 2027 {
			w = w0
		}
	}
}

func BenchmarkWindowAt(b *testing.B) {
	for _, every := range []Every{Hour, Hours6, Day, Week} {
		b.Run(string(every), func(b *testing.B) {
			s := one(day(2026, 1, 1), every, "America/New_York")
			s.Periods = s.Change(utc(2026, 2, 1, 0, 0), every, "Europe/London") // two periods
			at := utc(2026, 3, 1, 0, 0)
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := s.WindowAt(at); err != nil {
					b.Fatal(err)
				}
				at = at.Add(97 * time.Minute)
				if at.Year() > 2027 {
					at = utc(2026, 3, 1, 0, 0)
				}
			}
		})
	}
}

func BenchmarkDueNightly(b *testing.B) {
	s := one(day(2026, 1, 1), Day, "America/New_York")
	s.Nightly = nightlyAt{2, 0}
	w, p, _ := s.WindowAt(utc(2026, 3, 7, 12, 0))
	b.ReportAllocs()
	for b.Loop() {
		_ = s.Due(w, p)
	}
}

// TestAllocations: planning's calls allocate nothing, once the zone is loaded.
func TestAllocations(t *testing.T) {
	if testing.Short() {
		t.Skip()
	}
	s := one(day(2026, 1, 1), Hour, "America/New_York")
	s.Nightly = nightlyAt{2, 0}
	w, p, err := s.WindowAt(utc(2026, 3, 8, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	daily := one(day(2026, 1, 1), Day, "Australia/Adelaide")
	daily.Nightly = nightlyAt{2, 0}
	dw, dp, _ := daily.WindowAt(utc(2026, 4, 4, 12, 0))
	for name, f := range map[string]func(){
		"WindowAt":  func() { _, _, _ = s.WindowAt(utc(2026, 11, 1, 5, 30)) },
		"After":     func() { _, _ = s.After(w) },
		"Due":       func() { _ = s.Due(w, p) },
		"Due/night": func() { _ = daily.Due(dw, dp) },
		"day":       func() { _, _ = daily.After(dw) },
	} {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %v allocations a call", name, n)
		}
	}
}
