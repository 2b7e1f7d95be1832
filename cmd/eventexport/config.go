package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/robfig/cron/v3"

	"github.com/eventexport/eventexport/delivery"
	"github.com/eventexport/eventexport/export"
	"github.com/eventexport/eventexport/export/store"
	"github.com/eventexport/eventexport/export/support"
	"github.com/eventexport/eventexport/migrations"
)

// config is the service's configuration, read from the environment.
type config struct {
	DatabaseURL    string
	Location       *time.Location
	Sealer         *store.Sealer // nil when EVENTEXPORT_SECRET_KEY is missing or malformed
	SealerErr      error         // why Sealer is nil
	ConnectTimeout time.Duration
	AttemptTimeout time.Duration
	SourceAddr     string
	ServerConns    int // EVENTEXPORT_SERVER_CONNECTIONS
	// PoolSize is the fewest database connections the pool may open (serve: one per attempt
	// in flight, and some for planning, claims and metrics); 0 keeps pgx's default.
	PoolSize  int
	LogFormat string     // EVENTEXPORT_LOG_FORMAT: json or text
	LogLevel  slog.Level // EVENTEXPORT_LOG_LEVEL
	// ScheduleSpec is EVENTEXPORT_SCHEDULE: when the service looks for due windows, and the
	// nightly rule of day and week windows without a send-after delay (Nightly; nil for
	// @every rules: due as soon as they are over).
	ScheduleSpec string
	Schedule     cron.Schedule
	Nightly      export.Schedule
}

// deliveryOptions are the service's delivery settings.
func (c config) deliveryOptions() delivery.Options {
	return delivery.Options{SourceAddr: c.SourceAddr, ConnectTimeout: c.ConnectTimeout, AttemptTimeout: c.AttemptTimeout,
		ServerConns: c.ServerConns}
}

// newService returns support's operations on st. observe, when not nil, is told of every
// attempt they make (metrics).
func newService(c config, st *store.Store, logger *slog.Logger, observe func(store.Run, export.Outcome, time.Duration)) *support.Service {
	return support.New(support.Config{Store: st, Location: c.Location, Nightly: c.Nightly, Options: c.deliveryOptions(),
		Replica: runnerReplica(), Logger: logger, Observe: observe})
}

// openServiceFromEnv reads the configuration and opens the store and support's operations on
// it: what every command that works on the database starts with.
func openServiceFromEnv(ctx context.Context, getenv env, stderr io.Writer) (config, *support.Service, func(), error) {
	c, st, closeDB, err := openStoreFromEnv(ctx, getenv)
	if err != nil {
		return c, nil, nil, err
	}
	return c, newService(c, st, newLogger(stderr), nil), closeDB, nil
}

// loadConfig reads the environment. A missing DATABASE_URL, an unknown zone or a malformed
// duration is an error; a missing or malformed secret key only matters once a secret is used.
func loadConfig(getenv env) (config, error) {
	var c config
	c.DatabaseURL = strings.TrimSpace(getenv("DATABASE_URL"))
	if c.DatabaseURL == "" {
		return c, errors.New("DATABASE_URL is not set: point it at the PostgreSQL database, e.g. postgres://user:pass@host:5432/db")
	}
	var err error
	if c.Location, err = loadLocation(getenv); err != nil {
		return c, err
	}
	c.ScheduleSpec = strings.TrimSpace(getenv("EVENTEXPORT_SCHEDULE"))
	if c.ScheduleSpec == "" {
		c.ScheduleSpec = "0 2 * * *"
	}
	if c.Schedule, c.Nightly, err = parseSchedule(c.ScheduleSpec); err != nil {
		return c, err
	}
	c.Sealer, c.SealerErr = loadSealer(getenv)
	if c.ConnectTimeout, err = durationEnv(getenv, "EVENTEXPORT_CONNECT_TIMEOUT", 60*time.Second); err != nil {
		return c, err
	}
	if c.AttemptTimeout, err = durationEnv(getenv, "EVENTEXPORT_ATTEMPT_TIMEOUT", 5*time.Minute); err != nil {
		return c, err
	}
	c.SourceAddr = strings.TrimSpace(getenv("EVENTEXPORT_SOURCE_ADDR"))
	if c.ServerConns, err = intEnv(getenv, "EVENTEXPORT_SERVER_CONNECTIONS", 4, 1, 64); err != nil {
		return c, err
	}
	if c.LogFormat, c.LogLevel, err = loadLogConfig(getenv); err != nil {
		return c, err
	}
	return c, nil
}

// loadSealer reads EVENTEXPORT_SECRET_KEY, the key secrets are sealed with, and
// EVENTEXPORT_SECRET_KEY_OLD, comma-separated keys that still open secrets sealed before a
// rotation. It returns why there is no sealer when there is none.
func loadSealer(getenv env) (*store.Sealer, error) {
	key, err := store.ParseSecretKey(getenv("EVENTEXPORT_SECRET_KEY"))
	if err != nil {
		return nil, err
	}
	var old [][]byte
	for i, s := range strings.Split(getenv("EVENTEXPORT_SECRET_KEY_OLD"), ",") {
		if strings.TrimSpace(s) == "" {
			continue
		}
		k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
		if err != nil || len(k) != 32 {
			return nil, fmt.Errorf("EVENTEXPORT_SECRET_KEY_OLD: key %d is not 32 bytes in base64; list the previous keys, comma-separated, as EVENTEXPORT_SECRET_KEY held them", i+1)
		}
		old = append(old, k)
	}
	return store.NewSealer(key, old...)
}

// loadLogConfig reads EVENTEXPORT_LOG_FORMAT (json, the default, or text) and
// EVENTEXPORT_LOG_LEVEL (debug, info, the default, warn or error).
func loadLogConfig(getenv env) (string, slog.Level, error) {
	format := strings.ToLower(strings.TrimSpace(getenv("EVENTEXPORT_LOG_FORMAT")))
	switch format {
	case "":
		format = "json"
	case "json", "text":
	default:
		return "", 0, fmt.Errorf("EVENTEXPORT_LOG_FORMAT %q: want json or text", format)
	}
	var level slog.Level
	if v := strings.TrimSpace(getenv("EVENTEXPORT_LOG_LEVEL")); v != "" {
		if err := level.UnmarshalText([]byte(v)); err != nil {
			return "", 0, fmt.Errorf("EVENTEXPORT_LOG_LEVEL %q: want debug, info, warn or error", v)
		}
	}
	return format, level, nil
}

// newServiceLogger is the log of a long-running command: one JSON object per line, or text
// for people at a terminal, at the configured level.
func newServiceLogger(c config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	if c.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func loadLocation(getenv env) (*time.Location, error) {
	name := strings.TrimSpace(getenv("EVENTEXPORT_TIMEZONE"))
	if name == "" {
		name = "America/New_York"
	}
	loc, err := time.LoadLocation(name)
	if err != nil || name == "Local" {
		return nil, fmt.Errorf("EVENTEXPORT_TIMEZONE %q is not a known IANA time zone (e.g. America/New_York, Europe/Berlin, UTC)", name)
	}
	return loc, nil
}

func durationEnv(getenv env, name string, def time.Duration) (time.Duration, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s %q is not a positive duration (e.g. 60s, 5m)", name, v)
	}
	return d, nil
}

// openStore connects to the database and checks that its schema is current.
func openStore(ctx context.Context, c config) (*store.Store, func(), error) {
	pcfg, err := pgxpool.ParseConfig(c.DatabaseURL)
	if err != nil {
		return nil, nil, badUsagef("DATABASE_URL: %v", err)
	}
	// Each attempt streams its events on a connection of its own: a pool smaller than the
	// attempts in flight would make them wait for each other. pool_max_conns in the URL wins.
	if !strings.Contains(c.DatabaseURL, "pool_max_conns") && pcfg.MaxConns < int32(c.PoolSize) {
		pcfg.MaxConns = int32(c.PoolSize)
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, nil, badUsagef("DATABASE_URL: %v", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	// Reading the schema version is also the check that the database answers.
	current, latest, err := migrations.Status(pctx, pool)
	if err != nil {
		pool.Close()
		return nil, nil, fmt.Errorf("connect to the database: %w", err)
	}
	if current < latest {
		pool.Close()
		return nil, nil, badUsagef("the database schema is at version %d of %d: run `eventexport migrate` first", current, latest)
	}
	return store.NewStore(pool, c.Sealer, c.SealerErr), pool.Close, nil
}

// openStoreFromEnv reads the configuration and opens the store: what every command that works
// on the database starts with. A configuration error is bad usage.
func openStoreFromEnv(ctx context.Context, getenv env) (config, *store.Store, func(), error) {
	c, err := loadConfig(getenv)
	if err != nil {
		return c, nil, nil, badUsage(err)
	}
	st, closeDB, err := openStore(ctx, c)
	return c, st, closeDB, err
}
