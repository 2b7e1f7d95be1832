package https

import (
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"net/url"
	"path"
	"strings"

	"github.com/eventexport/eventexport/delivery"
)

// Kind is the kind of HTTPS targets.
const Kind = "https"

// The names of an HTTPS target's secrets.
const (
	SecretHeaders       = "headers"        // the customer's header lines, "Name: value", one per line
	SecretSigningSecret = "signing_secret" // the key of the Eventexport-Signature HMAC
)

// Settings are what an HTTPS target stores besides its secrets.
type Settings struct {
	URL         string   `json:"url"`
	TLSCA       string   `json:"tls_ca,omitempty"`       // PEM authorities trusted instead of the system's
	TLSPin      string   `json:"tls_pin,omitempty"`      // the pinned certificate, SHA256:…
	HeaderNames []string `json:"header_names,omitempty"` // the names of the secret headers, for people
}

// ParseSettings reads an HTTPS target's settings.
func ParseSettings(t delivery.Target) (Settings, error) {
	var s Settings
	t.Kind = Kind // errors name this transport
	return s, delivery.DecodeSettings(t, &s)
}

func (s Settings) target(base delivery.Target) (delivery.Target, error) {
	return delivery.WithSettings(base, Kind, s)
}

// Transport delivers to web services; it is registered as kind "https".
type Transport struct{}

func init() { delivery.Register(Transport{}) }

// Kind returns "https".
func (Transport) Kind() string { return Kind }

// Schemes returns "https", and "http" for loopback addresses only.
func (Transport) Schemes() []string { return []string{"https", "http"} }

// Fields lists the input fields of an HTTPS target.
func (Transport) Fields() []string {
	return []string{"url", "header", "signing_secret", "tls_ca", "tls_pin"}
}

type input struct {
	URL           *string
	Header        *string
	SigningSecret *string
	TLSCA         *string
	TLSPin        *string
}

func decodeInput(in delivery.Input) (input, error) {
	var v input
	if err := in.CheckKnown(Transport{}.Fields()); err != nil {
		return v, err
	}
	for name, dst := range map[string]any{"url": &v.URL, "header": &v.Header, "signing_secret": &v.SigningSecret,
		"tls_ca": &v.TLSCA, "tls_pin": &v.TLSPin} {
		if err := in.Decode(name, dst); err != nil {
			return v, err
		}
	}
	return v, nil
}

// ParseURL checks a target URL: https://host[:port]/path, or http:// to a loopback address;
// no user or password (tokens go in headers), no fragment.
func ParseURL(raw string) (*url.URL, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, errors.New("is required: https://host[:port]/path")
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse quotes the URL, which may hold a token in its query.
		return nil, errors.New("is not a URL: want https://host[:port]/path")
	}
	u.Scheme = strings.ToLower(u.Scheme)
	if u.Scheme != "https" && u.Scheme != "http" {
		return nil, fmt.Errorf("scheme %q is not https", u.Scheme)
	}
	if u.User != nil {
		return nil, errors.New("must not hold a user or password: give a token with --header 'Authorization: Bearer …' instead")
	}
	if u.Hostname() == "" {
		return nil, errors.New("names no host: want https://host[:port]/path")
	}
	if p := u.Port(); p != "" {
		var n int
		if _, err := fmt.Sscan(p, &n); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("port %q is not a TCP port", p)
		}
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return nil, errors.New("must not hold a #fragment: it is never sent")
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("plain http:// is only for loopback addresses (tests, local relays), not %s: use https://", u.Hostname())
	}
	if u.Path == "" {
		u.Path = "/"
	}
	return u, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// reserved are the headers the service sets itself; a customer's header may not replace them.
var reserved = map[string]bool{"Host": true, "Content-Type": true, "Content-Length": true, "Content-Encoding": true,
	"Transfer-Encoding": true, "Connection": true, "Idempotency-Key": true, "Te": true, "Trailer": true,
	"Upgrade": true, "Expect": true}

// header is one of the customer's headers.
type header struct{ name, value string }

// parseHeaders reads "Name: value" lines. Errors name the line and the header name, never a value.
func parseHeaders(text string) ([]header, error) {
	var out []header
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		name = strings.TrimSpace(name)
		if !ok || !validName(name) {
			return nil, fmt.Errorf("line %d is not a header: want 'Name: value' with a name of letters, digits and -", i+1)
		}
		value = strings.TrimSpace(value)
		if value == "" {
			return nil, fmt.Errorf("header %s has no value", name)
		}
		for _, c := range value {
			if c < ' ' && c != '\t' || c == 0x7f {
				return nil, fmt.Errorf("the value of header %s holds a control character", name)
			}
		}
		canon := textproto.CanonicalMIMEHeaderKey(name)
		if reserved[canon] || strings.HasPrefix(canon, "Eventexport-") {
			return nil, fmt.Errorf("header %s is set by the service itself", canon)
		}
		out = append(out, header{canon, value})
	}
	return out, nil
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.ContainsRune("!#$%&'*+-.^_`|~", c):
		default:
			return false
		}
	}
	return true
}

func headerNames(hs []header) []string {
	var names []string
	for _, h := range hs {
		names = append(names, h.name)
	}
	return names
}

func checkCA(pem string) error {
	if strings.TrimSpace(pem) == "" {
		return nil
	}
	_, err := delivery.TLSTrust{CAPEM: []byte(pem)}.Config("x", nil)
	return err
}

// Configure checks an HTTPS target's input: its URL, the customer's headers ("Name: value"
// lines, secrets), a signing secret, and how its certificate is trusted (a CA bundle, a pin).
// On a change an empty header or signing_secret removes it, an empty tls_pin or tls_ca too; a
// URL naming another host drops the pin, unless one is given.
func (Transport) Configure(base *delivery.Target, in delivery.Input) (delivery.Target, error) {
	v, err := decodeInput(in)
	if err != nil {
		return delivery.Target{}, err
	}
	var s Settings
	out := delivery.Target{}
	if base != nil {
		if s, err = ParseSettings(*base); err != nil {
			return *base, err
		}
		out = *base
	} else if v.URL == nil {
		return delivery.Target{}, delivery.Invalid("url", "is required: https://host[:port]/path")
	}
	out.Secrets = map[string][]byte{}
	fail := func(err error) (delivery.Target, error) {
		if base != nil {
			return *base, err
		}
		return delivery.Target{}, err
	}
	if v.URL != nil {
		u, err := ParseURL(*v.URL)
		if err != nil {
			return fail(&delivery.FieldError{Field: "url", Err: err})
		}
		if was, err := url.Parse(s.URL); base != nil && (err != nil || !strings.EqualFold(was.Host, u.Host)) && v.TLSPin == nil {
			s.TLSPin = "" // another server: the former one's certificate cannot hold
		}
		s.URL = u.String()
	}
	if v.Header != nil {
		hs, err := parseHeaders(*v.Header)
		if err != nil {
			return fail(&delivery.FieldError{Field: "header", Err: err})
		}
		s.HeaderNames = headerNames(hs)
		var lines []string
		for _, h := range hs {
			lines = append(lines, h.name+": "+h.value)
		}
		if len(lines) > 0 || base != nil {
			out.Secrets[SecretHeaders] = []byte(strings.Join(lines, "\n"))
		}
	}
	if v.SigningSecret != nil {
		if sec := *v.SigningSecret; sec != "" || base != nil {
			out.Secrets[SecretSigningSecret] = []byte(sec)
		}
	}
	if v.TLSCA != nil {
		if err := checkCA(*v.TLSCA); err != nil {
			return fail(&delivery.FieldError{Field: "tls_ca", Err: err})
		}
		s.TLSCA = strings.TrimSpace(*v.TLSCA)
		if s.TLSCA != "" {
			s.TLSCA += "\n"
		}
	}
	if v.TLSPin != nil {
		s.TLSPin = ""
		if p := strings.TrimSpace(*v.TLSPin); p != "" {
			pin, err := delivery.ParseCertPin(p)
			if err != nil {
				return fail(&delivery.FieldError{Field: "tls_pin", Err: err})
			}
			s.TLSPin = string(pin)
		}
	}
	if len(out.Secrets) == 0 {
		out.Secrets = nil
	}
	return s.target(out)
}

// Describe lists the URL, the names of the customer's headers, whether requests are signed,
// and how the certificate is trusted.
func (Transport) Describe(t delivery.Target) []delivery.Field {
	s, _ := ParseSettings(t)
	names := s.HeaderNames
	if names == nil {
		names = []string{}
	}
	trust := "system roots"
	if s.TLSCA != "" {
		trust = "the target's CA file"
	}
	if s.TLSPin != "" {
		trust = "the pinned certificate"
	}
	return []delivery.Field{
		{Name: "url", Value: s.URL, Text: s.URL},
		{Name: "header_names", Label: "headers", Value: names, Text: orNone(strings.Join(names, ", "))},
		{Name: "has_signing_secret", Label: "signed", Value: t.HasSecret(SecretSigningSecret), Text: fmt.Sprint(t.HasSecret(SecretSigningSecret))},
		{Name: "tls_pin", Label: "certificate pin", Value: s.TLSPin, Text: orNone(s.TLSPin)},
		{Name: "has_tls_ca", Label: "trusts", Value: s.TLSCA != "", Text: trust},
	}
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// join is the target's URL with p appended to its path; an absolute p replaces the path.
func (s Settings) join(p string) *url.URL {
	u, err := url.Parse(s.URL)
	if err != nil {
		return &url.URL{}
	}
	u.User = nil
	switch {
	case p == "":
	case strings.HasPrefix(p, "/"):
		u.Path, u.RawPath = path.Clean(p), ""
	default:
		u = u.JoinPath(p)
	}
	return u
}

// URL shows where files to p go: the URL they are posted to.
func (Transport) URL(t delivery.Target, p string) string {
	s, _ := ParseSettings(t)
	return s.join(p).String()
}

// Dir is the URL path files to p are posted to.
func (Transport) Dir(t delivery.Target, p string) string {
	s, _ := ParseSettings(t)
	return s.join(p).Path
}

// Pinned reports whether the server's certificate is pinned.
func (Transport) Pinned(t delivery.Target) bool {
	s, _ := ParseSettings(t)
	return s.TLSPin != ""
}

// Pin pins the certificate a Put presented.
func (Transport) Pin(t delivery.Target, pin string) (delivery.Target, error) {
	s, err := ParseSettings(t)
	if err != nil {
		return t, err
	}
	p, err := delivery.ParseCertPin(pin)
	if err != nil {
		return t, err
	}
	s.TLSPin = string(p)
	return s.target(t)
}

// Open returns a sink posting files to p on the target.
func (Transport) Open(t delivery.Target, p string, o delivery.Options) (delivery.Sink, error) {
	s, err := ParseSettings(t)
	if err != nil {
		return nil, err
	}
	hs, err := parseHeaders(string(t.Secrets[SecretHeaders]))
	if err != nil {
		return nil, fmt.Errorf("the target's headers: %w", err)
	}
	return newSink(s, p, hs, t.Secrets[SecretSigningSecret], o), nil
}

var (
	_ delivery.Transport  = Transport{}
	_ delivery.Presenter  = (*Sink)(nil)
	_ delivery.Sink       = (*Sink)(nil)
	_ delivery.WholeFiler = (*Sink)(nil)
)
