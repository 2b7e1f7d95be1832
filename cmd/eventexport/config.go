package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/eventexport/eventexport/export"
)

// config is the service's configuration, read from the environment.
type config struct {
	DatabaseURL    string
	Location       *time.Location
	Sealer         *export.Sealer // nil when EVENTEXPORT_SECRET_KEY is missing or malformed
	SealerErr      error          // why Sealer is nil
	ConnectTimeout time.Duration
	AttemptTimeout time.Duration
	SourceAddr     string
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
	if key, err := export.ParseSecretKey(getenv("EVENTEXPORT_SECRET_KEY")); err != nil {
		c.SealerErr = err
	} else if c.Sealer, err = export.NewSealer(key); err != nil {
		c.SealerErr = err
	}
	if c.ConnectTimeout, err = durationEnv(getenv, "EVENTEXPORT_CONNECT_TIMEOUT", 60*time.Second); err != nil {
		return c, err
	}
	if c.AttemptTimeout, err = durationEnv(getenv, "EVENTEXPORT_ATTEMPT_TIMEOUT", 5*time.Minute); err != nil {
		return c, err
	}
	c.SourceAddr = strings.TrimSpace(getenv("EVENTEXPORT_SOURCE_ADDR"))
	return c, nil
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
func openStore(ctx context.Context, c config) (*export.Store, func(), error) {
	pool, err := pgxpool.New(ctx, c.DatabaseURL)
	if err != nil {
		return nil, nil, badUsagef("DATABASE_URL: %v", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, nil, fmt.Errorf("connect to the database: %w", err)
	}
	return export.NewStore(pool, c.Sealer, c.SealerErr), pool.Close, nil
}
