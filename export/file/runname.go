package file

import (
	"strconv"
	"strings"
	"time"

	"github.com/eventexport/eventexport/events"
)

// NameInput is what a run's file name is made of.
type NameInput struct {
	Type        events.Type
	Format      Format
	Options     Options
	Start       time.Time // the window's start
	Day         string    // the window's first day, YYYY-MM-DD, in the destination's zone
	Created     time.Time // the run's creation
	Destination string
	Company     string
	Test        bool // a test send's file: its name starts with "test-"
}

// partMark stands for the part number in a run's part pattern.
const partMark = "{n}"

// RunNames returns the name of a run's file and the pattern of its parts' names, fixed when
// the run is created: the destination's name template, by default the seed's shape,
//
//	<prefix>-<unix seconds of the window start>_<created in UTC, YYYY-MM-DDTHH-MM-SS>-<7 random [0-9a-z]><ext>
//
// where ext is the format's extension, then .gz and .pgp as the options ask. A part's name
// (PartName) has "_part0001" where the template has {part}, else before its extension. Every
// place that names a run's file (planning, re-sends, manual runs, test sends) calls it.
func RunNames(in NameInput) (name, partPattern string) {
	t := DefaultTemplate
	if in.Options.NameTemplate != "" {
		if parsed, err := ParseTemplate(in.Options.NameTemplate); err == nil {
			t = parsed
		}
	}
	v := Vars{Prefix: in.Type.FilePrefix, Type: in.Type.Name, Day: in.Day, StartUnix: in.Start.Unix(),
		Created: in.Created, Rand: RandomPart(), Destination: in.Destination, Company: in.Company,
		Ext: in.Options.Ext(in.Format)}
	name = t.Name(v)
	v.Part = "_part" + partMark
	partPattern = t.Name(v)
	if in.Test {
		name, partPattern = "test-"+name, "test-"+partPattern
	}
	return name, partPattern
}

// PartName is the name of part n (from 1) of a run whose part pattern is pattern.
func PartName(pattern string, n int) string {
	s := strconv.Itoa(n)
	for len(s) < 4 {
		s = "0" + s
	}
	return strings.Replace(pattern, partMark, s, 1)
}

// ManifestName is the name of the manifest of a run whose file name is name: the name
// without its extension, then .manifest.json.
func ManifestName(name string, f Format, o Options) string {
	return strings.TrimSuffix(name, o.Ext(f)) + ".manifest.json"
}
