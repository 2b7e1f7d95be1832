package main

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/eventexport/eventexport/events"
	"github.com/eventexport/eventexport/export/store"
)

func errorIsNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

func quote(s string) string { return strconv.Quote(s) }

func (a *api) listDestinations(w http.ResponseWriter, r *http.Request) error {
	ds, err := a.cfg.Store.Destinations(r.Context())
	if err != nil {
		return err
	}
	views := make([]destinationView, 0, len(ds))
	for _, d := range ds {
		views = append(views, viewDestination(d))
	}
	writeJSONStatus(w, http.StatusOK, views)
	return nil
}

// destination reads the destination named in the path.
func (a *api) destination(r *http.Request) (store.Destination, error) {
	id := r.PathValue("id")
	d, err := a.cfg.Store.Destination(r.Context(), id)
	if err != nil && errorIsNotFound(err) {
		return d, &apiError{Status: http.StatusNotFound, Code: "not_found", Message: "no destination with id " + quote(id)}
	}
	return d, err
}

func (a *api) showDestination(w http.ResponseWriter, r *http.Request) error {
	d, err := a.destination(r)
	if err != nil {
		return err
	}
	writeJSONStatus(w, http.StatusOK, viewDestination(d))
	return nil
}

func (a *api) addDestination(w http.ResponseWriter, r *http.Request) error {
	var spec destinationSpec
	if err := decodeBody(w, r, &spec, false); err != nil {
		return err
	}
	nd, err := spec.build(a.cfg.Config.Location, a.cfg.Now())
	if err != nil {
		return err
	}
	if err := a.needSealer(nd.Target.HasSecrets()); err != nil {
		return err
	}
	d, err := a.cfg.Store.AddDestination(r.Context(), nd)
	if errorIsNotFound(err) {
		return &apiError{Status: http.StatusUnprocessableEntity, Code: "unknown_target", Field: "target_id",
			Message: fmt.Sprintf("target_id: no shared target with id %q", spec.TargetID)}
	}
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/destinations/"+d.ID)
	writeJSONStatus(w, http.StatusCreated, viewDestination(d))
	return nil
}

func (a *api) setEnabled(enabled bool) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		id := r.PathValue("id")
		if err := a.cfg.Store.SetDestinationEnabled(r.Context(), id, enabled); err != nil {
			if errorIsNotFound(err) {
				return &apiError{Status: http.StatusNotFound, Code: "not_found", Message: "no destination with id " + quote(id)}
			}
			return err
		}
		d, err := a.destination(r)
		if err != nil {
			return err
		}
		writeJSONStatus(w, http.StatusOK, viewDestination(d))
		return nil
	}
}

// testSendRequest is the body of a test send; it may be empty.
type testSendRequest struct {
	// AcceptHostKey pins the key the server presents, when none is pinned yet.
	AcceptHostKey bool `json:"accept_host_key"`
}

// testSend delivers a test file now and answers 200 whether it arrived or not: the body says
// which, and why not in plain words with the error's class.
func (a *api) testSend(w http.ResponseWriter, r *http.Request) error {
	var req testSendRequest
	if err := decodeBody(w, r, &req, true); err != nil {
		return err
	}
	d, err := a.destination(r)
	if err != nil {
		return err
	}
	res, err := testSend(r.Context(), a.cfg.Store, a.cfg.Config, d, req.AcceptHostKey, a.cfg.Logger)
	if err != nil {
		return err
	}
	for i, f := range res.Files {
		if f.PresentedHostKey != "" {
			res.Files[i].Hint = fmt.Sprintf("if %s is the key of %s, send again with {\"accept_host_key\": true} to pin it",
				f.PresentedHostKey, redactedURL(d))
		}
	}
	writeJSONStatus(w, http.StatusOK, res)
	return nil
}

// resendRequest is the body of a re-send: the first and last day, YYYY-MM-DD in the
// instance zone; to defaults to from.
type resendRequest struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// resendResponse lists the queued runs; the service delivers them with the usual retries.
type resendResponse struct {
	Runs  []string `json:"runs"`
	Notes []string `json:"notes"`
}

func (a *api) resend(w http.ResponseWriter, r *http.Request) error {
	var req resendRequest
	if err := decodeBody(w, r, &req, false); err != nil {
		return err
	}
	if req.From == "" {
		return invalid("from", "is required (YYYY-MM-DD)")
	}
	first, err := events.ParseDay(req.From)
	if err != nil {
		return &invalidField{Field: "from", Err: err}
	}
	last := first
	if req.To != "" {
		if last, err = events.ParseDay(req.To); err != nil {
			return &invalidField{Field: "to", Err: err}
		}
	}
	days, err := resendDays(first, last)
	if err != nil {
		return err
	}
	d, err := a.destination(r)
	if err != nil {
		return err
	}
	now := a.cfg.Now()
	ids, err := queueResend(r.Context(), a.cfg.Store, a.cfg.Config, d, days, now)
	if err != nil {
		return err
	}
	resp := resendResponse{Runs: ids, Notes: []string{}}
	if today := events.DayOf(now, a.cfg.Config.Location); !last.Before(today) {
		resp.Notes = append(resp.Notes, fmt.Sprintf("%s is not over yet in %s: its file holds the events so far", last, a.cfg.Config.Location))
	}
	if !d.Enabled {
		resp.Notes = append(resp.Notes, fmt.Sprintf("destination %s is disabled; the re-send is delivered anyway", d.ID))
	}
	writeJSONStatus(w, http.StatusAccepted, resp)
	return nil
}
