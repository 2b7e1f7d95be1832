package console

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// A session cookie holds for its time and then not; a changed byte, another token's key or a
// CSRF token of another session is refused.
func TestSessions(t *testing.T) {
	now := time.Date(2026, 3, 8, 1, 0, 0, 0, time.UTC)
	s := newSessions("token-0123456789abcdef", time.Hour, func() time.Time { return now })
	value, expires := s.issue()
	if !expires.Equal(now.Add(time.Hour)) {
		t.Errorf("expires %s, want an hour after %s", expires, now)
	}
	id, err := s.check(value)
	if err != nil || id == "" {
		t.Fatalf("check of a fresh session: %q, %v", id, err)
	}
	if !s.checkCSRF(id, s.csrf(id)) || s.checkCSRF(id, "") || s.checkCSRF(id, s.csrf(id+"0")) {
		t.Errorf("CSRF tokens are not tied to their session")
	}
	for _, forged := range []string{"", "v1", value + "x", strings.Replace(value, "v1.", "v1.0", 1),
		value[:len(value)-2] + "AA"} {
		if _, err := s.check(forged); err != errNoSession {
			t.Errorf("check(%q) = %v, want errNoSession", forged, err)
		}
	}
	other := newSessions("token-of-another-instance", time.Hour, func() time.Time { return now })
	if _, err := other.check(value); err != errNoSession {
		t.Errorf("a session of another token: %v, want errNoSession", err)
	}
	now = now.Add(time.Hour)
	if _, err := s.check(value); err != errExpired {
		t.Errorf("a session at its expiry: %v, want errExpired", err)
	}
}

func TestTokenEqual(t *testing.T) {
	for _, tc := range []struct {
		got, want string
		ok        bool
	}{
		{"token-0123456789", "token-0123456789", true},
		{" token-0123456789\n", "token-0123456789", true},
		{"token-012345678", "token-0123456789", false},
		{"", "", false},
	} {
		if ok := tokenEqual(tc.got, tc.want); ok != tc.ok {
			t.Errorf("tokenEqual(%q, %q) = %v", tc.got, tc.want, ok)
		}
	}
}

// A form makes the request the command line would: adding, blank fields are absent; changing,
// only what differs from what was shown, a blank secret keeps it and "remove" clears it.
func TestInputFrom(t *testing.T) {
	fields := []string{"name", "url", "password", "port", "manifest", "event_types", "max_rows", "host_key"}
	form := url.Values{"name": {" Acme "}, "url": {""}, "password": {" p w "}, "port": {"2222"}, "manifest": {"true"},
		"event_types": {"courseComplete"}, "max_rows": {""}, "host_key": {"SHA256:abc\r\nSHA256:def"}}
	in, err := inputFrom(form, fields, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"name": `"Acme"`, "password": `" p w "`, "port": `2222`, "manifest": `true`,
		"event_types": `["courseComplete"]`, "host_key": `"SHA256:abc\nSHA256:def"`}
	if len(in) != len(want) {
		t.Errorf("adding: %d fields %v, want %v", len(in), in, want)
	}
	for k, v := range want {
		if string(in[k]) != v {
			t.Errorf("adding: %s = %s, want %s", k, in[k], v)
		}
	}

	current := map[string]string{"name": "Acme", "port": "2222", "manifest": "true", "event_types": "courseComplete",
		"max_rows": "500", "host_key": "SHA256:abc"}
	form = url.Values{"name": {"Acme"}, "url": {""}, "password": {""}, "clear_password": {"1"}, "port": {"2222"},
		"event_types": {"courseComplete"}, "max_rows": {""}, "host_key": {""}}
	in, err = inputFrom(form, fields, true, current)
	if err != nil {
		t.Fatal(err)
	}
	want = map[string]string{"password": `""`, "manifest": `false`, "max_rows": `0`, "host_key": `""`}
	if len(in) != len(want) {
		t.Errorf("changing: %d fields %v, want %v", len(in), in, want)
	}
	for k, v := range want {
		if string(in[k]) != v {
			t.Errorf("changing: %s = %s, want %s", k, in[k], v)
		}
	}

	if _, err := inputFrom(url.Values{"port": {"22a"}}, []string{"port"}, false, nil); err == nil || !strings.Contains(err.Error(), "port:") {
		t.Errorf("a port that is no number: %v, want an error naming the field", err)
	}
}

func TestWithoutPassword(t *testing.T) {
	for in, want := range map[string]string{
		"sftp://user:p%40ss@host:22/in":  "sftp://user@host:22/in",
		"sftp://user:p@ss@host/in":       "sftp://user@host/in",
		"sftp://user@host/in":            "sftp://user@host/in",
		"https://host/path?a=b":          "https://host/path?a=b",
		"ftps://u:secret@[::1]:990/drop": "ftps://u@[::1]:990/drop",
		"not a url":                      "not a url",
	} {
		if got := withoutPassword(in); got != want {
			t.Errorf("withoutPassword(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{"/destinations/x?done=1": "/destinations/x?done=1", "//evil.example/": "/",
		"https://evil.example/": "/", "": "/", "/\\evil": "/", "/signin?next=/": "/"} {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}
