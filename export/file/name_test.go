package file_test

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eventexport/eventexport/events"
	"github.com/eventexport/eventexport/events/eventstest"
	"github.com/eventexport/eventexport/export/file"
)

var namePattern = regexp.MustCompile(`^courseCompletion-(\d+)_(\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d)-([0-9a-z]{7})\.(json|csv)$`)

// TestFileName checks names in processes of several local time zones: the creation time is
// written in UTC whatever the zone.
func TestFileName(t *testing.T) {
	t.Parallel()
	if !eventstest.InTimeZones(t, "UTC", "Asia/Kolkata", "Pacific/Pago_Pago") {
		return
	}
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name           string
		format         file.Format
		dayStart       time.Time
		created        time.Time
		unix, utc, ext string
	}{
		{
			// The documentation's example: courseCompletion-1589259213_2020-05-18T18-00-13-7vcph2i.json
			name: "documented", format: file.FormatJSON,
			dayStart: time.Unix(1589259213, 0), created: time.Date(2020, 5, 18, 18, 0, 13, 0, time.UTC),
			unix: "1589259213", utc: "2020-05-18T18-00-13", ext: "json",
		},
		{
			// New York's spring-forward day starts at 05:00 UTC; the file is created at 2am local
			// time the next day, 06:00 UTC.
			name: "spring forward", format: file.FormatCSV,
			dayStart: events.Day{Year: 2026, Month: time.March, Day: 8}.Window(ny).Start,
			created:  time.Date(2026, 3, 9, 2, 0, 0, 999_000_000, ny),
			unix:     "1772946000", utc: "2026-03-09T06-00-00", ext: "csv",
		},
		{
			name: "fall back", format: file.FormatJSON,
			dayStart: events.Day{Year: 2026, Month: time.November, Day: 1}.Window(ny).Start,
			created:  time.Date(2026, 11, 2, 2, 0, 0, 0, ny),
			unix:     "1793505600", utc: "2026-11-02T07-00-00", ext: "json",
		},
	}
	for _, tt := range tests {
		for _, created := range []time.Time{tt.created, tt.created.Local(), tt.created.UTC()} {
			name := file.Name(events.CourseComplete, tt.format, tt.dayStart, created)
			m := namePattern.FindStringSubmatch(name)
			if m == nil {
				t.Fatalf("%s: FileName = %q, does not match %s", tt.name, name, namePattern)
			}
			if m[1] != tt.unix || m[2] != tt.utc || m[4] != tt.ext {
				t.Errorf("%s: FileName = %q, want day start %s, created %s, extension %s", tt.name, name, tt.unix, tt.utc, tt.ext)
			}
			if test := file.TestName(events.CourseComplete, tt.format, tt.dayStart, created); !strings.HasPrefix(test, "test-") || !namePattern.MatchString(strings.TrimPrefix(test, "test-")) {
				t.Errorf("%s: TestFileName = %q, want test- and a file name", tt.name, test)
			}
		}
	}
	for _, tt := range tests {
		if got := strconv.FormatInt(tt.dayStart.Unix(), 10); got != tt.unix {
			t.Errorf("%s: the day starts at %s, the test says %s", tt.name, got, tt.unix)
		}
	}
}

// TestFileNameRandomPart checks that names differ and use the whole alphabet.
func TestFileNameRandomPart(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 9, 7, 0, 0, 0, time.UTC)
	seen := map[string]bool{}
	chars := map[rune]bool{}
	for range 2000 {
		name := file.Name(events.CourseComplete, file.FormatJSON, now, now)
		m := namePattern.FindStringSubmatch(name)
		if m == nil {
			t.Fatalf("FileName = %q, does not match %s", name, namePattern)
		}
		if seen[m[3]] {
			t.Fatalf("random part %q repeated", m[3])
		}
		seen[m[3]] = true
		for _, c := range m[3] {
			chars[c] = true
		}
	}
	if len(chars) != 36 {
		t.Errorf("random parts use %d distinct characters, want all 36 of [0-9a-z]", len(chars))
	}
}
