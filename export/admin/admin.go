// Package admin is the service's HTTP face for operators and support: the authenticated
// admin API under /v1 (the same support operations as the command line, as JSON, described by
// /v1/openapi.json), and /healthz, /readyz and /metrics without a token.
package admin

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/eventexport/eventexport/export/support"
)

// Config wires the admin handler.
type Config struct {
	Support *support.Service
	// Token is what the Authorization: Bearer header must hold. When empty, every /v1
	// request is refused: the API is off.
	Token string
	// Ready reports why the service cannot do its work, or nil; /readyz answers it.
	Ready func(ctx context.Context) error
	// Gatherer is what /metrics serves.
	Gatherer prometheus.Gatherer
	Logger   *slog.Logger
	Now      func() time.Time
}

// NewHandler serves /healthz, /readyz and /metrics without a token, and the /v1 API with one.
func NewHandler(cfg Config) http.Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Gatherer == nil {
		cfg.Gatherer = prometheus.NewRegistry()
	}
	a := newAPI(cfg)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSONStatus(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		if cfg.Ready != nil {
			if err := cfg.Ready(ctx); err != nil {
				writeJSONStatus(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": err.Error()})
				return
			}
		}
		writeJSONStatus(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn), ErrorHandling: promhttp.ContinueOnError,
		Timeout: 30 * time.Second,
	}))
	mux.Handle("/v1/", a)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		a.fail(w, r, &apiError{Status: http.StatusNotFound, Code: "not_found",
			Message: fmt.Sprintf("no such endpoint: %s %s (try /healthz, /readyz, /metrics or /v1/openapi.json)", r.Method, r.URL.Path)})
	})
	return mux
}

// Routes lists the API's routes, "METHOD /path", for checking the OpenAPI document.
func Routes() []string { return newAPI(Config{}).patterns }

// OpenAPI returns the OpenAPI 3 document of the API.
func OpenAPI() []byte { return openAPIDocument }
