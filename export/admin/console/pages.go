package console

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/eventexport/eventexport/delivery"
	"github.com/eventexport/eventexport/events"
	"github.com/eventexport/eventexport/export/store"
	"github.com/eventexport/eventexport/export/support"
)

// timelineWindows is how many windows a destination's timeline shows.
const timelineWindows = 30

// Run lists show this many runs at most.
const (
	destinationRuns = 30
	runsPageLimit   = 200
)

// flash is what an action did, by the code it redirects with: the page never shows text
// taken from a URL.
func flash(q url.Values) string {
	n, _ := strconv.Atoi(q.Get("n"))
	switch q.Get("done") {
	case "added":
		return "Destination added. Send a test file to check the server and its host key."
	case "updated":
		return "Saved. Changes take effect from the next run."
	case "disabled":
		return "Disabled: nothing more is planned for it until it is enabled."
	case "enabled":
		return "Enabled: its next nights are planned again."
	case "removed":
		return "Destination removed. Its run history stays readable under Runs."
	case "resend":
		return fmt.Sprintf("Queued %d file(s) to re-send; they are delivered within moments, with the usual retries.", n)
	case "target-added":
		return "Target added."
	case "target-updated":
		return "Target saved. Its destinations use the change from their next run."
	case "target-removed":
		return "Target removed."
	}
	return ""
}

// overviewBody is the overview page.
type overviewBody struct {
	Rows    []support.DestinationStatus
	Total   int
	Counts  map[support.Health]int
	Healths []support.Health
	Status  string
	Company string
	Name    string
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request, s *session) error {
	all, err := c.cfg.Support.Overview(r.Context())
	if err != nil {
		return err
	}
	q := r.URL.Query()
	b := overviewBody{Total: len(all), Counts: map[support.Health]int{}, Healths: support.Healths,
		Status: q.Get("status"), Company: strings.TrimSpace(q.Get("company")), Name: strings.TrimSpace(q.Get("name"))}
	for _, d := range all {
		b.Counts[d.Health]++
		if b.Status != "" && string(d.Health) != b.Status ||
			b.Company != "" && !strings.Contains(strings.ToLower(d.CompanyID), strings.ToLower(b.Company)) ||
			b.Name != "" && !strings.Contains(strings.ToLower(d.Name), strings.ToLower(b.Name)) {
			continue
		}
		b.Rows = append(b.Rows, d)
	}
	c.render(w, r, http.StatusOK, "overview", &page{Title: "Destinations", Nav: "overview", CSRF: s.CSRF, Flash: flash(q), Body: b})
	return nil
}

// destinationBody is a destination's page.
type destinationBody struct {
	D        support.DestinationStatus
	Settings []row
	Files    []row
	Timeline []support.Window
	Runs     []support.RunView
	Names    map[string]string // none: the runs are the destination's
	TestSend *support.TestSendResult
	// Trust is the host key or certificate a test send was refused for, to trust.
	Trust        string
	ResendFrom   string
	ResendTo     string
	ResendErr    string
	ActionErr    string
	SharedTarget string
}

// row is a setting as shown.
type row struct {
	Label, Text string
}

func (c *Console) destinationPage(w http.ResponseWriter, r *http.Request, s *session, id string, status int, b destinationBody) error {
	d, err := c.cfg.Support.Status(r.Context(), id)
	if err != nil {
		return err
	}
	b.D = d
	b.Settings = settingRows(d.Settings)
	b.Files = settingRows(d.Files)
	if b.Timeline, err = c.cfg.Support.Timeline(r.Context(), d.ID, timelineWindows); err != nil {
		return err
	}
	if b.Runs, err = c.cfg.Support.Runs(r.Context(), support.RunFilter{DestinationID: d.ID, Limit: destinationRuns}); err != nil {
		return err
	}
	if d.TargetID != "" {
		if t, err := c.cfg.Support.Target(r.Context(), d.TargetID); err == nil {
			b.SharedTarget = orText(t.Name, t.ID)
		}
	}
	yesterday := events.DayOf(c.cfg.Now(), c.cfg.Support.Location()).AddDays(-1).String()
	b.ResendFrom, b.ResendTo = cmp.Or(b.ResendFrom, yesterday), cmp.Or(b.ResendTo, b.ResendFrom, yesterday)
	c.render(w, r, status, "destination", &page{Title: orText(d.Name, "Destination "+d.ID), Nav: "overview", CSRF: s.CSRF,
		Flash: flash(r.URL.Query()), Body: b})
	return nil
}

func (c *Console) destination(w http.ResponseWriter, r *http.Request, s *session) error {
	return c.destinationPage(w, r, s, r.PathValue("id"), http.StatusOK, destinationBody{})
}

// settingRows shows a target's settings or a destination's file rules: secrets as set or
// not set, never a value.
func settingRows(fields []delivery.Field) []row {
	var out []row
	for _, f := range fields {
		switch {
		case f.Name == "unique_names" || f.Name == "url":
		case strings.HasPrefix(f.Name, "has_"):
			b, _ := f.Value.(bool)
			out = append(out, row{Label: capital(humanize(strings.TrimPrefix(f.Name, "has_"))), Text: setText(b)})
		case f.Label == "" && f.Text == "":
			v, _ := f.Value.(string)
			out = append(out, row{Label: capital(humanize(f.Name)), Text: setText(v != "")})
		default:
			out = append(out, row{Label: capital(cmp.Or(f.Label, humanize(f.Name))), Text: f.Text})
		}
	}
	return out
}

func setText(set bool) string {
	if set {
		return "set"
	}
	return "not set"
}

// capital starts s with a capital letter.
func capital(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func humanize(name string) string {
	return strings.ReplaceAll(strings.ReplaceAll(name, "tls_", "TLS "), "_", " ")
}

// testSend sends a test file now and shows the result on the destination's page: where it
// went, or why not; for an unknown host key, the key presented and a way to trust it.
func (c *Console) testSend(w http.ResponseWriter, r *http.Request, s *session) error {
	id := r.PathValue("id")
	accept := r.PostForm.Get("accept") != ""
	if accept && r.PostForm.Get("confirm") == "" {
		return c.destinationPage(w, r, s, id, http.StatusBadRequest, destinationBody{
			ActionErr: "To trust the key, tick the box confirming that the customer gave you this key. Nothing was sent."})
	}
	res, err := c.cfg.Support.TestSend(r.Context(), id, accept, nil)
	if err != nil {
		if kind, _, _ := support.KindOf(err); kind == support.KindConflict || kind == support.KindConfig {
			return c.destinationPage(w, r, s, id, statusOf(kind), destinationBody{ActionErr: err.Error()})
		}
		return err
	}
	b := destinationBody{TestSend: &res}
	for _, f := range res.Files {
		if f.PresentedHostKey != "" {
			b.Trust = f.PresentedHostKey
		}
	}
	return c.destinationPage(w, r, s, id, http.StatusOK, b)
}

// resend queues a day or a range of days again.
func (c *Console) resend(w http.ResponseWriter, r *http.Request, s *session) error {
	id := r.PathValue("id")
	from, to := strings.TrimSpace(r.PostForm.Get("from")), strings.TrimSpace(r.PostForm.Get("to"))
	days, err := support.ParseDayRange(from, to)
	var res support.ResendResult
	if err == nil {
		res, err = c.cfg.Support.Resend(r.Context(), id, days)
	}
	if err != nil {
		if kind, _, _ := support.KindOf(err); kind == support.KindInvalid {
			return c.destinationPage(w, r, s, id, http.StatusBadRequest, destinationBody{ResendErr: err.Error(),
				ResendFrom: from, ResendTo: to})
		}
		return err
	}
	http.Redirect(w, r, fmt.Sprintf("/destinations/%s?done=resend&n=%d#runs", url.PathEscape(id), len(res.Runs)), http.StatusSeeOther)
	return nil
}

func (c *Console) setEnabled(enabled bool) handler {
	return func(w http.ResponseWriter, r *http.Request, s *session) error {
		id := r.PathValue("id")
		if _, err := c.cfg.Support.SetEnabled(r.Context(), id, enabled); err != nil {
			return err
		}
		done := "disabled"
		if enabled {
			done = "enabled"
		}
		http.Redirect(w, r, "/destinations/"+url.PathEscape(id)+"?done="+done, http.StatusSeeOther)
		return nil
	}
}

// formBody is a page with a destination's or a target's form.
type formBody struct {
	Heading string
	Intro   string
	Action  string
	Submit  string
	Kinds   []kindTab // adding: one tab per kind of server
	Kind    string    // the form's kind, sent back with it
	Form    form
	Cancel  string
	// Destinations are a target's, shown on its page.
	Target       *support.TargetView
	TargetRows   []row
	Destinations []store.Destination
	RemoveErr    string
}

type kindTab struct {
	Kind, Label string
	Active      bool
}

// kinds are the tabs of an add form: one per transport, and a shared target for destinations.
func kinds(active string, destination bool) []kindTab {
	var out []kindTab
	for _, k := range delivery.Kinds() {
		out = append(out, kindTab{Kind: k, Label: strings.ToUpper(k), Active: k == active})
	}
	if destination {
		out = append(out, kindTab{Kind: "shared", Label: "Shared target", Active: active == "shared"})
	}
	return out
}

// addFormKind reads the kind of server an add form is for.
func addFormKind(k string, destination bool) formKind {
	if k == "shared" && destination {
		return formKind{destination: true, shared: true}
	}
	if _, err := delivery.Lookup(k); err != nil {
		k = "sftp"
	}
	return formKind{destination: destination, kind: k}
}

func (fk formKind) tab() string {
	if fk.shared && !fk.edit {
		return "shared"
	}
	return fk.kind
}

// formError tells whether err is one the form shows (bad input, a conflict, the service's
// configuration) rather than a failure page.
func formError(err error) bool {
	kind, _, _ := support.KindOf(err)
	return kind != support.KindInternal && kind != support.KindNotFound
}

func (c *Console) newDestination(w http.ResponseWriter, r *http.Request, s *session) error {
	fk := addFormKind(r.URL.Query().Get("kind"), true)
	st := formState{values: map[string]string{"format": "json", "compress": "none"},
		lists: map[string][]string{"event_types": {events.CourseComplete.Name}}}
	return c.destinationForm(w, r, s, fk, st, http.StatusOK)
}

func (c *Console) destinationForm(w http.ResponseWriter, r *http.Request, s *session, fk formKind, st formState, status int) error {
	var err error
	if st.targets, err = c.targetViews(r); err != nil {
		return err
	}
	b := formBody{Heading: "Add a destination", Action: "/destinations/new", Submit: "Add destination", Kinds: kinds(fk.tab(), true),
		Kind: fk.tab(), Form: build(fieldsOf(fk), fk, st), Cancel: "/",
		Intro: "The same fields and checks as eventexport destinations add. Nothing is stored unless every field is valid."}
	if fk.shared && len(st.targets) == 0 {
		b.Intro = "There is no shared target yet: add one under Targets first, or give the destination a server of its own."
	}
	c.render(w, r, status, "form", &page{Title: b.Heading, Nav: "add", CSRF: s.CSRF, Body: b})
	return nil
}

func (c *Console) targetViews(r *http.Request) ([]support.TargetView, error) {
	ts, err := c.cfg.Support.Targets(r.Context())
	if err != nil {
		return nil, err
	}
	out := make([]support.TargetView, 0, len(ts))
	for _, t := range ts {
		out = append(out, support.ViewTarget(t))
	}
	return out, nil
}

func (c *Console) addDestination(w http.ResponseWriter, r *http.Request, s *session) error {
	fk := addFormKind(r.PostForm.Get("form_kind"), true)
	fields := fieldsOf(fk)
	in, err := inputFrom(r.PostForm, fields, false, nil)
	var d store.Destination
	if err == nil {
		d, err = c.cfg.Support.AddDestination(r.Context(), in)
	}
	if err != nil {
		if !formError(err) {
			return err
		}
		values, lists := valuesOfForm(r.PostForm, fields)
		return c.destinationForm(w, r, s, fk, formState{values: values, lists: lists, err: err}, http.StatusBadRequest)
	}
	http.Redirect(w, r, "/destinations/"+d.ID+"?done=added", http.StatusSeeOther)
	return nil
}

// editKind is the form kind of a destination's edit form.
func editKind(v support.DestinationView) formKind {
	return formKind{destination: true, edit: true, shared: v.TargetID != "", kind: v.Kind}
}

func (c *Console) editDestination(w http.ResponseWriter, r *http.Request, s *session) error {
	return c.editForm(w, r, s, r.PathValue("id"), nil, http.StatusOK)
}

func (c *Console) editForm(w http.ResponseWriter, r *http.Request, s *session, id string, failed error, status int) error {
	d, err := c.cfg.Support.Destination(r.Context(), id)
	if err != nil {
		return err
	}
	v := support.ViewDestination(d)
	fk := editKind(v)
	st := formState{err: failed}
	st.values, st.lists, st.has, st.current = currentOfDestination(v)
	if failed != nil {
		st.values, st.lists = valuesOfForm(r.PostForm, fieldsOf(fk))
	}
	if st.targets, err = c.targetViews(r); err != nil {
		return err
	}
	b := formBody{Heading: "Edit " + orText(v.Name, v.ID), Action: "/destinations/" + v.ID + "/edit", Submit: "Save changes",
		Kind: fk.kind, Form: build(fieldsOf(fk), fk, st), Cancel: "/destinations/" + v.ID,
		Intro: "Only what you change is sent, with the same checks as eventexport destinations update. " +
			"Secrets are never shown: leave them blank to keep them. Changes take effect from the next run."}
	c.render(w, r, status, "form", &page{Title: b.Heading, Nav: "overview", CSRF: s.CSRF, Body: b})
	return nil
}

func (c *Console) updateDestination(w http.ResponseWriter, r *http.Request, s *session) error {
	id := r.PathValue("id")
	d, err := c.cfg.Support.Destination(r.Context(), id)
	if err != nil {
		return err
	}
	v := support.ViewDestination(d)
	current, lists, _, _ := currentOfDestination(v)
	current["event_types"] = strings.Join(lists["event_types"], ",")
	in, err := inputFrom(r.PostForm, fieldsOf(editKind(v)), true, current)
	if err == nil && len(in) == 0 {
		http.Redirect(w, r, "/destinations/"+v.ID, http.StatusSeeOther)
		return nil
	}
	if err == nil {
		_, err = c.cfg.Support.UpdateDestination(r.Context(), id, in)
	}
	if err != nil {
		if !formError(err) {
			return err
		}
		return c.editForm(w, r, s, id, err, http.StatusBadRequest)
	}
	http.Redirect(w, r, "/destinations/"+v.ID+"?done=updated", http.StatusSeeOther)
	return nil
}

// removeBody is the confirmation of a removal.
type removeBody struct {
	D      support.DestinationView
	Runs   int
	Shared string
}

func (c *Console) confirmRemove(w http.ResponseWriter, r *http.Request, s *session) error {
	d, err := c.cfg.Support.Destination(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	runs, err := c.cfg.Support.Runs(r.Context(), support.RunFilter{DestinationID: d.ID, Limit: 10000})
	if err != nil {
		return err
	}
	b := removeBody{D: support.ViewDestination(d), Runs: len(runs)}
	if d.Target.Shared {
		b.Shared = orText(d.Target.Name, d.Target.ID)
	}
	c.render(w, r, http.StatusOK, "remove", &page{Title: "Remove " + orText(d.Name, d.ID), Nav: "overview", CSRF: s.CSRF, Body: b})
	return nil
}

func (c *Console) removeDestination(w http.ResponseWriter, r *http.Request, s *session) error {
	if r.PostForm.Get("confirm") == "" {
		return &pageError{status: http.StatusBadRequest, msg: "Tick the box to confirm the removal. Nothing was removed."}
	}
	if err := c.cfg.Support.RemoveDestination(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	http.Redirect(w, r, "/?done=removed", http.StatusSeeOther)
	return nil
}

// targetsBody is the targets page.
type targetsBody struct {
	Targets []targetRow
}

type targetRow struct {
	support.TargetView
	Destinations int
}

func (c *Console) targets(w http.ResponseWriter, r *http.Request, s *session) error {
	ts, err := c.targetViews(r)
	if err != nil {
		return err
	}
	ds, err := c.cfg.Support.Destinations(r.Context())
	if err != nil {
		return err
	}
	b := targetsBody{}
	for _, t := range ts {
		n := 0
		for _, d := range ds {
			if d.Target.ID == t.ID {
				n++
			}
		}
		b.Targets = append(b.Targets, targetRow{TargetView: t, Destinations: n})
	}
	c.render(w, r, http.StatusOK, "targets", &page{Title: "Shared targets", Nav: "targets", CSRF: s.CSRF, Flash: flash(r.URL.Query()), Body: b})
	return nil
}

func (c *Console) newTarget(w http.ResponseWriter, r *http.Request, s *session) error {
	return c.targetForm(w, r, s, addFormKind(r.URL.Query().Get("kind"), false), formState{}, http.StatusOK)
}

func (c *Console) targetForm(w http.ResponseWriter, r *http.Request, s *session, fk formKind, st formState, status int) error {
	b := formBody{Heading: "Add a shared target", Action: "/targets/new", Submit: "Add target", Kinds: kinds(fk.kind, false),
		Kind: fk.kind, Form: build(fieldsOf(fk), fk, st), Cancel: "/targets",
		Intro: "A server several destinations share: its address, credentials and pinned key. The same fields and checks as eventexport targets add."}
	c.render(w, r, status, "form", &page{Title: b.Heading, Nav: "targets", CSRF: s.CSRF, Body: b})
	return nil
}

func (c *Console) addTarget(w http.ResponseWriter, r *http.Request, s *session) error {
	fk := addFormKind(r.PostForm.Get("form_kind"), false)
	fields := fieldsOf(fk)
	in, err := inputFrom(r.PostForm, fields, false, nil)
	if err == nil {
		in["kind"] = []byte(strconv.Quote(fk.kind)) // the tab's kind; a URL's scheme wins
		_, err = c.cfg.Support.AddTarget(r.Context(), in)
	}
	if err != nil {
		if !formError(err) {
			return err
		}
		values, lists := valuesOfForm(r.PostForm, fields)
		return c.targetForm(w, r, s, fk, formState{values: values, lists: lists, err: err}, http.StatusBadRequest)
	}
	http.Redirect(w, r, "/targets?done=target-added", http.StatusSeeOther)
	return nil
}

// target shows a shared target, its destinations and its edit form.
func (c *Console) target(w http.ResponseWriter, r *http.Request, s *session) error {
	return c.targetPage(w, r, s, nil, "", http.StatusOK)
}

func (c *Console) targetPage(w http.ResponseWriter, r *http.Request, s *session, failed error, removeErr string, status int) error {
	t, err := c.cfg.Support.Target(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	v := support.ViewTarget(t)
	fk := formKind{edit: true, kind: v.Kind}
	st := formState{values: map[string]string{"name": v.Name}, has: map[string]bool{}, current: map[string]string{"url": v.URL}, err: failed}
	settingsInto(v.Settings, st.values, st.has)
	if failed != nil {
		st.values, st.lists = valuesOfForm(r.PostForm, fieldsOf(fk))
	}
	ds, err := c.cfg.Support.Destinations(r.Context())
	if err != nil {
		return err
	}
	b := formBody{Heading: "Edit target", Action: "/targets/" + v.ID, Submit: "Save changes", Kind: v.Kind,
		Form: build(fieldsOf(fk), fk, st), Cancel: "/targets", Target: &v, TargetRows: settingRows(v.Settings), RemoveErr: removeErr,
		Intro: "Only what you change is sent, with the same checks as eventexport targets update; it reaches every destination on the target. Secrets are never shown: leave them blank to keep them."}
	for _, d := range ds {
		if d.Target.ID == v.ID {
			b.Destinations = append(b.Destinations, d)
		}
	}
	c.render(w, r, status, "target", &page{Title: orText(v.Name, "Target "+v.ID), Nav: "targets", CSRF: s.CSRF, Flash: flash(r.URL.Query()), Body: b})
	return nil
}

func (c *Console) updateTarget(w http.ResponseWriter, r *http.Request, s *session) error {
	t, err := c.cfg.Support.Target(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	v := support.ViewTarget(t)
	current := map[string]string{"name": v.Name}
	settingsInto(v.Settings, current, map[string]bool{})
	in, err := inputFrom(r.PostForm, fieldsOf(formKind{edit: true, kind: v.Kind}), true, current)
	if err == nil && len(in) == 0 {
		http.Redirect(w, r, "/targets/"+v.ID, http.StatusSeeOther)
		return nil
	}
	if err == nil {
		_, err = c.cfg.Support.UpdateTarget(r.Context(), v.ID, in)
	}
	if err != nil {
		if !formError(err) {
			return err
		}
		return c.targetPage(w, r, s, err, "", http.StatusBadRequest)
	}
	http.Redirect(w, r, "/targets/"+v.ID+"?done=target-updated", http.StatusSeeOther)
	return nil
}

func (c *Console) removeTarget(w http.ResponseWriter, r *http.Request, s *session) error {
	err := c.cfg.Support.RemoveTarget(r.Context(), r.PathValue("id"))
	if err != nil {
		if kind, _, _ := support.KindOf(err); kind == support.KindConflict {
			return c.targetPage(w, r, s, nil, err.Error(), http.StatusConflict)
		}
		return err
	}
	http.Redirect(w, r, "/targets?done=target-removed", http.StatusSeeOther)
	return nil
}

// runsBody is the runs page.
type runsBody struct {
	Runs                           []support.RunView
	Names                          map[string]string // destination names by id
	Status, Kind, Day, Destination string
	Statuses, Kinds                []string
	Err                            string
	Limit                          int
}

func (c *Console) runs(w http.ResponseWriter, r *http.Request, s *session) error {
	q := r.URL.Query()
	b := runsBody{Status: q.Get("status"), Kind: q.Get("kind"), Day: strings.TrimSpace(q.Get("day")),
		Destination: strings.TrimSpace(q.Get("destination")), Limit: runsPageLimit,
		Statuses: []string{string(store.StatusPending), string(store.StatusRunning), string(store.StatusDelivered), string(store.StatusFailed)},
		Kinds:    []string{string(store.KindScheduled), string(store.KindResend), string(store.KindManual), string(store.KindTest)}}
	status := http.StatusOK
	var err error
	b.Runs, err = c.cfg.Support.Runs(r.Context(), support.RunFilter{Status: store.RunStatus(b.Status), Kind: store.RunKind(b.Kind),
		Day: b.Day, DestinationID: b.Destination, Limit: runsPageLimit})
	if err != nil {
		if !formError(err) && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		b.Err, status = err.Error(), http.StatusBadRequest
	}
	if b.Names, err = c.names(r); err != nil {
		return err
	}
	c.render(w, r, status, "runs", &page{Title: "Runs", Nav: "runs", CSRF: s.CSRF, Body: b})
	return nil
}

// names are the destinations' names by id, for run lists.
func (c *Console) names(r *http.Request) (map[string]string, error) {
	ds, err := c.cfg.Support.Destinations(r.Context())
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	for _, d := range ds {
		names[d.ID] = orText(d.Name, d.CompanyID)
	}
	return names, nil
}

// runBody is one run's page.
type runBody struct {
	Runs  []support.RunView // the run alone
	Names map[string]string
}

func (c *Console) run(w http.ResponseWriter, r *http.Request, s *session) error {
	v, err := c.cfg.Support.Run(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	names, err := c.names(r)
	if err != nil {
		return err
	}
	c.render(w, r, http.StatusOK, "run", &page{Title: "Run " + v.Day + " " + v.EventType, Nav: "runs", CSRF: s.CSRF,
		Body: runBody{Runs: []support.RunView{v}, Names: names}})
	return nil
}

// kindLabel is a target kind for people.
func kindLabel(kind string) string {
	if slices.Contains(delivery.Kinds(), kind) {
		return strings.ToUpper(kind)
	}
	return kind
}
