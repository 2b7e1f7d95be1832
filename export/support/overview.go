package support

import (
	"cmp"
	"context"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/eventexport/eventexport/delivery"
	"github.com/eventexport/eventexport/events"
	"github.com/eventexport/eventexport/export/store"
)

// Health is where a destination stands, as support reads it at a glance.
type Health string

// The healths of a destination, worst first.
const (
	// HealthFailed: a run failed for good and nothing was delivered since.
	HealthFailed Health = "failed"
	// HealthRetrying: a run's latest attempt failed and it waits for its next one.
	HealthRetrying Health = "retrying"
	// HealthHealthy: nothing is failing.
	HealthHealthy Health = "healthy"
	// HealthDisabled: nothing is planned for it.
	HealthDisabled Health = "disabled"
)

// Healths lists the healths, worst first.
var Healths = []Health{HealthFailed, HealthRetrying, HealthHealthy, HealthDisabled}

// DestinationStatus is a destination with where it stands: the answer to "where is last
// night's file?" for the console's overview (and any other front end).
type DestinationStatus struct {
	DestinationView
	// Host is the server files go to (a host name, or a web service's host).
	Host   string
	Health Health
	// LastFile is the delivered file of the latest day, tests aside.
	LastFile *store.DeliveredFile
	// NextRun is when the destination is next attempted: a pending run's next attempt or
	// the next planning of the schedule, whichever comes first; nil when disabled.
	NextRun *time.Time
	// FailingSince is the first failed attempt of what is failing now; nil when healthy.
	FailingSince *time.Time
	// LastError is the latest failed attempt's error in plain words, LastErrorClass its class
	// and FailedSide the side that failed, while failing.
	LastError, LastErrorClass, FailedSide string
}

// Overview returns every destination with its status, failing ones first (failed, then
// retrying), then by company and name.
func (s *Service) Overview(ctx context.Context) ([]DestinationStatus, error) {
	ds, err := s.Destinations(ctx)
	if err != nil {
		return nil, err
	}
	health, err := s.cfg.Store.Health(ctx)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	out := make([]DestinationStatus, 0, len(ds))
	for _, d := range ds {
		out = append(out, s.status(d, health[d.ID], now))
	}
	slices.SortStableFunc(out, func(a, b DestinationStatus) int {
		return cmp.Or(cmp.Compare(slices.Index(Healths, a.Health), slices.Index(Healths, b.Health)),
			cmp.Compare(a.CompanyID, b.CompanyID), cmp.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)),
			cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// Status returns one destination with its status.
func (s *Service) Status(ctx context.Context, id string) (DestinationStatus, error) {
	d, err := s.Destination(ctx, id)
	if err != nil {
		return DestinationStatus{}, err
	}
	health, err := s.cfg.Store.Health(ctx)
	if err != nil {
		return DestinationStatus{}, err
	}
	return s.status(d, health[d.ID], s.cfg.Now()), nil
}

// status is where d stands, from its health.
func (s *Service) status(d store.Destination, h store.DestinationHealth, now time.Time) DestinationStatus {
	v := s.View(d)
	st := DestinationStatus{DestinationView: v, Host: hostOf(v), LastFile: h.LastDelivered, Health: HealthHealthy}
	switch {
	case !d.Enabled:
		st.Health = HealthDisabled
	case h.FailingSince != nil:
		st.Health = HealthFailed
	case h.Retrying > 0:
		st.Health = HealthRetrying
	}
	if st.Health == HealthFailed || st.Health == HealthRetrying {
		st.FailingSince = cmp.Or(h.TroubleSince, h.FailingSince)
		st.LastError, st.LastErrorClass = h.LastError, h.LastErrorClass
		st.FailedSide = FailureSide(h.LastErrorClass)
	}
	if d.Enabled {
		st.NextRun = h.NextAttemptAt
		sch := s.ScheduleOf(d)
		at := now
		if start := sch.StartInstant(); at.Before(start) {
			at = start
		}
		// The file of the window in progress, when it is due.
		if w, per, err := sch.WindowAt(at); err == nil {
			if due := sch.Due(w, per); st.NextRun == nil || due.Before(*st.NextRun) {
				st.NextRun = &due
			}
		}
	}
	return st
}

// hostOf is the server of a destination's view: its host setting, or its URL's host.
func hostOf(v DestinationView) string {
	if h, ok := Setting(v.Settings, "host"); ok && h != "" {
		return h
	}
	if u, err := url.Parse(v.URL); err == nil {
		return u.Hostname()
	}
	return ""
}

// FailureSide says, for people, which side a delivery error of class came from: the
// customer's server, the network between, the destination's settings or this service.
func FailureSide(class string) string {
	switch delivery.Class(class) {
	case "":
		return ""
	case delivery.ClassRefused, delivery.ClassTimeout, delivery.ClassConnLost:
		return "the network or the customer's server"
	case delivery.ClassAuth, delivery.ClassHostKeyUnknown, delivery.ClassHostKeyMismatch, delivery.ClassPermission,
		delivery.ClassNoSuchDir, delivery.ClassIncompatible, delivery.ClassServer, delivery.ClassRejected, delivery.ClassCertificate:
		return "the customer's server"
	case delivery.ClassConfig:
		return "the destination's settings"
	case delivery.ClassSource:
		return "this service: reading the events"
	case delivery.ClassCanceled:
		return "this service: the attempt was stopped"
	}
	return "unknown"
}

// Mark is what became of one window of a destination, for its timeline.
type Mark string

// The marks of a window.
const (
	MarkDelivered Mark = "delivered" // every event type's file of the window is delivered
	MarkRetrying  Mark = "retrying"  // a file failed an attempt and waits for the next
	MarkFailed    Mark = "failed"    // a file failed for good
	MarkWaiting   Mark = "waiting"   // a file is queued and not yet attempted
	MarkNone      Mark = "none"      // no run (yet): before the start date, or not yet due
	MarkLate      Mark = "late"      // delivered, and events of the window arrived after it was
)

// Window is one window of a destination's timeline and its mark.
type Window struct {
	Day        events.Day // the local day of its start
	Start, End time.Time
	Label      string // its bounds on the destination's clock, for people
	Mark       Mark
	// Runs counts the window's runs (re-sends included, tests aside).
	Runs int
	// LateEvents counts events that arrived after the window was delivered, once counted.
	LateEvents int64
}

// Timeline returns the destination's last n windows of its schedule, the latest last: those
// over by now, and the one in progress when it has a run (a re-send).
func (s *Service) Timeline(ctx context.Context, id string, n int) ([]Window, error) {
	d, err := s.Destination(ctx, id)
	if err != nil {
		return nil, err
	}
	types := max(len(d.EventTypes), 1)
	runs, err := s.cfg.Store.Runs(ctx, store.RunFilter{DestinationID: d.ID, Limit: 4 * n * types})
	if err != nil {
		return nil, err
	}
	byStart := map[int64][]store.Run{}
	for _, r := range runs {
		if r.Kind != store.KindTest {
			byStart[r.Window.Start.Unix()] = append(byStart[r.Window.Start.Unix()], r)
		}
	}
	// Windows before the start date are shown too, in its first cadence and zone: a re-send
	// of an earlier day has its mark there.
	sch := s.ScheduleOf(d)
	sch.Start = sch.Start.AddDays(-7*n - 1)
	now := s.cfg.Now()
	start := sch.StartInstant()
	if now.Before(start) {
		return []Window{}, nil
	}
	w, per, err := sch.WindowAt(now)
	if err != nil {
		return nil, configErr(err)
	}
	if len(byStart[w.Start.Unix()]) == 0 {
		if !w.Start.After(start) {
			return []Window{}, nil
		}
		w, per, _ = sch.WindowAt(w.Start.Add(-time.Nanosecond))
	}
	out := make([]Window, n)
	i := n - 1
	for ; i >= 0; i-- {
		loc := sch.Location(per)
		rs := byStart[w.Start.Unix()]
		tw := Window{Day: events.DayOf(w.Start, loc), Start: w.Start, End: w.End, Mark: markOf(rs), Runs: len(rs),
			Label: w.Start.In(loc).Format("2006-01-02 15:04") + " to " + w.End.In(loc).Format("2006-01-02 15:04 MST")}
		for _, r := range rs {
			if r.LateEvents != nil && *r.LateEvents > 0 {
				tw.LateEvents += *r.LateEvents
				if tw.Mark == MarkDelivered {
					tw.Mark = MarkLate
				}
			}
		}
		out[i] = tw
		if !w.Start.After(start) {
			break
		}
		w, per, err = sch.WindowAt(w.Start.Add(-time.Nanosecond))
		if err != nil {
			break
		}
	}
	return out[max(i, 0):], nil
}

// markOf is the mark of a window from its runs, the latest of each day first: the latest
// run of each event type decides.
func markOf(runs []store.Run) Mark {
	if len(runs) == 0 {
		return MarkNone
	}
	seen := map[string]bool{}
	mark := MarkDelivered
	rank := map[Mark]int{MarkDelivered: 0, MarkWaiting: 1, MarkRetrying: 2, MarkFailed: 3}
	for _, r := range runs {
		if seen[r.EventType] {
			continue
		}
		seen[r.EventType] = true
		m := MarkDelivered
		switch {
		case r.Status == store.StatusFailed:
			m = MarkFailed
		case r.Status != store.StatusDelivered && r.Attempts > 0 && r.LastError != "":
			m = MarkRetrying
		case r.Status != store.StatusDelivered:
			m = MarkWaiting
		}
		if rank[m] > rank[mark] {
			mark = m
		}
	}
	return mark
}
