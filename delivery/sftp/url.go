package sftp

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// DefaultPort is the SSH port used when a URL or Config names none.
const DefaultPort = 22

// ParseURL parses a customer's SFTP URL, sftp://user:password@host:port/path.
//
// The user name and password are percent-decoded (customers percent-encode
// characters such as @ : / ? # and space in them). The port defaults to 22.
// The path is the remote directory: "/upload" is the absolute directory
// /upload, "/~/upload" is the directory upload inside the login directory, and
// an empty path means the login directory. IPv6 hosts are written in brackets:
// sftp://user@[::1]:2222/upload.
//
// Errors name the part of the URL that is wrong and never contain the password.
func ParseURL(raw string) (Config, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return Config{}, fmt.Errorf("parse sftp url: the url is empty")
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return Config{}, fmt.Errorf("parse sftp url: missing scheme: want sftp://user:password@host:port/path")
	}
	if !strings.EqualFold(scheme, "sftp") {
		return Config{}, fmt.Errorf("parse sftp url: unsupported scheme %q: only sftp:// urls are supported", truncate(scheme, 16))
	}

	// The authority ends at the first "/". User names and passwords must have
	// "/" percent-encoded; an "@" after the first "/" is a tell-tale sign that
	// they do not.
	authority, urlPath := rest, ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		authority, urlPath = rest[:i], rest[i:]
	}
	if strings.Contains(urlPath, "@") && !strings.Contains(authority, "@") {
		return Config{}, fmt.Errorf("parse sftp url: the user name or password seems to contain an unencoded \"/\": percent-encode it as %%2F")
	}

	var cfg Config
	userinfo, hostport, hasUser := cutLast(authority, "@")
	if !hasUser {
		hostport = authority
	} else {
		rawUser, rawPass, hasPass := strings.Cut(userinfo, ":")
		user, err := decodeUserinfo(rawUser, "user name")
		if err != nil {
			return Config{}, err
		}
		if user == "" {
			return Config{}, fmt.Errorf("parse sftp url: the user name is empty")
		}
		cfg.User = user
		if hasPass {
			pass, err := decodeUserinfo(rawPass, "password")
			if err != nil {
				return Config{}, err
			}
			cfg.Password = pass
		}
	}
	if cfg.User == "" {
		return Config{}, fmt.Errorf("parse sftp url: missing user name: want sftp://user:password@host:port/path")
	}

	host, port, err := parseHostPort(hostport)
	if err != nil {
		return Config{}, err
	}
	cfg.Host, cfg.Port = host, port

	dir, err := parseURLPath(urlPath)
	if err != nil {
		return Config{}, err
	}
	cfg.Dir = dir
	return cfg, nil
}

func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return "", s, false
}

// decodeUserinfo percent-decodes a user name or password. Error messages
// never quote the value, which may be a secret.
func decodeUserinfo(s, what string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return "", fmt.Errorf("parse sftp url: the %s has an invalid percent-encoding at character %d: %%%% must be followed by two hex digits (write %% itself as %%25)", what, i+1)
			}
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
		case c == ' ' || c == '\t':
			return "", fmt.Errorf("parse sftp url: the %s contains a space: percent-encode it as %%20, and check for spaces copied by mistake", what)
		case c < 0x20 || c == 0x7f:
			return "", fmt.Errorf("parse sftp url: the %s contains a control character at character %d", what, i+1)
		case c == '?' || c == '#':
			return "", fmt.Errorf("parse sftp url: the %s contains an unencoded %q: percent-encode it as %%%02X", what, c, c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

func parseHostPort(hp string) (host string, port int, err error) {
	if hp == "" {
		return "", 0, fmt.Errorf("parse sftp url: missing host name")
	}
	portStr := ""
	if strings.HasPrefix(hp, "[") {
		end := strings.IndexByte(hp, ']')
		if end < 0 {
			return "", 0, fmt.Errorf("parse sftp url: missing \"]\" after IPv6 address %q", truncate(hp, 64))
		}
		host = hp[1:end]
		tail := hp[end+1:]
		if tail != "" {
			if tail[0] != ':' {
				return "", 0, fmt.Errorf("parse sftp url: unexpected %q after IPv6 address", truncate(tail, 32))
			}
			portStr = tail[1:]
			if portStr == "" {
				return "", 0, fmt.Errorf("parse sftp url: empty port after \":\"")
			}
		}
		zoneless, zone, _ := strings.Cut(host, "%25")
		if zone != "" {
			host = zoneless + "%" + zone
		}
		addr, perr := netip.ParseAddr(host)
		if perr != nil || !addr.Is6() {
			return "", 0, fmt.Errorf("parse sftp url: %q in brackets is not an IPv6 address", truncate(host, 64))
		}
	} else {
		if strings.Count(hp, ":") > 1 {
			return "", 0, fmt.Errorf("parse sftp url: IPv6 addresses must be written in brackets, like sftp://user@[::1]:22/path")
		}
		var hasPort bool
		host, portStr, hasPort = strings.Cut(hp, ":")
		if hasPort && portStr == "" {
			return "", 0, fmt.Errorf("parse sftp url: empty port after \":\"")
		}
		if host == "" {
			return "", 0, fmt.Errorf("parse sftp url: missing host name")
		}
		for i := 0; i < len(host); i++ {
			c := host[i]
			if !(c == '-' || c == '.' || c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
				return "", 0, fmt.Errorf("parse sftp url: the host name %q contains %q, which host names cannot contain", truncate(host, 64), c)
			}
		}
	}
	port = DefaultPort
	if portStr != "" {
		p, perr := strconv.Atoi(portStr)
		if perr != nil || p < 1 || p > 65535 || portStr[0] == '+' || portStr[0] == '-' {
			return "", 0, fmt.Errorf("parse sftp url: invalid port %q: want a number from 1 to 65535", truncate(portStr, 16))
		}
		port = p
	}
	return host, port, nil
}

func parseURLPath(p string) (string, error) {
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		return "", fmt.Errorf("parse sftp url: the path contains an unencoded %q: sftp urls take no query or fragment; percent-encode it as %%%02X if it is part of a directory name", p[i], p[i])
	}
	dec, err := decodePath(p)
	if err != nil {
		return "", err
	}
	switch {
	case dec == "" || dec == "/~" || dec == "/~/":
		return "", nil
	case strings.HasPrefix(dec, "/~/"):
		dec = dec[len("/~/"):]
	}
	if len(dec) > 1 {
		dec = strings.TrimRight(dec, "/")
		if dec == "" {
			dec = "/"
		}
	}
	return dec, nil
}

func decodePath(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return "", fmt.Errorf("parse sftp url: invalid percent-encoding in the path at character %d", i+1)
			}
			d := unhex(s[i+1])<<4 | unhex(s[i+2])
			if d == 0 {
				return "", fmt.Errorf("parse sftp url: the path contains a NUL character")
			}
			b.WriteByte(d)
			i += 2
		case c < 0x20 || c == 0x7f:
			return "", fmt.Errorf("parse sftp url: the path contains a control character at character %d", i+1)
		case c == ' ':
			return "", fmt.Errorf("parse sftp url: the path contains a space: percent-encode it as %%20")
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// escapeUserinfo percent-encodes everything but unreserved characters
// (RFC 3986), so the result is unambiguous in the user-info part of a URL.
func escapeUserinfo(s string) string {
	return escape(s, false)
}

func escapePath(s string) string {
	return escape(s, true)
}

func escape(s string, keepSlash bool) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || (keepSlash && (c == '/' || c == '~')) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}
