package delivery

import (
	"context"
	"time"
)

// FileInfo is what a delivery knows of the file it puts, besides its name: the run it belongs
// to, its events, and its media type. Transports that can tell the receiver more than a file
// name (HTTPS headers) read it from the context of Put; others ignore it.
type FileInfo struct {
	Run         string    // the run's ID
	EventType   string    // the type of the file's events
	WindowStart time.Time // the window of the run's events: [WindowStart, WindowEnd)
	WindowEnd   time.Time
	Part        int    // the part number, from 1; 0 when the run is one file
	Events      int64  // how many events the file holds; -1 when not known when it is put
	ContentType string // the file's media type as put (after compression or encryption)
}

type fileInfoKey struct{}

// WithFileInfo returns ctx carrying fi, for the Put it is passed to.
func WithFileInfo(ctx context.Context, fi FileInfo) context.Context {
	return context.WithValue(ctx, fileInfoKey{}, fi)
}

// FileInfoFrom returns the FileInfo ctx carries, and whether it carries one.
func FileInfoFrom(ctx context.Context) (FileInfo, bool) {
	fi, ok := ctx.Value(fileInfoKey{}).(FileInfo)
	return fi, ok
}
