package store

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// ErrNoSecretKey is returned when a secret must be sealed or opened and no key is configured.
var ErrNoSecretKey = errors.New("EVENTEXPORT_SECRET_KEY is not set: it is needed to store or read passwords and private keys; generate one with `openssl rand -base64 32`")

// sealedVersion is the first byte of every sealed secret: version, key id, nonce, ciphertext.
const sealedVersion = 1

// Sealer encrypts secrets at rest with AES-256-GCM. Each sealed value carries the id of the
// key that sealed it, so that values sealed under an older key can still be opened while the
// key is rotated.
type Sealer struct {
	keys map[[4]byte]cipher.AEAD
	id   [4]byte // the key new values are sealed with
}

// ParseSecretKey decodes a base64 key of exactly 32 bytes, naming the problem when it is not one.
func ParseSecretKey(b64 string) ([]byte, error) {
	b64 = strings.TrimSpace(b64)
	if b64 == "" {
		return nil, ErrNoSecretKey
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("EVENTEXPORT_SECRET_KEY is not valid base64 (%v): generate one with `openssl rand -base64 32`", err)
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("EVENTEXPORT_SECRET_KEY decodes to %d bytes, want 32: generate one with `openssl rand -base64 32`", len(key))
	}
	return key, nil
}

// NewSealer returns a Sealer that seals with key and opens values sealed with key or any of old.
func NewSealer(key []byte, old ...[]byte) (*Sealer, error) {
	s := &Sealer{keys: make(map[[4]byte]cipher.AEAD)}
	for i, k := range append([][]byte{key}, old...) {
		if len(k) != 32 {
			return nil, fmt.Errorf("secret key is %d bytes, want 32", len(k))
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		id := keyID(k)
		if i == 0 {
			s.id = id
		}
		if _, dup := s.keys[id]; !dup {
			s.keys[id] = aead
		}
	}
	return s, nil
}

func keyID(k []byte) [4]byte {
	sum := sha256.Sum256(append([]byte("eventexport key id:"), k...))
	return [4]byte(sum[:4])
}

// Seal encrypts plain. An empty secret seals to nil, stored as NULL.
func (s *Sealer) Seal(plain []byte) ([]byte, error) {
	if len(plain) == 0 {
		return nil, nil
	}
	if s == nil {
		return nil, ErrNoSecretKey
	}
	aead := s.keys[s.id]
	out := make([]byte, 0, 1+4+aead.NonceSize()+len(plain)+aead.Overhead())
	out = append(out, sealedVersion)
	out = append(out, s.id[:]...)
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out = append(out, nonce...)
	return aead.Seal(out, nonce, plain, s.id[:]), nil
}

// Open decrypts a value made by Seal. nil opens to nil.
func (s *Sealer) Open(sealed []byte) ([]byte, error) {
	if len(sealed) == 0 {
		return nil, nil
	}
	if s == nil {
		return nil, ErrNoSecretKey
	}
	if sealed[0] != sealedVersion || len(sealed) < 1+4+12 {
		return nil, errors.New("stored secret is not in a known format")
	}
	id := [4]byte(sealed[1:5])
	aead, ok := s.keys[id]
	if !ok {
		return nil, errors.New("stored secret was sealed with a different EVENTEXPORT_SECRET_KEY than the one configured")
	}
	ns := aead.NonceSize()
	plain, err := aead.Open(nil, sealed[5:5+ns], sealed[5+ns:], id[:])
	if err != nil {
		return nil, errors.New("stored secret could not be decrypted: it was altered or sealed with another key")
	}
	return plain, nil
}

// Current reports whether sealed was made with the key new values are sealed with.
func (s *Sealer) Current(sealed []byte) bool {
	return len(sealed) >= 5 && [4]byte(sealed[1:5]) == s.id
}

// CheckSecrets reports why the stored secrets cannot be opened, or nil: no key is configured
// (or it is malformed) while secrets are stored, or a secret was sealed with a key that is
// neither EVENTEXPORT_SECRET_KEY nor one of EVENTEXPORT_SECRET_KEY_OLD. One secret of each key
// they were sealed with is opened, so the check costs one query whatever their number.
func (s *Store) CheckSecrets(ctx context.Context) error {
	rows, err := s.db.Query(ctx, `SELECT DISTINCT ON (substring(sealed FROM 1 FOR 5)) sealed, target_id::text
		FROM target_secrets ORDER BY substring(sealed FROM 1 FOR 5), target_id`)
	if err != nil {
		return fmt.Errorf("read stored secrets: %w", err)
	}
	type sample struct {
		sealed []byte
		target string
	}
	samples, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (sample, error) {
		var sm sample
		return sm, r.Scan(&sm.sealed, &sm.target)
	})
	if err != nil {
		return fmt.Errorf("read stored secrets: %w", err)
	}
	if len(samples) == 0 {
		return nil
	}
	if s.sealer == nil {
		return fmt.Errorf("secrets are stored but cannot be opened: %w", s.noSealer)
	}
	for _, sm := range samples {
		if _, err := s.sealer.Open(sm.sealed); err != nil {
			return fmt.Errorf("the secrets of target %s (and of every target sealed with the same key) cannot be opened: %w; configure the key they were sealed with (EVENTEXPORT_SECRET_KEY, or EVENTEXPORT_SECRET_KEY_OLD during a rotation)", sm.target, err)
		}
	}
	return nil
}
