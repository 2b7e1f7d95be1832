package file

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// FormatJSONL is JSON Lines: one event per line.
const FormatJSONL Format = "jsonl"

// jsonlEncoder writes JSON Lines (https://jsonlines.org): each payload on a line of its own,
// exactly as stored, followed by "\n". There is no framing around the lines, so a day without
// events is an empty file, and a reader can take the file a line at a time.
//
// The payloads come from jsonb, whose text never holds a line break: inside a string one is
// escaped, and jsonb puts none between values. A payload with a raw CR or LF (JSON that was
// pretty-printed elsewhere) is refused rather than rewritten, since it would split its event
// over several lines.
type jsonlEncoder struct {
	w      *bufio.Writer
	closed bool
}

func newJSONLEncoder(w io.Writer) *jsonlEncoder {
	return &jsonlEncoder{w: bufio.NewWriterSize(w, bufferSize)}
}

func (e *jsonlEncoder) Encode(payload []byte) error {
	if e.closed {
		return errClosed
	}
	if len(payload) == 0 {
		return errors.New("encode jsonl: empty payload")
	}
	if bytes.IndexByte(payload, '\n') >= 0 || bytes.IndexByte(payload, '\r') >= 0 {
		return errors.New("encode jsonl: payload spans several lines: a line break outside its strings")
	}
	_, _ = e.w.Write(payload) // a write error sticks in the bufio.Writer and is returned below
	return e.w.WriteByte('\n')
}

func (e *jsonlEncoder) Close() error {
	if e.closed {
		return errClosed
	}
	e.closed = true
	return e.w.Flush()
}

// Flush writes what the encoder holds to its writer, so that its size is known.
func (e *jsonlEncoder) Flush() error { return e.w.Flush() }
