package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Default limits of every delivery attempt, from the vendor's published delivery terms.
const (
	DefaultConnectTimeout = 60 * time.Second
	DefaultAttemptTimeout = 5 * time.Minute
)

// Sink receives files. Put writes r under name atomically — nothing appears under name unless
// all of r arrived — and returns where the file now is. A read error from r aborts it.
type Sink interface {
	Put(ctx context.Context, name string, r io.Reader) (remotePath string, err error)
}

// Presenter is a Sink that can tell the identity its server presented (an SSH host key, a TLS
// certificate), for pinning it on first use, as an explicit act of support.
type Presenter interface {
	// Presented returns the identity of the latest connection: a fingerprint for people, and
	// the pin to store. Both are empty when no server presented one yet.
	Presented() (fingerprint, pin string)
}

// Cleaner is a Sink that can remove what a failed Put left on the server (its temporary
// file, when the connection broke or a time limit passed before Put could).
type Cleaner interface {
	Clean(ctx context.Context, name string) error
}

// WholeFiler is a Sink that takes each file whole: the engine writes a file locally before
// it puts it, so that its length and event count are known when it starts sending it (an HTTP
// request's Content-Length and headers) and it can be sent again on a new connection.
type WholeFiler interface {
	WholeFiles() bool
}

// Remover is a Sink that can remove files it delivered, when the run they belong to failed
// for good after they were delivered.
type Remover interface {
	Remove(ctx context.Context, names ...string) error
}

// Target is a target server in the form every transport shares: its kind, its settings as the
// transport stores them, and its secrets.
type Target struct {
	Kind string
	// Settings are the transport's own, as JSON; nothing outside the transport reads them.
	Settings json.RawMessage
	// Secrets are in the clear, by name ("password", "private_key", …): those to store after
	// Configure (an empty value removes one), those opened for a delivery before Open.
	Secrets map[string][]byte
	// Has tells which secrets are set, without their values.
	Has map[string]bool
}

// HasSecret reports whether the target has the secret name, stored or about to be.
func (t Target) HasSecret(name string) bool {
	if v, ok := t.Secrets[name]; ok {
		return len(v) > 0
	}
	return t.Has[name]
}

// Options are a delivery's settings that come from the service, not the target.
type Options struct {
	// SourceAddr is the local IP address outbound connections are bound to, so that customers'
	// allow-lists hold; "" lets the system choose.
	SourceAddr string
	// ConnectTimeout bounds connecting (TCP, handshakes, login); AttemptTimeout a whole Put.
	ConnectTimeout time.Duration
	AttemptTimeout time.Duration
	// ServerConns is how many connections to one server the process opens at once; 0 is the
	// transport's default.
	ServerConns int
	// AcceptUnknown accepts whatever identity the server presents when none is pinned: trust
	// on first use, for an explicit support action. The sink is then a Presenter.
	AcceptUnknown bool
}

// WithDefaults fills in the default time limits.
func (o Options) WithDefaults() Options {
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.AttemptTimeout <= 0 {
		o.AttemptTimeout = DefaultAttemptTimeout
	}
	return o
}

// Dialer returns a dialer bound to the source address, if any. A source address that is not
// an IP address is an error naming it.
func (o Options) Dialer() (*net.Dialer, error) {
	d := &net.Dialer{}
	if o.SourceAddr != "" {
		ip := net.ParseIP(o.SourceAddr)
		if ip == nil {
			return nil, fmt.Errorf("source address %q is not an IP address", o.SourceAddr)
		}
		d.LocalAddr = &net.TCPAddr{IP: ip}
	}
	return d, nil
}

// Field is one setting of a target as shown to people and in JSON; never a secret.
type Field struct {
	Name  string // the JSON name, as in requests
	Label string // for people; "" when not shown in text
	Value any    // the JSON value
	Text  string // the value for people
}

// Input is what support gives to add or change a target: fields by their JSON names (a URL as
// "url", secrets among them), as JSON values. A transport rejects a field it does not know.
type Input map[string]json.RawMessage

// FieldError is bad input in one field, named by its JSON name.
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// Invalid returns a *FieldError for field.
func Invalid(field, format string, args ...any) error {
	return &FieldError{Field: field, Err: fmt.Errorf(format, args...)}
}

// Transport is one kind of target: how its URLs and settings are read and checked, shown
// without secrets, and how files are delivered to it.
type Transport interface {
	// Kind names the transport ("sftp"), as stored with each target.
	Kind() string
	// Schemes are the URL schemes whose URLs the transport reads ("sftp").
	Schemes() []string
	// Fields lists the input fields the transport reads, by JSON name.
	Fields() []string
	// Configure checks in and returns the target it describes: a new one when base is nil,
	// base changed by the fields given otherwise (a field absent stays as it is). Errors name
	// the field (*FieldError). Secrets given are in Target.Secrets, to be stored.
	Configure(base *Target, in Input) (Target, error)
	// Describe lists the target's settings for people, never a secret.
	Describe(t Target) []Field
	// URL shows where files to path on the target go, without secrets.
	URL(t Target, path string) string
	// Dir is where files to path on the target go, on the server (a directory, a URL path).
	Dir(t Target, path string) string
	// Pinned reports whether the target pins the identity of its server.
	Pinned(t Target) bool
	// Pin returns t with the presented pin (from a Presenter) pinned.
	Pin(t Target, pin string) (Target, error)
	// Open returns a sink writing into path on the target (relative to the target's base
	// directory, if it has one), whose secrets are open. Configuration problems are reported
	// by Put as ClassConfig errors.
	Open(t Target, path string, o Options) (Sink, error)
}

var (
	registryMu sync.RWMutex
	registry   = map[string]Transport{}
)

// Register makes a transport available by its kind and URL schemes. It panics on a duplicate:
// registration happens at start-up, from code.
func Register(t Transport) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[t.Kind()]; dup {
		panic(fmt.Sprintf("delivery: transport %q registered twice", t.Kind()))
	}
	registry[t.Kind()] = t
}

// IdleCloser is a Transport that keeps connections open for the next delivery.
type IdleCloser interface {
	// CloseIdle closes the connections kept idle.
	CloseIdle()
}

// CloseIdle closes the idle connections of every transport: at shutdown.
func CloseIdle() {
	registryMu.RLock()
	defer registryMu.RUnlock()
	for _, t := range registry {
		if c, ok := t.(IdleCloser); ok {
			c.CloseIdle()
		}
	}
}

// ErrUnknownKind is returned, wrapped, for a kind or URL scheme no transport serves.
var ErrUnknownKind = errors.New("unknown target kind")

// Lookup returns the transport of kind.
func Lookup(kind string) (Transport, error) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	if t, ok := registry[kind]; ok {
		return t, nil
	}
	return nil, fmt.Errorf("%w %q: want %s", ErrUnknownKind, kind, strings.Join(kindsLocked(), ", "))
}

// Kinds lists the registered kinds, sorted.
func Kinds() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	return kindsLocked()
}

func kindsLocked() []string {
	out := make([]string, 0, len(registry))
	for k := range registry {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ForURL returns the transport that reads raw, by its scheme.
func ForURL(raw string) (Transport, error) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	var schemes []string
	for _, t := range registry {
		schemes = append(schemes, t.Schemes()...)
	}
	sort.Strings(schemes)
	want := strings.Join(schemes, "://…, ") + "://…"
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, fmt.Errorf("the url is empty: want %s", want)
	}
	// The URL may hold a password: errors name its scheme at most.
	scheme, _, ok := strings.Cut(raw, "://")
	if !ok {
		return nil, fmt.Errorf("missing scheme: want %s", want)
	}
	scheme = strings.ToLower(scheme)
	for _, t := range registry {
		if slices.Contains(t.Schemes(), scheme) {
			return t, nil
		}
	}
	return nil, fmt.Errorf("%w: unsupported scheme %q: want %s", ErrUnknownKind, Truncate(scheme, 16), want)
}

// Truncate shortens s to n bytes and an ellipsis, for quoting input in messages.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// ErrUnknownField is the error, in a *FieldError, of a field no part of a request knows.
var ErrUnknownField = errors.New("unknown field")

// Decode reads the JSON value of field name into dst (a pointer); an absent field leaves dst
// as it is. A value of the wrong type is a *FieldError saying which type is wanted.
func (in Input) Decode(name string, dst any) error {
	raw, ok := in[name]
	if !ok {
		return nil
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return Invalid(name, "want a JSON %s, got %s", jsonKind(te.Type), te.Value)
		}
		return &FieldError{Field: name, Err: err}
	}
	return nil
}

// Only returns the part of in whose fields are among names.
func (in Input) Only(names []string) Input {
	out := Input{}
	for _, n := range names {
		if v, ok := in[n]; ok {
			out[n] = v
		}
	}
	return out
}

// CheckKnown returns a *FieldError wrapping ErrUnknownField for the first field of in, in
// sorted order, that is not among names.
func (in Input) CheckKnown(names ...[]string) error {
	keys := make([]string, 0, len(in))
	for k := range in {
		keys = append(keys, k)
	}
	sort.Strings(keys)
next:
	for _, k := range keys {
		for _, ns := range names {
			if slices.Contains(ns, k) {
				continue next
			}
		}
		return &FieldError{Field: k, Err: ErrUnknownField}
	}
	return nil
}

// jsonKind names a Go type as JSON does: string, boolean, array, object or number.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Struct, reflect.Map:
		return "object"
	}
	return "number"
}

// DecodeSettings reads t's settings, as its transport stored them, into v: what every
// transport's ParseSettings does. No settings leave v as it is.
func DecodeSettings(t Target, v any) error {
	if len(t.Settings) == 0 {
		return nil
	}
	if err := json.Unmarshal(t.Settings, v); err != nil {
		return fmt.Errorf("read %s settings: %w", t.Kind, err)
	}
	return nil
}

// WithSettings returns base as a target of kind with settings v.
func WithSettings(base Target, kind string, v any) (Target, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return base, err
	}
	base.Kind, base.Settings = kind, b
	return base, nil
}
