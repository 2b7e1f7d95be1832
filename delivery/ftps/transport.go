// Package ftps delivers files to FTPS servers (FTP over TLS), with explicit TLS (AUTH TLS, port
// 21) or implicit TLS (port 990). Plain FTP is not supported: it sends passwords in the clear.
//
// What a customer's server needs: TLS 1.2 or newer, on the control and the data connections
// (PROT P), passive mode (EPSV or PASV), and, when it requires data connections to resume the
// control connection's TLS session (vsftpd's require_ssl_reuse, ProFTPD's default), either TLS
// 1.3 or TLS 1.2 session tickets: Go's TLS client resumes TLS 1.2 sessions only by tickets, not
// by session ids. ProFTPD 1.3.8 offering only TLS 1.2 needs "TLSSessionTickets on".
package ftps

import (
	"fmt"
	"net"
	"path"
	"strconv"
	"strings"

	"github.com/eventexport/eventexport/delivery"
)

// Kind is the kind of FTPS targets.
const Kind = "ftps"

// SecretPassword is the name of an FTPS target's password.
const SecretPassword = "password"

// Settings are what an FTPS target stores besides its password.
type Settings struct {
	Host        string `json:"host"`
	Port        int    `json:"port"`
	User        string `json:"user"`
	BaseDir     string `json:"base_dir"`
	ImplicitTLS bool   `json:"implicit_tls"`
	TLSCA       string `json:"tls_ca,omitempty"`  // PEM authorities trusted instead of the system's
	TLSPin      string `json:"tls_pin,omitempty"` // the certificate's SHA256 pin
}

// ParseSettings reads an FTPS target's settings.
func ParseSettings(t delivery.Target) (Settings, error) {
	var s Settings
	t.Kind = Kind // errors name this transport
	return s, delivery.DecodeSettings(t, &s)
}

func (s Settings) target(base delivery.Target) (delivery.Target, error) {
	return delivery.WithSettings(base, Kind, s)
}

// Dir is the remote directory of p: p under the base directory, or p itself when absolute or
// when there is no base directory.
func (s Settings) Dir(p string) string {
	switch {
	case p == "":
		return s.BaseDir
	case s.BaseDir == "" || strings.HasPrefix(p, "/"):
		return p
	default:
		return path.Join(s.BaseDir, p)
	}
}

func defaultPort(implicit bool) int {
	if implicit {
		return ImplicitPort
	}
	return DefaultPort
}

// Transport delivers to FTPS servers; it is registered as kind "ftps".
type Transport struct{}

func init() { delivery.Register(Transport{}) }

// Kind returns "ftps".
func (Transport) Kind() string { return Kind }

// Schemes returns "ftps" and "ftp", whose URLs Configure refuses saying why.
func (Transport) Schemes() []string { return []string{"ftps", "ftp"} }

// Fields lists the input fields of an FTPS target.
func (Transport) Fields() []string {
	return []string{"url", "host", "port", "user", "password", "base_dir", "implicit_tls", "tls_ca", "tls_pin"}
}

type input struct {
	URL, Host, User, Password, BaseDir, TLSCA, TLSPin *string
	Port                                              *int
	ImplicitTLS                                       *bool
}

func decodeInput(in delivery.Input) (input, error) {
	var v input
	if err := in.CheckKnown(Transport{}.Fields()); err != nil {
		return v, err
	}
	for name, dst := range map[string]any{"url": &v.URL, "host": &v.Host, "port": &v.Port, "user": &v.User,
		"password": &v.Password, "base_dir": &v.BaseDir, "implicit_tls": &v.ImplicitTLS,
		"tls_ca": &v.TLSCA, "tls_pin": &v.TLSPin} {
		if err := in.Decode(name, dst); err != nil {
			return v, err
		}
	}
	return v, nil
}

// Configure checks an FTPS target's input: a URL (or host, port and user), the password,
// and optionally implicit TLS, a CA bundle and a certificate pin. On a change (base not nil)
// a field absent stays as it is; an empty tls_ca or tls_pin removes it.
func (Transport) Configure(base *delivery.Target, in delivery.Input) (delivery.Target, error) {
	v, err := decodeInput(in)
	if err != nil {
		return delivery.Target{}, err
	}
	var s Settings
	out := delivery.Target{Secrets: map[string][]byte{}}
	if base != nil {
		if s, err = ParseSettings(*base); err != nil {
			return *base, err
		}
		out = *base
		out.Secrets = map[string][]byte{}
	}
	was := s
	fail := func(err error) (delivery.Target, error) {
		if base != nil {
			return *base, err
		}
		return delivery.Target{}, err
	}
	portGiven := false
	if v.URL != nil {
		if v.Host != nil || v.Port != nil || v.User != nil || v.BaseDir != nil {
			return fail(delivery.Invalid("url", "give either a URL or host, port, user and base directory, not both"))
		}
		u, err := ParseURL(*v.URL)
		if err != nil {
			return fail(&delivery.FieldError{Field: "url", Err: err})
		}
		s.Host, s.Port, s.User, s.BaseDir = u.Host, u.Port, u.User, u.Dir
		portGiven = u.Port != 0
		if u.Password != "" {
			if v.Password != nil {
				return fail(delivery.Invalid("password", "the URL holds a password already"))
			}
			out.Secrets[SecretPassword] = []byte(u.Password)
		}
	}
	if v.Host != nil {
		if s.Host = strings.TrimSpace(*v.Host); s.Host == "" {
			return fail(delivery.Invalid("host", "must not be empty"))
		}
	}
	if v.Port != nil {
		if *v.Port < 1 || *v.Port > 65535 {
			return fail(delivery.Invalid("port", "%d is not a TCP port", *v.Port))
		}
		s.Port, portGiven = *v.Port, true
	}
	if v.User != nil {
		if s.User = *v.User; s.User == "" {
			return fail(delivery.Invalid("user", "must not be empty"))
		}
	}
	if v.BaseDir != nil {
		s.BaseDir = *v.BaseDir
	}
	if v.ImplicitTLS != nil {
		s.ImplicitTLS = *v.ImplicitTLS
	}
	if !portGiven && (s.Port == 0 || s.Port == defaultPort(was.ImplicitTLS)) {
		// The default port follows the TLS mode, unless a port was given.
		s.Port = defaultPort(s.ImplicitTLS)
	}
	if v.Password != nil {
		out.Secrets[SecretPassword] = []byte(*v.Password)
	}
	if v.TLSCA != nil {
		ca := strings.TrimSpace(*v.TLSCA)
		if ca != "" {
			if _, err := (delivery.TLSTrust{CAPEM: []byte(ca)}).Config("x", nil); err != nil {
				return fail(&delivery.FieldError{Field: "tls_ca", Err: err})
			}
			ca += "\n"
		}
		s.TLSCA = ca
	}
	if (s.Host != was.Host || s.Port != was.Port) && base != nil && v.TLSPin == nil {
		// Another server: the former one's certificate pin cannot hold.
		s.TLSPin = ""
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
	if s.Host == "" {
		return fail(delivery.Invalid("url", "is required (or host and user)"))
	}
	if s.User == "" {
		return fail(delivery.Invalid("user", "is required: the URL or the request names no user"))
	}
	kept := base != nil && v.Password == nil && base.HasSecret(SecretPassword) && !hasKey(out.Secrets, SecretPassword)
	if !out.HasSecret(SecretPassword) && !kept {
		return fail(delivery.Invalid("password", "is required: FTPS servers log in with a password"))
	}
	return s.target(out)
}

// Describe lists host, port, user, base directory, TLS mode, trust and whether a password is set.
func (Transport) Describe(t delivery.Target) []delivery.Field {
	s, _ := ParseSettings(t)
	mode := "explicit (AUTH TLS)"
	if s.ImplicitTLS {
		mode = "implicit"
	}
	trust := "system authorities"
	switch {
	case s.TLSPin != "":
		trust = "pinned certificate " + s.TLSPin
	case s.TLSCA != "":
		trust = "the given CA"
	}
	return []delivery.Field{
		{Name: "host", Value: s.Host, Text: s.Host},
		{Name: "port", Value: s.Port, Text: fmt.Sprint(s.Port)},
		{Name: "user", Value: s.User, Text: s.User},
		{Name: "base_dir", Value: s.BaseDir, Text: s.BaseDir},
		{Name: "implicit_tls", Label: "TLS", Value: s.ImplicitTLS, Text: mode},
		{Name: "tls_ca", Value: s.TLSCA},
		{Name: "tls_pin", Label: "trust", Value: s.TLSPin, Text: trust},
		{Name: "has_password", Value: t.HasSecret(SecretPassword)},
	}
}

// URL shows the target as ftps://user:xxxxx@host:port/dir.
func (Transport) URL(t delivery.Target, p string) string {
	s, _ := ParseSettings(t)
	var b strings.Builder
	b.WriteString("ftps://" + delivery.EscapeUserinfo(s.User))
	if t.HasSecret(SecretPassword) {
		b.WriteString(":xxxxx")
	}
	b.WriteString("@")
	hostport := s.Host
	if strings.Contains(s.Host, ":") {
		hostport = "[" + s.Host + "]"
	}
	if s.Port != 0 && s.Port != DefaultPort {
		hostport = net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
	}
	b.WriteString(hostport)
	dir := s.Dir(p)
	switch {
	case dir == "":
	case strings.HasPrefix(dir, "/"):
		b.WriteString(delivery.EscapePath(dir))
	default:
		b.WriteString("/~/" + delivery.EscapePath(dir))
	}
	return b.String()
}

// Dir is the remote directory of p on the target.
func (Transport) Dir(t delivery.Target, p string) string {
	s, _ := ParseSettings(t)
	return s.Dir(p)
}

// Pinned reports whether the target pins its server's certificate.
func (Transport) Pinned(t delivery.Target) bool {
	s, _ := ParseSettings(t)
	return s.TLSPin != ""
}

// Pin pins the certificate pin a Put presented.
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

// Open returns a sink writing into p on the target.
func (Transport) Open(t delivery.Target, p string, o delivery.Options) (delivery.Sink, error) {
	s, err := ParseSettings(t)
	if err != nil {
		return nil, err
	}
	return &Sink{s: s, dir: s.Dir(p), password: string(t.Secrets[SecretPassword]), o: o.WithDefaults(),
		presented: &delivery.Presented{}}, nil
}

var (
	_ delivery.Transport = Transport{}
	_ delivery.Presenter = (*Sink)(nil)
	_ delivery.Cleaner   = (*Sink)(nil)
	_ delivery.Remover   = (*Sink)(nil)
)

func hasKey(m map[string][]byte, k string) bool {
	_, ok := m[k]
	return ok
}
