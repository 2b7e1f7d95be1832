package store

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func newKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func TestParseSecretKey(t *testing.T) {
	t.Parallel()
	good := base64.StdEncoding.EncodeToString(newKey(t))
	if k, err := ParseSecretKey(good + "\n"); err != nil || len(k) != 32 {
		t.Fatalf("ParseSecretKey(valid) = %d bytes, %v; want 32 bytes, nil", len(k), err)
	}
	for _, tc := range []struct{ in, want string }{
		{"", "not set"},
		{"not base64!", "not valid base64"},
		{base64.StdEncoding.EncodeToString([]byte("too short")), "decodes to 9 bytes, want 32"},
	} {
		_, err := ParseSecretKey(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "openssl rand -base64 32") {
			t.Errorf("ParseSecretKey(%q) error = %v; want one containing %q and how to make a key", tc.in, err, tc.want)
		}
	}
}

func TestSealerRoundTripAndTamper(t *testing.T) {
	t.Parallel()
	s, err := NewSealer(newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte("p@ss:w/rd with ünïcode")
	sealed, err := s.Seal(plain)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, plain) {
		t.Fatal("sealed value contains the plain text")
	}
	again, _ := s.Seal(plain)
	if bytes.Equal(sealed, again) {
		t.Error("two seals of one secret are equal: the nonce is not random")
	}
	got, err := s.Open(sealed)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open = %q, %v; want %q", got, err, plain)
	}
	if v, err := s.Seal(nil); v != nil || err != nil {
		t.Errorf("Seal(empty) = %v, %v; want nil, nil", v, err)
	}

	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	if _, err := s.Open(tampered); err == nil {
		t.Error("Open of a tampered value succeeded")
	}
	other, _ := NewSealer(newKey(t))
	if _, err := other.Open(sealed); err == nil || !strings.Contains(err.Error(), "different EVENTEXPORT_SECRET_KEY") {
		t.Errorf("Open under another key: %v; want an error naming the key", err)
	}
	var none *Sealer
	if _, err := none.Open(sealed); !errors.Is(err, ErrNoSecretKey) {
		t.Errorf("Open without a key: %v; want ErrNoSecretKey", err)
	}
}

// During a key rotation, values sealed under the old key still open, and new ones use the new key.
func TestSealerOldKeys(t *testing.T) {
	t.Parallel()
	oldKey, newK := newKey(t), newKey(t)
	old, _ := NewSealer(oldKey)
	sealedOld, _ := old.Seal([]byte("secret"))
	rot, err := NewSealer(newK, oldKey)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := rot.Open(sealedOld); err != nil || string(got) != "secret" {
		t.Fatalf("Open(old) = %q, %v", got, err)
	}
	if rot.Current(sealedOld) {
		t.Error("a value sealed under the old key reported as current")
	}
	sealedNew, _ := rot.Seal([]byte("secret"))
	if !rot.Current(sealedNew) {
		t.Error("a value sealed under the new key reported as not current")
	}
}
