// Package support holds the operations support engineers perform — add, change, disable and
// remove destinations and targets, send a test file, re-send days, deliver a day now, read the
// history — once, for the command line, the admin API and the console alike. Input arrives as
// fields by their JSON names; every operation validates all of it before it changes anything,
// and its errors carry a Kind that each front end maps once (exit codes, HTTP statuses).
package support

import (
	"cmp"
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/eventexport/eventexport/delivery"
	"github.com/eventexport/eventexport/export"
	"github.com/eventexport/eventexport/export/schedule"
	"github.com/eventexport/eventexport/export/store"
)

// Config wires a Service.
type Config struct {
	Store    *store.Store
	Location *time.Location // the instance zone: days are read in it, and destinations' windows without a zone
	// Nightly is the instance's nightly rule (EVENTEXPORT_SCHEDULE), when day windows are due;
	// nil: as soon as they are over.
	Nightly schedule.Nightly
	Options delivery.Options // source address and time limits of deliveries
	Replica string           // recorded on the attempts this service makes
	Logger  *slog.Logger
	// Observe, when set, is told of every attempt made here (for metrics).
	Observe func(run store.Run, out export.Outcome, took time.Duration)
	Now     func() time.Time
}

// Service performs support's operations on one store.
type Service struct {
	cfg Config
}

// New returns a Service. Location defaults to UTC, Now to time.Now, Logger to discard.
func New(cfg Config) *Service {
	cfg.Location = cmp.Or(cfg.Location, time.UTC)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg}
}

// Store returns the service's store.
func (s *Service) Store() *store.Store { return s.cfg.Store }

// Location returns the instance zone.
func (s *Service) Location() *time.Location { return s.cfg.Location }

// runner makes attempts now, with logger for their log lines and connect, when not nil, in
// place of the transports' own sinks.
func (s *Service) runner(logger *slog.Logger, connect func(context.Context, store.Destination) (export.Sink, error)) *export.Runner {
	return export.NewRunner(export.RunnerConfig{
		Store: s.cfg.Store, Location: s.cfg.Location, Options: s.cfg.Options, Connect: connect,
		Now: s.cfg.Now, Logger: cmp.Or(logger, s.cfg.Logger), Replica: s.cfg.Replica, Observe: s.cfg.Observe,
	})
}

// needSealer refuses to store secrets without a usable key: the service's configuration is at
// fault, not the request.
func (s *Service) needSealer(t store.Target) error {
	if !t.HasSecretsToStore() {
		return nil
	}
	if err := s.cfg.Store.CanSeal(); err != nil {
		return configErr(err)
	}
	return nil
}

// defaultKind is the kind of a target described by fields without a URL.
const defaultKind = "sftp"

// transportFor returns the transport a target's input describes: by its URL's scheme, by
// its kind field, or the default kind.
func transportFor(in delivery.Input, kind string) (delivery.Transport, error) {
	var url string
	if err := in.Decode("url", &url); err != nil {
		return nil, err
	}
	if strings.TrimSpace(url) != "" {
		t, err := delivery.ForURL(url)
		if err != nil {
			return nil, fieldErr("url", err)
		}
		return t, nil
	}
	t, err := delivery.Lookup(cmp.Or(kind, defaultKind))
	if err != nil {
		return nil, fieldErr("kind", err)
	}
	return t, nil
}

// splitInput separates the fields of a request that the operation reads itself (generic)
// from the transport's, refusing a field neither knows.
func splitInput(in delivery.Input, generic []string, tr delivery.Transport) (own, transport delivery.Input, err error) {
	if err := in.CheckKnown(generic, tr.Fields()); err != nil {
		return nil, nil, err
	}
	return in.Only(generic), in.Only(tr.Fields()), nil
}

// transportOf returns the transport of a stored target.
func transportOf(t store.Target) (delivery.Transport, error) {
	tr, err := delivery.Lookup(t.Kind)
	if err != nil {
		return nil, configErr(err)
	}
	return tr, nil
}
