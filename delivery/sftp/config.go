package sftp

import (
	"cmp"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/eventexport/eventexport/delivery"
)

// Default limits, from the vendor's published delivery terms.
const (
	DefaultConnectTimeout = delivery.DefaultConnectTimeout
	DefaultAttemptTimeout = delivery.DefaultAttemptTimeout
)

// Config describes one target SFTP server and how to log in to it.
//
// Config holds secrets: its String, GoString and LogValue methods show it
// redacted, so it can be logged or printed without leaking the password.
type Config struct {
	Host string
	Port int // default 22

	User     string
	Password string
	// PrivateKey is a PEM or OpenSSH private key (optional). With both a
	// key and a password, both authentication methods are offered.
	PrivateKey []byte
	// Passphrase decrypts PrivateKey when it is encrypted (optional).
	Passphrase []byte

	// HostKey pins the server's host key: a "SHA256:<base64>" fingerprint,
	// a known_hosts line (including [host]:port entries and hashed |1|…
	// names) or an authorized_keys style "type base64" line. Several pins
	// may be given, one per line; the server's key must match one of them.
	HostKey string

	// Dir is the remote directory; "" means the login directory.
	Dir string

	// LegacyCrypto allows SHA-1 era algorithms (ssh-rsa host keys and
	// signatures, diffie-hellman-group1/group14-sha1 key exchange, CBC
	// ciphers) for old servers that offer nothing better.
	LegacyCrypto bool

	// SourceAddr is the local IP address outbound connections are bound to,
	// so customers' allow-lists hold; "" lets the system choose.
	SourceAddr string

	// ConnectTimeout bounds TCP connect, SSH handshake, authentication and
	// the SFTP session start together. Default 60s.
	ConnectTimeout time.Duration
	// AttemptTimeout bounds a whole Put: connect, upload and rename.
	// Default 5m.
	AttemptTimeout time.Duration

	// MaxServerConns is how many connections to this host and port the process opens at once,
	// idle ones kept for the next delivery included; default DefaultServerConns.
	MaxServerConns int

	// AcceptUnknownHostKey accepts whatever key the server presents when
	// HostKey is empty (trust on first use, for an explicit support action).
	// The key is available from Target.PresentedHostKey afterwards, to pin.
	AcceptUnknownHostKey bool
}

// withDefaults fills in the documented defaults.
func (c Config) withDefaults() Config {
	c.Port = cmp.Or(c.Port, DefaultPort)
	c.ConnectTimeout = cmp.Or(c.ConnectTimeout, DefaultConnectTimeout)
	c.AttemptTimeout = cmp.Or(c.AttemptTimeout, DefaultAttemptTimeout)
	return c
}

// Addr is the host:port to connect to.
func (c Config) Addr() string {
	return net.JoinHostPort(c.Host, strconv.Itoa(cmp.Or(c.Port, DefaultPort)))
}

// Redacted returns the target as a URL with the password masked:
// sftp://user:xxxxx@host:22/path. A key-only target shows no password.
func (c Config) Redacted() string {
	var b strings.Builder
	b.WriteString("sftp://")
	if c.User != "" {
		b.WriteString(delivery.EscapeUserinfo(c.User))
		if c.Password != "" {
			b.WriteString(":xxxxx")
		}
		b.WriteByte('@')
	}
	host := c.Host
	if strings.Contains(host, ":") {
		host = "[" + strings.ReplaceAll(host, "%", "%25") + "]"
	}
	b.WriteString(host)
	b.WriteByte(':')
	b.WriteString(strconv.Itoa(cmp.Or(c.Port, DefaultPort)))
	b.WriteString(urlPathForDir(c.Dir))
	return b.String()
}

// urlPathForDir is the inverse of the path parsing of delivery.ParseServerURL.
func urlPathForDir(dir string) string {
	switch {
	case dir == "":
		return ""
	case strings.HasPrefix(dir, "/"):
		return delivery.EscapePath(dir)
	default:
		return "/~/" + delivery.EscapePath(dir)
	}
}

// String returns c.Redacted().
func (c Config) String() string { return c.Redacted() }

// GoString returns c.Redacted(), so %#v does not print secrets either.
func (c Config) GoString() string { return fmt.Sprintf("delivery.Config(%s)", c.Redacted()) }

// LogValue logs the redacted URL.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.Redacted()) }
