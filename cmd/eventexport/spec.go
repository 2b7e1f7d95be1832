package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/eventexport/eventexport/delivery/sftp"
	"github.com/eventexport/eventexport/events"
	"github.com/eventexport/eventexport/export/file"
	"github.com/eventexport/eventexport/export/store"
)

// invalidField is bad input in one field of a request: a command-line flag or a JSON field.
type invalidField struct {
	Field string // the JSON name; flagName gives the command line's
	Err   error
}

func (e *invalidField) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *invalidField) Unwrap() error { return e.Err }

func invalid(field, format string, args ...any) error {
	return &invalidField{Field: field, Err: fmt.Errorf(format, args...)}
}

// flagNames are the command-line names of fields whose JSON names differ.
var flagNames = map[string]string{
	"company_id": "--company", "event_types": "--events", "target_id": "--target",
	"private_key": "--private-key", "private_key_passphrase": "--key-passphrase-file",
	"host_key": "--host-key", "start_date": "--start-date", "alert_url": "--alert-url",
	"legacy_crypto": "--legacy-crypto", "base_dir": "--base-dir", "password": "--password-file",
}

// asFlagError names the command-line flag in a field error, and marks it as bad usage.
func asFlagError(err error) error {
	var fe *invalidField
	if errors.As(err, &fe) {
		name, ok := flagNames[fe.Field]
		if !ok {
			name = "--" + fe.Field
		}
		return badUsage(fmt.Errorf("%s: %w", name, fe.Err))
	}
	return err
}

// targetSpec is a target server as support describes it: a URL, or host, port and user, with
// a password and/or a private key.
type targetSpec struct {
	Name         string `json:"name"`
	URL          string `json:"url"` // sftp://user:password@host:port/dir; or the fields below
	Host         string `json:"host"`
	Port         int    `json:"port"`
	User         string `json:"user"`
	Password     string `json:"password"`
	PrivateKey   string `json:"private_key"`
	Passphrase   string `json:"private_key_passphrase"`
	HostKey      string `json:"host_key"`
	BaseDir      string `json:"base_dir"`
	LegacyCrypto bool   `json:"legacy_crypto"`
}

// build validates the spec into a target, secrets in the clear.
func (s targetSpec) build() (store.Target, error) {
	t := store.Target{Name: strings.TrimSpace(s.Name), Host: strings.TrimSpace(s.Host), Port: s.Port,
		User: s.User, Password: s.Password, BaseDir: s.BaseDir, HostKey: strings.TrimSpace(s.HostKey),
		LegacyCrypto: s.LegacyCrypto, PrivateKey: []byte(s.PrivateKey), Passphrase: []byte(s.Passphrase)}
	if s.URL != "" {
		if t.Host != "" || t.User != "" || t.Port != 0 || t.BaseDir != "" {
			return t, invalid("url", "give either a URL or host, port, user and base directory, not both")
		}
		u, err := sftp.ParseURL(s.URL)
		if err != nil {
			return t, &invalidField{Field: "url", Err: err}
		}
		t.Host, t.Port, t.User, t.BaseDir = u.Host, u.Port, u.User, u.Dir
		if s.Password != "" && u.Password != "" {
			return t, invalid("password", "the URL holds a password already")
		}
		if u.Password != "" {
			t.Password = u.Password
		}
	}
	if t.Host == "" {
		return t, invalid("url", "is required (or host and user)")
	}
	if t.Port == 0 {
		t.Port = 22
	}
	if t.Port < 1 || t.Port > 65535 {
		return t, invalid("port", "%d is not a TCP port", t.Port)
	}
	if t.User == "" {
		return t, invalid("user", "is required: the URL or the request names no user")
	}
	if len(t.PrivateKey) > 0 {
		if err := sftp.ValidatePrivateKey(t.PrivateKey, t.Passphrase); err != nil {
			return t, &invalidField{Field: "private_key", Err: err}
		}
	} else if len(t.Passphrase) > 0 {
		return t, invalid("private_key_passphrase", "given without a private key")
	}
	if t.Password == "" && len(t.PrivateKey) == 0 {
		return t, invalid("password", "no password and no private key: the server could not be logged in to")
	}
	if t.HostKey != "" {
		if err := sftp.ValidateHostKeyPin(t.HostKey); err != nil {
			return t, &invalidField{Field: "host_key", Err: err}
		}
	}
	return t, nil
}

// buildShared validates the spec into a shared target, which needs a name.
func (s targetSpec) buildShared() (store.Target, error) {
	if strings.TrimSpace(s.Name) == "" {
		return store.Target{}, invalid("name", "is required: destinations refer to targets by id, people by name")
	}
	return s.build()
}

// targetPatch changes a target (targets update, PATCH /v1/targets/{id}): the fields given change, the others stay. An empty
// password or private_key removes it; an empty host_key unpins the key.
type targetPatch struct {
	Name         *string `json:"name"`
	URL          *string `json:"url"`
	Host         *string `json:"host"`
	Port         *int    `json:"port"`
	User         *string `json:"user"`
	Password     *string `json:"password"`
	PrivateKey   *string `json:"private_key"`
	Passphrase   *string `json:"private_key_passphrase"`
	HostKey      *string `json:"host_key"`
	BaseDir      *string `json:"base_dir"`
	LegacyCrypto *bool   `json:"legacy_crypto"`
}

// update validates the patch into a TargetUpdate of t.
func (p targetPatch) update(t store.Target) (store.TargetUpdate, error) {
	var u store.TargetUpdate
	if p == (targetPatch{}) {
		return u, invalid("name", "nothing to update: give at least one field")
	}
	if p.URL != nil {
		if p.Host != nil || p.Port != nil || p.User != nil || p.BaseDir != nil {
			return u, invalid("url", "give either a URL or host, port, user and base directory, not both")
		}
		parsed, err := sftp.ParseURL(*p.URL)
		if err != nil {
			return u, &invalidField{Field: "url", Err: err}
		}
		u.Host, u.Port, u.User, u.BaseDir = &parsed.Host, &parsed.Port, &parsed.User, &parsed.Dir
		if parsed.Password != "" {
			if p.Password != nil {
				return u, invalid("password", "the URL holds a password already")
			}
			u.Password = &parsed.Password
		}
	}
	if p.Name != nil {
		if strings.TrimSpace(*p.Name) == "" {
			return u, invalid("name", "must not be empty")
		}
		name := strings.TrimSpace(*p.Name)
		u.Name = &name
	}
	if p.Host != nil {
		host := strings.TrimSpace(*p.Host)
		if host == "" {
			return u, invalid("host", "must not be empty")
		}
		u.Host = &host
	}
	if p.Port != nil {
		if *p.Port < 1 || *p.Port > 65535 {
			return u, invalid("port", "%d is not a TCP port", *p.Port)
		}
		u.Port = p.Port
	}
	if p.User != nil {
		if *p.User == "" {
			return u, invalid("user", "must not be empty")
		}
		u.User = p.User
	}
	if p.BaseDir != nil {
		u.BaseDir = p.BaseDir
	}
	if p.Password != nil {
		u.Password = p.Password
	}
	if p.PrivateKey != nil {
		key := []byte(*p.PrivateKey)
		var pass []byte
		if p.Passphrase != nil {
			pass = []byte(*p.Passphrase)
		}
		if len(key) > 0 {
			if err := sftp.ValidatePrivateKey(key, pass); err != nil {
				return u, &invalidField{Field: "private_key", Err: err}
			}
		} else if len(pass) > 0 {
			return u, invalid("private_key_passphrase", "given without a private key")
		}
		u.PrivateKey, u.Passphrase = &key, &pass
	} else if p.Passphrase != nil {
		return u, invalid("private_key_passphrase", "give it with the private_key it unlocks")
	}
	if p.HostKey != nil {
		pin := strings.TrimSpace(*p.HostKey)
		if pin != "" {
			if err := sftp.ValidateHostKeyPin(pin); err != nil {
				return u, &invalidField{Field: "host_key", Err: err}
			}
		}
		u.HostKey = &pin
	}
	if p.LegacyCrypto != nil {
		u.LegacyCrypto = p.LegacyCrypto
	}
	// The server must still be one the service can log in to.
	hasPassword, hasKey := t.HasPassword, t.HasKey
	if u.Password != nil {
		hasPassword = *u.Password != ""
	}
	if u.PrivateKey != nil {
		hasKey = len(*u.PrivateKey) > 0
	}
	if !hasPassword && !hasKey {
		return u, invalid("password", "no password and no private key would be left: the server could not be logged in to")
	}
	return u, nil
}

// destinationSpec is a destination as support describes it: a company's event types, in a
// format, delivered to a URL or to a shared target.
type destinationSpec struct {
	targetSpec
	CompanyID  string   `json:"company_id"`
	TargetID   string   `json:"target_id"`
	Path       string   `json:"path"`
	Format     string   `json:"format"`
	EventTypes []string `json:"event_types"`
	StartDate  string   `json:"start_date"`
	AlertURL   string   `json:"alert_url"`
}

// build validates the spec into a new destination; today is the default start date.
func (s destinationSpec) build(loc *time.Location, now time.Time) (store.NewDestination, error) {
	nd := store.NewDestination{Name: strings.TrimSpace(s.Name), AlertURL: strings.TrimSpace(s.AlertURL),
		Path: strings.TrimSpace(s.Path)}
	var err error
	if s.CompanyID == "" {
		return nd, invalid("company_id", "is required")
	}
	if nd.CompanyID, err = store.ParseUUID("company", s.CompanyID); err != nil {
		return nd, &invalidField{Field: "company_id", Err: err}
	}
	if s.Format == "" {
		return nd, invalid("format", "is required: json or csv")
	}
	if nd.Format, err = file.ParseFormat(s.Format); err != nil {
		return nd, &invalidField{Field: "format", Err: err}
	}
	names := s.EventTypes
	if len(names) == 0 {
		names = []string{events.CourseComplete.Name}
	}
	types, err := events.ParseTypes(strings.Join(names, ","))
	if err != nil {
		return nd, &invalidField{Field: "event_types", Err: err}
	}
	for _, t := range types {
		nd.EventTypes = append(nd.EventTypes, t.Name)
	}
	if s.StartDate != "" {
		if nd.StartDate, err = events.ParseDay(s.StartDate); err != nil {
			return nd, &invalidField{Field: "start_date", Err: err}
		}
	} else {
		nd.StartDate = events.DayOf(now, loc)
	}
	if nd.AlertURL != "" && !strings.HasPrefix(nd.AlertURL, "https://") && !strings.HasPrefix(nd.AlertURL, "http://") {
		return nd, invalid("alert_url", "%q is not an http(s) URL", nd.AlertURL)
	}
	if s.TargetID != "" {
		if s.URL != "" || s.Host != "" || s.Password != "" || s.PrivateKey != "" || s.HostKey != "" {
			return nd, invalid("target_id", "a destination on a shared target takes its server, credentials and host key from the target: give either a target or a URL")
		}
		if nd.TargetID, err = store.ParseUUID("target", s.TargetID); err != nil {
			return nd, &invalidField{Field: "target_id", Err: err}
		}
		return nd, nil
	}
	if nd.Path != "" {
		return nd, invalid("path", "is for destinations on a shared target; put the directory in the URL")
	}
	if s.URL == "" && s.Host == "" {
		return nd, invalid("url", "is required (or a shared target)")
	}
	nd.Target, err = s.targetSpec.build()
	return nd, err
}
