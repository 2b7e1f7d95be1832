package sftp

import (
	"strings"
	"testing"

	"golang.org/x/crypto/ssh/knownhosts"
)

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"example.com", "example.com", true},
		{"example.com", "example.org", false},
		{"*.example.com", "sftp.example.com", true},
		{"*.example.com", "example.com", false},
		{"sftp?.example.com", "sftp1.example.com", true},
		{"sftp?.example.com", "sftp.example.com", false},
		{"*", "anything", true},
		{"*", "", true},
		{"", "", true},
		{"", "x", false},
		{"[127.0.0.1]:*", "[127.0.0.1]:2222", true},
		{"*a*b", "xaxxaxb", true},
		{"*a*b", "xaxxax", false},
		{strings.Repeat("*a", 30) + "b", strings.Repeat("a", 100), false}, // linear, not exponential
	}
	for _, tt := range tests {
		if got := globMatch(tt.pattern, tt.s); got != tt.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

func TestMatchesHost(t *testing.T) {
	tests := []struct {
		patterns []string
		host     string
		want     bool
	}{
		{[]string{"example.com"}, "example.com", true},
		{[]string{"Example.COM"}, "example.com", true},
		{[]string{"other", "example.com"}, "example.com", true},
		{[]string{"[example.com]:2222"}, "[example.com]:2222", true},
		{[]string{"example.com"}, "[example.com]:2222", false},
		{[]string{"*.example.com", "!bad.example.com"}, "bad.example.com", false},
		{[]string{"*.example.com", "!bad.example.com"}, "good.example.com", true},
		{[]string{knownhosts.HashHostname("[127.0.0.1]:2222")}, "[127.0.0.1]:2222", true},
		{[]string{knownhosts.HashHostname("[127.0.0.1]:2222")}, "[127.0.0.1]:2223", false},
		{[]string{"|1|bad|hash"}, "x", false},
	}
	for _, tt := range tests {
		if got := matchesHost(tt.patterns, tt.host); got != tt.want {
			t.Errorf("matchesHost(%q, %q) = %v, want %v", tt.patterns, tt.host, got, tt.want)
		}
	}
}

// FuzzValidateHostKeyPin checks that no pin makes the parser panic.
func FuzzValidateHostKeyPin(f *testing.F) {
	f.Add("SHA256:" + strings.Repeat("A", 43))
	f.Add("[127.0.0.1]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE")
	f.Add("|1|abc|def ssh-rsa AAAA\n@revoked * ssh-ed25519 AAAA")
	f.Fuzz(func(t *testing.T, pin string) {
		pins, err := parsePins(pin)
		if err != nil {
			return
		}
		c := &hostKeyChecker{pins: pins, host: "[127.0.0.1]:2222"}
		c.algorithms(nil)
	})
}
