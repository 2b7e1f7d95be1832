package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/eventexport/eventexport/export"
	"github.com/eventexport/eventexport/export/admin"
	"github.com/eventexport/eventexport/export/admin/console"
	"github.com/eventexport/eventexport/export/store"
	"github.com/eventexport/eventexport/export/support"
	"github.com/eventexport/eventexport/migrations"
)

// defaultAdminAddr is where serve listens for the admin API, health checks and metrics.
const defaultAdminAddr = "127.0.0.1:8080"

// minAdminToken is the shortest admin token accepted: guessing must be hopeless.
const minAdminToken = 16

// adminConfig is the admin server's configuration.
type adminConfig struct {
	Addr    string // "" when the admin server is off
	AddrSet bool   // EVENTEXPORT_ADMIN_ADDR was given: failing to listen on it stops serve
	Token   string // "" : the /v1 API refuses every request
	// SessionTTL is how long a console sign-in lasts (EVENTEXPORT_CONSOLE_SESSION_TTL).
	SessionTTL time.Duration
}

// loadAdminConfig reads EVENTEXPORT_ADMIN_ADDR (default 127.0.0.1:8080; "off" for none) and
// EVENTEXPORT_ADMIN_TOKEN. An address other than loopback needs a token.
func loadAdminConfig(getenv env) (adminConfig, error) {
	ac := adminConfig{Addr: strings.TrimSpace(getenv("EVENTEXPORT_ADMIN_ADDR")), Token: strings.TrimSpace(getenv("EVENTEXPORT_ADMIN_TOKEN"))}
	ac.AddrSet = ac.Addr != ""
	var err error
	if ac.SessionTTL, err = durationEnv(getenv, "EVENTEXPORT_CONSOLE_SESSION_TTL", console.DefaultSessionTTL); err != nil {
		return ac, err
	}
	switch {
	case strings.EqualFold(ac.Addr, "off"):
		ac.Addr = ""
		return ac, nil
	case ac.Addr == "":
		ac.Addr = defaultAdminAddr
	}
	host, _, err := net.SplitHostPort(ac.Addr)
	if err != nil {
		return ac, fmt.Errorf("EVENTEXPORT_ADMIN_ADDR %q is not host:port (e.g. 127.0.0.1:8080, or off): %v", ac.Addr, err)
	}
	if ac.Token != "" && len(ac.Token) < minAdminToken {
		return ac, fmt.Errorf("EVENTEXPORT_ADMIN_TOKEN is %d characters, want at least %d: generate one with `openssl rand -hex 32`", len(ac.Token), minAdminToken)
	}
	if ac.Token == "" && !isLoopback(host) {
		return ac, fmt.Errorf("EVENTEXPORT_ADMIN_ADDR %q is not a loopback address and EVENTEXPORT_ADMIN_TOKEN is not set: set a token (`openssl rand -hex 32`) before exposing the admin API", ac.Addr)
	}
	return ac, nil
}

// isLoopback reports whether host names only this machine. An empty host listens everywhere.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// adminServer serves the admin API, health checks and metrics while serve runs.
type adminServer struct {
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
}

// newMetrics registers the service's metrics: the Go runtime's and the process's, the
// delivery attempts (observe them with Metrics.ObserveAttempt) and the queue read from st.
func newMetrics(st *store.Store, logger *slog.Logger) (*prometheus.Registry, *export.Metrics, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m, err := export.NewMetrics(reg)
	if err != nil {
		return nil, nil, err
	}
	reg.MustRegister(export.NewStoreCollector(export.StoreCollectorConfig{Store: st, Logger: logger}))
	return reg, m, nil
}

// startAdmin starts listening. A busy default address is logged, and serve runs without the
// admin server; an address given explicitly must work.
func startAdmin(ac adminConfig, svc *support.Service, gatherer prometheus.Gatherer, logger *slog.Logger) (*adminServer, error) {
	a := &adminServer{done: make(chan struct{})}
	if ac.Addr == "" {
		logger.Info("admin server off (EVENTEXPORT_ADMIN_ADDR=off): no admin API, health checks or metrics")
		close(a.done)
		return a, nil
	}
	h := admin.NewHandler(admin.Config{Support: svc, Token: ac.Token, Gatherer: gatherer, Logger: logger,
		Ready: readiness(svc.Store()), SessionTTL: ac.SessionTTL})
	ln, err := net.Listen("tcp", ac.Addr)
	if err != nil {
		if ac.AddrSet {
			return nil, fmt.Errorf("admin server: listen on EVENTEXPORT_ADMIN_ADDR %s: %w", ac.Addr, err)
		}
		logger.Error("admin server not started: the default address is taken; set EVENTEXPORT_ADMIN_ADDR (one per replica on a host)",
			slog.String("addr", ac.Addr), slog.String("error", err.Error()))
		close(a.done)
		return a, nil
	}
	a.ln = ln
	a.srv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		WriteTimeout: 10 * time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	go func() {
		defer close(a.done)
		if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("admin server stopped", slog.String("error", err.Error()))
		}
	}()
	if ac.Token == "" {
		logger.Warn("admin API off: EVENTEXPORT_ADMIN_TOKEN is not set, so /v1 answers 401; health checks and metrics are served",
			slog.String("addr", ln.Addr().String()))
	}
	logger.Info("admin server listening", slog.String("addr", ln.Addr().String()), slog.Bool("api", ac.Token != ""))
	return a, nil
}

// Stop stops the admin server, letting requests in flight finish for a few seconds.
func (a *adminServer) Stop() {
	if a.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := a.srv.Shutdown(ctx); err != nil {
			_ = a.srv.Close()
		}
	}
	<-a.done
}

// readiness is /readyz's check: the database answers, its schema is current, and the stored
// secrets can be opened (checked at most once a minute: it reads the secrets table).
func readiness(st *store.Store) func(context.Context) error {
	var (
		mu        sync.Mutex
		checked   time.Time
		secretErr error
	)
	return func(ctx context.Context) error {
		if err := ready(ctx, st); err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		if time.Since(checked) > time.Minute || secretErr != nil {
			secretErr = st.CheckSecrets(ctx)
			checked = time.Now()
		}
		return secretErr
	}
}

// ready reports why the service cannot do its work, or nil: the database answers and its
// schema has every migration this version needs.
func ready(ctx context.Context, st *store.Store) error {
	conn, err := st.DB().Acquire(ctx)
	if err != nil {
		return fmt.Errorf("the database does not answer: %v", err)
	}
	current, latest, err := migrations.Status(ctx, conn.Conn())
	if err != nil {
		// The check takes an advisory lock: a connection left in an unknown state is closed,
		// never returned to the pool.
		_ = conn.Hijack().Close(context.Background())
		return fmt.Errorf("read the schema version: %v", err)
	}
	conn.Release()
	// A newer schema is fine: migrations are additive, so replicas of the previous version keep
	// working while an upgrade rolls out.
	if current < latest {
		return fmt.Errorf("the database schema is at version %d, this version needs %d: run `eventexport migrate`", current, latest)
	}
	return nil
}
