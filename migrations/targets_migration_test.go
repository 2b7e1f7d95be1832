package migrations_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/eventexport/eventexport/migrations"
	"github.com/eventexport/eventexport/migrations/pgtest"
)

// Migration 3 carries the SFTP-only targets of version 2 over to targets by kind: the same
// server, pin and base directory as settings, the same sealed secrets by name, and every
// destination still on its target.
func TestTargetsCarriedOverToKinds(t *testing.T) {
	t.Parallel()
	db := pgtest.Empty(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := migrations.MigrateTo(ctx, conn, 2); err != nil {
		t.Fatal(err)
	}
	var withKey, withPassword, destID string
	err = conn.QueryRow(ctx, `INSERT INTO targets (name, host, port, username, password_sealed, private_key_sealed,
		passphrase_sealed, host_key, base_dir, legacy_crypto, shared)
		VALUES ('shared', 'sftp.example.com', 2222, 'acme', NULL, '\x01aa', '\x01bb', 'SHA256:abc', '/in', true, true)
		RETURNING id`).Scan(&withKey)
	if err != nil {
		t.Fatal(err)
	}
	err = conn.QueryRow(ctx, `INSERT INTO targets (host, username, password_sealed)
		VALUES ('10.0.0.1', 'bob', '\x01cc') RETURNING id`).Scan(&withPassword)
	if err != nil {
		t.Fatal(err)
	}
	err = conn.QueryRow(ctx, `INSERT INTO destinations (company_id, target_id, format, event_types, start_date)
		VALUES (gen_random_uuid(), $1, 'csv', ARRAY['courseComplete'], '2026-01-01') RETURNING id`, withPassword).Scan(&destID)
	if err != nil {
		t.Fatal(err)
	}

	if _, err := migrations.Migrate(ctx, conn); err != nil {
		t.Fatal(err)
	}

	settings := func(id string) (string, map[string]any) {
		var kind, raw string
		if err := conn.QueryRow(ctx, `SELECT kind, settings::text FROM targets WHERE id = $1`, id).Scan(&kind, &raw); err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(raw), &m); err != nil {
			t.Fatal(err)
		}
		return kind, m
	}
	kind, s := settings(withKey)
	want := map[string]any{"host": "sftp.example.com", "port": 2222.0, "user": "acme", "host_key": "SHA256:abc",
		"base_dir": "/in", "legacy_crypto": true}
	if kind != "sftp" || len(s) != len(want) {
		t.Errorf("shared target: kind %q, settings %v; want sftp, %v", kind, s, want)
	}
	for k, v := range want {
		if s[k] != v {
			t.Errorf("shared target setting %s = %v, want %v", k, s[k], v)
		}
	}
	if _, s := settings(withPassword); s["port"] != 22.0 || s["host_key"] != "" || s["user"] != "bob" {
		t.Errorf("own target: settings %v; want port 22, no pin, user bob", s)
	}

	secrets := func(id string) map[string]string {
		rows, err := conn.Query(ctx, `SELECT name, encode(sealed, 'hex') FROM target_secrets WHERE target_id = $1`, id)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for rows.Next() {
			var n, v string
			if err := rows.Scan(&n, &v); err != nil {
				t.Fatal(err)
			}
			out[n] = v
		}
		return out
	}
	if got := secrets(withKey); len(got) != 2 || got["private_key"] != "01aa" || got["passphrase"] != "01bb" {
		t.Errorf("shared target's secrets: %v; want its private key and passphrase as they were sealed", got)
	}
	if got := secrets(withPassword); len(got) != 1 || got["password"] != "01cc" {
		t.Errorf("own target's secrets: %v; want its password as it was sealed", got)
	}
	var target string
	if err := conn.QueryRow(ctx, `SELECT target_id::text FROM destinations WHERE id = $1`, destID).Scan(&target); err != nil || target != withPassword {
		t.Errorf("the destination's target after the migration: %q, %v; want %s", target, err, withPassword)
	}
	// Formats are checked by the service's registry, not by the schema, from now on.
	if _, err := conn.Exec(ctx, `UPDATE destinations SET format = 'jsonl' WHERE id = $1`, destID); err != nil {
		t.Errorf("a new format needs a schema change: %v", err)
	}
}
