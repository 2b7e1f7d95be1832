package support

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/eventexport/eventexport/delivery"
	"github.com/eventexport/eventexport/events"
	"github.com/eventexport/eventexport/export"
	"github.com/eventexport/eventexport/export/schedule"
	"github.com/eventexport/eventexport/export/store"
)

// maxSendAfter bounds a destination's send-after delay: a file later than that is a mistake.
const maxSendAfter = 7 * 24 * time.Hour

// scheduleInput is a destination's schedule as given; nil is absent.
type scheduleInput struct {
	Every      *string `json:"every"`
	Timezone   *string `json:"timezone"`
	SendAfter  *string `json:"send_after"`
	LateEvents *string `json:"late_events"`
}

var scheduleFields = []string{"every", "timezone", "send_after", "late_events"}

func decodeSchedule(in delivery.Input) (scheduleInput, error) {
	var v scheduleInput
	for _, f := range []struct {
		name string
		dst  any
	}{{"every", &v.Every}, {"timezone", &v.Timezone}, {"send_after", &v.SendAfter}, {"late_events", &v.LateEvents}} {
		if err := in.Decode(f.name, f.dst); err != nil {
			return v, err
		}
	}
	return v, nil
}

func parseEvery(s string) (schedule.Every, error) {
	if strings.TrimSpace(s) == "" {
		return schedule.Day, nil
	}
	e, err := schedule.ParseEvery(s)
	if err != nil {
		return "", fieldErr("every", err)
	}
	return e, nil
}

// parseTimezone checks a zone name; "" is the instance's zone.
func (s *Service) parseTimezone(name string) (string, error) {
	name = strings.TrimSpace(name)
	if _, err := schedule.LoadZone(name, s.cfg.Location); err != nil {
		return "", fieldErr("timezone", err)
	}
	return name, nil
}

// parseSendAfter reads a delay such as "30m" or "6h"; "" is the default rule (nil).
func parseSendAfter(v string) (*time.Duration, error) {
	v = strings.TrimSpace(v)
	if v == "" || v == "default" {
		return nil, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || d > maxSendAfter || d%time.Second != 0 {
		return nil, invalid("send_after", "%q is not a delay from 0s to %s in whole seconds (such as 30m, 2h or 26h), or \"default\"", v, "168h")
	}
	return &d, nil
}

func parseLateEvents(v string) (string, error) {
	switch p := strings.ToLower(strings.TrimSpace(v)); p {
	case "":
		return store.LateReport, nil
	case store.LateIgnore, store.LateReport, store.LateResend:
		return p, nil
	}
	return "", invalid("late_events", "%q is not one of ignore, report or resend", v)
}

// plannerConfig is what the service knows of planning: the instance's zone and nightly rule.
func (s *Service) plannerConfig() export.PlannerConfig {
	return export.PlannerConfig{Location: s.cfg.Location, Schedule: s.cfg.Nightly}
}

// ScheduleOf returns the schedule of d.
func (s *Service) ScheduleOf(d store.Destination) schedule.Schedule {
	return export.ScheduleOf(d.StartDate, d.Schedule, d.SendAfter, s.plannerConfig())
}

// PlannedWindow is one window of a destination's schedule, for people.
type PlannedWindow struct {
	Start      time.Time `json:"start"` // UTC
	End        time.Time `json:"end"`
	StartLocal time.Time `json:"start_local"` // the same instants with the zone's offset
	EndLocal   time.Time `json:"end_local"`
	Local      string    `json:"local"` // "2026-03-08 00:00 EST to 2026-03-09 00:00 EDT"
	Timezone   string    `json:"timezone"`
	Every      string    `json:"every"`
	Hours      float64   `json:"hours"`
	Due        time.Time `json:"due"` // UTC
	DueLocal   string    `json:"due_local"`
}

// Windows returns n windows of destination id: from the window holding the first instant of
// day from in the destination's zone, or, when from is nil, from the window in progress now.
func (s *Service) Windows(ctx context.Context, id string, from *events.Day, n int) ([]PlannedWindow, error) {
	d, err := s.Destination(ctx, id)
	if err != nil {
		return nil, err
	}
	if n <= 0 || n > 10000 {
		return nil, invalid("next", "%d is not a number of windows from 1 to 10000", n)
	}
	sch := s.ScheduleOf(d)
	at := s.cfg.Now()
	if from != nil {
		at = from.Window(sch.Location(sch.Periods[len(sch.Periods)-1])).Start
		for _, p := range sch.Periods {
			if w := from.Window(sch.Location(p)); p.From.IsZero() || !w.Start.Before(p.From) {
				at = w.Start
			}
		}
	}
	if start := sch.StartInstant(); at.Before(start) {
		at = start
	}
	w, per, err := sch.WindowAt(at)
	if err != nil {
		return nil, configErr(err)
	}
	out := make([]PlannedWindow, 0, n)
	for range n {
		loc := sch.Location(per)
		due := sch.Due(w, per)
		out = append(out, PlannedWindow{Start: w.Start.UTC(), End: w.End.UTC(), StartLocal: w.Start.In(loc), EndLocal: w.End.In(loc),
			Local:    fmt.Sprintf("%s to %s", w.Start.In(loc).Format("2006-01-02 15:04 MST"), w.End.In(loc).Format("2006-01-02 15:04 MST")),
			Timezone: loc.String(), Every: string(cmpEvery(per.Every)), Hours: w.Duration().Hours(),
			Due: due.UTC(), DueLocal: due.In(loc).Format("2006-01-02 15:04 MST")})
		w, per = sch.After(w)
	}
	return out, nil
}

func cmpEvery(e schedule.Every) schedule.Every {
	if e == "" {
		return schedule.Day
	}
	return e
}

// scheduleFieldsOf shows a destination's schedule: its cadence and zone now, a change to come,
// the send-after delay and the late-events rule.
func scheduleFieldsOf(d store.Destination, instance *time.Location, now time.Time) []delivery.Field {
	cur, next := d.Schedule[0], schedule.Period{}
	for _, p := range d.Schedule {
		if p.From.IsZero() || !p.From.After(now) {
			cur = p
		} else if next.From.IsZero() {
			next = p
		}
	}
	zoneName := func(z string) string {
		switch {
		case z != "":
			return z
		case instance != nil:
			return instance.String()
		}
		return "" // the instance's
	}
	zone := zoneName(cur.Zone)
	out := []delivery.Field{
		{Name: "every", Label: "every", Value: string(cmpEvery(cur.Every)), Text: string(cmpEvery(cur.Every))},
		{Name: "timezone", Label: "time zone", Value: zone, Text: cmp.Or(zone, "the instance's (EVENTEXPORT_TIMEZONE)")},
	}
	if !next.From.IsZero() {
		nz := zoneName(next.Zone)
		out = append(out, delivery.Field{Name: "schedule_change", Label: "schedule change",
			Value: map[string]any{"from": next.From.UTC(), "every": string(cmpEvery(next.Every)), "timezone": nz},
			Text:  fmt.Sprintf("every %s in %s from %s", cmpEvery(next.Every), nz, next.From.UTC().Format(time.RFC3339))})
	}
	if d.SendAfter != nil {
		out = append(out, delivery.Field{Name: "send_after", Label: "send after", Value: d.SendAfter.String(), Text: d.SendAfter.String()})
	} else {
		text := "default (day and week windows at 2am by the nightly schedule, shorter ones 15m after they end)"
		out = append(out, delivery.Field{Name: "send_after", Label: "send after", Value: "default", Text: text})
	}
	return append(out, delivery.Field{Name: "late_events", Label: "late events", Value: d.LateEvents, Text: d.LateEvents})
}

// scheduleUpdate adds to u the schedule fields given in in. A new cadence or zone takes effect
// at the end of the window in progress (at once before the destination's start); the send-after
// delay and the late-events rule at once.
func (s *Service) scheduleUpdate(d store.Destination, in delivery.Input, u *store.DestinationUpdate) error {
	v, err := decodeSchedule(in.Only(scheduleFields))
	if err != nil {
		return err
	}
	if v.Every != nil || v.Timezone != nil {
		sch := s.ScheduleOf(d)
		now := s.cfg.Now()
		last := sch.Periods[len(sch.Periods)-1]
		every, zone := cmpEvery(last.Every), last.Zone
		if v.Every != nil {
			if every, err = parseEvery(*v.Every); err != nil {
				return err
			}
		}
		if v.Timezone != nil {
			if zone, err = s.parseTimezone(*v.Timezone); err != nil {
				return err
			}
		}
		if u.StartDate != nil {
			sch.Start = *u.StartDate
		}
		u.Schedule = sch.Change(now, every, zone)
	}
	if v.SendAfter != nil {
		if u.SendAfter, err = parseSendAfter(*v.SendAfter); err != nil {
			return err
		}
		u.SetSendAfter = true
	}
	if v.LateEvents != nil {
		p, err := parseLateEvents(*v.LateEvents)
		if err != nil {
			return err
		}
		u.LateEvents = &p
	}
	return nil
}

// View returns the view of d, its schedule shown in the instance's zone where it has none.
func (s *Service) View(d store.Destination) DestinationView {
	v := ViewDestination(d)
	v.Schedule = scheduleFieldsOf(d, s.cfg.Location, s.cfg.Now())
	return v
}

// windowsOfDays returns the windows of d that overlap days (consecutive, in the destination's
// zone), in order, and the zone of each. Days before the destination's start are whole days in
// its first zone.
func (s *Service) windowsOfDays(d store.Destination, days []events.Day) ([]events.Window, func(events.Window) *time.Location) {
	sch := s.ScheduleOf(d)
	first := sch.Location(sch.Periods[0])
	start := sch.StartInstant()
	zoneAt := func(t time.Time) *time.Location {
		loc := first
		for _, p := range sch.Periods {
			if p.From.IsZero() || !t.Before(p.From) {
				loc = sch.Location(p)
			}
		}
		return loc
	}
	locOf := func(w events.Window) *time.Location { return zoneAt(w.Start) }
	if len(days) == 0 {
		return nil, locOf
	}
	var out []events.Window
	// The days' bounds, each read in the zone in effect then.
	from := days[0].Window(zoneAt(days[0].Window(first).Start)).Start
	last := days[len(days)-1]
	to := last.Window(zoneAt(last.Window(first).Start)).End
	for _, day := range days {
		if w := day.Window(first); w.Start.Before(start) {
			end := w.End
			if start.Before(end) {
				end = start
			}
			out = append(out, events.Window{Start: w.Start, End: end})
			if from.Before(end) {
				from = end
			}
		}
	}
	if from.Before(start) {
		from = start
	}
	if !from.Before(to) {
		return out, locOf
	}
	w, _, err := sch.WindowAt(from)
	for ; err == nil && w.Start.Before(to); w, _ = sch.After(w) {
		out = append(out, w)
	}
	return out, locOf
}

// ScheduleText is the destination's schedule for people: its windows, their zone, when their
// files are due, and a change to come.
func (v DestinationView) ScheduleText() string {
	value := func(name string) string {
		for _, f := range v.Schedule {
			if f.Name == name {
				return fmt.Sprint(f.Value)
			}
		}
		return ""
	}
	every, zone := value("every"), value("timezone")
	text := "every " + every + " in " + cmp.Or(zone, "the instance's zone")
	if after := value("send_after"); after != "" && after != "default" {
		text += ", due " + after + " after each window"
	} else if every == string(schedule.Day) || every == string(schedule.Week) {
		text += ", due at the nightly time"
	} else {
		text += ", due 15m after each window"
	}
	for _, f := range v.Schedule {
		if f.Name == "schedule_change" {
			text += "; then " + f.Text
		}
	}
	return text
}
