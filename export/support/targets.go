package support

import (
	"context"
	"errors"
	"strings"

	"github.com/eventexport/eventexport/delivery"
	"github.com/eventexport/eventexport/export/store"
)

// targetFields are the fields of a shared target that are not its transport's.
var targetFields = []string{"name", "kind"}

// AddTarget validates in and stores the shared target it describes: a name for people, and
// the server's URL or fields, credentials and pin, read by the transport of its kind.
func (s *Service) AddTarget(ctx context.Context, in delivery.Input) (store.Target, error) {
	var name, kind string
	if err := in.Decode("name", &name); err != nil {
		return store.Target{}, err
	}
	if err := in.Decode("kind", &kind); err != nil {
		return store.Target{}, err
	}
	tr, err := transportFor(in, kind)
	if err != nil {
		return store.Target{}, err
	}
	_, tin, err := splitInput(in, targetFields, tr)
	if err != nil {
		return store.Target{}, err
	}
	if strings.TrimSpace(name) == "" {
		return store.Target{}, invalid("name", "is required: destinations refer to targets by id, people by name")
	}
	t, err := tr.Configure(nil, tin)
	if err != nil {
		return store.Target{}, err
	}
	st := store.Target{Name: strings.TrimSpace(name), Shared: true, Target: t}
	if err := s.needSealer(st); err != nil {
		return store.Target{}, err
	}
	return s.cfg.Store.AddTarget(ctx, st)
}

// UpdateTarget changes the fields given in in; a field absent stays as it is. An empty
// password or private key removes it, an empty pin unpins. The change reaches every
// destination on the target.
func (s *Service) UpdateTarget(ctx context.Context, id string, in delivery.Input) (store.Target, error) {
	t, err := s.Target(ctx, id)
	if err != nil {
		return t, err
	}
	if len(in) == 0 {
		return t, invalid("name", "nothing to update: give at least one field")
	}
	tr, err := transportOf(t)
	if err != nil {
		return t, err
	}
	if _, ok := in["kind"]; ok {
		return t, invalid("kind", "cannot change: add a target of the other kind and move the destinations to it")
	}
	_, tin, err := splitInput(in, targetFields, tr)
	if err != nil {
		return t, err
	}
	if _, ok := in["name"]; ok {
		var name string
		if err := in.Decode("name", &name); err != nil {
			return t, err
		}
		if strings.TrimSpace(name) == "" {
			return t, invalid("name", "must not be empty")
		}
		t.Name = strings.TrimSpace(name)
	}
	changed := t
	if len(tin) > 0 {
		c, err := tr.Configure(&t.Target, tin)
		if err != nil {
			return t, err
		}
		changed.Target = c
	} else {
		changed.Secrets = nil
	}
	if err := s.needSealer(changed); err != nil {
		return t, err
	}
	t, err = s.cfg.Store.UpdateTarget(ctx, changed)
	if errors.Is(err, store.ErrNotFound) {
		return t, notFound("target", id)
	}
	return t, err
}

// RemoveTarget removes a shared target no destination uses.
func (s *Service) RemoveTarget(ctx context.Context, id string) error {
	err := s.cfg.Store.RemoveTarget(ctx, strings.TrimSpace(id))
	if errors.Is(err, store.ErrNotFound) {
		return notFound("target", id)
	}
	return err
}

// Target returns one shared target.
func (s *Service) Target(ctx context.Context, id string) (store.Target, error) {
	t, err := s.cfg.Store.Target(ctx, strings.TrimSpace(id))
	if errors.Is(err, store.ErrNotFound) {
		return t, notFound("target", id)
	}
	return t, err
}

// Targets lists the shared targets, oldest first.
func (s *Service) Targets(ctx context.Context) ([]store.Target, error) {
	return s.cfg.Store.Targets(ctx)
}
