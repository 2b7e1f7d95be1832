package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// withEnv returns env with the variables in set replaced or added.
func withEnv(env []string, set ...string) []string {
	out := []string{}
	for _, l := range env {
		k, _, _ := strings.Cut(l, "=")
		keep := true
		for _, s := range set {
			if sk, _, _ := strings.Cut(s, "="); sk == k {
				keep = false
			}
		}
		if keep {
			out = append(out, l)
		}
	}
	return append(out, set...)
}

// The key is rotated: with the new key current and the old one accepted, rotate-key re-seals
// every secret; then the old key is removed, and a destination with a password and one on a
// shared target with a private key still deliver.
func TestRotateKey(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "id")
	keyPEM := newPrivateKeyPEM(t)
	if err := os.WriteFile(keyFile, []byte(keyPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte(f.srv.Password()), 0o600); err != nil {
		t.Fatal(err)
	}
	dest := f.addDestination(t, "json")
	out, errOut, code := cli(t, f.env, "targets", "add", "--name", "shared", "--host", "127.0.0.1", "--port", itoa(f.srv.Port()),
		"--user", "acme", "--password-file", pwFile, "--private-key", keyFile, "--host-key", f.srv.HostKeyPin(), "--base-dir", "/shared")
	if code != 0 {
		t.Fatalf("targets add: %d %s", code, errOut)
	}
	out, errOut, code = cli(t, f.env, "destinations", "add", "--company", f.company, "--target", strings.TrimSpace(out), "--path", "acme", "--format", "csv")
	if code != 0 {
		t.Fatalf("destinations add: %d %s", code, errOut)
	}
	shared := strings.TrimSpace(out)
	sealedBefore := f.sealed(t)

	oldKey := envOf(f.env)("EVENTEXPORT_SECRET_KEY")
	newKey := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x42}, 32))
	rotating := withEnv(f.env, "EVENTEXPORT_SECRET_KEY="+newKey, "EVENTEXPORT_SECRET_KEY_OLD="+oldKey)
	newOnly := withEnv(f.env, "EVENTEXPORT_SECRET_KEY="+newKey)

	// Before the rotation the new key alone cannot read what the old one sealed.
	if _, errOut, code := cli(t, newOnly, "test-send", dest); code != 2 || !strings.Contains(errOut, "different EVENTEXPORT_SECRET_KEY") {
		t.Errorf("test-send with the new key before rotating: exit %d, %q; want 2 and why", code, errOut)
	}
	// During it, both keys work.
	if out, errOut, code := cli(t, rotating, "test-send", dest); code != 0 {
		t.Fatalf("test-send with the old key accepted: %d %s%s", code, out, errOut)
	}

	out, errOut, code = cli(t, rotating, "rotate-key")
	if code != 0 || !strings.Contains(out, "re-sealed 3 secret(s) of 2 target(s)") {
		t.Fatalf("rotate-key: exit %d\n%s%s", code, out, errOut)
	}
	after := f.sealed(t)
	for i := range after {
		if bytes.Equal(after[i], sealedBefore[i]) {
			t.Errorf("sealed secret %d unchanged by the rotation", i)
		}
	}
	if out, _, code := cli(t, rotating, "rotate-key"); code != 0 || !strings.Contains(out, "re-sealed 0 secret(s) of 2 target(s) under the current key; 3 were current") {
		t.Errorf("second rotate-key: exit %d, %q", code, out)
	}

	for _, id := range []string{dest, shared} {
		out, errOut, code := cli(t, newOnly, "test-send", id)
		if code != 0 || !strings.Contains(out, "test file delivered") {
			t.Errorf("test-send of %s with the new key alone after rotating: exit %d\n%s%s", id, code, out, errOut)
		}
	}
	if _, errOut, code := cli(t, f.env, "test-send", dest); code != 2 || !strings.Contains(errOut, "different EVENTEXPORT_SECRET_KEY") {
		t.Errorf("test-send with the retired key: exit %d, %q; want 2", code, errOut)
	}

	// Bad configuration.
	if _, errOut, code := cli(t, withEnv(f.env, "EVENTEXPORT_SECRET_KEY="), "rotate-key"); code != 2 || !strings.Contains(errOut, "EVENTEXPORT_SECRET_KEY") {
		t.Errorf("rotate-key without a key: exit %d, %q", code, errOut)
	}
	if _, errOut, code := cli(t, withEnv(rotating, "EVENTEXPORT_SECRET_KEY_OLD=bm90IGEga2V5"), "rotate-key"); code != 2 || !strings.Contains(errOut, "EVENTEXPORT_SECRET_KEY_OLD") {
		t.Errorf("rotate-key with a malformed old key: exit %d, %q", code, errOut)
	}
	stranger := withEnv(f.env, "EVENTEXPORT_SECRET_KEY="+base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x7}, 32)))
	out, errOut, code = cli(t, stranger, "rotate-key")
	if code != 1 || !strings.Contains(errOut, "none of the configured keys") || !strings.Contains(errOut, "EVENTEXPORT_SECRET_KEY_OLD") {
		t.Errorf("rotate-key with neither key that sealed the secrets: exit %d, %q %q; want 1 and what to do", code, out, errOut)
	}
	if after2 := f.sealed(t); !bytes.Equal(bytes.Join(after2, nil), bytes.Join(after, nil)) {
		t.Error("a failed rotation changed the stored secrets")
	}
}

// newPrivateKeyPEM returns a new ed25519 private key in OpenSSH format, without a passphrase.
func newPrivateKeyPEM(t *testing.T) string {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(block))
}

// sealed returns every stored sealed secret, in a fixed order.
func (f *fixture) sealed(t *testing.T) [][]byte {
	t.Helper()
	rows, err := f.db.Pool.Query(context.Background(), `SELECT sealed FROM target_secrets ORDER BY target_id, name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var v []byte
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}
