package file

import (
	"crypto/rand"
	"strconv"
	"time"

	"github.com/eventexport/eventexport/events"
)

// Name returns the name of a file of events of type t in format f for the day starting at
// dayStart, created at created:
//
//	<prefix>-<unix seconds of dayStart>_<created in UTC, YYYY-MM-DDTHH-MM-SS>-<7 random [0-9a-z]>.<ext>
//
// such as courseCompletion-1589259213_2020-05-18T18-00-13-7vcph2i.json. The random part makes
// each name unique, so a run fixes its name once, when it is created.
func Name(t events.Type, f Format, dayStart, created time.Time) string {
	b := make([]byte, 0, len(t.FilePrefix)+48)
	b = append(b, t.FilePrefix...)
	b = append(b, '-')
	b = strconv.AppendInt(b, dayStart.Unix(), 10)
	b = append(b, '_')
	b = created.UTC().AppendFormat(b, "2006-01-02T15-04-05")
	b = append(b, '-')
	b = appendRandom(b, 7)
	b = append(b, f.Ext()...)
	return string(b)
}

// TestName returns the name of a test file: Name's, starting with "test-".
func TestName(t events.Type, f Format, dayStart, created time.Time) string {
	return "test-" + Name(t, f, dayStart, created)
}

const nameAlphabet = "0123456789abcdefghijklmnopqrstuvwxyz"

// appendRandom appends n characters drawn uniformly from nameAlphabet.
func appendRandom(b []byte, n int) []byte {
	// Bytes at or above the largest multiple of the alphabet's size are dropped, so that every
	// character is equally likely.
	const limit = 256 - 256%len(nameAlphabet)
	var buf [16]byte
	for n > 0 {
		_, _ = rand.Read(buf[:]) // crypto/rand.Read never fails
		for _, c := range buf {
			if n == 0 {
				break
			}
			if int(c) < limit {
				b = append(b, nameAlphabet[int(c)%len(nameAlphabet)])
				n--
			}
		}
	}
	return b
}
