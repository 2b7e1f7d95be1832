package export

import (
	"math/rand/v2"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// RetryPolicy is when a failed run is tried again (seed 001): after the first attempt come
// Retries retries, the n-th Initial×2^(n−1) after the previous attempt, capped at Max, each
// moved by up to ±Jitter of itself. With the defaults that is 20 s, 40 s, 80 s, …, 2560 s,
// 3600 s, 3600 s: the last retry about 3.4 hours after the first attempt. Then the run fails.
//
// Permanent errors (authentication, host key, permission) follow the same schedule: a customer
// may fix the server in the meantime. They are flagged in the history and the alert.
type RetryPolicy struct {
	Initial time.Duration // the wait before the first retry; default 20 s
	Max     time.Duration // the longest wait; default 1 h
	Retries int           // retries after the first attempt; default 10, negative for none
	Jitter  float64       // the largest relative change of a wait, below 1; default 0.1, negative for none
	// Rand returns a number in [0, 1); default math/rand/v2.Float64.
	Rand func() float64
}

// DefaultRetryPolicy is seed 001's schedule.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{Initial: 20 * time.Second, Max: time.Hour, Retries: 10, Jitter: 0.1}
}

// withDefaults fills the zero fields. A negative Jitter turns jitter off.
func (p RetryPolicy) withDefaults() RetryPolicy {
	d := DefaultRetryPolicy()
	if p.Initial <= 0 {
		p.Initial = d.Initial
	}
	if p.Max <= 0 {
		p.Max = d.Max
	}
	if p.Max < p.Initial {
		p.Max = p.Initial
	}
	switch {
	case p.Retries == 0:
		p.Retries = d.Retries
	case p.Retries < 0:
		p.Retries = 0
	}
	switch {
	case p.Jitter == 0:
		p.Jitter = d.Jitter
	case p.Jitter >= 1:
		p.Jitter = 0.99
	}
	if p.Rand == nil {
		p.Rand = rand.Float64
	}
	return p
}

// Interval returns the wait before retry n (1 for the first retry) without jitter:
// Initial×2^(n−1), capped at Max.
//
// backoff.ExponentialBackOff computes it, as a pure function of n: a fresh one, its n-th
// NextBackOff. Its MaxElapsedTime is 0, which means it never returns Stop: how long a run keeps
// trying is bounded by Retries, and the schedule is kept in PostgreSQL across restarts, not in
// this process's memory. Its clock is a stopped one, read by NextBackOff only to compare with
// MaxElapsedTime, so the result does not depend on when or how often it is called. Its
// randomization factor is 0: Delay adds the jitter, drawn from Rand, since the library draws
// from math/rand's global source, which a caller cannot replace.
func (p RetryPolicy) Interval(n int) time.Duration {
	p = p.withDefaults()
	b := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(p.Initial),
		backoff.WithMultiplier(2),
		backoff.WithMaxInterval(p.Max),
		backoff.WithRandomizationFactor(0),
		backoff.WithMaxElapsedTime(0),
		backoff.WithClockProvider(stoppedClock{}),
	)
	d := b.NextBackOff()
	// Once at MaxInterval the library stays there, so the loop stops early: at most
	// log2(Max/Initial)+1 steps, however large n is.
	for i := 1; i < n && d < p.Max; i++ {
		d = b.NextBackOff()
	}
	return d
}

// stoppedClock is the clock of the backoff in Interval: always the zero time.
type stoppedClock struct{}

func (stoppedClock) Now() time.Time { return time.Time{} }

// Delay returns the wait before retry n with jitter: Interval(n) moved by a uniformly drawn
// amount of at most ±Jitter×Interval(n).
func (p RetryPolicy) Delay(n int) time.Duration {
	p = p.withDefaults()
	d := p.Interval(n)
	if p.Jitter < 0 {
		return d
	}
	f := 1 + p.Jitter*(2*p.Rand()-1)
	return time.Duration(float64(d) * f)
}

// Attempts returns how many attempts a run gets in all: the first and the retries.
func (p RetryPolicy) Attempts() int {
	return 1 + p.withDefaults().Retries
}

// Next returns when to make the attempt after the failed attempt number attempt (1 for the
// first) that ended at end, or nil when it was the last: the run then fails for good.
func (p RetryPolicy) Next(attempt int, end time.Time) *time.Time {
	p = p.withDefaults()
	if attempt > p.Retries {
		return nil
	}
	t := end.Add(p.Delay(attempt))
	return &t
}
