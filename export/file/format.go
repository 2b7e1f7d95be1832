package file

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/eventexport/eventexport/events"
)

// Format is the name of a file format a destination receives, as stored and as given by users.
type Format string

// The formats files are written in.
const (
	FormatJSON Format = "json"
	FormatCSV  Format = "csv"
)

// ErrUnknownFormat is returned, wrapped, for a format that is not registered.
var ErrUnknownFormat = errors.New("unknown format")

// FormatSpec describes one format: its name, its file-name extension and how to encode it.
// Adding a format is registering one FormatSpec; nothing else in the service lists formats.
type FormatSpec struct {
	Name Format
	// Ext is the file-name extension, with its dot.
	Ext string
	// ContentType is the media type of a file in this format.
	ContentType string
	// New returns an encoder writing events of type t to w.
	New func(t events.Type, w io.Writer) Encoder
}

var (
	formatsMu sync.RWMutex
	formats   = map[Format]FormatSpec{}
	order     []Format // registration order, for listings and messages
)

// RegisterFormat adds a format. It panics on a duplicate or incomplete spec: registration
// happens at start-up, from code.
func RegisterFormat(s FormatSpec) {
	if s.Name == "" || s.Ext == "" || s.New == nil {
		panic(fmt.Sprintf("file: incomplete format %q", s.Name))
	}
	formatsMu.Lock()
	defer formatsMu.Unlock()
	if _, dup := formats[s.Name]; dup {
		panic(fmt.Sprintf("file: format %q registered twice", s.Name))
	}
	formats[s.Name] = s
	order = append(order, s.Name)
}

func init() {
	RegisterFormat(FormatSpec{Name: FormatJSON, Ext: ".json", ContentType: "application/json",
		New: func(_ events.Type, w io.Writer) Encoder { return newJSONEncoder(w) }})
	RegisterFormat(FormatSpec{Name: FormatCSV, Ext: ".csv", ContentType: "text/csv",
		New: func(t events.Type, w io.Writer) Encoder { return newCSVEncoder(t, w) }})
	RegisterFormat(FormatSpec{Name: FormatJSONL, Ext: ".jsonl", ContentType: "application/x-ndjson",
		New: func(_ events.Type, w io.Writer) Encoder { return newJSONLEncoder(w) }})
	RegisterFormat(FormatSpec{Name: FormatJSONFlat, Ext: ".json", ContentType: "application/json",
		New: func(t events.Type, w io.Writer) Encoder { return newFlatEncoder(t, w) }})
}

// Formats lists the registered format names in the order they were registered.
func Formats() []Format {
	formatsMu.RLock()
	defer formatsMu.RUnlock()
	return slices.Clone(order)
}

func lookupFormat(f Format) (FormatSpec, bool) {
	formatsMu.RLock()
	defer formatsMu.RUnlock()
	s, ok := formats[f]
	return s, ok
}

// wantFormats is the list of formats, for error messages: "json or csv".
func wantFormats() string {
	fs := Formats()
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = string(f)
	}
	if len(names) <= 1 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// ParseFormat parses the name of a registered format.
func ParseFormat(s string) (Format, error) {
	if _, ok := lookupFormat(Format(s)); ok {
		return Format(s), nil
	}
	return "", fmt.Errorf("%w %q: want %s", ErrUnknownFormat, s, wantFormats())
}

// Ext returns the file-name extension of the format, with its dot; "" for an unknown format.
func (f Format) Ext() string {
	s, _ := lookupFormat(f)
	return s.Ext
}

// ContentType returns the media type of a file in the format; "" for an unknown format.
func (f Format) ContentType() string {
	s, _ := lookupFormat(f)
	return s.ContentType
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
	s, ok := lookupFormat(f)
	if !ok {
		return nil, fmt.Errorf("new encoder: %w %q: want %s", ErrUnknownFormat, string(f), wantFormats())
	}
	return s.New(t, w), nil
}

// errClosed is returned by an encoder used after Close.
var errClosed = errors.New("encoder is closed")
