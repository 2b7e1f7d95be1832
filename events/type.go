package events

import (
	"errors"
	"fmt"
	"strings"
)

// Type is an entry of the event-type registry: what the platform calls the type, how its files
// are named, and the CSV columns of its payload in their fixed order. A column with dots is a
// path into nested objects: "userDetail.id" is payload.userDetail.id.
type Type struct {
	Name       string
	FilePrefix string
	Columns    []string
}

// CourseComplete is sent when a learner completes a course.
var CourseComplete = Type{
	Name:       "courseComplete",
	FilePrefix: "courseCompletion",
	Columns: []string{
		"id", "source", "timestamp", "type", "user", "companyId", "event", "notifiableId", "title",
		"userDetail.id", "userDetail.firstName", "userDetail.lastName",
		"userDetail.externalCustomerId", "userDetail.sfContactId", "userDetail.sfAccountId",
		"userDetail.client", "userDetail.ref1", "userDetail.ref2", "userDetail.ref3",
	},
}

// registry lists the known types. Adding a type is adding one entry here.
var registry = []Type{
	CourseComplete,
}

// ErrUnknownType is returned, wrapped, for an event type that is not in the registry.
var ErrUnknownType = errors.New("unknown event type")

// Types returns the known event types.
func Types() []Type {
	out := make([]Type, len(registry))
	copy(out, registry)
	return out
}

// LookupType returns the registered type called name.
func LookupType(name string) (Type, error) {
	for _, t := range registry {
		if t.Name == name {
			return t, nil
		}
	}
	return Type{}, fmt.Errorf("%w %q: want one of %s", ErrUnknownType, name, knownNames())
}

// ParseTypes parses a comma-separated list of event type names, such as "courseComplete",
// into registered types, in the order given and without duplicates.
func ParseTypes(list string) ([]Type, error) {
	if strings.TrimSpace(list) == "" {
		return nil, fmt.Errorf("no event type given: want one or more of %s, separated by commas", knownNames())
	}
	var out []Type
	seen := make(map[string]bool)
	for name := range strings.SplitSeq(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			return nil, fmt.Errorf("event types %q: empty name in the list", list)
		}
		t, err := LookupType(name)
		if err != nil {
			return nil, err
		}
		if !seen[t.Name] {
			seen[t.Name] = true
			out = append(out, t)
		}
	}
	return out, nil
}

func knownNames() string {
	names := make([]string, len(registry))
	for i, t := range registry {
		names[i] = t.Name
	}
	return strings.Join(names, ", ")
}
