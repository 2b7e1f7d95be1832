package sftp

import (
	"cmp"
	"fmt"
	"path"
	"strings"

	"github.com/eventexport/eventexport/delivery"
)

// Kind is the kind of SFTP targets.
const Kind = "sftp"

// The names of an SFTP target's secrets.
const (
	SecretPassword   = "password"
	SecretPrivateKey = "private_key"
	SecretPassphrase = "passphrase"
)

// Settings are what an SFTP target stores besides its secrets.
type Settings struct {
	Host         string `json:"host"`
	Port         int    `json:"port"`
	User         string `json:"user"`
	HostKey      string `json:"host_key"` // pinned host key(s); "" when none yet
	BaseDir      string `json:"base_dir"`
	LegacyCrypto bool   `json:"legacy_crypto"`
}

// ParseSettings reads an SFTP target's settings.
func ParseSettings(t delivery.Target) (Settings, error) {
	var s Settings
	t.Kind = Kind // errors name this transport
	return s, delivery.DecodeSettings(t, &s)
}

func (s Settings) target(base delivery.Target) (delivery.Target, error) {
	return delivery.WithSettings(base, Kind, s)
}

// Transport delivers to SFTP servers; it is registered as kind "sftp".
type Transport struct{}

func init() { delivery.Register(Transport{}) }

// Kind returns "sftp".
func (Transport) Kind() string { return Kind }

// Schemes returns "sftp".
func (Transport) Schemes() []string { return []string{"sftp"} }

// Fields lists the input fields of an SFTP target.
func (Transport) Fields() []string {
	return []string{"url", "host", "port", "user", "password", "private_key", "private_key_passphrase",
		"host_key", "add_host_key", "drop_host_key", "base_dir", "legacy_crypto"}
}

// input is an SFTP target's fields as given; nil is absent.
type input struct {
	URL          *string `json:"url"`
	Host         *string `json:"host"`
	Port         *int    `json:"port"`
	User         *string `json:"user"`
	Password     *string `json:"password"`
	PrivateKey   *string `json:"private_key"`
	Passphrase   *string `json:"private_key_passphrase"`
	HostKey      *string `json:"host_key"`
	AddHostKey   *string `json:"add_host_key"`
	DropHostKey  *string `json:"drop_host_key"`
	BaseDir      *string `json:"base_dir"`
	LegacyCrypto *bool   `json:"legacy_crypto"`
}

func decodeInput(in delivery.Input) (input, error) {
	var v input
	if err := in.CheckKnown(Transport{}.Fields()); err != nil {
		return v, err
	}
	fields := []struct {
		name string
		dst  any
	}{
		{"url", &v.URL}, {"host", &v.Host}, {"port", &v.Port}, {"user", &v.User}, {"password", &v.Password},
		{"private_key", &v.PrivateKey}, {"private_key_passphrase", &v.Passphrase}, {"host_key", &v.HostKey},
		{"add_host_key", &v.AddHostKey}, {"drop_host_key", &v.DropHostKey},
		{"base_dir", &v.BaseDir}, {"legacy_crypto", &v.LegacyCrypto},
	}
	for _, f := range fields {
		if err := in.Decode(f.name, f.dst); err != nil {
			return v, err
		}
	}
	return v, nil
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// Configure checks an SFTP target's input: a URL, or host, port and user, with a password
// and/or a private key, and optionally a host key pin, a base directory and legacy crypto. On
// a change (base not nil) an empty password or private key removes it, an empty host key unpins.
func (Transport) Configure(base *delivery.Target, in delivery.Input) (delivery.Target, error) {
	v, err := decodeInput(in)
	if err != nil {
		return delivery.Target{}, err
	}
	if base == nil {
		return configureNew(v)
	}
	return configureChange(*base, v)
}

func configureNew(v input) (delivery.Target, error) {
	if v.AddHostKey != nil || v.DropHostKey != nil {
		return delivery.Target{}, delivery.Invalid("host_key", "give the pins of a new target with host_key (one per line)")
	}
	s := Settings{Host: strings.TrimSpace(str(v.Host)), User: str(v.User), BaseDir: str(v.BaseDir),
		HostKey: strings.TrimSpace(str(v.HostKey))}
	if v.Port != nil {
		s.Port = *v.Port
	}
	if v.LegacyCrypto != nil {
		s.LegacyCrypto = *v.LegacyCrypto
	}
	password := str(v.Password)
	if u := str(v.URL); u != "" {
		if s.Host != "" || s.User != "" || s.Port != 0 || s.BaseDir != "" {
			return delivery.Target{}, delivery.Invalid("url", "give either a URL or host, port, user and base directory, not both")
		}
		cfg, err := ParseURL(u)
		if err != nil {
			return delivery.Target{}, &delivery.FieldError{Field: "url", Err: err}
		}
		s.Host, s.Port, s.User, s.BaseDir = cfg.Host, cfg.Port, cfg.User, cfg.Dir
		if password != "" && cfg.Password != "" {
			return delivery.Target{}, delivery.Invalid("password", "the URL holds a password already")
		}
		if cfg.Password != "" {
			password = cfg.Password
		}
	}
	if s.Host == "" {
		return delivery.Target{}, delivery.Invalid("url", "is required (or host and user)")
	}
	s.Port = cmp.Or(s.Port, DefaultPort)
	if s.Port < 1 || s.Port > 65535 {
		return delivery.Target{}, delivery.Invalid("port", "%d is not a TCP port", s.Port)
	}
	if s.User == "" {
		return delivery.Target{}, delivery.Invalid("user", "is required: the URL or the request names no user")
	}
	key, pass := []byte(str(v.PrivateKey)), []byte(str(v.Passphrase))
	if len(key) > 0 {
		if err := ValidatePrivateKey(key, pass); err != nil {
			return delivery.Target{}, &delivery.FieldError{Field: "private_key", Err: err}
		}
	} else if len(pass) > 0 {
		return delivery.Target{}, delivery.Invalid("private_key_passphrase", "given without a private key")
	}
	if password == "" && len(key) == 0 {
		return delivery.Target{}, delivery.Invalid("password", "no password and no private key: the server could not be logged in to")
	}
	if s.HostKey != "" {
		if err := ValidateHostKeyPin(s.HostKey); err != nil {
			return delivery.Target{}, &delivery.FieldError{Field: "host_key", Err: err}
		}
	}
	secrets := map[string][]byte{}
	if password != "" {
		secrets[SecretPassword] = []byte(password)
	}
	if len(key) > 0 {
		secrets[SecretPrivateKey] = key
		if len(pass) > 0 {
			secrets[SecretPassphrase] = pass
		}
	}
	return s.target(delivery.Target{Secrets: secrets})
}

func configureChange(base delivery.Target, v input) (delivery.Target, error) {
	s, err := ParseSettings(base)
	if err != nil {
		return base, err
	}
	was := s
	out := base
	out.Secrets = map[string][]byte{}
	if v.URL != nil {
		if v.Host != nil || v.Port != nil || v.User != nil || v.BaseDir != nil {
			return base, delivery.Invalid("url", "give either a URL or host, port, user and base directory, not both")
		}
		cfg, err := ParseURL(*v.URL)
		if err != nil {
			return base, &delivery.FieldError{Field: "url", Err: err}
		}
		s.Host, s.Port, s.User, s.BaseDir = cfg.Host, cfg.Port, cfg.User, cfg.Dir
		if cfg.Password != "" {
			if v.Password != nil {
				return base, delivery.Invalid("password", "the URL holds a password already")
			}
			out.Secrets[SecretPassword] = []byte(cfg.Password)
		}
	}
	if v.Host != nil {
		host := strings.TrimSpace(*v.Host)
		if host == "" {
			return base, delivery.Invalid("host", "must not be empty")
		}
		s.Host = host
	}
	if v.Port != nil {
		if *v.Port < 1 || *v.Port > 65535 {
			return base, delivery.Invalid("port", "%d is not a TCP port", *v.Port)
		}
		s.Port = *v.Port
	}
	if v.User != nil {
		if *v.User == "" {
			return base, delivery.Invalid("user", "must not be empty")
		}
		s.User = *v.User
	}
	if v.BaseDir != nil {
		s.BaseDir = *v.BaseDir
	}
	if v.Password != nil {
		out.Secrets[SecretPassword] = []byte(*v.Password)
	}
	if v.PrivateKey != nil {
		key := []byte(*v.PrivateKey)
		pass := []byte(str(v.Passphrase))
		if len(key) > 0 {
			if err := ValidatePrivateKey(key, pass); err != nil {
				return base, &delivery.FieldError{Field: "private_key", Err: err}
			}
		} else if len(pass) > 0 {
			return base, delivery.Invalid("private_key_passphrase", "given without a private key")
		}
		out.Secrets[SecretPrivateKey] = key
		out.Secrets[SecretPassphrase] = pass // a new key's passphrase, or none
	} else if v.Passphrase != nil {
		return base, delivery.Invalid("private_key_passphrase", "give it with the private_key it unlocks")
	}
	if (s.Host != was.Host || s.Port != was.Port) && v.HostKey == nil {
		// Another server: the pin of the former one cannot hold. Deliveries are refused until
		// the new server's key is pinned.
		s.HostKey = ""
	}
	if v.HostKey != nil {
		pin := strings.TrimSpace(*v.HostKey)
		if pin != "" {
			if err := ValidateHostKeyPin(pin); err != nil {
				return base, &delivery.FieldError{Field: "host_key", Err: err}
			}
		}
		s.HostKey = pin
	}
	if v.AddHostKey != nil {
		pin := strings.TrimSpace(*v.AddHostKey)
		if err := ValidateHostKeyPin(pin); err != nil || pin == "" {
			if err == nil {
				err = fmt.Errorf("is empty")
			}
			return base, &delivery.FieldError{Field: "add_host_key", Err: err}
		}
		s.HostKey = addPins(s.HostKey, pin)
	}
	if v.DropHostKey != nil {
		kept, dropped := dropPin(s.HostKey, strings.TrimSpace(*v.DropHostKey))
		if !dropped {
			return base, delivery.Invalid("drop_host_key", "%q is not among the pinned host keys", strings.TrimSpace(*v.DropHostKey))
		}
		s.HostKey = kept
	}
	if v.LegacyCrypto != nil {
		s.LegacyCrypto = *v.LegacyCrypto
	}
	// The server must still be one the service can log in to.
	if !out.HasSecret(SecretPassword) && !out.HasSecret(SecretPrivateKey) {
		return base, delivery.Invalid("password", "no password and no private key would be left: the server could not be logged in to")
	}
	return s.target(out)
}

// Describe lists host, port, user, base directory, pinned host key, how it logs in, and legacy crypto.
func (Transport) Describe(t delivery.Target) []delivery.Field {
	s, _ := ParseSettings(t)
	var auth []string
	if t.HasSecret(SecretPassword) {
		auth = append(auth, "password")
	}
	if t.HasSecret(SecretPrivateKey) {
		auth = append(auth, "private key")
	}
	return []delivery.Field{
		{Name: "host", Value: s.Host, Text: s.Host},
		{Name: "port", Value: s.Port, Text: fmt.Sprint(s.Port)},
		{Name: "user", Value: s.User, Text: s.User},
		{Name: "base_dir", Value: s.BaseDir, Text: s.BaseDir},
		{Name: "host_key", Label: "host key", Value: s.HostKey, Text: cmp.Or(s.HostKey, "(none pinned)")},
		{Name: "has_password", Value: t.HasSecret(SecretPassword)},
		{Name: "has_private_key", Label: "auth", Value: t.HasSecret(SecretPrivateKey), Text: strings.Join(auth, " + ")},
		{Name: "legacy_crypto", Label: "legacy crypto", Value: s.LegacyCrypto, Text: fmt.Sprint(s.LegacyCrypto)},
	}
}

// Dir is the remote directory of p on the target: p under the base directory, or p itself
// when absolute or when the target has no base directory.
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

// URL shows the target and directory as sftp://user:xxxxx@host:port/dir.
func (Transport) URL(t delivery.Target, p string) string {
	s, _ := ParseSettings(t)
	c := Config{Host: s.Host, Port: s.Port, User: s.User, Dir: s.Dir(p)}
	if t.HasSecret(SecretPassword) {
		c.Password = "redacted" // Redacted masks it; the real one is never read here
	}
	return c.Redacted()
}

// Dir is the remote directory of path on the target.
func (Transport) Dir(t delivery.Target, p string) string {
	s, _ := ParseSettings(t)
	return s.Dir(p)
}

// Pinned reports whether a host key is pinned.
func (Transport) Pinned(t delivery.Target) bool {
	s, _ := ParseSettings(t)
	return s.HostKey != ""
}

// Pin pins the host key line a Put presented.
func (Transport) Pin(t delivery.Target, pin string) (delivery.Target, error) {
	s, err := ParseSettings(t)
	if err != nil {
		return t, err
	}
	if err := ValidateHostKeyPin(pin); err != nil {
		return t, err
	}
	s.HostKey = pin
	return s.target(t)
}

// Open returns the SFTP target for a delivery into p.
func (Transport) Open(t delivery.Target, p string, o delivery.Options) (delivery.Sink, error) {
	s, err := ParseSettings(t)
	if err != nil {
		return nil, err
	}
	return New(Config{
		Host: s.Host, Port: s.Port, User: s.User, Password: string(t.Secrets[SecretPassword]),
		PrivateKey: t.Secrets[SecretPrivateKey], Passphrase: t.Secrets[SecretPassphrase], HostKey: s.HostKey,
		Dir: s.Dir(p), LegacyCrypto: s.LegacyCrypto, SourceAddr: o.SourceAddr,
		ConnectTimeout: o.ConnectTimeout, AttemptTimeout: o.AttemptTimeout, MaxServerConns: o.ServerConns,
		AcceptUnknownHostKey: o.AcceptUnknown && s.HostKey == "",
	}), nil
}

// Presented returns the host key the server presented in the latest Put: its fingerprint,
// and the line to pin.
func (t *Target) Presented() (fingerprint, pin string) { return t.PresentedHostKey() }

// CloseIdle closes the connections kept for the next delivery.
func (Transport) CloseIdle() { CloseIdle() }

var (
	_ delivery.IdleCloser = Transport{}
	_ delivery.Transport  = Transport{}
	_ delivery.Presenter  = (*Target)(nil)
	_ delivery.Sink       = (*Target)(nil)
)

// TargetOf returns the stored form of the target cfg describes: its settings and its secrets
// in the clear (cfg.Dir is the base directory).
func TargetOf(cfg Config) delivery.Target {
	s := Settings{Host: cfg.Host, Port: cmp.Or(cfg.Port, DefaultPort), User: cfg.User, HostKey: cfg.HostKey,
		BaseDir: cfg.Dir, LegacyCrypto: cfg.LegacyCrypto}
	secrets := map[string][]byte{}
	if cfg.Password != "" {
		secrets[SecretPassword] = []byte(cfg.Password)
	}
	if len(cfg.PrivateKey) > 0 {
		secrets[SecretPrivateKey] = cfg.PrivateKey
	}
	if len(cfg.Passphrase) > 0 {
		secrets[SecretPassphrase] = cfg.Passphrase
	}
	t, _ := s.target(delivery.Target{Secrets: secrets}) // marshalling Settings cannot fail
	return t
}

// addPins adds the pin lines of add to pins, skipping those pinned already.
func addPins(pins, add string) string {
	have := map[string]bool{}
	var out []string
	for _, l := range strings.Split(pins, "\n") {
		if l = strings.TrimSpace(l); l != "" && !have[l] {
			have[l] = true
			out = append(out, l)
		}
	}
	for _, l := range strings.Split(add, "\n") {
		if l = strings.TrimSpace(l); l != "" && !have[l] {
			have[l] = true
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// dropPin removes from pins the lines equal to drop, or pinning the key whose SHA256
// fingerprint drop is, and reports whether any was removed.
func dropPin(pins, drop string) (string, bool) {
	var out []string
	dropped := false
	for _, l := range strings.Split(pins, "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		if l == drop || pinFingerprint(l) == drop {
			dropped = true
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n"), dropped
}

// pinFingerprint is the SHA256 fingerprint a pin line pins, or "".
func pinFingerprint(line string) string {
	p, err := parsePin(line)
	if err != nil {
		return ""
	}
	if p.key != nil {
		return Fingerprint(p.key)
	}
	return p.fingerprint
}
