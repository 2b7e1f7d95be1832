package export

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/robfig/cron/v3"

	"github.com/eventexport/eventexport/delivery"
	"github.com/eventexport/eventexport/events"
	"github.com/eventexport/eventexport/export/file"
	"github.com/eventexport/eventexport/export/schedule"
	"github.com/eventexport/eventexport/export/store"
	"github.com/eventexport/eventexport/migrations/pgtest"
)

var newYork = mustLoad("America/New_York")

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

func day(s string) events.Day {
	d, err := events.ParseDay(s)
	if err != nil {
		panic(err)
	}
	return d
}

// wall returns the instant of a wall-clock time in New York.
func wall(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", s, newYork)
	if err != nil {
		panic(err)
	}
	return t
}

func parseSchedule(t testing.TB, spec string) Schedule {
	t.Helper()
	p := cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
	s, err := p.Parse(spec)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// clock is a fake clock that tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// addTestDestination stores a destination of company on a target without secrets.
func addTestDestination(t testing.TB, s *store.Store, start events.Day, format file.Format) store.Destination {
	t.Helper()
	d, err := s.AddDestination(context.Background(), store.NewDestination{
		CompanyID: uuid.NewString(), Target: store.Target{Target: delivery.Target{Kind: "test", Settings: []byte(`{}`)}},
		Format: format, EventTypes: []string{events.CourseComplete.Name}, StartDate: start,
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

type plannedRun struct {
	Day        string
	Start, End time.Time
	FileName   string
	CreatedAt  time.Time
	Next       time.Time
	Status     string
}

func runsOf(t testing.TB, s *store.Store, destID string) []plannedRun {
	t.Helper()
	rows, err := s.DB().Query(context.Background(), `SELECT day::text, window_start, window_end, file_name, created_at,
		next_attempt_at, status FROM runs WHERE destination_id = $1 AND kind = 'scheduled' ORDER BY window_start`, destID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []plannedRun
	for rows.Next() {
		var r plannedRun
		if err := rows.Scan(&r.Day, &r.Start, &r.End, &r.FileName, &r.CreatedAt, &r.Next, &r.Status); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func newTestPlanner(s *store.Store, c *clock, spec Schedule) *Planner {
	return NewPlanner(PlannerConfig{Store: s, Location: newYork, Schedule: spec, Now: c.Now})
}

func TestDueAt(t *testing.T) {
	t.Parallel()
	daily := parseSchedule(t, "0 2 * * *")
	for _, tc := range []struct {
		name string
		spec Schedule
		day  string
		want time.Time
	}{
		{"ordinary day", daily, "2026-06-10", wall("2026-06-11 02:00")},
		// 2:00 does not exist on 2026-03-08: the day before is due when the clock jumps to 3:00.
		{"fire on spring-forward day", daily, "2026-03-07", time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC)},
		{"spring-forward day itself", daily, "2026-03-08", wall("2026-03-09 02:00")},
		{"fire on fall-back day", daily, "2026-10-31", time.Date(2026, 11, 1, 7, 0, 0, 0, time.UTC)},
		{"fall-back day itself", daily, "2026-11-01", wall("2026-11-02 02:00")},
		{"fire on 2027 spring-forward day", daily, "2027-03-13", time.Date(2027, 3, 14, 7, 0, 0, 0, time.UTC)},
		{"seconds", parseSchedule(t, "30 15 1 * * *"), "2026-06-10", wall("2026-06-11 01:15").Add(30 * time.Second)},
		{"1:30 happens twice: the first", parseSchedule(t, "30 1 * * *"), "2026-10-31", time.Date(2026, 11, 1, 5, 30, 0, 0, time.UTC)},
		{"no rule: when the day is over", nil, "2026-03-08", wall("2026-03-09 00:00")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := NewPlanner(PlannerConfig{Location: newYork, Schedule: tc.spec})
			if got := dueAt(p, day(tc.day)); !got.Equal(tc.want) {
				t.Errorf("DueAt(%s) = %s, want %s", tc.day, got.In(newYork), tc.want.In(newYork))
			}
		})
	}
}

var fileNameRE = regexp.MustCompile(`^courseCompletion-(\d+)_(\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d)-[0-9a-z]{7}\.(json|csv)$`)

// Walking a fake clock in 10-minute steps over the US daylight-saving changes of 2026 and
// 2027, planning at every step, gives exactly one run per day, each made at the first step
// after its due time, with the day's 23, 24 or 25 hours and a well-formed file name.
func TestPlanOverDaylightSavingChanges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		first string // the first day planned: the destination's start date
		dst   string // the day of the change
		hours time.Duration
	}{
		{"2026 spring forward", "2026-03-05", "2026-03-08", 23},
		{"2026 fall back", "2026-10-29", "2026-11-01", 25},
		{"2027 spring forward", "2027-03-11", "2027-03-14", 23},
		{"2027 fall back", "2027-11-04", "2027-11-07", 25},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A planner plans every destination in its database: each change gets its own.
			t.Parallel()
			s := store.NewStore(pgtest.New(t).Pool, nil, nil)
			dest := addTestDestination(t, s, day(tc.first), file.FormatJSON)
			c := &clock{}
			p := newTestPlanner(s, c, parseSchedule(t, "0 2 * * *"))
			step := 10 * time.Minute
			start := day(tc.first).Window(newYork).Start
			end := day(tc.first).AddDays(7).Window(newYork).Start
			for now := start; now.Before(end); now = now.Add(step) {
				c.Set(now)
				if _, err := p.Plan(ctx); err != nil {
					t.Fatal(err)
				}
			}
			runs := runsOf(t, s, dest.ID)
			if len(runs) != 6 {
				t.Fatalf("%d runs for the 6 days %s to %s; want one each: %+v", len(runs), tc.first, day(tc.first).AddDays(5), runs)
			}
			for i, r := range runs {
				d := day(tc.first).AddDays(i)
				if r.Day != d.String() {
					t.Errorf("run %d is of %s, want %s", i, r.Day, d)
				}
				w := d.Window(newYork)
				if !r.Start.Equal(w.Start) || !r.End.Equal(w.End) {
					t.Errorf("%s: window [%s, %s), want %s", d, r.Start, r.End, w)
				}
				want := 24 * time.Hour
				if d.String() == tc.dst {
					want = tc.hours * time.Hour
				}
				if got := r.End.Sub(r.Start); got != want {
					t.Errorf("%s: window of %s, want %s", d, got, want)
				}
				due := dueAt(p, d)
				if r.CreatedAt.Before(due) || r.CreatedAt.Sub(due) >= step {
					t.Errorf("%s: planned at %s, want within %s after it became due at %s", d,
						r.CreatedAt.In(newYork), step, due.In(newYork))
				}
				if local := r.CreatedAt.In(newYork); local.Hour() < 2 || local.Hour() > 3 || events.DayOf(local, newYork) != d.AddDays(1) {
					t.Errorf("%s: planned at %s; want between 2am and 4am the next day", d, local)
				}
				m := fileNameRE.FindStringSubmatch(r.FileName)
				if m == nil {
					t.Fatalf("%s: file name %q is not <prefix>-<unix>_<created>-<random>.json", d, r.FileName)
				}
				if m[1] != strconv.FormatInt(w.Start.Unix(), 10) {
					t.Errorf("%s: file name %s starts the day at %s, want %d", d, r.FileName, m[1], w.Start.Unix())
				}
				if m[2] != r.CreatedAt.UTC().Format("2006-01-02T15-04-05") {
					t.Errorf("%s: file name %s created at %s, want %s", d, r.FileName, m[2], r.CreatedAt.UTC())
				}
				if !r.Next.Equal(r.CreatedAt) || r.Status != "pending" {
					t.Errorf("%s: %s, next attempt %s; want pending and due at creation", d, r.Status, r.Next)
				}
			}
		})
	}
}

// The SQL-made file name matches FileName's for a CSV destination, too.
func TestPlanFileNameMatchesFileName(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	s := store.NewStore(db.Pool, nil, nil)
	dest := addTestDestination(t, s, day("2026-06-01"), file.FormatCSV)
	now := wall("2026-06-02 02:00").Add(17*time.Second + 500*time.Millisecond)
	p := newTestPlanner(s, &clock{t: now}, parseSchedule(t, "0 2 * * *"))
	if _, err := p.Plan(context.Background()); err != nil {
		t.Fatal(err)
	}
	runs := runsOf(t, s, dest.ID)
	if len(runs) != 1 {
		t.Fatalf("%d runs, want 1", len(runs))
	}
	want := file.Name(events.CourseComplete, file.FormatCSV, day("2026-06-01").Window(newYork).Start, now)
	got := runs[0].FileName
	if len(got) != len(want) || got[:len(got)-11] != want[:len(want)-11] || got[len(got)-4:] != ".csv" {
		t.Errorf("file name %q; want it shaped as %q", got, want)
	}
}

// After a 3-day outage the next planning creates the 3 missed days at once; after a longer
// one, the catch-up window's 7.
func TestPlanCatchesUpMissedNights(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	s := store.NewStore(db.Pool, nil, nil)
	ctx := context.Background()
	dest := addTestDestination(t, s, day("2026-01-01"), file.FormatJSON)
	c := &clock{t: wall("2026-06-10 02:05")}
	p := newTestPlanner(s, c, parseSchedule(t, "0 2 * * *"))

	plan, err := p.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Created != 7 || len(runsOf(t, s, dest.ID)) != 7 {
		t.Fatalf("first start planned %d runs, want the catch-up window's 7", plan.Created)
	}
	if want := wall("2026-06-11 02:00"); !plan.NextDue.Equal(want) {
		t.Errorf("next due %s, want %s", plan.NextDue, want)
	}
	c.Set(wall("2026-06-13 09:00")) // down on the 11th, 12th and 13th at 2am
	if plan, err = p.Plan(ctx); err != nil {
		t.Fatal(err)
	}
	if plan.Created != 3 {
		t.Errorf("after a 3-day outage planned %d runs, want 3", plan.Created)
	}
	runs := runsOf(t, s, dest.ID)
	if last := runs[len(runs)-1].Day; len(runs) != 10 || last != "2026-06-12" {
		t.Errorf("%d runs up to %s, want 10 up to 2026-06-12", len(runs), last)
	}
	c.Set(wall("2026-06-13 09:01"))
	if plan, err = p.Plan(ctx); err != nil || plan.Created != 0 {
		t.Errorf("planning again created %d runs (%v), want none", plan.Created, err)
	}
}

// A destination starts on its start date: added mid-week without one (today), its first
// file comes the next night; with an earlier one, the days since are planned at once.
// Disabled destinations get nothing.
func TestPlanRespectsStartDateAndEnabled(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	s := store.NewStore(db.Pool, nil, nil)
	ctx := context.Background()
	c := &clock{t: wall("2026-06-10 11:00")} // a Wednesday
	p := newTestPlanner(s, c, parseSchedule(t, "0 2 * * *"))
	today := addTestDestination(t, s, day("2026-06-10"), file.FormatJSON)
	monday := addTestDestination(t, s, day("2026-06-08"), file.FormatCSV)
	disabled := addTestDestination(t, s, day("2026-06-01"), file.FormatJSON)
	if err := s.SetDestinationEnabled(ctx, disabled.ID, false); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Plan(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(runsOf(t, s, today.ID)); n != 0 {
		t.Errorf("destination starting today: %d runs on its first day, want 0", n)
	}
	if runs := runsOf(t, s, monday.ID); len(runs) != 2 || runs[0].Day != "2026-06-08" || runs[1].Day != "2026-06-09" {
		t.Errorf("destination starting Monday, added Wednesday: runs %+v, want Monday's and Tuesday's", runs)
	}
	c.Set(wall("2026-06-11 02:00"))
	if _, err := p.Plan(ctx); err != nil {
		t.Fatal(err)
	}
	if runs := runsOf(t, s, today.ID); len(runs) != 1 || runs[0].Day != "2026-06-10" {
		t.Errorf("next night: runs %+v, want the start date's", runs)
	}
	if n := len(runsOf(t, s, disabled.ID)); n != 0 {
		t.Errorf("disabled destination got %d runs, want 0", n)
	}
}

// Planners racing each other (replicas, or a start racing a fire) create each run once.
func TestPlanRacingPlannersCreateEachRunOnce(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	s := store.NewStore(db.Pool, nil, nil)
	ctx := context.Background()
	for range 20 {
		addTestDestination(t, s, day("2026-01-01"), file.FormatJSON)
	}
	c := &clock{t: wall("2026-06-10 02:30")}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var created int64
	for range 8 {
		wg.Go(func() {
			p := newTestPlanner(s, c, parseSchedule(t, "0 2 * * *"))
			for range 5 {
				plan, err := p.Plan(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				created += plan.Created
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	var n, distinct int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT (destination_id, day)) FROM runs`).Scan(&n, &distinct); err != nil {
		t.Fatal(err)
	}
	if want := 20 * 7; n != want || distinct != want || created != int64(want) {
		t.Errorf("racing planners: %d runs (%d distinct), %d reported created; want %d", n, distinct, created, want)
	}
}

// addManyDestinations adds n destinations on one target in one statement.
func addManyDestinations(tb testing.TB, db *pgtest.DB, n int) {
	tb.Helper()
	_, err := db.Pool.Exec(context.Background(), `
		WITH t AS (INSERT INTO targets (kind, settings) VALUES ('test', '{}') RETURNING id)
		INSERT INTO destinations (company_id, target_id, format, event_types, start_date)
		SELECT gen_random_uuid(), t.id, 'json', ARRAY['courseComplete'], '2026-01-01' FROM t, generate_series(1, $1::int)`, n)
	if err != nil {
		tb.Fatal(err)
	}
}

// A night's planning for 10,000 destinations creates every run in two statements. Its speed is
// measured by BenchmarkPlanNight.
func TestPlanTenThousandDestinations(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("slow")
	}
	db := pgtest.New(t)
	s := store.NewStore(db.Pool, nil, nil)
	addManyDestinations(t, db, 10000)
	c := &clock{t: wall("2026-06-03 02:00")}
	p := newTestPlanner(s, c, parseSchedule(t, "0 2 * * *"))
	if _, err := p.Plan(context.Background()); err != nil { // the first start: a week of catch-up
		t.Fatal(err)
	}
	c.Set(wall("2026-06-04 02:00"))
	plan, err := p.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if plan.Created != 10000 {
		t.Errorf("planned %d runs, want 10000", plan.Created)
	}
}

// BenchmarkPlanNight plans one night of 10,000 destinations per iteration.
func BenchmarkPlanNight(b *testing.B) {
	db := pgtest.New(b)
	s := store.NewStore(db.Pool, nil, nil)
	addManyDestinations(b, db, 10000)
	c := &clock{t: wall("2026-06-03 02:00")}
	p := newTestPlanner(s, c, parseSchedule(b, "0 2 * * *"))
	if _, err := p.Plan(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		c.Set(wall("2026-06-04 02:00").AddDate(0, 0, i))
		plan, err := p.Plan(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if plan.Created != 10000 {
			b.Fatalf("planned %d runs, want 10000", plan.Created)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/night")
}

func ExampleRetryPolicy_Interval() {
	p := DefaultRetryPolicy()
	var total time.Duration
	for n := 1; n <= p.Retries; n++ {
		total += p.Interval(n)
		if n > 1 {
			fmt.Print(" ")
		}
		fmt.Print(p.Interval(n).Seconds())
	}
	fmt.Println()
	fmt.Printf("last retry %.1f hours after the first attempt\n", total.Hours())
	// Output:
	// 20 40 80 160 320 640 1280 2560 3600 3600
	// last retry 3.4 hours after the first attempt
}

// dueAt returns when the file of day d is due for a destination with the default schedule: a
// day window in the instance zone, without a send-after delay of its own.
func dueAt(p *Planner, d events.Day) time.Time {
	sch := ScheduleOf(d, []schedule.Period{{Every: schedule.Day}}, nil, p.cfg)
	w, per, err := sch.WindowAt(sch.StartInstant())
	if err != nil {
		return time.Time{}
	}
	return sch.Due(w, per)
}
