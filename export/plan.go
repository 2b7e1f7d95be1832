package export

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/eventexport/eventexport/events"
	"github.com/eventexport/eventexport/export/store"
)

// Schedule is the nightly job's rule on the wall clock: a cron.Schedule parsed without a zone
// of its own satisfies it.
type Schedule interface {
	Next(time.Time) time.Time
}

// PlannerConfig wires a Planner.
type PlannerConfig struct {
	Store    *store.Store
	Location *time.Location // the instance zone; default UTC
	// Schedule is the nightly job's rule. Day D is due once the instance zone's clock has
	// passed the first time the rule names on or after local midnight of D+1: 2am of D+1 for
	// "0 2 * * *". The rule is read on the wall clock, so a time the zone skips (2:30 on a
	// spring-forward day) counts as reached when the clock jumps past it, and no day is ever
	// skipped. nil: a day is due as soon as it is over (for "@every" rules).
	Schedule Schedule
	// CatchUpDays is how many days back a planner looks for due days without their runs
	// (the service was down): default 7. Older days are re-sent on request only.
	CatchUpDays int
	Now         func() time.Time
	Logger      *slog.Logger
}

// Planner creates the scheduled runs of the days that are due. It plans from the state of
// the database, not from the clock tick that woke it: every call creates, once, each missing
// run of an enabled destination, one of its event types and a due day within the catch-up
// window, never before the destination's start date. Any number of planners (replicas, or a
// fire racing a start) may run at once: runs are unique per destination, event type and day.
type Planner struct {
	cfg PlannerConfig

	mu       sync.Mutex
	lastKey  string    // the due days and destinations of the last complete planning
	lastPlan time.Time // when it was made
}

// replanEvery is how long a planner trusts that nothing changed when nothing seems to have.
const replanEvery = 10 * time.Minute

// NewPlanner returns a Planner.
func NewPlanner(cfg PlannerConfig) *Planner {
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.CatchUpDays <= 0 {
		cfg.CatchUpDays = 7
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Planner{cfg: cfg}
}

// DueAt returns the instant day d becomes due: when its file may be made.
func (p *Planner) DueAt(d events.Day) time.Time {
	next := d.AddDays(1)
	midnight := next.Window(p.cfg.Location).Start
	if p.cfg.Schedule == nil {
		return midnight
	}
	// Read the rule on a clock without daylight-saving changes (UTC stands in for the
	// wall clock), then place the wall time found in the zone. A wall time in a gap moves
	// forward with the clock; one that happens twice is taken the first time.
	wall := p.cfg.Schedule.Next(time.Date(next.Year, next.Month, next.Day, 0, 0, 0, 0, time.UTC).Add(-time.Second))
	if wall.IsZero() {
		return midnight
	}
	t := time.Date(wall.Year(), wall.Month(), wall.Day(), wall.Hour(), wall.Minute(), wall.Second(), 0, p.cfg.Location)
	if h, m, s := t.Clock(); h != wall.Hour() || m != wall.Minute() || s != wall.Second() {
		// The wall time does not exist: it is passed when the clock jumps over it.
		_, t = t.ZoneBounds()
	}
	return maxTime(t, midnight)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Plan is what one planning did.
type Plan struct {
	Days    []events.Day // the due days of the catch-up window, oldest first
	Created int64        // runs created
	NextDue time.Time    // when the next day becomes due
}

// DueDays returns the days of the catch-up window that are due at now, oldest first, and the
// instant the next day becomes due.
func (p *Planner) DueDays(now time.Time) ([]events.Day, time.Time) {
	today := events.DayOf(now, p.cfg.Location)
	var days []events.Day
	next := p.DueAt(today)
	for i := p.cfg.CatchUpDays; i >= 1; i-- {
		d := today.AddDays(-i)
		if at := p.DueAt(d); at.After(now) {
			if at.Before(next) {
				next = at
			}
			continue
		}
		days = append(days, d)
	}
	return days, next
}

// Plan creates the missing scheduled runs of the due days, in two statements whatever the
// number of destinations (one finds what is missing, one inserts it). Each run's file name is
// fixed here, by the same builder as every other run's, and it is due at once.
func (p *Planner) Plan(ctx context.Context) (Plan, error) {
	now := p.cfg.Now()
	days, next := p.DueDays(now)
	plan := Plan{Days: days, NextDue: next}
	if len(days) == 0 {
		return plan, nil
	}
	// Planning is cheap to call often: when neither the due days nor any destination changed
	// since the last complete planning, there is nothing to do. A destination added with an
	// earlier start date is thus backfilled at the next call, not the next night.
	fp, err := p.cfg.Store.PlanFingerprint(ctx)
	if err != nil {
		return plan, err
	}
	key := fmt.Sprint(days, fp)
	p.mu.Lock()
	unchanged := key == p.lastKey && now.Sub(p.lastPlan) < replanEvery && !now.Before(p.lastPlan)
	p.mu.Unlock()
	if unchanged {
		return plan, nil
	}
	windows := make([]events.Window, len(days))
	for i, d := range days {
		windows[i] = d.Window(p.cfg.Location)
	}
	created, err := p.cfg.Store.PlanScheduledRuns(ctx, days, windows, events.Types(), now)
	if err != nil {
		return plan, fmt.Errorf("plan runs of %s to %s: %w", days[0], days[len(days)-1], err)
	}
	plan.Created = created
	p.mu.Lock()
	p.lastKey, p.lastPlan = key, now
	p.mu.Unlock()
	if plan.Created > 0 {
		p.cfg.Logger.Info("planned runs", slog.Int64("runs", plan.Created),
			slog.String("from", days[0].String()), slog.String("to", days[len(days)-1].String()))
	}
	return plan, nil
}
