package file

import (
	"bufio"
	"errors"
	"io"
)

// jsonEncoder writes one JSON array of the payloads. The payloads come from jsonb, so they are
// valid JSON already and are written through as they are.
type jsonEncoder struct {
	w      *bufio.Writer
	n      int64
	closed bool
}

func newJSONEncoder(w io.Writer) *jsonEncoder {
	return &jsonEncoder{w: bufio.NewWriterSize(w, bufferSize)}
}

func (e *jsonEncoder) Encode(payload []byte) error {
	if e.closed {
		return errClosed
	}
	if len(payload) == 0 {
		return errors.New("encode json: empty payload")
	}
	sep := byte(',')
	if e.n == 0 {
		sep = '['
	}
	e.n++
	_ = e.w.WriteByte(sep) // a write error sticks in the bufio.Writer and is returned below
	_, err := e.w.Write(payload)
	return err
}

func (e *jsonEncoder) Close() error {
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
func (e *jsonEncoder) Flush() error { return e.w.Flush() }
