package main

import (
	"context"
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// A re-send queues one run per day and event type, due now, each with a file name of its own,
// and prints their ids.
func TestResendQueuesRuns(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.addDestination(t, "json")
	began := time.Now()
	out, errOut, code := cli(t, f.env, "resend", "--destination", id, "--from", "2026-03-07", "--to", "2026-03-09")
	if code != 0 {
		t.Fatalf("resend: exit %d: %s", code, errOut)
	}
	ids := strings.Fields(out)
	if len(ids) != 3 {
		t.Fatalf("resend printed %q; want 3 run ids", out)
	}
	rows, err := f.db.Pool.Query(context.Background(), `SELECT id::text, day::text, kind, status, file_name, next_attempt_at,
		window_end - window_start FROM runs ORDER BY day`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var days, got, names []string
	for rows.Next() {
		var id, day, kind, status, name string
		var next time.Time
		var length time.Duration
		if err := rows.Scan(&id, &day, &kind, &status, &name, &next, &length); err != nil {
			t.Fatal(err)
		}
		days, got, names = append(days, day), append(got, id), append(names, name)
		if kind != "resend" || status != "pending" || next.Before(began.Add(-time.Second)) || next.After(time.Now()) {
			t.Errorf("run of %s: %s, %s, next attempt %s; want a pending resend due now", day, kind, status, next)
		}
		if want := map[string]time.Duration{"2026-03-08": 23 * time.Hour}[day]; want != 0 && length != want {
			t.Errorf("run of %s covers %s, want %s", day, length, want)
		}
		if !fileNameRE(name) {
			t.Errorf("file name %q is not well formed", name)
		}
	}
	if !slices.Equal(days, []string{"2026-03-07", "2026-03-08", "2026-03-09"}) {
		t.Errorf("re-sent days %v", days)
	}
	sort.Strings(ids)
	sort.Strings(got)
	if !slices.Equal(ids, got) {
		t.Errorf("printed ids %v, stored %v", ids, got)
	}
	if names[0] == names[1] || names[1] == names[2] {
		t.Errorf("file names repeat: %v", names)
	}

	// --to defaults to --from.
	out, _, code = cli(t, f.env, "resend", "--destination", id, "--from", "2026-03-08")
	if code != 0 || len(strings.Fields(out)) != 1 {
		t.Errorf("resend of one day: exit %d, printed %q; want one id", code, out)
	}
	// A year at once is accepted.
	out, _, code = cli(t, f.env, "resend", "--destination", id, "--from", "2025-01-01", "--to", "2025-12-31")
	if code != 0 || len(strings.Fields(out)) != 365 {
		t.Errorf("resend of 2025: exit %d, %d ids; want 365", code, len(strings.Fields(out)))
	}
}

func fileNameRE(name string) bool {
	return strings.HasPrefix(name, "courseCompletion-") && strings.HasSuffix(name, ".json") && len(name) == len("courseCompletion-1772946000_2026-11-21T12-00-00-abcdefg.json")
}

// Bad input to resend exits 2 and queues nothing.
func TestResendBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.addDestination(t, "json")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"from after to", []string{"--destination", id, "--from", "2026-03-09", "--to", "2026-03-08"}, "before"},
		{"bad from", []string{"--destination", id, "--from", "2026-02-30"}, "2026-02-30"},
		{"bad to", []string{"--destination", id, "--from", "2026-02-01", "--to", "03/01/2026"}, "03/01/2026"},
		{"no from", []string{"--destination", id}, "--from"},
		{"no destination", []string{"--from", "2026-03-08"}, "--destination"},
		{"unknown destination", []string{"--destination", uuid.NewString(), "--from", "2026-03-08"}, "no destination"},
		{"not a uuid", []string{"--destination", "acme", "--from", "2026-03-08"}, "no destination"},
		{"366 days", []string{"--destination", id, "--from", "2025-01-01", "--to", "2026-01-01"}, "365"},
		{"years", []string{"--destination", id, "--from", "2020-01-01", "--to", "2026-01-01"}, "365"},
		{"stray argument", []string{"--destination", id, "--from", "2026-03-08", "extra"}, "argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, errOut, code := cli(t, f.env, append([]string{"resend"}, tc.args...)...)
			if code != 2 || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and a message naming %q", code, errOut, tc.want)
			}
			if out != "" {
				t.Errorf("printed %q on bad input", out)
			}
			if n := f.countRows(t, "runs"); n != 0 {
				t.Errorf("%d runs after a rejected resend, want 0", n)
			}
		})
	}
}

var runKeys = []string{"attempts", "bytes", "created_at", "day", "delivered_at", "destination_id", "event_type",
	"events", "file_name", "files", "id", "kind", "last_error", "late_events", "next_attempt_at", "remote_path", "status",
	"window_end", "window_start"}

var attemptKeys = []string{"bytes", "error", "error_class", "events", "finished_at", "number", "outcome", "permanent", "started_at"}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// runs list and runs show give each run's kind, day, status, file, counts and attempts.
func TestRunsListAndShow(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	good := f.addDestination(t, "json")
	if _, errOut, code := cli(t, f.env, "run", "--destination", good, "--date", "2026-11-01"); code != 0 {
		t.Fatalf("run: %s", errOut)
	}
	out, _, _ := cli(t, f.env, "resend", "--destination", good, "--from", "2026-11-02")
	queued := strings.TrimSpace(out)

	out, errOut, code := cli(t, f.env, "runs", "list", "--json")
	if code != 0 {
		t.Fatalf("runs list: exit %d: %s", code, errOut)
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 2 {
		t.Fatalf("runs list --json = %s (%v); want 2 runs", out, err)
	}
	if !slices.Equal(keys(list[0]), runKeys) {
		t.Errorf("run fields %v, want %v", keys(list[0]), runKeys)
	}
	if list[0]["id"] != queued || list[0]["kind"] != "resend" || list[0]["status"] != "pending" ||
		list[0]["next_attempt_at"] == nil || list[0]["day"] != "2026-11-02" || len(list[0]["attempts"].([]any)) != 0 {
		t.Errorf("the queued re-send = %v", list[0])
	}
	delivered := list[1]
	if delivered["kind"] != "manual" || delivered["status"] != "delivered" || delivered["events"] != float64(0) ||
		delivered["bytes"] != a0bytes(delivered) || delivered["delivered_at"] == nil || delivered["next_attempt_at"] != nil ||
		!strings.HasPrefix(delivered["remote_path"].(string), "/inbox/courseCompletion-") {
		t.Errorf("the delivered run = %v", delivered)
	}
	as := delivered["attempts"].([]any)
	if len(as) != 1 {
		t.Fatalf("delivered run has attempts %v, want 1", as)
	}
	a := as[0].(map[string]any)
	if !slices.Equal(keys(a), attemptKeys) || a["number"] != float64(1) || a["outcome"] != "delivered" || a["permanent"] != false {
		t.Errorf("attempt = %v; want fields %v", a, attemptKeys)
	}

	out, _, code = cli(t, f.env, "runs", "show", delivered["id"].(string), "--json")
	var shown map[string]any
	if err := json.Unmarshal([]byte(out), &shown); err != nil || code != 0 {
		t.Fatalf("runs show --json: exit %d, %s", code, out)
	}
	if shown["id"] != delivered["id"] || shown["file_name"] != delivered["file_name"] || !slices.Equal(keys(shown), runKeys) {
		t.Errorf("runs show = %v", shown)
	}
	out, _, code = cli(t, f.env, "runs", "show", delivered["id"].(string))
	for _, want := range []string{"delivered", "manual", "2026-11-01", "attempts (1)", delivered["file_name"].(string)} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("runs show lacks %q:\n%s", want, out)
		}
	}

	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"--status", "delivered"}, 1},
		{[]string{"--status", "failed"}, 0},
		{[]string{"--destination", good}, 2},
		{[]string{"--destination", good, "--status", "pending"}, 1},
	} {
		out, errOut, code := cli(t, f.env, append([]string{"runs", "list", "--json"}, tc.args...)...)
		var l []map[string]any
		if err := json.Unmarshal([]byte(out), &l); err != nil || code != 0 || len(l) != tc.want {
			t.Errorf("runs list %v: exit %d, %d runs (%v %s); want %d", tc.args, code, len(l), err, errOut, tc.want)
		}
	}
	out, _, _ = cli(t, f.env, "runs", "list")
	if !strings.Contains(out, queued) || !strings.Contains(out, "STATUS") {
		t.Errorf("runs list:\n%s", out)
	}
	for _, args := range [][]string{
		{"runs", "list", "--status", "lost"},
		{"runs", "list", "--destination", "acme"},
		{"runs", "list", "--destination", uuid.NewString()},
		{"runs", "show", uuid.NewString()},
		{"runs", "show", "acme"},
		{"runs", "show"},
		{"runs", "frobnicate"},
	} {
		if _, errOut, code := cli(t, f.env, args...); code != 2 {
			t.Errorf("%v: exit %d (%s), want 2", args, code, errOut)
		}
	}
}

// a0bytes is the size the first attempt of a run reported: the run's must equal it.
func a0bytes(run map[string]any) any {
	as, _ := run["attempts"].([]any)
	if len(as) == 0 {
		return nil
	}
	return as[0].(map[string]any)["bytes"]
}
