package store

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/eventexport/eventexport/delivery"
	"github.com/eventexport/eventexport/events"
	"github.com/eventexport/eventexport/export/file"
	"github.com/eventexport/eventexport/migrations/pgtest"
)

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func mustSealer(t *testing.T, key []byte, old ...[]byte) *Sealer {
	t.Helper()
	s, err := NewSealer(key, old...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// After a rotation every secret is sealed under the new key and opens without the old one;
// running it again changes nothing; a secret no key opens is named, and the rest rotate.
func TestRotateSecrets(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	keyA, keyB := testKey(0xA), testKey(0xB)
	oldStore := NewStore(db.Pool, mustSealer(t, keyA), nil)
	d, err := oldStore.AddDestination(ctx, NewDestination{CompanyID: uuid.NewString(), Format: file.FormatJSON,
		EventTypes: []string{events.CourseComplete.Name}, StartDate: events.DayOf(time.Now(), time.UTC),
		Target: testTarget("", map[string]string{"password": "pw-A", "private_key": "key-A", "passphrase": "pass-A"})})
	if err != nil {
		t.Fatal(err)
	}
	shared, err := oldStore.AddTarget(ctx, testTarget("shared", map[string]string{"password": "pw-shared"}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := oldStore.AddTarget(ctx, testTarget("no secrets", nil)); err != nil {
		t.Fatal(err)
	}

	rotating := NewStore(db.Pool, mustSealer(t, keyB, keyA), nil)
	rot, err := rotating.RotateSecrets(ctx)
	if err != nil || rot != (Rotation{Targets: 2, Resealed: 4, Current: 0}) {
		t.Fatalf("rotate: %+v, %v; want 2 targets and 4 secrets re-sealed", rot, err)
	}
	if rot, err := rotating.RotateSecrets(ctx); err != nil || rot != (Rotation{Targets: 2, Resealed: 0, Current: 4}) {
		t.Errorf("second rotation: %+v, %v; want nothing to do", rot, err)
	}

	newOnly := NewStore(db.Pool, mustSealer(t, keyB), nil)
	got, err := newOnly.Destination(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := newOnly.OpenSecrets(&got.Target); err != nil || string(got.Target.Secrets["password"]) != "pw-A" ||
		string(got.Target.Secrets["private_key"]) != "key-A" || string(got.Target.Secrets["passphrase"]) != "pass-A" {
		t.Errorf("secrets after rotation with the new key alone: %q, %v", got.Target.Secrets, err)
	}
	st, err := newOnly.Target(ctx, shared.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := newOnly.OpenSecrets(&st); err != nil || string(st.Secrets["password"]) != "pw-shared" {
		t.Errorf("shared target after rotation: %q, %v", st.Secrets, err)
	}
	old, _ := oldStore.Destination(ctx, d.ID)
	if err := oldStore.OpenSecrets(&old.Target); err == nil {
		t.Error("the old key alone still opens the rotated secrets")
	}

	// A secret sealed under a key nobody configured: named, not touched; the rest rotate.
	strangerStore := NewStore(db.Pool, mustSealer(t, testKey(0xC)), nil)
	stranger, err := strangerStore.AddTarget(ctx, testTarget("stranger", map[string]string{"password": "pw-C"}))
	if err != nil {
		t.Fatal(err)
	}
	third := NewStore(db.Pool, mustSealer(t, testKey(0xD), keyB), nil)
	rot, err = third.RotateSecrets(ctx)
	var ue *UnreadableSecretsError
	if !errors.As(err, &ue) || len(ue.Targets) != 1 || ue.Targets[0] != stranger.ID || rot.Resealed != 4 {
		t.Fatalf("rotation with an unknown key in the database: %+v, %v; want the other 4 secrets re-sealed and %s named", rot, err, stranger.ID)
	}
	if st, _ := strangerStore.Target(ctx, stranger.ID); strangerStore.OpenSecrets(&st) != nil || string(st.Secrets["password"]) != "pw-C" {
		t.Error("the unreadable target was changed")
	}

	if _, err := NewStore(db.Pool, nil, nil).RotateSecrets(ctx); !errors.Is(err, ErrNoSecretKey) {
		t.Errorf("rotation without a key: %v, want ErrNoSecretKey", err)
	}
}

// testTarget is an SFTP target as the store keeps it, with secrets in the clear.
func testTarget(name string, secrets map[string]string) Target {
	t := Target{Name: name, Target: delivery.Target{Kind: "sftp",
		Settings: []byte(`{"host": "h", "port": 22, "user": "u", "host_key": "", "base_dir": "", "legacy_crypto": false}`),
		Secrets:  map[string][]byte{}}}
	for k, v := range secrets {
		t.Secrets[k] = []byte(v)
	}
	return t
}
