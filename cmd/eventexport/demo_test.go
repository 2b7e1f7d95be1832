package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// The demo's last resort: a throwaway cluster from the local PostgreSQL binaries starts,
// answers on loopback, and is gone after stop.
func TestThrowawayCluster(t *testing.T) {
	t.Parallel()
	bin, err := findPostgresBin()
	if err != nil {
		t.Fatalf("this test needs the PostgreSQL server binaries (initdb, postgres): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	url, stop, err := startThrowawayCluster(ctx, bin)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		stop()
		t.Fatal(err)
	}
	var one int
	err = conn.QueryRow(ctx, "SELECT 1").Scan(&one)
	conn.Close(ctx)
	stop()
	if err != nil || one != 1 {
		t.Fatalf("query on the throwaway cluster: %v", err)
	}
	if reachable(ctx, url) {
		t.Error("the throwaway cluster still answers after stop")
	}
}

// The demo delivers a JSON and a CSV file into its directory and shows them.
func TestDemo(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "demo-sftp")
	var out, errOut bytes.Buffer
	getenv := func(k string) string {
		if k == "DATABASE_URL" {
			return os.Getenv("DATABASE_URL")
		}
		return ""
	}
	if code := run(context.Background(), []string{"demo", "--dir", dir}, &out, &errOut, getenv); code != 0 {
		t.Fatalf("demo exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	for _, ext := range []string{"json", "csv"} {
		files, _ := filepath.Glob(filepath.Join(dir, "outbox", ext, "courseCompletion-*."+ext))
		if len(files) != 1 {
			t.Fatalf("demo left %d %s files, want 1", len(files), ext)
		}
		if !strings.Contains(out.String(), files[0]) {
			t.Errorf("demo output does not name %s", files[0])
		}
	}
	if !strings.Contains(out.String(), "delivered JSON (25 events") || !strings.Contains(out.String(), "| id,source,timestamp") {
		t.Errorf("demo output lacks the summary or the CSV head:\n%s", out.String())
	}
}
