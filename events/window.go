package events

import (
	"fmt"
	"time"
)

// Window is a half-open interval of instants, [Start, End).
type Window struct {
	Start, End time.Time
}

// Contains reports whether t is in the window.
func (w Window) Contains(t time.Time) bool {
	return !t.Before(w.Start) && t.Before(w.End)
}

// Duration returns the window's length.
func (w Window) Duration() time.Duration {
	return w.End.Sub(w.Start)
}

// String returns the window's bounds in RFC 3339.
func (w Window) String() string {
	return fmt.Sprintf("[%s, %s)", w.Start.Format(time.RFC3339Nano), w.End.Format(time.RFC3339Nano))
}
