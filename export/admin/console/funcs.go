package console

import (
	"fmt"
	"html/template"
	"strconv"
	"strings"
	"time"

	"github.com/eventexport/eventexport/export/support"
)

// funcs are the templates' functions; times are shown in loc, relative to now.
func funcs(loc *time.Location, now func() time.Time) template.FuncMap {
	return template.FuncMap{
		// when is a time in the instance zone.
		"when": func(t any) string {
			tt, ok := timeOf(t)
			if !ok {
				return "—"
			}
			return tt.In(loc).Format("2006-01-02 15:04:05 MST")
		},
		// ago is a time relative to now: "5 min ago", "in 2 h".
		"ago": func(t any) string {
			tt, ok := timeOf(t)
			if !ok {
				return ""
			}
			d := now().Sub(tt)
			if d < 0 {
				return "in " + span(-d)
			}
			return span(d) + " ago"
		},
		// since is how long ago t was, without "ago": "3 h 12 min".
		"since": func(t any) string {
			tt, ok := timeOf(t)
			if !ok {
				return ""
			}
			return span(now().Sub(tt))
		},
		"bytes": func(n any) string {
			v, ok := intOf(n)
			if !ok {
				return "—"
			}
			return size(v)
		},
		"num": func(n any) string {
			v, ok := intOf(n)
			if !ok {
				return "—"
			}
			return thousands(v)
		},
		"side":      support.FailureSide,
		"kindLabel": kindLabel,
		"upper":     strings.ToUpper,
		"join":      strings.Join,
		"short":     func(s string) string { return s[:min(len(s), 8)] },
	}
}

func timeOf(t any) (time.Time, bool) {
	switch v := t.(type) {
	case time.Time:
		return v, !v.IsZero()
	case *time.Time:
		if v == nil || v.IsZero() {
			return time.Time{}, false
		}
		return *v, true
	}
	return time.Time{}, false
}

func intOf(n any) (int64, bool) {
	switch v := n.(type) {
	case int64:
		return v, true
	case int:
		return int64(v), true
	case *int64:
		if v == nil {
			return 0, false
		}
		return *v, true
	}
	return 0, false
}

// span is a duration for people, to the minute (seconds under a minute).
func span(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h %d min", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%d days %d h", int(d.Hours())/24, int(d.Hours())%24)
}

// size is a byte count for people: "1.2 MB" (decimal units, as file sizes are given).
func size(n int64) string {
	if n < 1000 {
		return strconv.FormatInt(n, 10) + " B"
	}
	f := float64(n)
	for _, u := range []string{"kB", "MB", "GB", "TB"} {
		f /= 1000
		if f < 1000 {
			return strconv.FormatFloat(f, 'f', 1, 64) + " " + u
		}
	}
	return strconv.FormatFloat(f, 'f', 1, 64) + " PB"
}

// thousands writes n with thousands separators: 1,234,567.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
