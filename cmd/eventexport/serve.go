package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/eventexport/eventexport/delivery"
	"github.com/eventexport/eventexport/export"
	"github.com/eventexport/eventexport/export/store"
)

// serveConfig is the configuration of the nightly service, read from the environment on top
// of the common one.
type serveConfig struct {
	config
	CatchUpDays int // EVENTEXPORT_CATCHUP_DAYS
	// LateCheckAfter is how long after a scheduled run is delivered its window's events are
	// counted again (EVENTEXPORT_LATE_CHECK_AFTER).
	LateCheckAfter time.Duration
	Retry          export.RetryPolicy
	Concurrency    int           // EVENTEXPORT_CONCURRENCY
	ShutdownGrace  time.Duration // EVENTEXPORT_SHUTDOWN_GRACE
	AlertWebhook   string        // EVENTEXPORT_ALERT_WEBHOOK
	Poll           time.Duration // EVENTEXPORT_POLL_INTERVAL
	LeaseMargin    time.Duration // EVENTEXPORT_LEASE_MARGIN: lease = attempt timeout + margin
}

// scheduleParser reads the schedule: five fields, or six with seconds first, or a descriptor
// such as @daily or @every 10s.
var scheduleParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

func loadServeConfig(getenv env) (serveConfig, error) {
	c, err := loadConfig(getenv)
	sc := serveConfig{config: c}
	if err != nil {
		return sc, err
	}
	if sc.LateCheckAfter, err = durationEnv(getenv, "EVENTEXPORT_LATE_CHECK_AFTER", 24*time.Hour); err != nil {
		return sc, err
	}
	if sc.CatchUpDays, err = intEnv(getenv, "EVENTEXPORT_CATCHUP_DAYS", 7, 1, 366); err != nil {
		return sc, err
	}
	sc.Retry = export.DefaultRetryPolicy()
	if sc.Retry.Initial, err = durationEnv(getenv, "EVENTEXPORT_RETRY_INITIAL", sc.Retry.Initial); err != nil {
		return sc, err
	}
	if sc.Retry.Max, err = durationEnv(getenv, "EVENTEXPORT_RETRY_MAX", sc.Retry.Max); err != nil {
		return sc, err
	}
	if sc.Retry.Max < sc.Retry.Initial {
		return sc, fmt.Errorf("EVENTEXPORT_RETRY_MAX (%s) is shorter than EVENTEXPORT_RETRY_INITIAL (%s)", sc.Retry.Max, sc.Retry.Initial)
	}
	if sc.Retry.Retries, err = intEnv(getenv, "EVENTEXPORT_RETRIES", 10, 0, 1000); err != nil {
		return sc, err
	}
	if sc.Retry.Retries == 0 {
		sc.Retry.Retries = -1 // none: the first attempt is the only one
	}
	if v := strings.TrimSpace(getenv("EVENTEXPORT_RETRY_JITTER")); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || f >= 1 {
			return sc, fmt.Errorf("EVENTEXPORT_RETRY_JITTER %q is not a fraction from 0 (none) to below 1 (e.g. 0.1 for ±10%%)", v)
		}
		sc.Retry.Jitter = f
		if f == 0 {
			sc.Retry.Jitter = -1
		}
	}
	if sc.Concurrency, err = intEnv(getenv, "EVENTEXPORT_CONCURRENCY", 32, 1, 1024); err != nil {
		return sc, err
	}
	if sc.ShutdownGrace, err = durationEnv(getenv, "EVENTEXPORT_SHUTDOWN_GRACE", 30*time.Second); err != nil {
		return sc, err
	}
	if sc.Poll, err = durationEnv(getenv, "EVENTEXPORT_POLL_INTERVAL", time.Second); err != nil {
		return sc, err
	}
	if sc.LeaseMargin, err = durationEnv(getenv, "EVENTEXPORT_LEASE_MARGIN", time.Minute); err != nil {
		return sc, err
	}
	sc.AlertWebhook = strings.TrimSpace(getenv("EVENTEXPORT_ALERT_WEBHOOK"))
	if sc.AlertWebhook != "" && !strings.HasPrefix(sc.AlertWebhook, "https://") && !strings.HasPrefix(sc.AlertWebhook, "http://") {
		return sc, fmt.Errorf("EVENTEXPORT_ALERT_WEBHOOK %q is not an http(s) URL", sc.AlertWebhook)
	}
	return sc, nil
}

// parseSchedule reads a schedule spec. The spec is read in EVENTEXPORT_TIMEZONE: a zone of its
// own (CRON_TZ=) is refused, so that one zone decides both when the job fires and which day
// it exports.
func parseSchedule(spec string) (cron.Schedule, export.Schedule, error) {
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		return nil, nil, fmt.Errorf("EVENTEXPORT_SCHEDULE %q names a time zone: leave it out; the schedule is read in EVENTEXPORT_TIMEZONE", spec)
	}
	s, err := scheduleParser.Parse(spec)
	if err != nil {
		return nil, nil, fmt.Errorf("EVENTEXPORT_SCHEDULE %q is not a cron schedule (e.g. \"0 2 * * *\", \"0 0 2 * * *\" with seconds, or \"@every 10s\"): %v", spec, err)
	}
	if _, every := s.(cron.ConstantDelaySchedule); every {
		return s, nil, nil
	}
	return s, s, nil
}

func intEnv(getenv env, name string, def, lo, hi int) (int, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s %q is not a whole number from %d to %d", name, v, lo, hi)
	}
	return n, nil
}

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	fs := newFlagSet("serve", stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: eventexport serve\n\nRuns the nightly exports and their retries until SIGTERM or SIGINT. Configuration comes from the environment (see README.md).")
	}
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	sc, err := loadServeConfig(getenv)
	if err != nil {
		return badUsage(err)
	}
	ac, err := loadAdminConfig(getenv)
	if err != nil {
		return badUsage(err)
	}
	replica := runnerReplica()
	logger := newServiceLogger(sc.config, stderr).With(slog.String("replica", replica))

	if _, err := migrate(ctx, sc.DatabaseURL); err != nil {
		return err
	}
	sc.PoolSize = sc.Concurrency + 4
	st, closeDB, err := openStore(ctx, sc.config)
	if err != nil {
		return err
	}
	defer closeDB()
	defer delivery.CloseIdle()
	// Every delivery would fail without the stored secrets: refuse to start, saying why.
	if err := st.CheckSecrets(ctx); err != nil {
		return badUsage(err)
	}
	reg, metrics, err := newMetrics(st, logger)
	if err != nil {
		return err
	}
	svc := newService(sc.config, st, logger, metrics.ObserveAttempt)
	adminSrv, err := startAdmin(ac, svc, reg, logger)
	if err != nil {
		return err
	}
	defer adminSrv.Stop()
	return serve(ctx, sc, st, metrics.ObserveAttempt, logger)
}

// serve runs the service on store until ctx ends, then stops gracefully: no new claims, the
// attempts in flight finish within the grace period or are cancelled (and due again), and
// waiting alerts are sent within what is left of it.
func serve(ctx context.Context, sc serveConfig, st *store.Store, observe func(store.Run, export.Outcome, time.Duration), logger *slog.Logger) error {
	runner := export.NewRunner(export.RunnerConfig{Store: st, Location: sc.Location, Options: sc.deliveryOptions(),
		Logger: logger, Replica: runnerReplica(), Observe: observe})
	alerter := export.NewAlerter(export.AlerterConfig{Logger: logger})
	planner := export.NewPlanner(export.PlannerConfig{Store: st, Location: sc.Location, Schedule: sc.Nightly,
		CatchUpDays: sc.CatchUpDays, Logger: logger})
	worker := export.NewWorker(export.WorkerConfig{Store: st, Runner: runner, Retry: sc.Retry, Concurrency: sc.Concurrency,
		Poll: sc.Poll, AttemptTimeout: sc.AttemptTimeout, Lease: sc.AttemptTimeout + sc.LeaseMargin,
		Replica: runnerReplica(), Logger: logger, Alerter: alerter, AlertURL: sc.AlertWebhook})
	worker.Start()

	// A cron fire only wakes the planner, which plans from the database: a fire that cron
	// skips (2am on a spring-forward day) or misses (the service was down) loses nothing.
	wake := make(chan struct{}, 1)
	cl := cronLogger{logger}
	c := cron.New(cron.WithLocation(sc.Location), cron.WithParser(scheduleParser), cron.WithLogger(cl),
		cron.WithChain(cron.Recover(cl), cron.SkipIfStillRunning(cl)))
	if _, err := c.AddFunc(sc.ScheduleSpec, func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}); err != nil {
		return badUsagef("EVENTEXPORT_SCHEDULE: %v", err)
	}
	c.Start()
	logger.Info("serving", slog.String("schedule", sc.ScheduleSpec), slog.String("timezone", sc.Location.String()),
		slog.Int("concurrency", sc.Concurrency), slog.Int("catchup_days", sc.CatchUpDays),
		slog.Int("retries", max(sc.Retry.Retries, 0)), slog.Duration("retry_initial", sc.Retry.Initial), slog.Duration("retry_max", sc.Retry.Max))

	late := export.NewLateChecker(export.LateCheckerConfig{Store: st, After: sc.LateCheckAfter, Alerter: alerter,
		AlertURL: sc.AlertWebhook, Logger: logger})
	planned := make(chan struct{})
	go func() {
		defer close(planned)
		planLoop(ctx, planner, worker, late, wake, sc.Poll, logger)
	}()

	<-ctx.Done()
	logger.Info("stopping: no new attempts; waiting for those in flight", slog.Duration("grace", sc.ShutdownGrace))
	<-c.Stop().Done()
	<-planned
	grace, cancel := context.WithTimeout(context.Background(), sc.ShutdownGrace)
	defer cancel()
	worker.Stop(grace)
	alerter.Close(grace)
	logger.Info("stopped")
	return nil
}

// planLoop plans at once, at every wake-up, when the next window becomes due (also when cron
// does not fire), and every poll interval (cheap: only destinations with a window due or a
// change are read), then wakes the worker; and it counts again the windows delivered a day
// ago. A failed planning is tried again soon.
func planLoop(ctx context.Context, planner *export.Planner, worker *export.Worker, late *export.LateChecker,
	wake <-chan struct{}, poll time.Duration, logger *slog.Logger) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	ticker := time.NewTicker(max(poll, time.Second))
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-timer.C:
		case <-ticker.C:
		}
		plan, err := planner.Plan(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			logger.Error("plan the due nights; trying again in 10s", slog.String("error", err.Error()))
			timer.Reset(10 * time.Second)
			continue
		}
		if plan.Created > 0 {
			worker.Wake()
		}
		if n, err := late.Check(ctx); err != nil && ctx.Err() == nil {
			logger.Error("count late events; trying again at the next planning", slog.String("error", err.Error()))
		} else if n > 0 {
			worker.Wake() // re-sends of windows
		}
		// Plan again a moment after the next window becomes due, whatever cron does.
		if plan.NextDue.IsZero() {
			timer.Reset(time.Minute)
		} else {
			timer.Reset(time.Until(plan.NextDue) + time.Second)
		}
	}
}

// runnerReplica names this process in leases and attempts.
func runnerReplica() string {
	hostname, _ := os.Hostname()
	return fmt.Sprintf("%s/%d", hostname, os.Getpid())
}

// cronLogger sends robfig/cron's log lines to slog.
type cronLogger struct{ l *slog.Logger }

func (c cronLogger) Info(msg string, kv ...any) { c.l.Debug("cron: "+msg, kv...) }
func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.l.Error("cron: "+msg, append(kv, "error", err.Error())...)
}
