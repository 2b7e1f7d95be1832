package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

// Service logs are JSON unless text is asked for, at the configured level; bad values are
// start-up errors that say what is allowed.
func TestServiceLogger(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		format, level string
		wantJSON      bool
		wantDebug     bool
		wantInfo      bool
	}{
		{"", "", true, false, true},
		{"json", "debug", true, true, true},
		{"text", "", false, false, true},
		{"TEXT", "warn", false, false, false},
		{"json", "WARN", true, false, false},
	} {
		format, level, err := loadLogConfig(envOf([]string{"EVENTEXPORT_LOG_FORMAT=" + tc.format, "EVENTEXPORT_LOG_LEVEL=" + tc.level}))
		if err != nil {
			t.Fatalf("%q %q: %v", tc.format, tc.level, err)
		}
		var buf bytes.Buffer
		l := newServiceLogger(config{LogFormat: format, LogLevel: level}, &buf)
		l.Debug("debug line")
		l.Info("delivered", slog.String("run", "r1"))
		out := buf.String()
		if got := strings.Contains(out, "debug line"); got != tc.wantDebug {
			t.Errorf("%q %q: debug shown %t, want %t", tc.format, tc.level, got, tc.wantDebug)
		}
		if got := strings.Contains(out, "delivered"); got != tc.wantInfo {
			t.Errorf("%q %q: info shown %t, want %t", tc.format, tc.level, got, tc.wantInfo)
		}
		if tc.wantInfo {
			last := strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:])
			var m map[string]any
			if isJSON := json.Unmarshal([]byte(last), &m) == nil; isJSON != tc.wantJSON {
				t.Errorf("%q %q: JSON %t, want %t: %s", tc.format, tc.level, isJSON, tc.wantJSON, last)
			}
		}
	}
	for _, bad := range [][]string{{"EVENTEXPORT_LOG_FORMAT=xml"}, {"EVENTEXPORT_LOG_LEVEL=loud"}} {
		if _, _, err := loadLogConfig(envOf(bad)); err == nil || !strings.Contains(err.Error(), strings.Split(bad[0], "=")[0]) {
			t.Errorf("%v: %v, want an error naming the variable", bad, err)
		}
	}
}
