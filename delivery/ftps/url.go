package ftps

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// The FTPS ports: explicit TLS (AUTH TLS on the FTP port) and implicit TLS.
const (
	DefaultPort  = 21
	ImplicitPort = 990
)

// URL is a customer's FTPS URL, read.
type URL struct {
	User, Password string
	Host           string
	Port           int // 0 when the URL names none
	Dir            string
}

// ParseURL reads ftps://user:password@host[:port]/path. The user name and password are
// percent-decoded; the path is the remote directory ("/upload" absolute, "/~/upload" or ""
// relative to the login directory). ftp:// is refused: plain FTP sends passwords in the clear.
// Errors never contain the password.
func ParseURL(raw string) (URL, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return URL{}, fmt.Errorf("the url is empty")
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return URL{}, fmt.Errorf("missing scheme: want ftps://user:password@host:port/path")
	}
	switch strings.ToLower(scheme) {
	case "ftps":
	case "ftp":
		return URL{}, fmt.Errorf("plain FTP (ftp://) sends passwords and files in the clear and is not supported: ask the customer for FTPS (ftps://, FTP over TLS) or SFTP (sftp://)")
	default:
		return URL{}, fmt.Errorf("unsupported scheme %q: want ftps://user:password@host:port/path", truncate(scheme, 16))
	}
	authority, urlPath := rest, ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		authority, urlPath = rest[:i], rest[i:]
	}
	if strings.Contains(urlPath, "@") && !strings.Contains(authority, "@") {
		return URL{}, fmt.Errorf("the user name or password seems to contain an unencoded \"/\": percent-encode it as %%2F")
	}
	var u URL
	i := strings.LastIndex(authority, "@")
	if i < 0 {
		return URL{}, fmt.Errorf("missing user name: want ftps://user:password@host:port/path")
	}
	rawUser, rawPass, hasPass := strings.Cut(authority[:i], ":")
	var err error
	if u.User, err = unescape(rawUser, "user name"); err != nil {
		return URL{}, err
	}
	if u.User == "" {
		return URL{}, fmt.Errorf("the user name is empty")
	}
	if hasPass {
		if u.Password, err = unescape(rawPass, "password"); err != nil {
			return URL{}, err
		}
	}
	if u.Host, u.Port, err = parseHostPort(authority[i+1:]); err != nil {
		return URL{}, err
	}
	if j := strings.IndexAny(urlPath, "?#"); j >= 0 {
		return URL{}, fmt.Errorf("the path contains an unencoded %q: ftps urls take no query or fragment; percent-encode it as %%%02X if it is part of a directory name", urlPath[j], urlPath[j])
	}
	dir, err := unescape(urlPath, "path")
	if err != nil {
		return URL{}, err
	}
	switch {
	case dir == "" || dir == "/~" || dir == "/~/":
		dir = ""
	case strings.HasPrefix(dir, "/~/"):
		dir = dir[len("/~/"):]
	}
	if len(dir) > 1 {
		if dir = strings.TrimRight(dir, "/"); dir == "" {
			dir = "/"
		}
	}
	u.Dir = dir
	return u, nil
}

// unescape percent-decodes s, refusing control characters (FTP commands end at CR LF) and
// spaces in user names and passwords. Messages never quote s.
func unescape(s, what string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' {
			if i+2 >= len(s) {
				return "", fmt.Errorf("the %s has an invalid percent-encoding at character %d (write %% itself as %%25)", what, i+1)
			}
			n, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				return "", fmt.Errorf("the %s has an invalid percent-encoding at character %d (write %% itself as %%25)", what, i+1)
			}
			c = byte(n)
			i += 2
		} else if what != "path" && (c == ' ' || c == '?' || c == '#') {
			return "", fmt.Errorf("the %s contains an unencoded %q: percent-encode it as %%%02X", what, c, c)
		}
		if c < 0x20 || c == 0x7f {
			return "", fmt.Errorf("the %s contains a control character at character %d", what, i+1)
		}
		b.WriteByte(c)
	}
	return b.String(), nil
}

func parseHostPort(hp string) (string, int, error) {
	host, portStr := hp, ""
	if strings.HasPrefix(hp, "[") {
		end := strings.IndexByte(hp, ']')
		if end < 0 {
			return "", 0, fmt.Errorf("missing \"]\" after IPv6 address")
		}
		host, portStr = hp[1:end], hp[end+1:]
		if portStr != "" && portStr[0] != ':' {
			return "", 0, fmt.Errorf("unexpected %q after IPv6 address", truncate(portStr, 32))
		}
		if a, err := netip.ParseAddr(host); err != nil || !a.Is6() {
			return "", 0, fmt.Errorf("%q in brackets is not an IPv6 address", truncate(host, 64))
		}
	} else {
		if strings.Count(hp, ":") > 1 {
			return "", 0, fmt.Errorf("IPv6 addresses must be written in brackets, like ftps://user@[::1]:21/path")
		}
		if i := strings.IndexByte(hp, ':'); i >= 0 {
			host, portStr = hp[:i], hp[i:]
		}
		for i := 0; i < len(host); i++ {
			c := host[i]
			if !(c == '-' || c == '.' || c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
				return "", 0, fmt.Errorf("the host name %q contains %q, which host names cannot contain", truncate(host, 64), c)
			}
		}
	}
	if host == "" {
		return "", 0, fmt.Errorf("missing host name")
	}
	if portStr == "" {
		return host, 0, nil
	}
	p, err := strconv.Atoi(portStr[1:])
	if err != nil || p < 1 || p > 65535 || portStr[1] == '+' || portStr[1] == '-' {
		return "", 0, fmt.Errorf("invalid port %q: want a number from 1 to 65535", truncate(portStr[1:], 16))
	}
	return host, p, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// escape percent-encodes everything but unreserved characters (and "/" in paths).
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
