package export

import (
	"errors"
	"fmt"
	"io"

	"github.com/eventexport/eventexport/events"
)

// Format is the file format a destination receives.
type Format string

// The formats files are written in.
const (
	FormatJSON Format = "json"
	FormatCSV  Format = "csv"
)

// ErrUnknownFormat is returned, wrapped, for a format that is neither json nor csv.
var ErrUnknownFormat = errors.New("unknown format")

// ParseFormat parses "json" or "csv".
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case FormatJSON, FormatCSV:
		return f, nil
	}
	return "", fmt.Errorf("%w %q: want json or csv", ErrUnknownFormat, s)
}

// Ext returns the file-name extension of the format, with its dot.
func (f Format) Ext() string {
	switch f {
	case FormatJSON:
		return ".json"
	case FormatCSV:
		return ".csv"
	}
	return ""
}

// Encoder writes a file of events, one payload at a time.
type Encoder interface {
	// Encode adds an event, given as its JSON payload. The payload is not retained.
	Encode(payload []byte) error
	// Close ends the file and flushes it to the writer; it does not close the writer.
	Close() error
}

// bufferSize is the write buffer of the encoders: the writer downstream is usually a pipe
// into a network upload, where large writes are cheaper.
const bufferSize = 64 << 10

// NewEncoder returns an encoder writing events of type t in format f to w.
func NewEncoder(f Format, t events.Type, w io.Writer) (Encoder, error) {
	switch f {
	case FormatJSON:
		return newJSONEncoder(w), nil
	case FormatCSV:
		return newCSVEncoder(t, w), nil
	}
	return nil, fmt.Errorf("new encoder: %w %q: want json or csv", ErrUnknownFormat, string(f))
}

// errClosed is returned by an encoder used after Close.
var errClosed = errors.New("encoder is closed")
