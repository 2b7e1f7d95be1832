package main

import (
	"net/http"
	"testing"
	"time"
)

// The API takes a destination's schedule fields as the CLI's flags, shows them, refuses bad
// ones naming the field, and lists its windows as plan does.
func TestAPISchedule(t *testing.T) {
	t.Parallel()
	f := newAPIFixture(t, testToken)
	status, d, _ := f.call(t, "POST", "/v1/destinations", map[string]any{"company_id": f.company, "url": f.srv.URL("/inbox"),
		"format": "json", "host_key": f.srv.HostKeyPin(), "start_date": "2026-01-01",
		"every": "hour", "timezone": "America/New_York", "send_after": "5m", "late_events": "resend"})
	if status != http.StatusCreated {
		t.Fatalf("POST destination: %d %v", status, d)
	}
	if d["every"] != "hour" || d["timezone"] != "America/New_York" || d["send_after"] != "5m0s" || d["late_events"] != "resend" {
		t.Errorf("created: every %v, timezone %v, send_after %v, late_events %v", d["every"], d["timezone"], d["send_after"], d["late_events"])
	}
	id := d["id"].(string)
	for field, bad := range map[string]any{"every": "90m", "timezone": "Europe/Atlantis", "send_after": "soon", "late_events": "panic"} {
		status, body, _ := f.call(t, "PATCH", "/v1/destinations/"+id, map[string]any{field: bad})
		if status != http.StatusBadRequest || errField(body) != field {
			t.Errorf("PATCH %s %v: %d %v; want 400 naming the field", field, bad, status, body)
		}
	}
	// 2026-03-08 in New York: the clocks skip 02:00, so the day has 23 hourly windows.
	status, _, list := f.call(t, "GET", "/v1/destinations/"+id+"/windows?from=2026-03-08&next=25", nil)
	if status != http.StatusOK || len(list) != 25 {
		t.Fatalf("GET windows: %d, %d windows", status, len(list))
	}
	day := 0
	for _, x := range list {
		w := x.(map[string]any)
		start, _ := time.Parse(time.RFC3339, w["start"].(string))
		if start.Before(time.Date(2026, 3, 9, 4, 0, 0, 0, time.UTC)) {
			day++
		}
		if w["hours"].(float64) != 1 {
			t.Errorf("window %v is not an hour long", w)
		}
	}
	if day != 23 {
		t.Errorf("%d hourly windows on 2026-03-08 in New York, want 23", day)
	}
	if status, body, _ := f.call(t, "GET", "/v1/destinations/"+id+"/windows?next=0", nil); status != http.StatusBadRequest || errField(body) != "next" {
		t.Errorf("next=0: %d %v", status, body)
	}
}

// errField is the field an API error names.
func errField(body map[string]any) any {
	e, _ := body["error"].(map[string]any)
	return e["field"]
}
