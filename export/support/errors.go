package support

import (
	"errors"
	"fmt"

	"github.com/eventexport/eventexport/delivery"
	"github.com/eventexport/eventexport/export/store"
)

// Kind says what kind of failure an operation's error is: what the CLI's exit code and the
// API's status are made of, each in one place.
type Kind int

// The kinds of failure.
const (
	// KindInternal is a failure inside the service or its database.
	KindInternal Kind = iota
	// KindInvalid is bad input, in a field the error names.
	KindInvalid
	// KindNotFound is a destination, target or run that does not exist.
	KindNotFound
	// KindUnknownReference is input naming something that does not exist (a target id).
	KindUnknownReference
	// KindConflict is a request the current state refuses (a target in use, a pinned key).
	KindConflict
	// KindConfig is a request the service's configuration cannot serve (a missing secret key,
	// an event type this version does not know): nothing was changed.
	KindConfig
)

// Error is an operation's failure with its kind, a stable code and, for bad input, the field.
type Error struct {
	Kind  Kind
	Code  string // stable, for API clients: "invalid", "not_found", "target_in_use", …
	Field string // the JSON name of the field at fault, if any
	Err   error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the kind of err, and its code and field.
func KindOf(err error) (Kind, string, string) {
	var (
		se    *Error
		fe    *delivery.FieldError
		inUse *store.TargetInUseError
	)
	switch {
	case errors.As(err, &se):
		return se.Kind, se.Code, se.Field
	case errors.As(err, &fe):
		if errors.Is(fe.Err, delivery.ErrUnknownField) {
			return KindInvalid, "unknown_field", fe.Field
		}
		return KindInvalid, "invalid", fe.Field
	case errors.As(err, &inUse):
		return KindConflict, "target_in_use", ""
	case errors.Is(err, store.ErrPinned):
		return KindConflict, "host_key_pinned", "accept_host_key"
	case errors.Is(err, store.ErrNotFound):
		return KindNotFound, "not_found", ""
	}
	return KindInternal, "internal", ""
}

func invalid(field, format string, args ...any) error {
	return &delivery.FieldError{Field: field, Err: fmt.Errorf(format, args...)}
}

func fieldErr(field string, err error) error { return &delivery.FieldError{Field: field, Err: err} }

func notFound(what, id string) error {
	return &Error{Kind: KindNotFound, Code: "not_found", Err: fmt.Errorf("no %s with id %q", what, id)}
}

func configErr(err error) error {
	return &Error{Kind: KindConfig, Code: "configuration", Err: err}
}
