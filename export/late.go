package export

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/eventexport/eventexport/export/store"
)

// AlertLateEvents is the alert of events that arrived after their window was delivered.
const AlertLateEvents AlertKind = "late_events"

// LateCheckerConfig wires a LateChecker.
type LateCheckerConfig struct {
	Store *store.Store
	// After is how long after a scheduled run is delivered its window is counted again;
	// default 24 hours.
	After    time.Duration
	Alerter  *Alerter // nil: no alerts
	AlertURL string   // the instance's webhook, beside each destination's
	Now      func() time.Time
	Logger   *slog.Logger
}

// LateChecker counts again, once, the events of each scheduled run's window about a day after
// it was delivered, and acts on the events that arrived late by the destination's rule:
// report them in an alert, re-send the window, or only record them.
type LateChecker struct{ cfg LateCheckerConfig }

// NewLateChecker returns a LateChecker.
func NewLateChecker(cfg LateCheckerConfig) *LateChecker {
	if cfg.After <= 0 {
		cfg.After = 24 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &LateChecker{cfg: cfg}
}

// lateBatch is how many runs one statement checks.
const lateBatch = 500

// Check checks the runs that are due for it and returns how many had late events.
func (c *LateChecker) Check(ctx context.Context) (int, error) {
	found := 0
	for {
		now := c.cfg.Now()
		late, checked, err := c.cfg.Store.CheckLate(ctx, now.Add(-c.cfg.After), lateBatch, now)
		if err != nil {
			return found, err
		}
		for _, l := range late {
			found++
			c.act(ctx, l, now)
		}
		if checked < lateBatch {
			return found, nil
		}
	}
}

func (c *LateChecker) act(ctx context.Context, l store.LateRun, now time.Time) {
	log := c.cfg.Logger.With(slog.String("destination", l.Run.DestinationID), slog.String("run", l.Run.ID),
		slog.String("event_type", l.Run.EventType), slog.String("window", l.Run.Window.String()), slog.Int64("late_events", l.Late))
	switch l.Policy {
	case store.LateIgnore:
		log.Info("events arrived after their window was delivered; the destination ignores them")
		return
	case store.LateResend:
		if l.Resend == "" {
			log.Warn("events arrived after their window was delivered; the destination is gone")
			return
		}
		log.Info("events arrived after their window was delivered; the window is re-sent", slog.String("resend_run", l.Resend))
		return
	}
	log.Warn("events arrived after their window was delivered")
	if c.cfg.Alerter == nil {
		return
	}
	d, err := c.cfg.Store.Destination(ctx, l.Run.DestinationID)
	if err != nil {
		log.Warn("events arrived after their window was delivered; the destination is gone", slog.String("error", err.Error()))
		return
	}
	c.cfg.Alerter.Send(lateAlert(d, l, now), c.cfg.AlertURL, d.AlertURL)
}

// lateAlert reports events that arrived after their window was delivered.
func lateAlert(d store.Destination, l store.LateRun, at time.Time) Alert {
	r := l.Run
	a := Alert{Kind: AlertLateEvents, Destination: d.ID, DestinationName: d.Name, Company: d.CompanyID, Run: r.ID,
		RunKind: r.Kind, Day: r.Day.String(), EventType: r.EventType, FileName: r.FileName, LateEvents: l.Late,
		WindowStart: r.Window.Start.UTC().Format(time.RFC3339), WindowEnd: r.Window.End.UTC().Format(time.RFC3339), At: at}
	a.Text = fmt.Sprintf(":warning: eventexport: %d %s events of the window %s to %s arrived after its file %s was delivered to destination %s (company %s). Re-send the window with `eventexport resend %s --from %s --to %s` if the customer needs them.",
		l.Late, r.EventType, a.WindowStart, a.WindowEnd, r.FileName, destinationLabel(d), d.CompanyID, d.ID, r.Day, r.Day)
	return a
}
