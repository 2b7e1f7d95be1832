package sftp_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/eventexport/eventexport/delivery/sftp"
)

// specialChars are the characters the vendor's page tells customers to
// percent-encode in user names and passwords, with their encodings.
const (
	specialChars   = "][?/<~#`!@$%^&*}+=:\";',>{ "
	specialEncoded = "%5D%5B%3F%2F%3C%7E%23%60%21%40%24%25%5E%26%2A%7D%2B%3D%3A%22%3B%27%2C%3E%7B%20"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		raw  string
		want sftp.Config
	}{
		{"sftp://user:pass@host:22/path", sftp.Config{Host: "host", Port: 22, User: "user", Password: "pass", Dir: "/path"}},
		{"sftp://user:pass@host/path", sftp.Config{Host: "host", Port: 22, User: "user", Password: "pass", Dir: "/path"}},
		{"SFTP://user:pass@Host.Example.com:2222/a/b/", sftp.Config{Host: "Host.Example.com", Port: 2222, User: "user", Password: "pass", Dir: "/a/b"}},
		{"sftp://user@host", sftp.Config{Host: "host", Port: 22, User: "user"}},
		{"sftp://user:@host:22", sftp.Config{Host: "host", Port: 22, User: "user"}},
		{"sftp://user:pass@host:22/", sftp.Config{Host: "host", Port: 22, User: "user", Password: "pass", Dir: "/"}},
		{"sftp://user:pass@host:22/~/in/box", sftp.Config{Host: "host", Port: 22, User: "user", Password: "pass", Dir: "in/box"}},
		{"sftp://user:pass@host:22/~", sftp.Config{Host: "host", Port: 22, User: "user", Password: "pass"}},
		{"sftp://user:pass@host:22/my%20dir", sftp.Config{Host: "host", Port: 22, User: "user", Password: "pass", Dir: "/my dir"}},
		{"  sftp://user:pass@host:22/path \n", sftp.Config{Host: "host", Port: 22, User: "user", Password: "pass", Dir: "/path"}},
		{"sftp://u%40corp:p%3Aw@[::1]:2222/up", sftp.Config{Host: "::1", Port: 2222, User: "u@corp", Password: "p:w", Dir: "/up"}},
		{"sftp://u:p@[2001:db8::1]/up", sftp.Config{Host: "2001:db8::1", Port: 22, User: "u", Password: "p", Dir: "/up"}},
		{"sftp://u:p@127.0.0.1:65535", sftp.Config{Host: "127.0.0.1", Port: 65535, User: "u", Password: "p"}},
		{"sftp://" + specialEncoded + ":" + specialEncoded + "@host:22/path",
			sftp.Config{Host: "host", Port: 22, User: specialChars, Password: specialChars, Dir: "/path"}},
		// Lenient: unambiguous characters left unencoded.
		{"sftp://user:p@ss:w!rd@host:22/path", sftp.Config{Host: "host", Port: 22, User: "user", Password: "p@ss:w!rd", Dir: "/path"}},
		{"sftp://us%65r:pass@host", sftp.Config{Host: "host", Port: 22, User: "user", Password: "pass"}},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			got, err := sftp.ParseURL(tt.raw)
			if err != nil {
				t.Fatalf("ParseURL(%q): %v", tt.raw, err)
			}
			if !sameConfig(got, tt.want) {
				t.Errorf("ParseURL(%q)\n got  %s\n want %s", tt.raw, dump(got), dump(tt.want))
			}
		})
	}
}

func TestParseURLEachSpecialCharacter(t *testing.T) {
	for i := 0; i < len(specialChars); i++ {
		c := specialChars[i]
		enc := fmt.Sprintf("%%%02X", c)
		if !strings.Contains(specialEncoded, enc) {
			t.Fatalf("%q's encoding %s is not on the vendor's list", c, enc)
		}
		raw := "sftp://a" + enc + "b:x" + enc + "y@host:22/dir"
		got, err := sftp.ParseURL(raw)
		if err != nil {
			t.Errorf("ParseURL(%q): %v", raw, err)
			continue
		}
		if want := "a" + string(c) + "b"; got.User != want {
			t.Errorf("ParseURL(%q).User = %q, want %q", raw, got.User, want)
		}
		if want := "x" + string(c) + "y"; got.Password != want {
			t.Errorf("ParseURL(%q).Password = %q, want %q", raw, got.Password, want)
		}
	}
}

func TestParseURLErrors(t *testing.T) {
	tests := []struct {
		raw     string
		wantErr string // a part of the error message
	}{
		{"", "empty"},
		{"   ", "empty"},
		{"user:pass@host:22/path", "missing scheme"},
		{"ftp://user:pass@host:22/path", "unsupported scheme \"ftp\""},
		{"https://user:pass@host/path", "unsupported scheme"},
		{"sftp://host:22/path", "missing user name"},
		{"sftp://:pass@host:22/path", "user name is empty"},
		{"sftp://user:pass@:22/path", "missing host"},
		{"sftp://user:pass@/path", "missing host"},
		{"sftp://user:pass@host:0/path", "invalid port"},
		{"sftp://user:pass@host:65536/path", "invalid port"},
		{"sftp://user:pass@host:port/path", "invalid port"},
		{"sftp://user:pass@host:/path", "empty port"},
		{"sftp://user:pass@host:-1/path", "invalid port"},
		{"sftp://user:pa%zzss@host:22/path", "password has an invalid percent-encoding"},
		{"sftp://user:pass%2@host:22/path", "invalid percent-encoding"},
		{"sftp://us%r:pass@host:22/path", "user name has an invalid percent-encoding"},
		{"sftp://user:pa ss@host:22/path", "password contains a space"},
		{"sftp://user:pa/ss@host:22/path", "unencoded \"/\""},
		{"sftp://user:pa#ss@host:22/path", "unencoded '#'"},
		{"sftp://user:pa?ss@host:22/path", "unencoded '?'"},
		{"sftp://user:pass@host:22/path?x=1", "query"},
		{"sftp://user:pass@host:22/path#frag", "fragment"},
		{"sftp://user:pass@::1:22/path", "brackets"},
		{"sftp://user:pass@[::1/path", "missing \"]\""},
		{"sftp://user:pass@[host]:22/path", "not an IPv6 address"},
		{"sftp://user:pass@ho st:22/path", "host name"},
		{"sftp://user:pass@host:22/pa%00th", "NUL"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			got, err := sftp.ParseURL(tt.raw)
			if err == nil {
				t.Fatalf("ParseURL(%q) = %s, want an error containing %q", tt.raw, dump(got), tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseURL(%q) error = %q, want it to contain %q", tt.raw, err, tt.wantErr)
			}
			if strings.Contains(tt.raw, ":pa") && strings.Contains(err.Error(), "pa%zzss") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

func TestRedacted(t *testing.T) {
	tests := []struct {
		cfg  sftp.Config
		want string
	}{
		{sftp.Config{Host: "host", User: "user", Password: "secret", Dir: "/path"}, "sftp://user:xxxxx@host:22/path"},
		{sftp.Config{Host: "host", Port: 2222, User: "user", PrivateKey: []byte("k"), Dir: "in"}, "sftp://user@host:2222/~/in"},
		{sftp.Config{Host: "::1", Port: 2222, User: "a@b", Password: specialChars}, "sftp://a%40b:xxxxx@[::1]:2222"},
		{sftp.Config{Host: "h", User: "u", Password: "pw-secret", Dir: "/my dir"}, "sftp://u:xxxxx@h:22/my%20dir"},
	}
	for _, tt := range tests {
		got := tt.cfg.Redacted()
		if got != tt.want {
			t.Errorf("Redacted() = %q, want %q", got, tt.want)
		}
		for _, s := range []string{fmt.Sprint(tt.cfg), fmt.Sprintf("%+v", tt.cfg), fmt.Sprintf("%#v", tt.cfg)} {
			if tt.cfg.Password != "" && strings.Contains(s, tt.cfg.Password) {
				t.Errorf("formatted config %q shows the password", s)
			}
		}
		// A redacted URL parses back to the same target.
		back, err := sftp.ParseURL(got)
		if err != nil {
			t.Errorf("ParseURL(%q): %v", got, err)
			continue
		}
		want := tt.cfg
		want.Port = max(want.Port, 22)
		if tt.cfg.Password != "" {
			want.Password = "xxxxx"
		}
		want.PrivateKey = nil
		if !sameConfig(back, want) {
			t.Errorf("ParseURL(Redacted()) = %s, want %s", dump(back), dump(want))
		}
	}
}

// FuzzParseURL checks that ParseURL never panics, that user names and
// passwords made of any bytes round-trip through percent-encoding, and that
// errors never show the password.
func FuzzParseURL(f *testing.F) {
	f.Add("user", specialChars, "host", 22, "/path")
	f.Add(specialChars, specialChars, "example.com", 2222, "/~/in")
	f.Add("u", "p%zz", "::1", 1, "")
	f.Add("u", "", "h", 65535, "/a b/c")
	f.Fuzz(func(t *testing.T, user, password, host string, port int, dir string) {
		// Whatever the input, no panic.
		raw := "sftp://" + user + ":" + password + "@" + host + ":" + fmt.Sprint(port) + dir
		if _, err := sftp.ParseURL(raw); err != nil && len(password) >= 8 && strings.Contains(err.Error(), password) {
			t.Errorf("ParseURL error %q shows the password", err)
		}
		_, _ = sftp.ParseURL(user)

		// Encoded properly, every user name and password round-trips.
		if user == "" || strings.ContainsRune(user, 0) {
			return
		}
		enc := "sftp://" + percentEncode(user) + ":" + percentEncode(password) + "@example.com:2222/dir"
		got, err := sftp.ParseURL(enc)
		if err != nil {
			t.Fatalf("ParseURL(%q): %v", enc, err)
		}
		if got.User != user || got.Password != password || got.Host != "example.com" || got.Port != 2222 || got.Dir != "/dir" {
			t.Fatalf("ParseURL(%q) = %s, want user %q password %q", enc, dump(got), user, password)
		}
	})
}

// percentEncode encodes every byte but letters and digits.
func percentEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func sameConfig(a, b sftp.Config) bool {
	return a.Host == b.Host && a.Port == b.Port && a.User == b.User && a.Password == b.Password &&
		a.Dir == b.Dir && string(a.PrivateKey) == string(b.PrivateKey)
}

func dump(c sftp.Config) string {
	return fmt.Sprintf("{Host:%q Port:%d User:%q Password:%q Dir:%q}", c.Host, c.Port, c.User, c.Password, c.Dir)
}
