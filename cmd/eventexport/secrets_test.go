package main

import (
	"strings"
	"testing"
)

// findSecrets fails t for every secret that appears in text: what the service showed a client
// (API bodies, console pages and their URLs) and wrote to its log.
func findSecrets(t *testing.T, where, text string, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("a secret (%.12q…) appears in %s", s, where)
		}
	}
}
