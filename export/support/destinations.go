package support

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/eventexport/eventexport/delivery"
	"github.com/eventexport/eventexport/events"
	"github.com/eventexport/eventexport/export/file"
	"github.com/eventexport/eventexport/export/schedule"
	"github.com/eventexport/eventexport/export/store"
)

// destinationFields are the fields of a destination that are not its target's.
var destinationFields = []string{"name", "company_id", "target_id", "kind", "path", "format", "event_types",
	"start_date", "alert_url", "compress", "encrypt_to", "max_file_size", "max_rows", "manifest", "name_template",
	"every", "timezone", "send_after", "late_events"}

// destinationInput is a destination's own fields as given; nil is absent.
type destinationInput struct {
	Name       *string   `json:"name"`
	CompanyID  *string   `json:"company_id"`
	TargetID   *string   `json:"target_id"`
	Kind       *string   `json:"kind"`
	Path       *string   `json:"path"`
	Format     *string   `json:"format"`
	EventTypes *[]string `json:"event_types"`
	StartDate  *string   `json:"start_date"`
	AlertURL   *string   `json:"alert_url"`

	Compress     *string          `json:"compress"`
	EncryptTo    *string          `json:"encrypt_to"`
	MaxFileSize  *json.RawMessage `json:"max_file_size"` // bytes, or a size with a unit: "15MB"
	MaxRows      *int64           `json:"max_rows"`
	Manifest     *bool            `json:"manifest"`
	NameTemplate *string          `json:"name_template"`
}

func decodeDestination(in delivery.Input) (destinationInput, error) {
	var v destinationInput
	for _, f := range []struct {
		name string
		dst  any
	}{
		{"name", &v.Name}, {"company_id", &v.CompanyID}, {"target_id", &v.TargetID}, {"kind", &v.Kind},
		{"path", &v.Path}, {"format", &v.Format}, {"event_types", &v.EventTypes}, {"start_date", &v.StartDate},
		{"alert_url", &v.AlertURL}, {"compress", &v.Compress}, {"encrypt_to", &v.EncryptTo},
		{"max_file_size", &v.MaxFileSize}, {"max_rows", &v.MaxRows}, {"manifest", &v.Manifest},
		{"name_template", &v.NameTemplate},
	} {
		if err := in.Decode(f.name, f.dst); err != nil {
			return v, err
		}
	}
	return v, nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func parseFormat(s string) (file.Format, error) {
	if s == "" {
		names := formatNames()
		want := strings.Join(names, " or ")
		if len(names) > 2 {
			want = strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
		}
		return "", invalid("format", "is required: %s", want)
	}
	f, err := file.ParseFormat(s)
	if err != nil {
		return "", fieldErr("format", err)
	}
	return f, nil
}

func formatNames() []string {
	var out []string
	for _, f := range file.Formats() {
		out = append(out, string(f))
	}
	return out
}

func parseEventTypes(names []string) ([]string, error) {
	if len(names) == 0 {
		names = []string{events.CourseComplete.Name}
	}
	types, err := events.ParseTypes(strings.Join(names, ","))
	if err != nil {
		return nil, fieldErr("event_types", err)
	}
	out := make([]string, 0, len(types))
	for _, t := range types {
		out = append(out, t.Name)
	}
	return out, nil
}

func parseAlertURL(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s != "" && !strings.HasPrefix(s, "https://") && !strings.HasPrefix(s, "http://") {
		return "", invalid("alert_url", "%q is not an http(s) URL", s)
	}
	return s, nil
}

func parseTargetID(s string) (string, error) {
	id, err := store.ParseUUID("target", s)
	if err != nil {
		return "", fieldErr("target_id", err)
	}
	return id, nil
}

// unknownTarget is a target_id that names no shared target.
func unknownTarget(id string) error {
	return &Error{Kind: KindUnknownReference, Code: "unknown_target", Field: "target_id",
		Err: &delivery.FieldError{Field: "target_id", Err: fmt.Errorf("no shared target with id %q", id)}}
}

// AddDestination validates in and stores the destination it describes: a company's event
// types in a format, delivered to a target given by URL (and its fields) or to a shared
// target (target_id). The default start date is today, whose file comes tonight.
func (s *Service) AddDestination(ctx context.Context, in delivery.Input) (store.Destination, error) {
	v, err := decodeDestination(in.Only(destinationFields))
	if err != nil {
		return store.Destination{}, err
	}
	tr, err := transportFor(in, deref(v.Kind))
	if err != nil {
		return store.Destination{}, err
	}
	_, tin, err := splitInput(in, destinationFields, tr)
	if err != nil {
		return store.Destination{}, err
	}
	nd := store.NewDestination{Name: strings.TrimSpace(deref(v.Name)), Path: strings.TrimSpace(deref(v.Path))}
	if deref(v.CompanyID) == "" {
		return store.Destination{}, invalid("company_id", "is required")
	}
	if nd.CompanyID, err = store.ParseUUID("company", *v.CompanyID); err != nil {
		return store.Destination{}, fieldErr("company_id", err)
	}
	if nd.Format, err = parseFormat(deref(v.Format)); err != nil {
		return store.Destination{}, err
	}
	var names []string
	if v.EventTypes != nil {
		if len(*v.EventTypes) == 0 {
			return store.Destination{}, invalid("event_types", "must name at least one event type")
		}
		names = *v.EventTypes
	}
	if nd.EventTypes, err = parseEventTypes(names); err != nil {
		return store.Destination{}, err
	}
	if v.StartDate != nil && *v.StartDate != "" {
		if nd.StartDate, err = events.ParseDay(*v.StartDate); err != nil {
			return store.Destination{}, fieldErr("start_date", err)
		}
	} else {
		nd.StartDate = events.DayOf(s.cfg.Now(), s.cfg.Location)
	}
	if nd.AlertURL, err = parseAlertURL(deref(v.AlertURL)); err != nil {
		return store.Destination{}, err
	}
	if nd.Options, err = s.fileOptions(file.Options{}, v); err != nil {
		return store.Destination{}, err
	}
	sv, err := decodeSchedule(in.Only(scheduleFields))
	if err != nil {
		return store.Destination{}, err
	}
	every, err := parseEvery(deref(sv.Every))
	if err != nil {
		return store.Destination{}, err
	}
	zone, err := s.parseTimezone(deref(sv.Timezone))
	if err != nil {
		return store.Destination{}, err
	}
	nd.Schedule = []schedule.Period{{Every: every, Zone: zone}}
	if nd.SendAfter, err = parseSendAfter(deref(sv.SendAfter)); err != nil {
		return store.Destination{}, err
	}
	if nd.LateEvents, err = parseLateEvents(deref(sv.LateEvents)); err != nil {
		return store.Destination{}, err
	}
	if deref(v.TargetID) != "" {
		if given(tin) {
			return store.Destination{}, invalid("target_id", "a destination on a shared target takes its server, credentials and host key from the target: give either a target or a URL")
		}
		if nd.TargetID, err = parseTargetID(*v.TargetID); err != nil {
			return store.Destination{}, err
		}
	} else {
		if nd.Path != "" {
			return store.Destination{}, invalid("path", "is for destinations on a shared target; put the directory in the URL")
		}
		if !given(tin) {
			return store.Destination{}, invalid("url", "is required (or a shared target)")
		}
		t, err := tr.Configure(nil, tin)
		if err != nil {
			return store.Destination{}, err
		}
		nd.Target = store.Target{Target: t}
		if err := s.needSealer(nd.Target); err != nil {
			return store.Destination{}, err
		}
	}
	d, err := s.cfg.Store.AddDestination(ctx, nd)
	if errors.Is(err, store.ErrNotFound) {
		return d, unknownTarget(deref(v.TargetID))
	}
	return d, err
}

// given reports whether in holds a field with a value other than null or "".
func given(in delivery.Input) bool {
	for _, raw := range in {
		if s := strings.TrimSpace(string(raw)); s != "null" && s != `""` {
			return true
		}
	}
	return false
}

// UpdateDestination changes the fields given in in, with the same validation as
// AddDestination; a field absent stays as it is. The target's fields change the destination's
// own target (a URL of another kind replaces it); on a shared target they are refused: the
// shared target is changed with UpdateTarget. target_id moves the destination onto a shared
// target. A change takes effect from the next run.
func (s *Service) UpdateDestination(ctx context.Context, id string, in delivery.Input) (store.Destination, error) {
	d, err := s.Destination(ctx, id)
	if err != nil {
		return d, err
	}
	if len(in) == 0 {
		return d, invalid("name", "nothing to update: give at least one field")
	}
	v, err := decodeDestination(in.Only(destinationFields))
	if err != nil {
		return d, err
	}
	current, err := transportOf(d.Target)
	if err != nil {
		return d, err
	}
	tr := current
	if _, ok := in["url"]; ok {
		if tr, err = transportFor(in, ""); err != nil {
			return d, err
		}
	}
	_, tin, err := splitInput(in, destinationFields, tr)
	if err != nil {
		return d, err
	}
	if v.CompanyID != nil {
		return d, invalid("company_id", "cannot change: a destination belongs to one company; add a destination for the other company")
	}
	if v.Kind != nil {
		return d, invalid("kind", "cannot change by itself: give a URL of the other kind")
	}
	var u store.DestinationUpdate
	if v.Name != nil {
		name := strings.TrimSpace(*v.Name)
		u.Name = &name
	}
	if v.Format != nil {
		f, err := parseFormat(*v.Format)
		if err != nil {
			return d, err
		}
		u.Format = &f
	}
	if v.EventTypes != nil {
		if len(*v.EventTypes) == 0 {
			return d, invalid("event_types", "must name at least one event type")
		}
		if u.EventTypes, err = parseEventTypes(*v.EventTypes); err != nil {
			return d, err
		}
	}
	if v.StartDate != nil {
		day, err := events.ParseDay(*v.StartDate)
		if err != nil {
			return d, fieldErr("start_date", err)
		}
		u.StartDate = &day
	}
	if v.AlertURL != nil {
		a, err := parseAlertURL(*v.AlertURL)
		if err != nil {
			return d, err
		}
		u.AlertURL = &a
	}
	if opts, err := s.fileOptions(d.Options, v); err != nil {
		return d, err
	} else if opts != d.Options {
		u.Options = &opts
	}
	if err := s.scheduleUpdate(d, in, &u); err != nil {
		return d, err
	}
	onShared := d.Target.Shared
	switch {
	case v.TargetID != nil:
		if given(tin) {
			return d, invalid("target_id", "a destination on a shared target takes its server, credentials and host key from the target: give either a target or a URL")
		}
		tid, err := parseTargetID(*v.TargetID)
		if err != nil {
			return d, err
		}
		u.SharedTargetID = &tid
		onShared = true
	case len(tin) > 0 && (d.Target.Shared || tr.Kind() != current.Kind()):
		if _, ok := tin["url"]; !ok {
			return d, invalid(firstField(tin), "the destination is on shared target %s, whose settings are its own: change them with eventexport targets update %s, or give the destination a URL of its own",
				d.Target.ID, d.Target.ID)
		}
		t, err := tr.Configure(nil, tin)
		if err != nil {
			return d, err
		}
		u.OwnTarget = &store.Target{Target: t}
		onShared = false
	case len(tin) > 0:
		t, err := tr.Configure(&d.Target.Target, tin)
		if err != nil {
			return d, err
		}
		own := d.Target
		own.Target = t
		u.OwnTarget = &own
	}
	if v.Path != nil {
		p := strings.TrimSpace(*v.Path)
		if !onShared && p != "" {
			return d, invalid("path", "is for destinations on a shared target; put the directory in the URL")
		}
		u.Path = &p
	} else if !onShared && d.Target.Shared {
		empty := "" // leaving a shared target: the URL holds the directory
		u.Path = &empty
	}
	if u.OwnTarget != nil {
		if err := s.needSealer(*u.OwnTarget); err != nil {
			return d, err
		}
	}
	d, err = s.cfg.Store.UpdateDestination(ctx, d.ID, u)
	if errors.Is(err, store.ErrNotFound) && u.SharedTargetID != nil {
		return d, unknownTarget(*v.TargetID)
	}
	if errors.Is(err, store.ErrNotFound) {
		return d, notFound("destination", id)
	}
	return d, err
}

func firstField(in delivery.Input) string {
	for _, f := range []string{"url", "host", "port", "user", "password", "private_key", "host_key"} {
		if _, ok := in[f]; ok {
			return f
		}
	}
	for f := range in {
		return f
	}
	return ""
}

// RemoveDestination removes a destination and its own target's secrets; its run history
// stays readable.
func (s *Service) RemoveDestination(ctx context.Context, id string) error {
	err := s.cfg.Store.RemoveDestination(ctx, strings.TrimSpace(id))
	if errors.Is(err, store.ErrNotFound) {
		return notFound("destination", id)
	}
	return err
}

// SetEnabled enables or disables a destination.
func (s *Service) SetEnabled(ctx context.Context, id string, enabled bool) (store.Destination, error) {
	err := s.cfg.Store.SetDestinationEnabled(ctx, strings.TrimSpace(id), enabled)
	if errors.Is(err, store.ErrNotFound) {
		return store.Destination{}, notFound("destination", id)
	}
	if err != nil {
		return store.Destination{}, err
	}
	return s.Destination(ctx, id)
}

// Destination returns one destination.
func (s *Service) Destination(ctx context.Context, id string) (store.Destination, error) {
	d, err := s.cfg.Store.Destination(ctx, strings.TrimSpace(id))
	if errors.Is(err, store.ErrNotFound) {
		return d, notFound("destination", id)
	}
	return d, err
}

// Destinations lists the destinations, oldest first.
func (s *Service) Destinations(ctx context.Context) ([]store.Destination, error) {
	return s.cfg.Store.Destinations(ctx)
}

// fileOptions applies the file options given in v to o, checking each.
func (s *Service) fileOptions(o file.Options, v destinationInput) (file.Options, error) {
	var err error
	if v.Compress != nil {
		if o.Compress, err = file.ParseCompress(*v.Compress); err != nil {
			return o, fieldErr("compress", err)
		}
	}
	if v.EncryptTo != nil {
		key := strings.TrimSpace(*v.EncryptTo)
		if key != "" {
			if _, err := file.ParseRecipient([]byte(key), s.cfg.Now()); err != nil {
				return o, fieldErr("encrypt_to", err)
			}
		}
		o.EncryptTo = key
	}
	if v.MaxFileSize != nil {
		var n int64
		var text string
		switch {
		case json.Unmarshal(*v.MaxFileSize, &n) == nil:
			if n != 0 && n < file.MinFileSize {
				return o, invalid("max_file_size", "%d bytes is less than the minimum of 64 KiB (65,536 bytes)", n)
			}
		case json.Unmarshal(*v.MaxFileSize, &text) == nil:
			if strings.TrimSpace(text) != "" && strings.TrimSpace(text) != "0" {
				if n, err = file.ParseSize(text); err != nil {
					return o, fieldErr("max_file_size", err)
				}
			}
		default:
			return o, invalid("max_file_size", "want a number of bytes or a size such as \"15MB\"")
		}
		if n < 0 {
			return o, invalid("max_file_size", "must not be negative")
		}
		o.MaxFileSize = n
	}
	if v.MaxRows != nil {
		if *v.MaxRows < 0 {
			return o, invalid("max_rows", "must not be negative")
		}
		o.MaxRows = *v.MaxRows
	}
	if v.Manifest != nil {
		o.Manifest = *v.Manifest
	}
	if v.NameTemplate != nil {
		t := strings.TrimSpace(*v.NameTemplate)
		if t != "" {
			if _, err := file.ParseTemplate(t); err != nil {
				return o, fieldErr("name_template", err)
			}
		}
		o.NameTemplate = t
	}
	return o, nil
}
