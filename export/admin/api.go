package admin

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/eventexport/eventexport/delivery"
	"github.com/eventexport/eventexport/export/support"
)

// MaxRequestBody bounds the body of an admin API request: a target with a private key is a
// few KiB.
const MaxRequestBody = 1 << 20

//go:embed openapi.json
var openAPIDocument []byte

// api serves the admin API under /v1: the same operations as the command line, with the
// same validation and the same plain-words errors, as JSON.
type api struct {
	cfg       Config
	tokenHash [sha256.Size]byte
	mux       *http.ServeMux
	patterns  []string // the routes, "METHOD /path"
}

func newAPI(cfg Config) *api {
	a := &api{cfg: cfg, tokenHash: sha256.Sum256([]byte(cfg.Token)), mux: http.NewServeMux()}
	routes := []struct {
		pattern string
		h       func(http.ResponseWriter, *http.Request) error
	}{
		{"GET /v1/targets", a.listTargets},
		{"POST /v1/targets", a.addTarget},
		{"GET /v1/targets/{id}", a.showTarget},
		{"PATCH /v1/targets/{id}", a.updateTarget},
		{"DELETE /v1/targets/{id}", a.removeTarget},
		{"GET /v1/destinations", a.listDestinations},
		{"POST /v1/destinations", a.addDestination},
		{"GET /v1/destinations/{id}", a.showDestination},
		{"PATCH /v1/destinations/{id}", a.updateDestination},
		{"DELETE /v1/destinations/{id}", a.removeDestination},
		{"POST /v1/destinations/{id}/disable", a.setEnabled(false)},
		{"POST /v1/destinations/{id}/enable", a.setEnabled(true)},
		{"POST /v1/destinations/{id}/test-send", a.testSend},
		{"POST /v1/destinations/{id}/resend", a.resend},
		{"GET /v1/destinations/{id}/windows", a.windows},
		{"GET /v1/runs", a.listRuns},
		{"GET /v1/runs/{id}", a.showRun},
	}
	for _, rt := range routes {
		a.patterns = append(a.patterns, rt.pattern)
		a.mux.HandleFunc(rt.pattern, func(w http.ResponseWriter, r *http.Request) {
			if err := rt.h(w, r); err != nil {
				a.fail(w, r, err)
			}
		})
	}
	a.patterns = append(a.patterns, "GET /v1/openapi.json")
	a.mux.HandleFunc("GET /v1/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openAPIDocument)
	})
	return a
}

// ServeHTTP authenticates the request, routes it and logs it. Unknown paths and methods
// get the same JSON error bodies as everything else.
func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	defer func() {
		a.cfg.Logger.Info("admin api request", slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", sw.status), slog.Duration("duration", time.Since(start)), slog.String("remote", r.RemoteAddr))
	}()
	if r.URL.Path != "/v1/openapi.json" {
		if err := a.authenticate(r); err != nil {
			sw.Header().Set("WWW-Authenticate", `Bearer realm="eventexport"`)
			a.fail(sw, r, err)
			return
		}
	}
	h, pattern := a.mux.Handler(r)
	if pattern != "" {
		a.mux.ServeHTTP(sw, r) // sets the path values
		return
	}
	// No route: let the mux decide between 404 and 405 (and its Allow header), then say it in JSON.
	rec := &headerRecorder{header: http.Header{}, status: http.StatusOK}
	h.ServeHTTP(rec, r)
	switch rec.status {
	case http.StatusMethodNotAllowed:
		allow := rec.header.Get("Allow")
		sw.Header().Set("Allow", allow)
		a.fail(sw, r, &apiError{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed",
			Message: fmt.Sprintf("%s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, allow)})
	default:
		a.fail(sw, r, &apiError{Status: http.StatusNotFound, Code: "not_found",
			Message: fmt.Sprintf("no such endpoint: %s %s (see /v1/openapi.json)", r.Method, r.URL.Path)})
	}
}

// authenticate compares the bearer token in constant time (of hashes, so that not even the
// token's length shows).
func (a *api) authenticate(r *http.Request) error {
	if a.cfg.Token == "" {
		return &apiError{Status: http.StatusUnauthorized, Code: "unauthorized",
			Message: "the admin API is off: set EVENTEXPORT_ADMIN_TOKEN on the service to use it"}
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
	if !ok || subtle.ConstantTimeCompare(sum[:], a.tokenHash[:]) != 1 {
		return &apiError{Status: http.StatusUnauthorized, Code: "unauthorized",
			Message: "missing or wrong token: send Authorization: Bearer <EVENTEXPORT_ADMIN_TOKEN>"}
	}
	return nil
}

// apiError is an error with its HTTP status and a stable code.
type apiError struct {
	Status  int
	Code    string
	Message string
	Field   string
}

func (e *apiError) Error() string { return e.Message }

// errorBody is every error response: {"error": {"code": "...", "message": "..."}}.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// statusOf is the HTTP status of each kind of failure: the one place it is decided.
var statusOf = map[support.Kind]int{
	support.KindInvalid:          http.StatusBadRequest,
	support.KindNotFound:         http.StatusNotFound,
	support.KindUnknownReference: http.StatusUnprocessableEntity,
	support.KindConflict:         http.StatusConflict,
	support.KindConfig:           http.StatusInternalServerError,
	support.KindInternal:         http.StatusInternalServerError,
}

// fail answers with err as a JSON error: bad input is 400 in the words the command line
// uses; what the service cannot tell a client is logged and answered with a plain 500.
func (a *api) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		kind, code, field := support.KindOf(err)
		ae = &apiError{Status: statusOf[kind], Code: code, Message: err.Error(), Field: field}
		var fe *delivery.FieldError
		if errors.As(err, &fe) && errors.Is(fe.Err, delivery.ErrUnknownField) {
			ae.Message = fmt.Sprintf("%s: unknown field (see /v1/openapi.json for the fields of this request)", fe.Field)
		}
		switch kind {
		case support.KindConfig:
			a.cfg.Logger.Error("admin api: the service's configuration refuses the request", slog.String("method", r.Method),
				slog.String("path", r.URL.Path), slog.String("error", err.Error()))
		case support.KindInternal:
			a.cfg.Logger.Error("admin api request failed", slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.String("error", err.Error()))
			ae.Message = "the request failed inside the service; its log says why"
		}
	}
	writeJSONStatus(w, ae.Status, errorBody{errorDetail{Code: ae.Code, Message: ae.Message, Field: ae.Field}})
}

// writeJSONStatus answers with v as JSON.
func writeJSONStatus(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// decodeBody reads one JSON object into v: application/json, at most MaxRequestBody bytes,
// no unknown fields, nothing after it. With optional, an empty body leaves v as it is.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, optional bool) error {
	ct := r.Header.Get("Content-Type")
	if ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return &apiError{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type",
				Message: fmt.Sprintf("Content-Type %q: send application/json", ct)}
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBody))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return &apiError{Status: http.StatusRequestEntityTooLarge, Code: "too_large",
			Message: fmt.Sprintf("the request body is larger than %d bytes", MaxRequestBody)}
	}
	if err != nil {
		return &apiError{Status: http.StatusBadRequest, Code: "invalid_json", Message: "read the request body: " + err.Error()}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if optional {
			return nil
		}
		return &apiError{Status: http.StatusBadRequest, Code: "invalid_json", Message: "the request body is empty: send a JSON object"}
	}
	if ct == "" {
		return &apiError{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type",
			Message: "the request has a body but no Content-Type: send application/json"}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return &apiError{Status: http.StatusBadRequest, Code: "invalid_json", Message: "the request body holds more than one JSON value: send one object"}
	}
	return nil
}

// jsonError says in plain words what is wrong with a request body.
func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return &apiError{Status: http.StatusBadRequest, Code: "invalid_json",
			Message: fmt.Sprintf("the request body is not valid JSON at byte %d: %v", syn.Offset, err)}
	case errors.As(err, &typ):
		if typ.Field == "" {
			return &apiError{Status: http.StatusBadRequest, Code: "invalid_json", Message: "the request body must be a JSON object"}
		}
		return &apiError{Status: http.StatusBadRequest, Code: "invalid", Field: typ.Field,
			Message: fmt.Sprintf("%s: want a JSON %s, got %s", typ.Field, jsonKind(typ.Type.Kind().String()), typ.Value)}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &apiError{Status: http.StatusBadRequest, Code: "unknown_field", Field: name,
			Message: fmt.Sprintf("%s: unknown field (see /v1/openapi.json for the fields of this request)", name)}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &apiError{Status: http.StatusBadRequest, Code: "invalid_json", Message: "the request body ends in the middle of a JSON value"}
	}
	return &apiError{Status: http.StatusBadRequest, Code: "invalid_json", Message: "the request body is not valid JSON: " + err.Error()}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "slice":
		return "array"
	case "struct", "map":
		return "object"
	}
	return "number"
}

// statusWriter remembers the status of a response, for the request log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// headerRecorder keeps the status and headers a handler writes, and drops its body.
type headerRecorder struct {
	header http.Header
	status int
}

func (h *headerRecorder) Header() http.Header         { return h.header }
func (h *headerRecorder) Write(p []byte) (int, error) { return len(p), nil }
func (h *headerRecorder) WriteHeader(code int)        { h.status = code }
