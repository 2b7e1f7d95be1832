package pgcluster

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func needBin(t *testing.T) string {
	t.Helper()
	bin, err := FindBin()
	if err != nil {
		t.Fatalf("this test needs the PostgreSQL server binaries (initdb, postgres): %v", err)
	}
	return bin
}

// tempDir is t.TempDir, open to the user a cluster started as root runs as.
func tempDir(t *testing.T) string {
	dir := t.TempDir()
	if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// A throwaway cluster starts, answers on loopback, and is gone with its directory after stop.
func TestStart(t *testing.T) {
	bin := needBin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	tmp := tempDir(t)
	url, stop, err := Start(ctx, Options{Bin: bin, TempDir: tmp})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		stop()
		t.Fatal(err)
	}
	var enc, fsync string
	err = conn.QueryRow(ctx, "SELECT pg_encoding_to_char(encoding), current_setting('fsync') FROM pg_database WHERE datname = current_database()").Scan(&enc, &fsync)
	conn.Close(ctx)
	if err != nil || enc != "UTF8" || fsync != "off" {
		t.Errorf("encoding %q, fsync %q, %v; want UTF8 and off", enc, fsync, err)
	}
	if err := stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
	if Reachable(ctx, url) {
		t.Error("the cluster still answers after stop")
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("stop left %d entries in the temporary directory", len(left))
	}
	if err := stop(); err != nil {
		t.Errorf("a second stop: %v", err)
	}
}

// A cluster does not outlive a process killed before it could stop it, and the next Start
// removes the directory left behind.
func TestStopsWithKilledParent(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the parent-death signal is Linux's")
	}
	needBin(t)
	tmp := tempDir(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperStartAndHang$")
	cmd.Env = append(os.Environ(), "PGCLUSTER_HELPER_TMP="+tmp)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var url string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "URL "); ok {
			url = u
			break
		}
	}
	if url == "" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("the helper printed no URL")
	}
	ctx := context.Background()
	if !Reachable(ctx, url) {
		t.Fatal("the helper's cluster does not answer")
	}
	cmd.Process.Kill()
	cmd.Wait()
	deadline := time.Now().Add(15 * time.Second)
	for Reachable(ctx, url) {
		if time.Now().After(deadline) {
			t.Fatal("the cluster still answers 15s after its parent was killed")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The directory goes at the next Start, once the server has finished exiting.
	deadline = time.Now().Add(15 * time.Second)
	for {
		sweep(tmp)
		if left, _ := os.ReadDir(tmp); len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("sweep left the killed parent's directory")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestHelperStartAndHang is TestStopsWithKilledParent's child: it starts a cluster, prints
// its URL and waits to be killed.
func TestHelperStartAndHang(t *testing.T) {
	tmp := os.Getenv("PGCLUSTER_HELPER_TMP")
	if tmp == "" {
		t.Skip("run by TestStopsWithKilledParent")
	}
	url, _, err := Start(context.Background(), Options{TempDir: tmp})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("URL " + url)
	time.Sleep(time.Minute)
}
