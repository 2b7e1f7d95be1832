package file

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unsafe"

	"github.com/tidwall/gjson"

	"github.com/eventexport/eventexport/events"
)

// FormatJSONFlat is a JSON array of flat objects, one per event, keyed by the CSV columns.
const FormatJSONFlat Format = "json-flat"

// flatEncoder writes one JSON array of flat objects: per event, an object whose keys are the
// type's columns, dotted names included ("userDetail.firstName"), in the columns' order, and
// whose values are the JSON values at those paths in the payload, or null where the payload
// has none. It is the CSV file's content with JSON's types: a number stays a number, a nested
// object or array at a column stays that object or array.
//
// Values are copied from the payload as they are, without re-encoding: a string keeps its
// escapes byte for byte, a number its spelling, a nested value its whitespace. The objects are
// written here rather than with encoding/json, whose maps would sort the keys.
type flatEncoder struct {
	w      *bufio.Writer
	root   *flatColumn
	keys   []string // per column, its key and colon, as JSON: `"userDetail.id":`
	values []string // the current event's raw JSON values, by column; "" for none
	n      int64
	closed bool
}

// flatColumn is a node of the tree of column paths, as column is for CSV, which also knows the
// columns below it: a repeated key in a payload replaces what the earlier one held, as in
// jsonb and encoding/json, and that includes the columns nested under it.
type flatColumn struct {
	index    int   // the column's position, or -1 for an object that only holds columns
	under    []int // the positions of the columns strictly below this node
	children map[string]*flatColumn
}

func newFlatColumnTree(columns []string) *flatColumn {
	root := &flatColumn{index: -1}
	for i, name := range columns {
		n := root
		keys := strings.Split(name, ".")
		for j, key := range keys {
			c := n.children[key]
			if c == nil {
				if n.children == nil {
					n.children = make(map[string]*flatColumn)
				}
				c = &flatColumn{index: -1}
				n.children[key] = c
			}
			if j < len(keys)-1 {
				c.under = append(c.under, i)
			}
			n = c
		}
		n.index = i
	}
	return root
}

func newFlatEncoder(t events.Type, w io.Writer) *flatEncoder {
	e := &flatEncoder{
		w:      bufio.NewWriterSize(w, bufferSize),
		root:   newFlatColumnTree(t.Columns),
		keys:   make([]string, len(t.Columns)),
		values: make([]string, len(t.Columns)),
	}
	for i, name := range t.Columns {
		e.keys[i] = jsonString(name) + ":"
	}
	return e
}

// jsonString returns s as a JSON string, escaping only what JSON requires.
func jsonString(s string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(b.String(), "\n")
}

func (e *flatEncoder) Encode(payload []byte) error {
	if e.closed {
		return errClosed
	}
	if len(payload) == 0 {
		return errors.New("encode json-flat: empty payload")
	}
	// The payload is only read during this call, so it is viewed as a string without a copy;
	// the values are views into it, written out before the call returns.
	doc := gjson.Parse(unsafe.String(unsafe.SliceData(payload), len(payload)))
	if !doc.IsObject() {
		return fmt.Errorf("encode json-flat: payload is not a JSON object: %.40q", payload)
	}
	clear(e.values)
	e.fill(e.root, doc)

	sep := byte(',')
	if e.n == 0 {
		sep = '['
	}
	e.n++
	_ = e.w.WriteByte(sep) // a write error sticks in the bufio.Writer and is returned below
	_ = e.w.WriteByte('{')
	for i, key := range e.keys {
		if i > 0 {
			_ = e.w.WriteByte(',')
		}
		_, _ = e.w.WriteString(key)
		if v := e.values[i]; v != "" {
			_, _ = e.w.WriteString(v)
		} else {
			_, _ = e.w.WriteString("null")
		}
	}
	return e.w.WriteByte('}')
}

// fill sets the values of the columns under n from obj, a JSON object.
func (e *flatEncoder) fill(n *flatColumn, obj gjson.Result) {
	obj.ForEach(func(key, value gjson.Result) bool {
		c := n.children[key.Str]
		if c == nil {
			return true
		}
		if c.index >= 0 {
			e.values[c.index] = value.Raw
		}
		if c.children != nil {
			for _, i := range c.under {
				e.values[i] = "" // an earlier occurrence of the key is replaced
			}
			if value.IsObject() {
				e.fill(c, value)
			}
		}
		return true
	})
}

func (e *flatEncoder) Close() error {
	if e.closed {
		return errClosed
	}
	e.closed = true
	if e.n == 0 {
		_ = e.w.WriteByte('[')
	}
	_, _ = e.w.WriteString("]\n")
	return e.w.Flush()
}

// Flush writes what the encoder holds to its writer, so that its size is known.
func (e *flatEncoder) Flush() error { return e.w.Flush() }
