package console

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/eventexport/eventexport/delivery"
	"github.com/eventexport/eventexport/events"
	"github.com/eventexport/eventexport/export/file"
	"github.com/eventexport/eventexport/export/support"
)

// The console's forms make the same request fields (delivery.Input, by JSON name) as the
// command line's flags and the API's bodies, and hand them to the same support operations:
// validation and messages are support's. Which fields a target has is its transport's
// (delivery.Transport.Fields); this file only knows how to show a field of a given name.

// inputType is how a field is entered.
type inputType int

const (
	textInput     inputType = iota // a JSON string
	numberInput                    // a JSON number
	checkInput                     // a JSON boolean
	selectInput                    // a JSON string among options
	dateInput                      // a JSON string, YYYY-MM-DD
	areaInput                      // a JSON string of several lines (keys, pins, certificates)
	typesInput                     // a JSON array of event type names
	passwordInput                  // a secret JSON string, one line
	secretArea                     // a secret JSON string of several lines
)

// spec is how the console shows a request field.
type spec struct {
	Label string
	Type  inputType
	Help  string
	// NoPrefill: the form never shows the current value (it is redacted, or not a value one
	// edits in place); blank keeps it, "remove" clears it.
	NoPrefill bool
}

// group is the part of a form a field belongs to.
type group int

const (
	groupCustomer group = iota
	groupServer
	groupFiles
	groupDelivery
)

var groupNames = []string{"Customer", "Server", "Files", "Delivery"}

// specs are the fields the console knows how to show. A transport field not listed here is a
// text field labelled by its name.
var specs = map[string]spec{
	"company_id": {Label: "Company ID", Help: "The company (UUID) whose events are delivered."},
	"name":       {Label: "Name", Help: "A name for people."},
	"target_id":  {Label: "Shared target", Type: selectInput, Help: "A shared target: its server, credentials and pinned key."},
	"path":       {Label: "Directory on the target", Help: "Under the target's base directory."},
	"format": {Label: "Format", Type: selectInput,
		Help: "json, csv, jsonl (JSON Lines) or json-flat (flat objects keyed by the CSV columns)."},
	"event_types":   {Label: "Event types", Type: typesInput},
	"start_date":    {Label: "Start date", Type: dateInput, Help: "First day delivered. Default: today (its file comes tonight); an earlier day backfills at once."},
	"alert_url":     {Label: "Alert webhook", NoPrefill: true, Help: "A webhook alerted when a delivery fails for good."},
	"compress":      {Label: "Compression", Type: selectInput},
	"encrypt_to":    {Label: "Encrypt to (OpenPGP public key)", Type: areaInput, NoPrefill: true, Help: "Armored public key; files get .pgp."},
	"max_file_size": {Label: "Max file size", Help: "e.g. 15MB (15,000,000 bytes), 64KiB at least; blank for no limit. A larger day is delivered in parts."},
	"max_rows":      {Label: "Max events per file", Type: numberInput, Help: "Blank for no limit."},
	"manifest":      {Label: "Upload a manifest after the files", Type: checkInput},
	"name_template": {Label: "File name template", Help: "{prefix} {type} {day} {start_unix} {created} {rand} {destination} {company} {part} {ext}"},
	"every": {Label: "Window of each file", Type: selectInput,
		Help: "Windows start at local midnight (weeks on Monday). A change takes effect when the window in progress ends."},
	"timezone":    {Label: "Time zone", Help: "IANA name, such as Australia/Sydney. Blank: the instance's zone."},
	"send_after":  {Label: "Send after", Help: "How long after a window ends its file is due, such as 30m or 6h. Blank or default: day and week windows at 2am, shorter ones after 15 minutes."},
	"late_events": {Label: "Events that arrive late", Type: selectInput, Help: "Events inserted after their window was delivered, counted a day later."},

	"url": {Label: "URL", NoPrefill: true,
		Help: "sftp://user:password@host:port/path, ftps://user:password@host/path or https://host/path; percent-encode special characters in the user and password."},
	"host":                   {Label: "Host"},
	"port":                   {Label: "Port", Type: numberInput},
	"user":                   {Label: "User"},
	"base_dir":               {Label: "Base directory", Help: "Destinations on the target add their directory under it."},
	"password":               {Label: "Password", Type: passwordInput},
	"private_key":            {Label: "SSH private key", Type: secretArea, Help: "OpenSSH or PEM: ed25519, ECDSA or RSA."},
	"private_key_passphrase": {Label: "Private key passphrase", Type: passwordInput},
	"host_key": {Label: "Pinned host keys", Type: areaInput,
		Help: "SHA256:… fingerprints or known_hosts lines, one per line. Blank: the first test send shows the key the server presents, to trust."},
	"add_host_key":   {Label: "Pin another host key", Type: areaInput, Help: "Besides those pinned (a customer rotating keys)."},
	"drop_host_key":  {Label: "Unpin the host key", Help: "The line or its SHA256 fingerprint."},
	"legacy_crypto":  {Label: "Allow SHA-1-era SSH algorithms (old servers)", Type: checkInput},
	"implicit_tls":   {Label: "Implicit TLS (port 990)", Type: checkInput},
	"tls_ca":         {Label: "Trusted CA certificates (PEM)", Type: areaInput, Help: "Blank: the system's authorities."},
	"tls_pin":        {Label: "Pinned certificate", Help: "SHA256:… as openssl x509 -noout -fingerprint -sha256 prints it."},
	"header":         {Label: "Request headers", Type: secretArea, Help: "Name: value, one per line; the values are kept secret."},
	"signing_secret": {Label: "Signing secret", Type: passwordInput, Help: "Signs every request (Eventexport-Signature)."},
}

// groupOf is the part of the form of field.
func groupOf(field string) group {
	switch field {
	case "company_id", "name":
		return groupCustomer
	case "format", "event_types", "compress", "encrypt_to", "max_file_size", "max_rows", "manifest", "name_template":
		return groupFiles
	case "start_date", "alert_url", "every", "timezone", "send_after", "late_events":
		return groupDelivery
	}
	return groupServer
}

func specOf(field string) spec {
	if s, ok := specs[field]; ok {
		return s
	}
	return spec{Label: strings.ReplaceAll(field, "_", " ")}
}

func (s spec) secret() bool { return s.Type == passwordInput || s.Type == secretArea }

// Fields of destinations that are not their target's, in form order.
var (
	destinationHead = []string{"company_id", "name"}
	destinationTail = []string{"format", "event_types", "compress", "encrypt_to", "max_file_size", "max_rows",
		"manifest", "name_template", "start_date", "every", "timezone", "send_after", "late_events", "alert_url"}
	// notOnDestinations are target fields a destination's own server takes from its URL, as
	// on the command line.
	notOnDestinations = []string{"host", "port", "user", "base_dir"}
	// onlyOnChange are fields that change what is pinned, not set it.
	onlyOnChange = []string{"add_host_key", "drop_host_key"}
)

// formKind is what a form makes.
type formKind struct {
	destination bool
	edit        bool
	shared      bool   // a destination on a shared target
	kind        string // the target's kind
}

// fieldsOf lists the request fields of a form, in order.
func fieldsOf(fk formKind) []string {
	var server []string
	if tr, err := delivery.Lookup(fk.kind); err == nil && !(fk.destination && fk.shared && !fk.edit) {
		for _, f := range tr.Fields() {
			if fk.destination && slices.Contains(notOnDestinations, f) || !fk.edit && slices.Contains(onlyOnChange, f) {
				continue
			}
			if fk.destination && fk.shared && f != "url" {
				continue // a destination on a shared target changes its server with the target
			}
			server = append(server, f)
		}
	}
	if !fk.destination {
		return append([]string{"name"}, server...)
	}
	var out []string
	for _, f := range destinationHead {
		if fk.edit && f == "company_id" {
			continue
		}
		out = append(out, f)
	}
	if fk.shared || fk.edit {
		out = append(out, "target_id", "path")
	}
	out = append(out, server...)
	return append(out, destinationTail...)
}

// fieldView is one field as a template shows it.
type fieldView struct {
	Name, Label, Help string
	Type              string // the template's name for the input
	Value             string
	Checked           bool
	Options           []option
	Error             string
	Secret            bool
	IsSet             bool   // a secret that is set
	Clearable         bool   // a "remove" box
	Current           string // the current value, when not shown in the field
}

type option struct {
	Value, Label string
	Selected     bool
}

// form is a form as a template shows it, by part.
type form struct {
	Groups []formGroup
	Error  string // an error no field of the form names
}

type formGroup struct {
	Name   string
	Fields []fieldView
}

// formState is what a form shows: the values as they are (edit) or as given, and errors.
type formState struct {
	values  map[string]string // the field's text, by name
	lists   map[string][]string
	has     map[string]bool   // secrets set
	current map[string]string // a shown-elsewhere value of a NoPrefill field (redacted URL)
	err     error
	targets []support.TargetView
}

// build lays out fields with st.
func build(fields []string, fk formKind, st formState) form {
	f := form{}
	errField := ""
	errText := ""
	if st.err != nil {
		_, _, errField = support.KindOf(st.err)
		errText = st.err.Error()
		if !slices.Contains(fields, errField) {
			f.Error = errText
		}
	}
	groups := map[group][]fieldView{}
	for _, name := range fields {
		sp := specOf(name)
		v := fieldView{Name: name, Label: sp.Label, Help: sp.Help, Value: st.values[name], Secret: sp.secret()}
		if name == errField {
			v.Error = errText
		}
		switch sp.Type {
		case numberInput:
			v.Type = "number"
		case checkInput:
			v.Type = "checkbox"
			v.Checked = st.values[name] == "true"
		case dateInput:
			v.Type = "date"
		case areaInput, secretArea:
			v.Type = "textarea"
		case passwordInput:
			v.Type = "password"
		case selectInput:
			v.Type = "select"
			v.Options = optionsOf(name, fk, st)
		case typesInput:
			v.Type = "checkboxes"
			for _, t := range events.Types() {
				v.Options = append(v.Options, option{Value: t.Name, Label: t.Name, Selected: slices.Contains(st.lists[name], t.Name)})
			}
		default:
			v.Type = "text"
		}
		if v.Secret {
			v.Value = "" // never shown, not even as given
			v.IsSet = st.has[name]
			v.Clearable = fk.edit && v.IsSet
		}
		if sp.NoPrefill && fk.edit {
			v.Current = st.current[name]
			v.Clearable = v.Current != "" && name != "url"
		}
		if name == "url" {
			v.Value = withoutPassword(v.Value)
		}
		g := groupOf(name)
		groups[g] = append(groups[g], v)
	}
	for g, name := range groupNames {
		if len(groups[group(g)]) > 0 {
			f.Groups = append(f.Groups, formGroup{Name: name, Fields: groups[group(g)]})
		}
	}
	return f
}

func optionsOf(name string, fk formKind, st formState) []option {
	var opts []option
	switch name {
	case "format":
		for _, f := range file.Formats() {
			opts = append(opts, option{Value: string(f), Label: string(f)})
		}
	case "compress":
		opts = []option{{Value: file.CompressNone, Label: "none"}, {Value: file.CompressGzip, Label: "gzip (.gz)"}}
	case "every":
		for _, e := range []string{"hour", "2h", "3h", "4h", "6h", "8h", "12h", "day", "week"} {
			opts = append(opts, option{Value: e, Label: e})
		}
	case "late_events":
		opts = []option{{Value: "report", Label: "report them in an alert"}, {Value: "resend", Label: "re-send the window"},
			{Value: "ignore", Label: "only record them"}}
	case "target_id":
		first := "— choose a shared target —"
		if fk.edit {
			first = "— keep as it is —"
		}
		opts = []option{{Value: "", Label: first}}
		for _, t := range st.targets {
			opts = append(opts, option{Value: t.ID, Label: fmt.Sprintf("%s (%s)", orText(t.Name, t.ID), t.URL)})
		}
	}
	selected := st.values[name]
	if selected == "" {
		selected = map[string]string{"every": "day", "late_events": "report"}[name] // the defaults, as on the command line
	}
	for i := range opts {
		opts[i].Selected = opts[i].Value == selected
	}
	return opts
}

func orText(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}

// withoutPassword drops the password from a URL typed into a form that is shown again: it is
// a secret, and the form says to type it again.
func withoutPassword(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw
	}
	authority := rest
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		authority = rest[:i]
	}
	userinfo, _, hasUser := cutLast(authority, "@")
	if !hasUser {
		return raw
	}
	user, _, hasPass := strings.Cut(userinfo, ":")
	if !hasPass {
		return raw
	}
	return scheme + "://" + user + rest[len(userinfo):]
}

// inputFrom makes the request of a submitted form. Adding, a blank field is absent, as a
// flag not given. Changing, a field is sent when it differs from what the form showed (so a
// cleared field is sent empty, which removes or resets it), a blank secret or NoPrefill field
// keeps what is set, and its "remove" box sends it empty.
func inputFrom(form url.Values, fields []string, edit bool, current map[string]string) (delivery.Input, error) {
	in := delivery.Input{}
	for _, name := range fields {
		sp := specOf(name)
		raw := form.Get(name)
		text := strings.TrimSpace(raw)
		var val any
		switch {
		case sp.Type == checkInput:
			checked := text != ""
			if edit && strconv.FormatBool(checked) == current[name] || !edit && !checked {
				continue
			}
			val = checked
		case sp.Type == typesInput:
			list := form[name]
			if edit && strings.Join(list, ",") == current[name] || !edit && len(list) == 0 {
				continue
			}
			if list == nil {
				list = []string{}
			}
			val = list
		case edit && (sp.secret() || sp.NoPrefill):
			if form.Get("clear_"+name) != "" {
				val = ""
				break
			}
			if text == "" {
				continue
			}
			val = valueOf(sp, raw, text)
		case edit:
			if text == strings.TrimSpace(current[name]) {
				continue
			}
			val = valueOf(sp, raw, text)
			if sp.Type == numberInput && text == "" {
				val = 0 // a cleared limit: none
			}
		default:
			if text == "" {
				continue
			}
			val = valueOf(sp, raw, text)
		}
		if n, ok := val.(string); ok && sp.Type == numberInput {
			i, err := strconv.Atoi(n)
			if err != nil {
				return nil, delivery.Invalid(name, "%q is not a whole number", n)
			}
			val = i
		}
		b, err := json.Marshal(val)
		if err != nil {
			return nil, err
		}
		in[name] = b
	}
	return in, nil
}

// valueOf is the text of a field as the command line would send it: a one-line field
// trimmed, several lines as given (CRLF from the browser made LF).
func valueOf(sp spec, raw, text string) any {
	if sp.Type == areaInput || sp.Type == secretArea {
		return strings.ReplaceAll(raw, "\r\n", "\n")
	}
	if sp.Type == passwordInput {
		return raw // a password is what it is, spaces included
	}
	return text
}

// valuesOfForm keeps what was submitted, but secrets, to show the form again.
func valuesOfForm(form url.Values, fields []string) (map[string]string, map[string][]string) {
	values, lists := map[string]string{}, map[string][]string{}
	for _, name := range fields {
		sp := specOf(name)
		switch {
		case sp.secret():
		case sp.Type == typesInput:
			lists[name] = form[name]
		case sp.Type == checkInput:
			values[name] = strconv.FormatBool(form.Get(name) != "")
		default:
			values[name] = form.Get(name)
		}
	}
	return values, lists
}

// currentOfDestination is what the edit form of a destination shows, by field, and the
// secrets it has.
func currentOfDestination(v support.DestinationView) (values map[string]string, lists map[string][]string, has map[string]bool, shown map[string]string) {
	values, has, shown = map[string]string{"name": v.Name, "format": v.Format, "start_date": v.StartDate,
		"event_types": strings.Join(v.EventTypes, ","), "path": v.Path, "manifest": "false"}, map[string]bool{}, map[string]string{}
	values["target_id"] = v.TargetID
	if v.TargetID == "" {
		values["path"] = "" // its directory is in its URL
	}
	lists = map[string][]string{"event_types": v.EventTypes}
	for _, f := range append(v.Files, v.Schedule...) {
		if s, ok := scalar(f.Value); ok {
			values[f.Name] = s
		}
	}
	settingsInto(v.Settings, values, has)
	shown["url"] = v.URL
	shown["alert_url"] = v.AlertURL
	if t, ok := support.Setting(v.Files, "encrypt_to"); ok {
		shown["encrypt_to"] = t
	}
	return values, lists, has, shown
}

// settingsInto adds a target's settings, as its transport describes them, to values; the
// secrets they say are set to has.
func settingsInto(settings []delivery.Field, values map[string]string, has map[string]bool) {
	for _, f := range settings {
		if name, ok := strings.CutPrefix(f.Name, "has_"); ok {
			b, _ := f.Value.(bool)
			has[name] = b
			continue
		}
		if f.Name == "header_names" {
			names, _ := f.Value.([]string)
			has["header"] = len(names) > 0
			continue
		}
		if f.Name == "url" {
			continue
		}
		if s, ok := scalar(f.Value); ok {
			values[f.Name] = s
		}
	}
}

func scalar(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case int:
		return strconv.Itoa(x), true
	case int64:
		if x == 0 {
			return "", true
		}
		return strconv.FormatInt(x, 10), true
	}
	return "", false
}
