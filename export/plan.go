package export

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/eventexport/eventexport/events"
)

// Schedule is the nightly job's rule on the wall clock: a cron.Schedule parsed without a zone
// of its own satisfies it.
type Schedule interface {
	Next(time.Time) time.Time
}

// PlannerConfig wires a Planner.
type PlannerConfig struct {
	Store    *Store
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

// Plan creates the missing scheduled runs of the due days, in one statement whatever the
// number of destinations. Each run's file name is fixed here, and it is due at once.
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
	var fp string
	if err := p.cfg.Store.db.QueryRow(ctx, fingerprintSQL).Scan(&fp); err != nil {
		return plan, fmt.Errorf("read destinations: %w", err)
	}
	key := fmt.Sprint(days, fp)
	p.mu.Lock()
	unchanged := key == p.lastKey && now.Sub(p.lastPlan) < replanEvery && !now.Before(p.lastPlan)
	p.mu.Unlock()
	if unchanged {
		return plan, nil
	}
	dayArg := make([]string, len(days))
	starts := make([]time.Time, len(days))
	ends := make([]time.Time, len(days))
	unix := make([]int64, len(days))
	for i, d := range days {
		w := d.Window(p.cfg.Location)
		dayArg[i], starts[i], ends[i], unix[i] = d.String(), w.Start, w.End, w.Start.Unix()
	}
	var names, prefixes []string
	for _, t := range events.Types() {
		names = append(names, t.Name)
		prefixes = append(prefixes, t.FilePrefix)
	}
	tag, err := p.cfg.Store.db.Exec(ctx, planSQL, now, dayArg, starts, ends, unix, names, prefixes,
		now.UTC().Format("2006-01-02T15-04-05"))
	if err != nil {
		return plan, fmt.Errorf("plan runs of %s to %s: %w", days[0], days[len(days)-1], err)
	}
	plan.Created = tag.RowsAffected()
	p.mu.Lock()
	p.lastKey, p.lastPlan = key, now
	p.mu.Unlock()
	if plan.Created > 0 {
		p.cfg.Logger.Info("planned runs", slog.Int64("runs", plan.Created),
			slog.String("from", days[0].String()), slog.String("to", days[len(days)-1].String()))
	}
	return plan, nil
}

// planSQL creates every missing scheduled run of (enabled destination, event type, due day)
// at once. The anti-join skips what exists cheaply; ON CONFLICT settles a race with another
// planner. File names are FileName's, made here row by row:
// <prefix>-<unix of the day's start>_<creation in UTC>-<7 random [0-9a-z]>.<format>.
var planSQL = `
INSERT INTO runs (destination_id, event_type, day, window_start, window_end, kind, status, format,
	file_name, next_attempt_at, created_at, updated_at)
SELECT d.id, t.name, w.day, w.window_start, w.window_end, 'scheduled', 'pending', d.format,
	t.prefix || '-' || w.unix || '_' || $8::text || '-' || ` + randomNameSQL(7) + ` || '.' || d.format,
	$1, $1, $1
FROM destinations d
CROSS JOIN unnest($2::date[], $3::timestamptz[], $4::timestamptz[], $5::bigint[]) AS w(day, window_start, window_end, unix)
JOIN unnest($6::text[], $7::text[]) AS t(name, prefix) ON t.name = ANY (d.event_types)
WHERE d.enabled AND w.day >= d.start_date
	AND NOT EXISTS (SELECT 1 FROM runs r
		WHERE r.destination_id = d.id AND r.event_type = t.name AND r.day = w.day AND r.kind = 'scheduled')
ON CONFLICT (destination_id, event_type, day) WHERE kind = 'scheduled' DO NOTHING`

// fingerprintSQL sums a hash of what planning reads of each destination: any destination
// added, enabled, disabled or changed changes it.
const fingerprintSQL = `SELECT count(*) || '/' || coalesce(sum(hashtext(id::text || enabled::text || start_date::text ||
	event_types::text || format || updated_at::text)), 0) FROM destinations`

// randomNameSQL is an SQL expression of n characters drawn uniformly from nameAlphabet,
// evaluated anew for each row.
func randomNameSQL(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf("substr('%s', 1 + floor(random() * %d)::int, 1)", nameAlphabet, len(nameAlphabet))
	}
	return "(" + strings.Join(parts, " || ") + ")"
}

// QueueRuns records runs a worker attempts as soon as possible (re-sends), all or none. Each
// gets a file name of its own. It returns their ids, in the order given.
func (s *Store) QueueRuns(ctx context.Context, nrs []NewRun) ([]string, error) {
	n := len(nrs)
	dests, types, days, kinds, formats, names := make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n)
	starts, ends, nexts := make([]time.Time, n), make([]time.Time, n), make([]time.Time, n)
	for i, nr := range nrs {
		w := nr.Day.Window(nr.Location)
		dests[i], types[i], days[i], kinds[i], formats[i] = nr.Destination.ID, nr.Type.Name, nr.Day.String(),
			string(nr.Kind), string(nr.Destination.Format)
		names[i] = FileName(nr.Type, nr.Destination.Format, w.Start, nr.Now)
		starts[i], ends[i] = w.Start, w.End
		nexts[i] = nr.Now
		if nr.NextAttempt != nil {
			nexts[i] = *nr.NextAttempt
		}
	}
	rows, err := s.db.Query(ctx, `
		INSERT INTO runs (destination_id, event_type, day, window_start, window_end, kind, status, format,
			file_name, next_attempt_at, created_at, updated_at)
		SELECT destination_id, event_type, day, window_start, window_end, kind, 'pending', format,
			file_name, next_attempt_at, $11, $11
		FROM unnest($1::uuid[], $2::text[], $3::date[], $4::timestamptz[], $5::timestamptz[], $6::text[],
			$7::text[], $8::text[], $9::timestamptz[], $10::int[])
			AS n(destination_id, event_type, day, window_start, window_end, kind, format, file_name, next_attempt_at, ord)
		ORDER BY ord
		RETURNING id`, dests, types, days, starts, ends, kinds, formats, names, nexts, ordinals(n), nowOf(nrs))
	if err != nil {
		return nil, fmt.Errorf("queue runs: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("queue runs: %w", err)
	}
	return ids, nil
}

func ordinals(n int) []int32 {
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(i)
	}
	return out
}

func nowOf(nrs []NewRun) time.Time {
	if len(nrs) == 0 {
		return time.Now()
	}
	return nrs[0].Now
}

// RunFilter selects runs to list.
type RunFilter struct {
	DestinationID string    // "" for all
	Status        RunStatus // "" for all
	Limit         int       // 0 for no limit
}

// Runs lists runs, the latest day first, and for a day the latest created first.
func (s *Store) Runs(ctx context.Context, f RunFilter) ([]Run, error) {
	limit := any(nil)
	if f.Limit > 0 {
		limit = f.Limit
	}
	rows, err := s.db.Query(ctx, `SELECT `+runColumns+` FROM runs
		WHERE ($1 = '' OR destination_id::text = $1) AND ($2 = '' OR status = $2)
		ORDER BY day DESC, created_at DESC, id
		LIMIT $3`, f.DestinationID, string(f.Status), limit)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Run, error) { return scanRun(row) })
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	return out, nil
}

// AttemptsOf returns the attempts of several runs, first first, by run id.
func (s *Store) AttemptsOf(ctx context.Context, runIDs []string) (map[string][]Attempt, error) {
	rows, err := s.db.Query(ctx, `SELECT run_id::text, number, started_at, finished_at, outcome, events, bytes, error, error_class, permanent
		FROM attempts WHERE run_id = ANY ($1::uuid[]) ORDER BY run_id, number`, runIDs)
	if err != nil {
		return nil, fmt.Errorf("read attempts: %w", err)
	}
	defer rows.Close()
	out := make(map[string][]Attempt, len(runIDs))
	for rows.Next() {
		var id string
		var a Attempt
		if err := rows.Scan(&id, &a.Number, &a.StartedAt, &a.FinishedAt, &a.Outcome, &a.Events, &a.Bytes, &a.Error, &a.ErrorClass, &a.Permanent); err != nil {
			return nil, fmt.Errorf("read attempts: %w", err)
		}
		out[id] = append(out[id], a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read attempts: %w", err)
	}
	return out, nil
}
