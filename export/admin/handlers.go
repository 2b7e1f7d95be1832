package admin

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/eventexport/eventexport/delivery"
	"github.com/eventexport/eventexport/events"
	"github.com/eventexport/eventexport/export/store"
	"github.com/eventexport/eventexport/export/support"
)

func (a *api) listDestinations(w http.ResponseWriter, r *http.Request) error {
	ds, err := a.cfg.Support.Destinations(r.Context())
	if err != nil {
		return err
	}
	views := make([]support.DestinationView, 0, len(ds))
	for _, d := range ds {
		views = append(views, a.cfg.Support.View(d))
	}
	writeJSONStatus(w, http.StatusOK, views)
	return nil
}

func (a *api) showDestination(w http.ResponseWriter, r *http.Request) error {
	d, err := a.cfg.Support.Destination(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSONStatus(w, http.StatusOK, a.cfg.Support.View(d))
	return nil
}

func (a *api) addDestination(w http.ResponseWriter, r *http.Request) error {
	var in delivery.Input
	if err := decodeBody(w, r, &in, false); err != nil {
		return err
	}
	d, err := a.cfg.Support.AddDestination(r.Context(), in)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/destinations/"+d.ID)
	writeJSONStatus(w, http.StatusCreated, a.cfg.Support.View(d))
	return nil
}

func (a *api) updateDestination(w http.ResponseWriter, r *http.Request) error {
	var in delivery.Input
	if err := decodeBody(w, r, &in, false); err != nil {
		return err
	}
	d, err := a.cfg.Support.UpdateDestination(r.Context(), r.PathValue("id"), in)
	if err != nil {
		return err
	}
	writeJSONStatus(w, http.StatusOK, a.cfg.Support.View(d))
	return nil
}

func (a *api) removeDestination(w http.ResponseWriter, r *http.Request) error {
	if err := a.cfg.Support.RemoveDestination(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *api) setEnabled(enabled bool) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		d, err := a.cfg.Support.SetEnabled(r.Context(), r.PathValue("id"), enabled)
		if err != nil {
			return err
		}
		writeJSONStatus(w, http.StatusOK, a.cfg.Support.View(d))
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
	res, err := a.cfg.Support.TestSend(r.Context(), r.PathValue("id"), req.AcceptHostKey, nil)
	if err != nil {
		return err
	}
	for i, f := range res.Files {
		if f.PresentedHostKey != "" {
			res.Files[i].Hint = fmt.Sprintf("if %s is the key of %s, send again with {\"accept_host_key\": true} to pin it",
				f.PresentedHostKey, res.URL)
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

func (a *api) resend(w http.ResponseWriter, r *http.Request) error {
	var req resendRequest
	if err := decodeBody(w, r, &req, false); err != nil {
		return err
	}
	days, err := support.ParseDayRange(req.From, req.To)
	if err != nil {
		return err
	}
	res, err := a.cfg.Support.Resend(r.Context(), r.PathValue("id"), days)
	if err != nil {
		return err
	}
	writeJSONStatus(w, http.StatusAccepted, res)
	return nil
}

func (a *api) listTargets(w http.ResponseWriter, r *http.Request) error {
	ts, err := a.cfg.Support.Targets(r.Context())
	if err != nil {
		return err
	}
	views := make([]support.TargetView, 0, len(ts))
	for _, t := range ts {
		views = append(views, support.ViewTarget(t))
	}
	writeJSONStatus(w, http.StatusOK, views)
	return nil
}

func (a *api) showTarget(w http.ResponseWriter, r *http.Request) error {
	t, err := a.cfg.Support.Target(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSONStatus(w, http.StatusOK, support.ViewTarget(t))
	return nil
}

func (a *api) addTarget(w http.ResponseWriter, r *http.Request) error {
	var in delivery.Input
	if err := decodeBody(w, r, &in, false); err != nil {
		return err
	}
	t, err := a.cfg.Support.AddTarget(r.Context(), in)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/targets/"+t.ID)
	writeJSONStatus(w, http.StatusCreated, support.ViewTarget(t))
	return nil
}

func (a *api) updateTarget(w http.ResponseWriter, r *http.Request) error {
	var in delivery.Input
	if err := decodeBody(w, r, &in, false); err != nil {
		return err
	}
	t, err := a.cfg.Support.UpdateTarget(r.Context(), r.PathValue("id"), in)
	if err != nil {
		return err
	}
	writeJSONStatus(w, http.StatusOK, support.ViewTarget(t))
	return nil
}

func (a *api) removeTarget(w http.ResponseWriter, r *http.Request) error {
	if err := a.cfg.Support.RemoveTarget(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

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
	f := support.RunFilter{Status: store.RunStatus(strings.TrimSpace(q.Get("status"))), Limit: defaultRunsLimit,
		DestinationID: strings.TrimSpace(q.Get("destination"))}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxRunsLimit {
			return delivery.Invalid("limit", "%q is not a whole number from 1 to %d", v, maxRunsLimit)
		}
		f.Limit = n
	}
	views, err := a.cfg.Support.Runs(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSONStatus(w, http.StatusOK, views)
	return nil
}

// showRun is "runs show --json".
func (a *api) showRun(w http.ResponseWriter, r *http.Request) error {
	v, err := a.cfg.Support.Run(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSONStatus(w, http.StatusOK, v)
	return nil
}

// windows is "plan --json": ?next=N&from=YYYY-MM-DD, the destination's next windows.
func (a *api) windows(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	for name := range q {
		if name != "next" && name != "from" {
			return &apiError{Status: http.StatusBadRequest, Code: "unknown_parameter", Field: name,
				Message: name + ": unknown query parameter; use next and from"}
		}
	}
	n := 10
	if v := q.Get("next"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			return delivery.Invalid("next", "%q is not a whole number of windows", v)
		}
	}
	var from *events.Day
	if v := strings.TrimSpace(q.Get("from")); v != "" {
		d, err := events.ParseDay(v)
		if err != nil {
			return &delivery.FieldError{Field: "from", Err: err}
		}
		from = &d
	}
	ws, err := a.cfg.Support.Windows(r.Context(), r.PathValue("id"), from, n)
	if err != nil {
		return err
	}
	writeJSONStatus(w, http.StatusOK, ws)
	return nil
}
