package main

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/eventexport/eventexport/export/store"
)

// Run lists hold 100 runs unless asked for more, and 10000 at most.
const (
	defaultRunsLimit = 100
	maxRunsLimit     = 10000
)

// listRuns is "runs list": ?destination=ID&status=pending|running|delivered|failed&limit=N,
// the latest days first, each run with its attempts.
func (a *api) listRuns(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	for name := range q {
		switch name {
		case "destination", "status", "limit":
		default:
			return &apiError{Status: http.StatusBadRequest, Code: "unknown_parameter", Field: name,
				Message: name + ": unknown query parameter; use destination, status and limit"}
		}
	}
	f := store.RunFilter{Status: store.RunStatus(strings.TrimSpace(q.Get("status"))), Limit: defaultRunsLimit}
	switch f.Status {
	case "", store.StatusPending, store.StatusRunning, store.StatusDelivered, store.StatusFailed:
	default:
		return invalid("status", "%q: want pending, running, delivered or failed", q.Get("status"))
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxRunsLimit {
			return invalid("limit", "%q is not a whole number from 1 to %d", v, maxRunsLimit)
		}
		f.Limit = n
	}
	if v := q.Get("destination"); v != "" {
		id, err := store.ParseUUID("destination", v)
		if err != nil {
			return &invalidField{Field: "destination", Err: err}
		}
		if _, err := a.cfg.Store.Destination(r.Context(), id); err != nil {
			if errorIsNotFound(err) {
				return &apiError{Status: http.StatusNotFound, Code: "not_found", Message: "no destination with id " + quote(v)}
			}
			return err
		}
		f.DestinationID = id
	}
	runs, err := a.cfg.Store.Runs(r.Context(), f)
	if err != nil {
		return err
	}
	ids := make([]string, len(runs))
	for i, run := range runs {
		ids[i] = run.ID
	}
	attempts, err := a.cfg.Store.AttemptsOf(r.Context(), ids)
	if err != nil {
		return err
	}
	views := make([]runView, 0, len(runs))
	for _, run := range runs {
		views = append(views, viewRun(run, attempts[run.ID]))
	}
	writeJSONStatus(w, http.StatusOK, views)
	return nil
}

// showRun is "runs show --json".
func (a *api) showRun(w http.ResponseWriter, r *http.Request) error {
	id := strings.TrimSpace(r.PathValue("id"))
	notFound := &apiError{Status: http.StatusNotFound, Code: "not_found", Message: "no run with id " + quote(r.PathValue("id"))}
	if _, err := uuid.Parse(id); err != nil {
		return notFound
	}
	run, err := a.cfg.Store.Run(r.Context(), id)
	if errorIsNotFound(err) {
		return notFound
	}
	if err != nil {
		return err
	}
	attempts, err := a.cfg.Store.Attempts(r.Context(), run.ID)
	if err != nil {
		return err
	}
	writeJSONStatus(w, http.StatusOK, viewRun(run, attempts))
	return nil
}
