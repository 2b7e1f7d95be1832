package events_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/eventexport/eventexport/events"
)

func TestLookupType(t *testing.T) {
	t.Parallel()
	got, err := events.LookupType("courseComplete")
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "courseComplete" || got.FilePrefix != "courseCompletion" || len(got.Columns) != 19 {
		t.Errorf("LookupType(courseComplete) = %+v", got)
	}
	_, err = events.LookupType("courseCompleted")
	if !errors.Is(err, events.ErrUnknownType) {
		t.Fatalf("LookupType(courseCompleted) error = %v, want ErrUnknownType", err)
	}
	if msg := err.Error(); !strings.Contains(msg, `"courseCompleted"`) || !strings.Contains(msg, "courseComplete") {
		t.Errorf("error %q: want it to name the bad type and the known ones", msg)
	}
}

func TestParseTypes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{"courseComplete", []string{"courseComplete"}, ""},
		{" courseComplete ", []string{"courseComplete"}, ""},
		{"courseComplete,courseComplete", []string{"courseComplete"}, ""},
		{"courseComplete, courseComplete", []string{"courseComplete"}, ""},
		{"", nil, "no event type"},
		{"  ", nil, "no event type"},
		{"courseComplete,", nil, "empty name"},
		{",courseComplete", nil, "empty name"},
		{"courseComplete,nope", nil, `"nope"`},
		{"CourseComplete", nil, `"CourseComplete"`},
	}
	for _, tt := range tests {
		got, err := events.ParseTypes(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseTypes(%q) error = %v, want one mentioning %s", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseTypes(%q): %v", tt.in, err)
			continue
		}
		var names []string
		for _, ty := range got {
			names = append(names, ty.Name)
		}
		if strings.Join(names, ",") != strings.Join(tt.want, ",") {
			t.Errorf("ParseTypes(%q) = %v, want %v", tt.in, names, tt.want)
		}
	}
}

func TestRegistry(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, ty := range events.Types() {
		if ty.Name == "" || ty.FilePrefix == "" || len(ty.Columns) == 0 {
			t.Errorf("type %+v: want a name, a file prefix and columns", ty)
		}
		if seen[ty.Name] {
			t.Errorf("type %s registered twice", ty.Name)
		}
		seen[ty.Name] = true
		cols := map[string]bool{}
		for _, c := range ty.Columns {
			if cols[c] || c == "" || strings.HasPrefix(c, ".") || strings.HasSuffix(c, ".") || strings.Contains(c, "..") {
				t.Errorf("type %s: column %q is empty, malformed or repeated", ty.Name, c)
			}
			cols[c] = true
		}
		if got, err := events.LookupType(ty.Name); err != nil || got.Name != ty.Name {
			t.Errorf("LookupType(%s) = %v, %v", ty.Name, got.Name, err)
		}
	}
	if !seen["courseComplete"] {
		t.Errorf("courseComplete is not registered")
	}
}
