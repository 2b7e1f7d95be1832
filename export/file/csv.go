package file

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unsafe"

	"github.com/tidwall/gjson"

	"github.com/eventexport/eventexport/events"
)

// csvEncoder writes RFC 4180 CSV: a header row of the type's columns, then one row per event,
// with CRLF line ends. A cell is its column's value in the payload: a string's text, a number's
// or boolean's JSON, a nested object's or array's compact JSON, and empty for null or a
// missing key.
//
// Fields are written here rather than with encoding/csv, whose Writer rewrites line breaks
// inside values when it uses CRLF; values reach the file exactly as they are.
type csvEncoder struct {
	w       *bufio.Writer
	root    *column
	cells   []string // the current row, by column
	compact [][]byte // per column, the buffer of a nested value's compact JSON
	closed  bool
}

// column is a node of the tree of column paths: "userDetail.id" is the child "id" of the child
// "userDetail" of the root. Filling a row walks the payload once, following this tree.
type column struct {
	index    int // the column's position, or -1 for an object that only holds columns
	children map[string]*column
}

func newColumnTree(columns []string) *column {
	root := &column{index: -1}
	for i, name := range columns {
		n := root
		for key := range strings.SplitSeq(name, ".") {
			c := n.children[key]
			if c == nil {
				if n.children == nil {
					n.children = make(map[string]*column)
				}
				c = &column{index: -1}
				n.children[key] = c
			}
			n = c
		}
		n.index = i
	}
	return root
}

func newCSVEncoder(t events.Type, w io.Writer) *csvEncoder {
	e := &csvEncoder{
		w:       bufio.NewWriterSize(w, bufferSize),
		root:    newColumnTree(t.Columns),
		cells:   make([]string, len(t.Columns)),
		compact: make([][]byte, len(t.Columns)),
	}
	e.writeRow(t.Columns) // buffered: a write error shows at the first Encode or at Close
	return e
}

func (e *csvEncoder) Encode(payload []byte) error {
	if e.closed {
		return errClosed
	}
	// The payload is only read during this call, so it is viewed as a string without a copy;
	// cells that are plain strings or numbers are views into it too.
	doc := gjson.Parse(unsafe.String(unsafe.SliceData(payload), len(payload)))
	if !doc.IsObject() {
		return fmt.Errorf("encode csv: payload is not a JSON object: %.40q", payload)
	}
	clear(e.cells)
	e.fill(e.root, doc)
	return e.writeRow(e.cells)
}

// fill sets the cells of the columns under n from obj, a JSON object.
func (e *csvEncoder) fill(n *column, obj gjson.Result) {
	obj.ForEach(func(key, value gjson.Result) bool {
		c := n.children[key.Str]
		if c == nil {
			return true
		}
		if c.index >= 0 {
			e.cells[c.index] = e.cell(c.index, value)
		}
		if c.children != nil && value.IsObject() {
			e.fill(c, value)
		}
		return true
	})
}

// cell returns the text of value in column i.
func (e *csvEncoder) cell(i int, value gjson.Result) string {
	switch value.Type {
	case gjson.String:
		return value.Str
	case gjson.Number, gjson.True, gjson.False:
		return value.Raw
	case gjson.JSON:
		buf := bytes.NewBuffer(e.compact[i][:0])
		if err := json.Compact(buf, []byte(value.Raw)); err != nil {
			return value.Raw // not reached with payloads from jsonb
		}
		e.compact[i] = buf.Bytes()
		return unsafe.String(unsafe.SliceData(e.compact[i]), len(e.compact[i]))
	}
	return "" // null
}

// writeRow writes one record and its CRLF.
func (e *csvEncoder) writeRow(fields []string) error {
	for i, f := range fields {
		if i > 0 {
			_ = e.w.WriteByte(',')
		}
		if needsQuotes(f) {
			writeQuoted(e.w, f)
		} else {
			_, _ = e.w.WriteString(f)
		}
	}
	_, err := e.w.WriteString("\r\n") // bufio.Writer keeps the first write error: it shows here
	return err
}

// special marks the bytes that make a field need quotes: a comma, a quote or a line break.
var special = [256]bool{',': true, '"': true, '\r': true, '\n': true}

// needsQuotes reports whether f must be quoted.
func needsQuotes(f string) bool {
	for i := 0; i < len(f); i++ {
		if special[f[i]] {
			return true
		}
	}
	return false
}

// writeQuoted writes f between quotes, doubling the quotes in it.
func writeQuoted(w *bufio.Writer, f string) {
	_ = w.WriteByte('"')
	for {
		i := strings.IndexByte(f, '"')
		if i < 0 {
			break
		}
		_, _ = w.WriteString(f[:i+1])
		_ = w.WriteByte('"')
		f = f[i+1:]
	}
	_, _ = w.WriteString(f)
	_ = w.WriteByte('"')
}

func (e *csvEncoder) Close() error {
	if e.closed {
		return errClosed
	}
	e.closed = true
	return e.w.Flush()
}

// Flush writes what the encoder holds to its writer, so that its size is known.
func (e *csvEncoder) Flush() error { return e.w.Flush() }
