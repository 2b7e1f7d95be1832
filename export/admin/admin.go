// Package admin is the service's HTTP face for operators and support: the authenticated
// admin API under /v1 (the same support operations as the command line, as JSON, described by
// /v1/openapi.json), the support console in the browser at / (package console), and /healthz,
// /readyz and /metrics without a token.
package admin

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/eventexport/eventexport/export/admin/console"
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
	// SessionTTL is how long a console sign-in lasts.
	SessionTTL time.Duration
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
	pages := console.New(console.Config{Support: cfg.Support, Token: cfg.Token,
		SessionTTL: cfg.SessionTTL, Logger: cfg.Logger, Now: cfg.Now})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			// The path holds ids at most; a query string or a form is never logged.
			cfg.Logger.Info("console request", slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.Int("status", sw.status), slog.Duration("duration", time.Since(start)), slog.String("remote", r.RemoteAddr))
		}()
		pages.ServeHTTP(sw, r)
	})
	return mux
}

// Routes lists the API's routes, "METHOD /path", for checking the OpenAPI document.
func Routes() []string { return newAPI(Config{}).patterns }

// OpenAPI returns the OpenAPI 3 document of the API.
func OpenAPI() []byte { return openAPIDocument }
