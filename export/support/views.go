package support

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/eventexport/eventexport/delivery"
	"github.com/eventexport/eventexport/export"
	"github.com/eventexport/eventexport/export/file"
	"github.com/eventexport/eventexport/export/store"
)

// DestinationView is a destination as support sees it, in the CLI and the API: never a
// secret (which ones are set shows as has_…), URLs redacted, alert webhooks cut to their host.
type DestinationView struct {
	ID         string
	CompanyID  string
	Name       string
	Kind       string
	URL        string
	Path       string
	Format     string
	EventTypes []string
	Enabled    bool
	StartDate  string
	TargetID   string // only for a shared target: a destination's own target is not shown by id
	AlertURL   string
	CreatedAt  time.Time
	// Pinned tells whether the target pins its server's identity (host key, certificate).
	Pinned bool
	// Schedule is the destination's windows, when their files are due, and its late-events rule.
	Schedule []delivery.Field
	// Files are the destination's file rules, as shown: compression, encryption key, limits,
	// manifest, name template.
	Files []delivery.Field
	// Settings are the target's, as its transport shows them.
	Settings []delivery.Field
}

// ViewDestination returns the view of d.
func ViewDestination(d store.Destination) DestinationView {
	v := DestinationView{ID: d.ID, CompanyID: d.CompanyID, Name: d.Name, Kind: d.Target.Kind, Path: d.Path,
		Format: string(d.Format), EventTypes: d.EventTypes, Enabled: d.Enabled, StartDate: d.StartDate.String(),
		CreatedAt: d.CreatedAt}
	if d.Target.Shared {
		v.TargetID = d.Target.ID
	}
	if d.AlertURL != "" {
		v.AlertURL = export.RedactWebhook(d.AlertURL)
	}
	if tr, err := delivery.Lookup(d.Target.Kind); err == nil {
		v.URL = tr.URL(d.Target.Target, d.Path)
		v.Path = tr.Dir(d.Target.Target, d.Path)
		v.Settings = tr.Describe(d.Target.Target)
		v.Pinned = tr.Pinned(d.Target.Target)
	}
	v.Files = fileFields(d)
	v.Schedule = scheduleFieldsOf(d, nil, time.Now())
	return v
}

// fileFields shows a destination's file rules.
func fileFields(d store.Destination) []delivery.Field {
	o := d.Options
	compress := o.Compress
	if compress == "" {
		compress = file.CompressNone
	}
	out := []delivery.Field{{Name: "compress", Label: "compress", Value: compress, Text: compress}}
	if o.EncryptTo != "" {
		text, fp, expires := "(unreadable key)", "", ""
		if r, err := file.ParseRecipient([]byte(o.EncryptTo), time.Now()); err == nil {
			fp = r.Fingerprint
			text = fmt.Sprintf("%s (%s)", r.Fingerprint, r.Algorithm)
			if r.Expires != nil {
				expires = r.Expires.UTC().Format(time.RFC3339)
				text += ", expires " + expires
			}
		} else {
			text = "key cannot be used: " + err.Error()
		}
		out = append(out, delivery.Field{Name: "encrypt_to", Label: "encrypt to", Value: map[string]string{
			"fingerprint": fp, "expires": expires}, Text: text})
	}
	if o.MaxFileSize > 0 {
		out = append(out, delivery.Field{Name: "max_file_size", Label: "max file size", Value: o.MaxFileSize,
			Text: fmt.Sprintf("%d bytes", o.MaxFileSize)})
	}
	if o.MaxRows > 0 {
		out = append(out, delivery.Field{Name: "max_rows", Label: "max rows", Value: o.MaxRows, Text: fmt.Sprint(o.MaxRows)})
	}
	out = append(out, delivery.Field{Name: "manifest", Label: "manifest", Value: o.Manifest, Text: fmt.Sprint(o.Manifest)})
	tmpl := o.NameTemplate
	if tmpl == "" {
		tmpl = file.DefaultTemplate.String()
	}
	text := tmpl
	unique := true
	if t, err := file.ParseTemplate(tmpl); err == nil && !t.HasUniqueness() {
		unique = false
		text += " (without {rand} or {created}: a re-send replaces the earlier file of the same name)"
	}
	out = append(out, delivery.Field{Name: "name_template", Label: "file names", Value: tmpl, Text: text},
		delivery.Field{Name: "unique_names", Value: unique})
	return out
}

// MarshalJSON writes the view as one flat object: the destination's fields, then its
// target's settings.
func (v DestinationView) MarshalJSON() ([]byte, error) {
	fields := []delivery.Field{
		{Name: "id", Value: v.ID}, {Name: "company_id", Value: v.CompanyID}, {Name: "name", Value: v.Name},
		{Name: "kind", Value: v.Kind}, {Name: "url", Value: v.URL}, {Name: "path", Value: v.Path},
		{Name: "format", Value: v.Format}, {Name: "event_types", Value: v.EventTypes},
		{Name: "enabled", Value: v.Enabled}, {Name: "start_date", Value: v.StartDate},
	}
	if v.TargetID != "" {
		fields = append(fields, delivery.Field{Name: "target_id", Value: v.TargetID})
	}
	if v.AlertURL != "" {
		fields = append(fields, delivery.Field{Name: "alert_url", Value: v.AlertURL})
	}
	fields = append(fields, delivery.Field{Name: "created_at", Value: v.CreatedAt})
	fields = append(fields, v.Schedule...)
	fields = append(fields, v.Files...)
	return marshalFields(append(fields, v.Settings...))
}

// TargetView is a shared target as support sees it: never a secret.
type TargetView struct {
	ID       string
	Name     string
	Kind     string
	URL      string
	Settings []delivery.Field
}

// ViewTarget returns the view of t.
func ViewTarget(t store.Target) TargetView {
	v := TargetView{ID: t.ID, Name: t.Name, Kind: t.Kind}
	if tr, err := delivery.Lookup(t.Kind); err == nil {
		v.URL = tr.URL(t.Target, "")
		v.Settings = tr.Describe(t.Target)
	}
	return v
}

// MarshalJSON writes the view as one flat object.
func (v TargetView) MarshalJSON() ([]byte, error) {
	return marshalFields(append([]delivery.Field{
		{Name: "id", Value: v.ID}, {Name: "name", Value: v.Name}, {Name: "kind", Value: v.Kind}, {Name: "url", Value: v.URL},
	}, v.Settings...))
}

// Setting returns the text of the setting named name, and whether there is one.
func Setting(fields []delivery.Field, name string) (string, bool) {
	for _, f := range fields {
		if f.Name == name {
			return f.Text, true
		}
	}
	return "", false
}

// marshalFields writes fields as one JSON object, in their order.
func marshalFields(fields []delivery.Field) ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range fields {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(f.Name)
		if err != nil {
			return nil, err
		}
		val, err := json.Marshal(f.Value)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(val)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// RunView is a run with its attempts, as "runs list" and "runs show" print it.
type RunView struct {
	ID            string        `json:"id"`
	DestinationID string        `json:"destination_id"`
	EventType     string        `json:"event_type"`
	Day           string        `json:"day"`
	WindowStart   time.Time     `json:"window_start"`
	WindowEnd     time.Time     `json:"window_end"`
	Kind          string        `json:"kind"`
	Status        string        `json:"status"`
	Attempts      []AttemptView `json:"attempts"`
	FileName      string        `json:"file_name"`
	RemotePath    string        `json:"remote_path"`
	Events        *int64        `json:"events"`
	Bytes         *int64        `json:"bytes"`
	CreatedAt     time.Time     `json:"created_at"`
	DeliveredAt   *time.Time    `json:"delivered_at"`
	NextAttemptAt *time.Time    `json:"next_attempt_at"`
	LastError     string        `json:"last_error"`
	// LateEvents is how many events of the window arrived after it was delivered, once they
	// were counted (a day after delivery); null before.
	LateEvents *int64 `json:"late_events"`
	// Files are the files the delivered run left: its file, or its parts and manifest.
	Files []file.PartInfo `json:"files"`

	LastErrorClass string `json:"-"`
}

// AttemptView is one attempt of a run.
type AttemptView struct {
	Number     int        `json:"number"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	Outcome    string     `json:"outcome"`
	Error      string     `json:"error"`
	ErrorClass string     `json:"error_class"`
	Permanent  bool       `json:"permanent"`
	Bytes      *int64     `json:"bytes"`
	Events     *int64     `json:"events"`
}

// ViewRun returns the view of r and its attempts.
func ViewRun(r store.Run, attempts []store.Attempt, files []file.PartInfo) RunView {
	if files == nil {
		files = []file.PartInfo{}
	}
	v := RunView{ID: r.ID, DestinationID: r.DestinationID, EventType: r.EventType, Day: r.Day.String(),
		WindowStart: r.Window.Start.UTC(), WindowEnd: r.Window.End.UTC(), LateEvents: r.LateEvents,
		Kind: string(r.Kind), Status: string(r.Status), Attempts: []AttemptView{}, FileName: r.FileName, Files: files,
		RemotePath: r.RemotePath, Events: r.Events, Bytes: r.Bytes, CreatedAt: r.CreatedAt,
		DeliveredAt: r.DeliveredAt, LastError: r.LastError, LastErrorClass: r.LastErrorClass}
	if r.Status == store.StatusPending || r.Status == store.StatusRunning {
		v.NextAttemptAt = r.NextAttemptAt
	}
	for _, a := range attempts {
		v.Attempts = append(v.Attempts, AttemptView{Number: a.Number, StartedAt: a.StartedAt, FinishedAt: a.FinishedAt,
			Outcome: a.Outcome, Error: a.Error, ErrorClass: a.ErrorClass, Permanent: a.Permanent, Bytes: a.Bytes, Events: a.Events})
	}
	return v
}
