package console

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// A session is a cookie the console signs, not a record it keeps: "v1.<id>.<expiry>.<mac>",
// the MAC an HMAC-SHA256 under a key derived from the admin token. Every replica with the same
// token accepts it, a restart keeps it, and changing the token signs everybody out. Signing
// out deletes the cookie from the browser; a copy taken before stays valid until its expiry,
// which is why sessions are short.

// sessionCookie is the name of the session cookie.
const sessionCookie = "eventexport_console"

var (
	errNoSession = errors.New("not signed in")
	errExpired   = errors.New("the session has expired")
)

// sessions issues and checks session cookies and their CSRF tokens.
type sessions struct {
	key []byte
	ttl time.Duration
	now func() time.Time
}

func newSessions(token string, ttl time.Duration, now func() time.Time) *sessions {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("eventexport console session key v1"))
	return &sessions{key: m.Sum(nil), ttl: ttl, now: now}
}

// issue returns a new session's cookie value and when it expires.
func (s *sessions) issue() (value string, expires time.Time) {
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	expires = s.now().Add(s.ttl).Truncate(time.Second)
	payload := "v1." + hex.EncodeToString(id) + "." + strconv.FormatInt(expires.Unix(), 10)
	return payload + "." + s.mac("session", payload), expires
}

// check returns the id of the session whose cookie value is value: errNoSession when it is
// missing, forged or malformed, errExpired when it is past its expiry.
func (s *sessions) check(value string) (string, error) {
	payload, mac, ok := cutLast(value, ".")
	if !ok || !hmac.Equal([]byte(mac), []byte(s.mac("session", payload))) {
		return "", errNoSession
	}
	parts := strings.Split(payload, ".")
	if len(parts) != 3 || parts[0] != "v1" {
		return "", errNoSession
	}
	exp, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return "", errNoSession
	}
	if !s.now().Before(time.Unix(exp, 0)) {
		return "", errExpired
	}
	return parts[1], nil
}

// csrf is the CSRF token of the session id: a form's hidden field proves the page came from
// the console to the same session.
func (s *sessions) csrf(id string) string { return s.mac("csrf", id) }

// checkCSRF compares a form's token with the session's in constant time.
func (s *sessions) checkCSRF(id, got string) bool {
	return got != "" && hmac.Equal([]byte(got), []byte(s.csrf(id)))
}

func (s *sessions) mac(purpose, msg string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(msg))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func cutLast(s, sep string) (before, after string, ok bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return "", "", false
	}
	return s[:i], s[i+len(sep):], true
}

// tokenEqual compares a token given with the admin token in constant time, of their hashes so
// that not even the length shows.
func tokenEqual(got, want string) bool {
	g, w := sha256.Sum256([]byte(strings.TrimSpace(got))), sha256.Sum256([]byte(want))
	return want != "" && subtle.ConstantTimeCompare(g[:], w[:]) == 1
}
