package file

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// Options are a destination's rules for its files, beside the format: compression,
// encryption, size and row limits (a run then delivers parts), a manifest uploaded last, and
// a name template. The zero value is one plain file per run, named as the seed names it.
type Options struct {
	Compress     string `json:"compress,omitempty"`      // "" or "none", or "gzip"
	EncryptTo    string `json:"encrypt_to,omitempty"`    // an OpenPGP public key, armored; "" for none
	MaxFileSize  int64  `json:"max_file_size,omitempty"` // bytes as stored on the server; 0 for no limit
	MaxRows      int64  `json:"max_rows,omitempty"`      // events per file; 0 for no limit
	Manifest     bool   `json:"manifest,omitempty"`      // upload <base>.manifest.json last
	NameTemplate string `json:"name_template,omitempty"` // "" for the default name
}

// Compressions are the values of Options.Compress.
const (
	CompressNone = "none"
	CompressGzip = "gzip"
)

// MinFileSize is the smallest maximum file size: a limit below it would leave room for
// hardly an event, and is most likely a unit mistaken.
const MinFileSize = 64 << 10

// Ext is the extension of a file in format f with these options: the format's, then ".gz"
// when compressed, then ".pgp" when encrypted.
func (o Options) Ext(f Format) string {
	ext := f.Ext()
	if o.Compress == CompressGzip {
		ext += ".gz"
	}
	if o.EncryptTo != "" {
		ext += ".pgp"
	}
	return ext
}

// Splits reports whether a run may deliver several parts.
func (o Options) Splits() bool { return o.MaxFileSize > 0 || o.MaxRows > 0 }

// ParseCompress reads a compression name.
func ParseCompress(s string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", CompressNone:
		return "", nil
	case CompressGzip:
		return CompressGzip, nil
	}
	return "", fmt.Errorf("unknown compression %q: want none or gzip", s)
}

// ParseSize reads a file size: a whole number of bytes, or with a unit: kB, MB, GB (powers of
// 1000: 15MB is 15,000,000 bytes) or KiB, MiB, GiB (powers of 1024). It must be at least
// MinFileSize.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return !unicode.IsDigit(r) && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = strings.TrimSpace(t[:i]), strings.TrimSpace(t[i:])
	}
	mult := map[string]float64{"": 1, "B": 1, "kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9,
		"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}[unit]
	if mult == 0 {
		return 0, fmt.Errorf("%q: unknown unit %q; use bytes, kB, MB, GB, KiB, MiB or GiB (15MB is 15,000,000 bytes)", s, unit)
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || num == "" {
		return 0, fmt.Errorf("%q is not a size: a number and a unit, such as 15MB", s)
	}
	n := int64(f * mult)
	if float64(n) != f*mult {
		return 0, fmt.Errorf("%q is not a whole number of bytes", s)
	}
	if n < MinFileSize {
		return 0, fmt.Errorf("%q is less than the minimum of 64 KiB (65,536 bytes)", s)
	}
	return n, nil
}

// ErrEventTooLarge is returned, wrapped, when one event alone does not fit in the maximum file
// size: the run cannot be split to honour it.
var ErrEventTooLarge = errors.New("an event is larger than the maximum file size")
