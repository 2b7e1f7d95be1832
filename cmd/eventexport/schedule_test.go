package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eventexport/eventexport/events"
	"github.com/eventexport/eventexport/events/eventstest"
)

// The built binary, serve replicas, hourly windows in a half-hour zone caught up at once (the
// destination started yesterday), and a real SFTP server: a replica killed mid-way, then two
// more; one file per window, every event of those windows in exactly one file, each file's
// events inside its window.
func TestServeHourlyWindowsTwoReplicas(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	kolkata, err := time.LoadLocation("Asia/Kolkata")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	start := events.DayOf(now, kolkata).AddDays(-1)
	first := start.Window(kolkata).Start
	// An event every 7 minutes from the start until now, and one exactly on each boundary.
	w := events.Window{Start: first, End: now}
	eventstest.Generate(t, f.db.Pool, f.company, w, int(w.Duration()/(7*time.Minute)))
	var onBoundaries []events.Event
	for b := first; b.Before(now); b = b.Add(time.Hour) {
		onBoundaries = append(onBoundaries, events.Event{CompanyID: f.company, Type: events.CourseComplete.Name, OccurredAt: b,
			Payload: []byte(`{"id": "boundary-` + strconv.FormatInt(b.Unix(), 10) + `", "companyId": "` + f.company + `"}`)})
	}
	eventstest.Insert(t, f.db.Pool, onBoundaries...)

	id := f.addDestination(t, "jsonl", "--start-date", start.String(), "--every", "hour", "--timezone", "Asia/Kolkata",
		"--send-after", "0s")
	env := append(append([]string{}, f.env...), "EVENTEXPORT_CONCURRENCY=4", "EVENTEXPORT_CATCHUP_DAYS=3")
	// A first replica killed while it plans and delivers the catch-up: whatever it left half
	// done, the two that follow make one file per window.
	doomed := startServe(t, env)
	eventually(t, 30*time.Second, "a first window planned", func() bool {
		var n int
		err := f.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM runs`).Scan(&n)
		return err == nil && n > 0
	})
	doomed.stop(t, syscall.SIGKILL, 10*time.Second)
	a, b := startServe(t, env), startServe(t, env)
	// Every whole hour since the start is due: [first, last boundary before now).
	due := int(now.Sub(first) / time.Hour)
	eventually(t, 90*time.Second, "every due window delivered", func() bool {
		var n int
		err := f.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM runs WHERE status = 'delivered' AND kind = 'scheduled'`).Scan(&n)
		return err == nil && n >= due
	})
	a.stop(t, syscall.SIGTERM, 10*time.Second)
	b.stop(t, syscall.SIGTERM, 10*time.Second)

	type window struct {
		start, end time.Time
		name       string
	}
	// Delivered windows: one more may have become due while the replicas stopped.
	rows, err := f.db.Pool.Query(context.Background(), `SELECT window_start, window_end, file_name FROM runs
		WHERE destination_id = $1 AND kind = 'scheduled' AND status = 'delivered' ORDER BY window_start`, id)
	if err != nil {
		t.Fatal(err)
	}
	var ws []window
	for rows.Next() {
		var w window
		if err := rows.Scan(&w.start, &w.end, &w.name); err != nil {
			t.Fatal(err)
		}
		ws = append(ws, w)
	}
	if len(ws) < due || !ws[0].start.Equal(first) {
		t.Fatalf("%d windows from %v, want at least %d from %s", len(ws), ws[0].start, due, first)
	}
	for i, w := range ws {
		if w.end.Sub(w.start) != time.Hour || (i > 0 && !w.start.Equal(ws[i-1].end)) {
			t.Errorf("window %d: [%s, %s) does not follow [%s, %s) by an hour", i, w.start, w.end, ws[i-1].start, ws[i-1].end)
		}
		if local := w.start.In(kolkata); local.Minute() != 0 {
			t.Errorf("window %d starts at %s, not on the hour in Kolkata", i, local)
		}
	}
	// Every event of those windows is in exactly one file, the file of its window.
	var wantIDs []string
	rows, err = f.db.Pool.Query(context.Background(), `SELECT coalesce(payload->>'id', id::text), occurred_at FROM events
		WHERE company_id = $1 AND occurred_at >= $2 AND occurred_at < $3`, f.company, first, ws[len(ws)-1].end)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		var at time.Time
		if err := rows.Scan(&id, &at); err != nil {
			t.Fatal(err)
		}
		wantIDs = append(wantIDs, id)
	}
	seen := map[string]int{}
	files := inboxFiles(t, f.srv)
	if len(files) != len(ws) {
		t.Errorf("%d files on the server, want one per window: %d", len(files), len(ws))
	}
	unix := regexp.MustCompile(`-(\d+)_`)
	for _, name := range files {
		m := unix.FindStringSubmatch(name)
		if m == nil {
			t.Errorf("file %s names no window start", name)
			continue
		}
		sec, _ := strconv.ParseInt(m[1], 10, 64)
		wStart := time.Unix(sec, 0)
		b, err := os.ReadFile(filepath.Join(f.srv.Root(), "inbox", name))
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
			if line == "" {
				continue
			}
			var ev struct {
				ID string `json:"id"`
			}
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			seen[ev.ID]++
			if strings.HasPrefix(ev.ID, "boundary-") {
				at, _ := strconv.ParseInt(strings.TrimPrefix(ev.ID, "boundary-"), 10, 64)
				if at != sec {
					t.Errorf("the event at %s is in the file of the window starting %s", time.Unix(at, 0), wStart)
				}
			}
		}
	}
	for _, id := range wantIDs {
		if seen[id] != 1 {
			t.Errorf("event %s is in %d files, want 1", id, seen[id])
		}
	}
	if len(seen) != len(wantIDs) {
		t.Errorf("%d events in the files, want %d", len(seen), len(wantIDs))
	}
}

// plan prints a destination's next windows, in its zone and in UTC, with their due times;
// bad input is refused naming the problem.
func TestPlanCommand(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.addDestination(t, "json", "--every", "6h", "--timezone", "Australia/Adelaide", "--start-date", "2026-01-01")
	out, errOut, code := cli(t, f.env, "plan", "--destination", id, "--from", "2026-04-05", "--next", "5", "--json")
	if code != 0 {
		t.Fatalf("plan: exit %d: %s", code, errOut)
	}
	var ws []struct {
		Start, End, Due time.Time
		Local, Every    string
		Hours           float64
	}
	if err := json.Unmarshal([]byte(out), &ws); err != nil || len(ws) != 5 {
		t.Fatalf("plan --json: %v\n%s", err, out)
	}
	// 2026-04-05 in Adelaide: clocks go back from 03:00 ACDT to 02:00 ACST: the 00:00 window
	// holds 7 hours, the others 6; the next day starts at 00:00 ACST.
	wantHours := []float64{7, 6, 6, 6, 6}
	wantLocal := []string{"2026-04-05 00:00 ACDT", "2026-04-05 06:00 ACST", "2026-04-05 12:00 ACST", "2026-04-05 18:00 ACST", "2026-04-06 00:00 ACST"}
	for i, w := range ws {
		if w.Hours != wantHours[i] || !strings.HasPrefix(w.Local, wantLocal[i]) || w.Every != "6h" {
			t.Errorf("window %d: %s, %g hours, every %s; want from %s, %g hours", i, w.Local, w.Hours, w.Every, wantLocal[i], wantHours[i])
		}
		if !w.Due.Equal(w.End.Add(15 * time.Minute)) {
			t.Errorf("window %d due at %s, want 15 minutes after its end %s", i, w.Due, w.End)
		}
		if i > 0 && !w.Start.Equal(ws[i-1].End) {
			t.Errorf("window %d starts at %s, the one before ends at %s", i, w.Start, ws[i-1].End)
		}
	}
	text, _, code := cli(t, f.env, "plan", "--destination", id, "--next", "3")
	if code != 0 || strings.Count(text, "\n") != 4 || !strings.Contains(text, "DUE") {
		t.Errorf("plan: exit %d\n%s", code, text)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"plan"}, "--destination"},
		{[]string{"plan", "--destination", id, "--from", "2026-02-30"}, "2026-02-30"},
		{[]string{"plan", "--destination", id, "--next", "0"}, "next"},
		{[]string{"destinations", "update", id, "--every", "5h"}, "every"},
		{[]string{"destinations", "update", id, "--timezone", "Mars/Olympus"}, "Mars/Olympus"},
		{[]string{"destinations", "update", id, "--send-after", "-1h"}, "--send-after"},
		{[]string{"destinations", "update", id, "--late-events", "shout"}, "--late-events"},
	} {
		out, errOut, code := cli(t, f.env, tc.args...)
		if code != 2 || !strings.Contains(out+errOut, tc.want) {
			t.Errorf("%v: exit %d, %q; want 2 and a message naming %q", tc.args, code, out+errOut, tc.want)
		}
	}
	show, _, _ := cli(t, f.env, "destinations", "show", id, "--json")
	var v map[string]any
	if err := json.Unmarshal([]byte(show), &v); err != nil {
		t.Fatal(err)
	}
	if v["every"] != "6h" || v["timezone"] != "Australia/Adelaide" || v["late_events"] != "report" || v["send_after"] != "default" {
		t.Errorf("show --json after refused updates: every %v, timezone %v, late_events %v, send_after %v", v["every"], v["timezone"], v["late_events"], v["send_after"])
	}
}
