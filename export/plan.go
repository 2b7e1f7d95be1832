package export

import (
	"context"
	"log/slog"
	"time"

	"github.com/eventexport/eventexport/events"
	"github.com/eventexport/eventexport/export/file"
	"github.com/eventexport/eventexport/export/schedule"
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
	Location *time.Location // the instance zone, of destinations without one; default UTC
	// Schedule is the nightly rule: a day or week window without a send-after delay of its
	// own is due the first time the rule names at or after its end, on the wall clock of the
	// destination's zone: 2am for "0 2 * * *". A time the zone skips counts as reached when the
	// clock jumps past it, and no window is ever skipped. nil: as soon as it is over (for
	// "@every" rules).
	Schedule Schedule
	// CatchUpDays is how many days back a planner looks for due days without their runs
	// (the service was down): default 7. Older days are re-sent on request only.
	CatchUpDays int
	// Batch is how many destinations one statement reads; default 2000.
	Batch  int
	Now    func() time.Time
	Logger *slog.Logger
}

// Planner creates the scheduled runs of the windows that are due. It plans from the state of
// the database, not from the clock tick that woke it: every call creates, once, each missing
// run of an enabled destination, one of its event types and a due window within the catch-up
// days, never before the destination's start. Any number of planners (replicas, or a fire
// racing a start) may run at once: runs are unique per destination, event type and window.
//
// Each destination records how far it is planned and when its next window is due, so that a
// planning reads only the destinations with something to do: in batches of PlannerConfig.Batch,
// one statement to read a batch and one to create its runs and move its marks.
type Planner struct {
	cfg PlannerConfig
}

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
	if cfg.Batch <= 0 {
		cfg.Batch = 2000
	}
	return &Planner{cfg: cfg}
}

// Plan is what one planning did.
type Plan struct {
	Destinations int       // destinations looked at
	Created      int64     // runs created
	NextDue      time.Time // when the next window becomes due; zero when none is known
	Statements   int       // SQL statements sent
}

// ScheduleOf returns a destination's schedule, its zones resolved with the instance's.
func ScheduleOf(start events.Day, periods []schedule.Period, sendAfter *time.Duration, cfg PlannerConfig) schedule.Schedule {
	var nightly schedule.Nightly
	if cfg.Schedule != nil {
		nightly = cfg.Schedule
	}
	return schedule.Schedule{Start: start, Periods: periods, SendAfter: sendAfter, Default: cfg.Location, Nightly: nightly}
}

// Plan creates the missing scheduled runs of the due windows. Each run's file name is fixed
// here, by the same builder as every other run's, and it is due at once.
func (p *Planner) Plan(ctx context.Context) (Plan, error) {
	now := p.cfg.Now()
	horizon := now.AddDate(0, 0, -p.cfg.CatchUpDays)
	var plan Plan
	after := ""
	for {
		batch, err := p.cfg.Store.DestinationsToPlan(ctx, now, after, p.cfg.Batch)
		plan.Statements++
		if err != nil {
			return plan, err
		}
		if len(batch) == 0 {
			break
		}
		var runs []store.PlannedRun
		marks := make([]store.Planned, 0, len(batch))
		for _, d := range batch {
			rs, mark := p.planOne(d, now, horizon)
			runs = append(runs, rs...)
			marks = append(marks, mark)
		}
		created, err := p.cfg.Store.Plan(ctx, runs, marks, now)
		plan.Statements++
		if err != nil {
			return plan, err
		}
		plan.Created += created
		plan.Destinations += len(batch)
		if len(batch) < p.cfg.Batch {
			break
		}
		after = batch[len(batch)-1].ID
	}
	if plan.Created >= analyzeAfter {
		if err := p.cfg.Store.AnalyzeRuns(ctx); err != nil {
			return plan, err
		}
		plan.Statements++
	}
	next, err := p.cfg.Store.NextPlanAt(ctx)
	plan.Statements++
	if err != nil {
		return plan, err
	}
	plan.NextDue = next
	if plan.Created > 0 {
		p.cfg.Logger.Info("planned runs", slog.Int64("runs", plan.Created), slog.Int("destinations", plan.Destinations))
	}
	return plan, nil
}

// planOne returns the runs of d's windows due at now, from where its planning stands (not
// before horizon, nor its start), and its new mark.
func (p *Planner) planOne(d store.ToPlan, now, horizon time.Time) ([]store.PlannedRun, store.Planned) {
	mark := store.Planned{Destination: d.ID, ReadAt: d.UpdatedAt}
	log := p.cfg.Logger.With(slog.String("destination", d.ID))
	sch := ScheduleOf(d.StartDate, d.Schedule, d.SendAfter, p.cfg)
	if err := sch.Check(); err != nil {
		// Stored by a newer version, or a zone the system's database lost: look again later.
		log.Error("the destination's schedule cannot be read; it is not planned", slog.String("error", err.Error()))
		mark.NextPlanAt = now.Add(replanEvery)
		return nil, mark
	}
	var types []events.Type
	for _, name := range d.EventTypes {
		t, err := events.LookupType(name)
		if err != nil {
			log.Error("the destination names an unknown event type; it is left out", slog.String("error", err.Error()))
			continue
		}
		types = append(types, t)
	}
	from := sch.StartInstant()
	if d.PlannedUntil.After(from) {
		from = d.PlannedUntil
	}
	if horizon.After(from) {
		from = horizon
	}
	w, per, err := sch.WindowAt(from)
	if err != nil {
		log.Error("the destination's schedule cannot be read; it is not planned", slog.String("error", err.Error()))
		mark.NextPlanAt = now.Add(replanEvery)
		return nil, mark
	}
	var runs []store.PlannedRun
	for limit := 24*p.cfg.CatchUpDays + 48; limit > 0; limit-- {
		due := sch.Due(w, per)
		if due.After(now) {
			mark.NextPlanAt = due
			break
		}
		day := events.DayOf(w.Start, sch.Location(per))
		for _, t := range types {
			name, pattern := file.RunNames(file.NameInput{Type: t, Format: d.Format, Options: d.Options, Start: w.Start,
				Day: day.String(), Created: now, Destination: d.ID, Company: d.CompanyID})
			runs = append(runs, store.PlannedRun{Destination: d.ID, EventType: t.Name, Day: day, Window: w,
				Format: d.Format, Options: d.Options, FileName: name, PartPattern: pattern})
		}
		mark.PlannedUntil = w.End
		w, per = sch.After(w)
	}
	if mark.NextPlanAt.IsZero() {
		mark.NextPlanAt = now // more windows are due than one planning makes: go on at once
	}
	return runs, mark
}

// analyzeAfter is how many runs one planning creates before it refreshes the statistics of runs.
const analyzeAfter = 10_000

// replanEvery is how long a destination whose schedule cannot be read waits to be read again.
const replanEvery = 10 * time.Minute
