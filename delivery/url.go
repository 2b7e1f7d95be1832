package delivery

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// ServerURL is a customer's URL of a server with an account, scheme://user:password@host:port/path,
// read: the user name and password percent-decoded, the port (defaultPort when the URL names
// none), and the directory ("/upload" is absolute, "/~/upload" is under the login directory,
// "" is the login directory itself).
type ServerURL struct {
	User, Password string
	Host           string
	Port           int
	Dir            string
}

// ParseServerURL reads rest, a URL of scheme after its "scheme://". Customers percent-encode
// characters such as @ : / ? # and space in user names and passwords; an "@" after the first
// "/" is the tell-tale sign of an unencoded "/". IPv6 hosts are written in brackets. Errors
// start with "parse <scheme> url:", name the part that is wrong and never contain the password.
func ParseServerURL(scheme, rest string, defaultPort int) (ServerURL, error) {
	authority, urlPath := rest, ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		authority, urlPath = rest[:i], rest[i:]
	}
	if strings.Contains(urlPath, "@") && !strings.Contains(authority, "@") {
		return ServerURL{}, fmt.Errorf("parse %s url: the user name or password seems to contain an unencoded \"/\": percent-encode it as %%2F", scheme)
	}
	var u ServerURL
	userinfo, hostport, hasUser := cutLast(authority, "@")
	if !hasUser {
		hostport = authority
	} else {
		rawUser, rawPass, hasPass := strings.Cut(userinfo, ":")
		user, err := decodeUserinfo(scheme, rawUser, "user name")
		if err != nil {
			return ServerURL{}, err
		}
		if user == "" {
			return ServerURL{}, fmt.Errorf("parse %s url: the user name is empty", scheme)
		}
		u.User = user
		if hasPass {
			if u.Password, err = decodeUserinfo(scheme, rawPass, "password"); err != nil {
				return ServerURL{}, err
			}
		}
	}
	if u.User == "" {
		return ServerURL{}, fmt.Errorf("parse %s url: missing user name: want %s://user:password@host:port/path", scheme, scheme)
	}
	var err error
	if u.Host, u.Port, err = parseHostPort(scheme, hostport, defaultPort); err != nil {
		return ServerURL{}, err
	}
	if u.Dir, err = parseURLPath(scheme, urlPath); err != nil {
		return ServerURL{}, err
	}
	return u, nil
}

func portSuffix(port int) string {
	if port == 0 {
		return ""
	}
	return ":" + strconv.Itoa(port)
}

func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return "", s, false
}

// decodeUserinfo percent-decodes a user name or password. Error messages
// never quote the value, which may be a secret.
func decodeUserinfo(scheme, s, what string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return "", fmt.Errorf("parse %s url: the %s has an invalid percent-encoding at character %d: %%%% must be followed by two hex digits (write %% itself as %%25)", scheme, what, i+1)
			}
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
		case c == ' ' || c == '\t':
			return "", fmt.Errorf("parse %s url: the %s contains a space: percent-encode it as %%20, and check for spaces copied by mistake", scheme, what)
		case c < 0x20 || c == 0x7f:
			return "", fmt.Errorf("parse %s url: the %s contains a control character at character %d", scheme, what, i+1)
		case c == '?' || c == '#':
			return "", fmt.Errorf("parse %s url: the %s contains an unencoded %q: percent-encode it as %%%02X", scheme, what, c, c)
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

func parseHostPort(scheme, hp string, defaultPort int) (host string, port int, err error) {
	if hp == "" {
		return "", 0, fmt.Errorf("parse %s url: missing host name", scheme)
	}
	portStr := ""
	if strings.HasPrefix(hp, "[") {
		end := strings.IndexByte(hp, ']')
		if end < 0 {
			return "", 0, fmt.Errorf("parse %s url: missing \"]\" after IPv6 address %q", scheme, Truncate(hp, 64))
		}
		host = hp[1:end]
		tail := hp[end+1:]
		if tail != "" {
			if tail[0] != ':' {
				return "", 0, fmt.Errorf("parse %s url: unexpected %q after IPv6 address", scheme, Truncate(tail, 32))
			}
			portStr = tail[1:]
			if portStr == "" {
				return "", 0, fmt.Errorf("parse %s url: empty port after \":\"", scheme)
			}
		}
		zoneless, zone, _ := strings.Cut(host, "%25")
		if zone != "" {
			host = zoneless + "%" + zone
		}
		addr, perr := netip.ParseAddr(host)
		if perr != nil || !addr.Is6() {
			return "", 0, fmt.Errorf("parse %s url: %q in brackets is not an IPv6 address", scheme, Truncate(host, 64))
		}
	} else {
		if strings.Count(hp, ":") > 1 {
			return "", 0, fmt.Errorf("parse %s url: IPv6 addresses must be written in brackets, like %s://user@[::1]%s/path", scheme, scheme, portSuffix(defaultPort))
		}
		var hasPort bool
		host, portStr, hasPort = strings.Cut(hp, ":")
		if hasPort && portStr == "" {
			return "", 0, fmt.Errorf("parse %s url: empty port after \":\"", scheme)
		}
		if host == "" {
			return "", 0, fmt.Errorf("parse %s url: missing host name", scheme)
		}
		for i := 0; i < len(host); i++ {
			c := host[i]
			if !(c == '-' || c == '.' || c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
				return "", 0, fmt.Errorf("parse %s url: the host name %q contains %q, which host names cannot contain", scheme, Truncate(host, 64), c)
			}
		}
	}
	port = defaultPort
	if portStr != "" {
		p, perr := strconv.Atoi(portStr)
		if perr != nil || p < 1 || p > 65535 || portStr[0] == '+' || portStr[0] == '-' {
			return "", 0, fmt.Errorf("parse %s url: invalid port %q: want a number from 1 to 65535", scheme, Truncate(portStr, 16))
		}
		port = p
	}
	return host, port, nil
}

func parseURLPath(scheme, p string) (string, error) {
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		return "", fmt.Errorf("parse %s url: the path contains an unencoded %q: %s urls take no query or fragment; percent-encode it as %%%02X if it is part of a directory name", scheme, p[i], scheme, p[i])
	}
	dec, err := decodePath(scheme, p)
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

func decodePath(scheme, s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return "", fmt.Errorf("parse %s url: invalid percent-encoding in the path at character %d", scheme, i+1)
			}
			d := unhex(s[i+1])<<4 | unhex(s[i+2])
			if d == 0 {
				return "", fmt.Errorf("parse %s url: the path contains a NUL character", scheme)
			}
			b.WriteByte(d)
			i += 2
		case c < 0x20 || c == 0x7f:
			return "", fmt.Errorf("parse %s url: the path contains a control character at character %d", scheme, i+1)
		case c == ' ':
			return "", fmt.Errorf("parse %s url: the path contains a space: percent-encode it as %%20", scheme)
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

// EscapeUserinfo percent-encodes everything but unreserved characters
// (RFC 3986), so the result is unambiguous in the user-info part of a URL.
func EscapeUserinfo(s string) string {
	return escape(s, false)
}

func EscapePath(s string) string {
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
