package main

import (
	"net/http"

	"github.com/eventexport/eventexport/export/store"
)

func (a *api) listTargets(w http.ResponseWriter, r *http.Request) error {
	ts, err := a.cfg.Store.Targets(r.Context())
	if err != nil {
		return err
	}
	views := make([]targetView, 0, len(ts))
	for _, t := range ts {
		views = append(views, viewTarget(t))
	}
	writeJSONStatus(w, http.StatusOK, views)
	return nil
}

func (a *api) showTarget(w http.ResponseWriter, r *http.Request) error {
	t, err := a.target(r)
	if err != nil {
		return err
	}
	writeJSONStatus(w, http.StatusOK, viewTarget(t))
	return nil
}

// target reads the target named in the path.
func (a *api) target(r *http.Request) (store.Target, error) {
	id := r.PathValue("id")
	t, err := a.cfg.Store.Target(r.Context(), id)
	if err != nil && errorIsNotFound(err) {
		return t, &apiError{Status: http.StatusNotFound, Code: "not_found", Message: "no target with id " + quote(id)}
	}
	return t, err
}

func (a *api) addTarget(w http.ResponseWriter, r *http.Request) error {
	var spec targetSpec
	if err := decodeBody(w, r, &spec, false); err != nil {
		return err
	}
	t, err := spec.buildShared()
	if err != nil {
		return err
	}
	if err := a.needSealer(t.HasSecrets()); err != nil {
		return err
	}
	t, err = a.cfg.Store.AddTarget(r.Context(), t)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/targets/"+t.ID)
	writeJSONStatus(w, http.StatusCreated, viewTarget(t))
	return nil
}

// needSealer refuses to store secrets without a usable key: the service's configuration
// is at fault, not the request.
func (a *api) needSealer(secrets bool) error {
	if secrets && a.cfg.Config.Sealer == nil {
		return &configError{a.cfg.Config.SealerErr}
	}
	return nil
}

func (a *api) updateTarget(w http.ResponseWriter, r *http.Request) error {
	var p targetPatch
	if err := decodeBody(w, r, &p, false); err != nil {
		return err
	}
	t, err := a.target(r)
	if err != nil {
		return err
	}
	u, err := p.update(t)
	if err != nil {
		return err
	}
	if err := a.needSealer(u.HasSecrets()); err != nil {
		return err
	}
	t, err = a.cfg.Store.UpdateTarget(r.Context(), t.ID, u)
	if err != nil {
		return err
	}
	writeJSONStatus(w, http.StatusOK, viewTarget(t))
	return nil
}

func (a *api) removeTarget(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	err := a.cfg.Store.RemoveTarget(r.Context(), id)
	if err != nil && errorIsNotFound(err) {
		return &apiError{Status: http.StatusNotFound, Code: "not_found", Message: "no target with id " + quote(id)}
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
