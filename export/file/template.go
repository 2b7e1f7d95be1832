package file

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// A Template is a parsed file-name template: literal text and variables in braces, such as
//
//	{prefix}-{start_unix}_{created}-{rand}{ext}
//
// which is DefaultTemplate, the names Name builds. The variables are
//
//	{prefix}       the file prefix of the event type, such as courseCompletion
//	{type}         the name of the event type, such as courseComplete
//	{day}          the day of the window start in the destination's zone, YYYY-MM-DD
//	{start_unix}   the window start in unix seconds, such as 1589259213
//	{created}      the creation time in UTC, YYYY-MM-DDTHH-MM-SS
//	{rand}         the run's 7 random characters of [0-9a-z] (RandomPart)
//	{destination}  the destination's id
//	{company}      the company's id
//	{ext}          the extension with its dot, such as .json or .csv.gz.pgp
//	{part}         the part of a split run, such as _part0001, or nothing
//
// A template names a file, not a path, and must keep it recognisable: ParseTemplate refuses a
// template that holds "/", "\", a control character or a brace that does not delimit a known
// variable, that is longer than MaxTemplateLen bytes, that has no {ext}, or whose name would be
// empty or start with "." (a hidden file). Braces only delimit variables: a name cannot hold
// a literal brace.
//
// Without {rand} or {created} every run of a day renders the same name, so a re-send replaces
// the earlier file: see HasUniqueness.
//
// The zero Template is DefaultTemplate.
type Template struct {
	src  string
	segs []segment
	// hasPart is whether the template has {part}; if not, the part goes before the first {ext}.
	hasPart bool
	// unique is whether the template has {rand} or {created}.
	unique bool
}

// segment is a literal (v == 0) or a variable.
type segment struct {
	lit string
	v   variable
}

type variable uint8

const (
	varLiteral variable = iota
	varPrefix
	varType
	varDay
	varStartUnix
	varCreated
	varRand
	varDestination
	varCompany
	varExt
	varPart
)

// varNames are the variables' names, in the order they are documented and listed in errors.
var varNames = [...]string{
	varPrefix:      "prefix",
	varType:        "type",
	varDay:         "day",
	varStartUnix:   "start_unix",
	varCreated:     "created",
	varRand:        "rand",
	varDestination: "destination",
	varCompany:     "company",
	varExt:         "ext",
	varPart:        "part",
}

func lookupVariable(name string) (variable, bool) {
	for v, n := range varNames {
		if v != int(varLiteral) && n == name {
			return variable(v), true
		}
	}
	return varLiteral, false
}

// knownVariables lists the variables for error messages: "{prefix}, {type}, ... or {part}".
func knownVariables() string {
	names := make([]string, 0, len(varNames)-1)
	for _, n := range varNames[varLiteral+1:] {
		names = append(names, "{"+n+"}")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// MaxTemplateLen is the length, in bytes, of the longest template ParseTemplate accepts.
const MaxTemplateLen = 200

// ErrInvalidTemplate is returned, wrapped, by ParseTemplate for a template it refuses.
var ErrInvalidTemplate = errors.New("invalid file-name template")

// DefaultTemplate renders the names Name builds:
// <prefix>-<unix seconds of the window start>_<UTC creation time>-<random part><ext>.
var DefaultTemplate = mustParseTemplate("{prefix}-{start_unix}_{created}-{rand}{ext}")

func mustParseTemplate(s string) Template {
	t, err := ParseTemplate(s)
	if err != nil {
		panic(err)
	}
	return t
}

// ParseTemplate parses a file-name template; the Template documentation says what it accepts.
// Positions in its errors count characters from 1.
func ParseTemplate(s string) (Template, error) {
	if len(s) > MaxTemplateLen {
		return Template{}, fmt.Errorf("%w: it is %d bytes long, at most %d are allowed", ErrInvalidTemplate, len(s), MaxTemplateLen)
	}
	bad := func(format string, args ...any) (Template, error) {
		return Template{}, fmt.Errorf("%w %q: %s", ErrInvalidTemplate, s, fmt.Sprintf(format, args...))
	}
	if s == "" {
		return bad("the name is empty")
	}
	if !utf8.ValidString(s) {
		return bad("it is not valid UTF-8")
	}
	t := Template{src: s}
	lit := 0               // byte offset of the literal being read
	open, openPos := -1, 0 // byte offset and position of the open "{", if any
	pos := 0
	for i, r := range s {
		pos++
		switch {
		case r == '/' || r == '\\':
			return bad("%q at character %d: a file name cannot hold a path separator", r, pos)
		case unicode.IsControl(r):
			return bad("control character %U at character %d: a file name cannot hold one", r, pos)
		case r == '{':
			if open >= 0 {
				return bad("\"{\" at character %d inside the variable opened at character %d: variables cannot be nested", pos, openPos)
			}
			if i > lit {
				t.segs = append(t.segs, segment{lit: s[lit:i]})
			}
			open, openPos = i, pos
		case r == '}':
			if open < 0 {
				return bad("\"}\" at character %d closes no \"{\": braces only delimit variables", pos)
			}
			name := s[open+1 : i]
			v, ok := lookupVariable(name)
			if !ok {
				if name == "" {
					return bad("empty braces {} at character %d: the variables are %s", openPos, knownVariables())
				}
				return bad("unknown variable {%s} at character %d: the variables are %s", name, openPos, knownVariables())
			}
			t.segs = append(t.segs, segment{v: v})
			switch v {
			case varPart:
				t.hasPart = true
			case varRand, varCreated:
				t.unique = true
			}
			open, lit = -1, i+1
		}
	}
	if open >= 0 {
		return bad("the \"{\" at character %d is not closed", openPos)
	}
	if lit < len(s) {
		t.segs = append(t.segs, segment{lit: s[lit:]})
	}

	hasExt := false
	for _, sg := range t.segs {
		hasExt = hasExt || sg.v == varExt
	}
	if !hasExt {
		return bad("the name must carry its extension: add {ext}")
	}
	// The name starts with the first segment that renders something: {part} may render nothing.
	for _, sg := range t.segs {
		if sg.v == varPart {
			continue
		}
		if sg.v == varExt {
			return bad("the name would start with {ext}, whose \".\" hides the file: put something before it, such as {prefix}")
		}
		if sg.v == varLiteral && sg.lit[0] == '.' {
			return bad("the name starts with \".\", which hides the file")
		}
		break
	}
	return t, nil
}

// Vars are the values a Template renders: those of one run.
type Vars struct {
	// Prefix is the file prefix of the event type ({prefix}).
	Prefix string
	// Type is the name of the event type ({type}).
	Type string
	// Day is the day of the window start in the destination's zone, YYYY-MM-DD ({day}).
	Day string
	// StartUnix is the window start in unix seconds ({start_unix}).
	StartUnix int64
	// Created is when the run was created; it is rendered in UTC ({created}).
	Created time.Time
	// Rand is the run's random part, from RandomPart ({rand}).
	Rand string
	// Destination is the destination's id ({destination}).
	Destination string
	// Company is the company's id ({company}).
	Company string
	// Ext is the file-name extension, with its dot ({ext}).
	Ext string
	// Part names the part of a split run, such as _part0001; "" when the run is not split.
	// A template without {part} gets it just before its first {ext}.
	Part string
}

// Name renders the file name of a run.
//
// The values of a run (type prefixes and names, days, ids, extensions, parts) never hold "/",
// "\" or control characters, and the template cannot start the name with "."; as a safeguard,
// Name replaces each such character (and each byte of invalid UTF-8) in a value with "_", and
// puts "_" before a name that would be empty or start with ".".
func (t Template) Name(v Vars) string {
	if t.segs == nil {
		t = DefaultTemplate
	}
	b := make([]byte, 0, 2*len(t.src)+len(v.Part)+32)
	partDone := t.hasPart
	for _, sg := range t.segs {
		switch sg.v {
		case varLiteral:
			b = append(b, sg.lit...)
		case varPrefix:
			b = appendValue(b, v.Prefix)
		case varType:
			b = appendValue(b, v.Type)
		case varDay:
			b = appendValue(b, v.Day)
		case varStartUnix:
			b = strconv.AppendInt(b, v.StartUnix, 10)
		case varCreated:
			b = v.Created.UTC().AppendFormat(b, "2006-01-02T15-04-05")
		case varRand:
			b = appendValue(b, v.Rand)
		case varDestination:
			b = appendValue(b, v.Destination)
		case varCompany:
			b = appendValue(b, v.Company)
		case varExt:
			if !partDone {
				b = appendValue(b, v.Part)
				partDone = true
			}
			b = appendValue(b, v.Ext)
		case varPart:
			b = appendValue(b, v.Part)
		}
	}
	if len(b) == 0 || b[0] == '.' {
		b = append([]byte{'_'}, b...)
	}
	return string(b)
}

// appendValue appends s, each "/", "\", control character and byte of invalid UTF-8 replaced
// with "_".
func appendValue(b []byte, s string) []byte {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n <= 1) || r == '/' || r == '\\' || unicode.IsControl(r) {
			b = append(b, '_')
		} else {
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return b
}

// HasUniqueness reports whether the template has {rand} or {created}, so that each run
// renders its own name. Without them, a re-send of a day writes the same name as the earlier
// file and replaces it.
func (t Template) HasUniqueness() bool {
	if t.segs == nil {
		return DefaultTemplate.unique
	}
	return t.unique
}

// String returns the template as it was parsed.
func (t Template) String() string {
	if t.segs == nil {
		return DefaultTemplate.src
	}
	return t.src
}
