package export

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestRetryPolicyIntervals(t *testing.T) {
	t.Parallel()
	want := []time.Duration{20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600}
	p := DefaultRetryPolicy()
	var total time.Duration
	for i, w := range want {
		if got := p.Interval(i + 1); got != w*time.Second {
			t.Errorf("Interval(%d) = %s, want %s", i+1, got, w*time.Second)
		}
		total += p.Interval(i + 1)
	}
	if total != 12300*time.Second {
		t.Errorf("last retry %s after the first attempt, want 3h25m (about 3.4 h)", total)
	}
	if got := p.Interval(40); got != time.Hour {
		t.Errorf("Interval(40) = %s, want the cap, 1h", got)
	}

	// Without jitter, Next follows the intervals exactly from the end of the failed attempt;
	// the 11th attempt is the last.
	p.Jitter = -1
	at := time.Date(2026, 3, 9, 7, 0, 0, 0, time.UTC)
	for n := 1; n <= 10; n++ {
		next := p.Next(n, at)
		if next == nil || next.Sub(at) != want[n-1]*time.Second {
			t.Fatalf("Next(%d) = %v, want %s later", n, next, want[n-1]*time.Second)
		}
		at = *next
	}
	if next := p.Next(11, at); next != nil {
		t.Errorf("Next(11) = %s, want nil: 11 attempts, then the run fails", next)
	}
	if p.Attempts() != 11 {
		t.Errorf("Attempts() = %d, want 11", p.Attempts())
	}
}

func TestRetryPolicyScaledDown(t *testing.T) {
	t.Parallel()
	p := RetryPolicy{Initial: 200 * time.Millisecond, Max: time.Second, Retries: 3, Jitter: -1}
	for n, want := range []time.Duration{200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, time.Second, time.Second} {
		if got := p.Interval(n + 1); got != want {
			t.Errorf("Interval(%d) = %s, want %s", n+1, got, want)
		}
	}
	if p.Next(3, time.Now()) == nil || p.Next(4, time.Now()) != nil {
		t.Errorf("with 3 retries, attempt 3 must be retried and attempt 4 must be the last")
	}
}

func TestRetryPolicyJitterWithinTenPercent(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	p := DefaultRetryPolicy()
	p.Rand = r.Float64
	for n := 1; n <= 10; n++ {
		base := p.Interval(n)
		lo, hi := base-base/10, base+base/10
		var below, above bool
		for range 1000 {
			d := p.Delay(n)
			if d < lo || d > hi {
				t.Fatalf("Delay(%d) = %s, outside %s ± 10%%", n, d, base)
			}
			below = below || d < base-base/20
			above = above || d > base+base/20
		}
		if !below || !above {
			t.Errorf("Delay(%d) never strayed more than 5%% below or above %s: is there jitter?", n, base)
		}
	}
	// The extremes of the random source.
	for _, f := range []float64{0, 0.999999999} {
		p.Rand = func() float64 { return f }
		if d := p.Delay(1); d < 18*time.Second || d > 22*time.Second {
			t.Errorf("Delay(1) with rand %v = %s, want within 18s..22s", f, d)
		}
	}
}
