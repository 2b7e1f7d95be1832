// Package console is the support console in the browser: the destinations at a glance (health,
// last file, next run, how long failing), each destination's settings, timeline and runs, and
// the support actions — test send (trusting a presented host key explicitly), re-send, disable,
// enable, edit, remove, add, targets — on the same support operations as the command line and
// the API, with the same validation and messages. Pages are rendered on the server from
// embedded templates and a stylesheet; they need no script and load nothing from elsewhere.
//
// Support signs in with the admin token; the session is a signed cookie (see session.go) and
// every form carries a CSRF token tied to it. Secrets never reach a page, a URL or a log line.
package console

import (
	"cmp"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/eventexport/eventexport/export/support"
)

// DefaultSessionTTL is how long a sign-in lasts.
const DefaultSessionTTL = 8 * time.Hour

//go:embed templates/*.html static/*
var assets embed.FS

// Config wires the console.
type Config struct {
	Support *support.Service
	// Token is the admin token support signs in with; when empty the console only says how to
	// set one.
	Token string
	// SessionTTL is how long a sign-in lasts; DefaultSessionTTL when zero.
	SessionTTL time.Duration
	Logger     *slog.Logger
	Now        func() time.Time
}

// Console serves the support console.
type Console struct {
	cfg    Config
	sess   *sessions
	mux    *http.ServeMux
	pages  map[string]*template.Template
	static http.Handler
	cross  *http.CrossOriginProtection
}

// handler is a page or action of a signed-in session.
type handler func(w http.ResponseWriter, r *http.Request, s *session) error

// session is the signed-in session of a request.
type session struct {
	ID   string
	CSRF string
}

// New returns the console.
func New(cfg Config) *Console {
	cfg.SessionTTL = cmp.Or(cfg.SessionTTL, DefaultSessionTTL)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	static, _ := fs.Sub(assets, "static")
	c := &Console{cfg: cfg, sess: newSessions(cfg.Token, cfg.SessionTTL, cfg.Now), mux: http.NewServeMux(),
		pages: parsePages(funcs(location(cfg.Support), cfg.Now)), static: http.StripPrefix("/static/", http.FileServerFS(static)),
		cross: http.NewCrossOriginProtection()}
	c.cross.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.refuse(w, r, http.StatusForbidden, "This form was sent from another site, so it was refused. Use the console's own pages.")
	}))
	c.mux.HandleFunc("GET /signin", c.signInPage)
	c.mux.HandleFunc("POST /signin", c.signIn)
	c.mux.Handle("GET /static/", c.static)
	c.mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	for _, rt := range []struct {
		pattern string
		h       handler
	}{
		{"GET /{$}", c.overview},
		{"POST /signout", c.signOut},
		{"GET /destinations/new", c.newDestination},
		{"POST /destinations/new", c.addDestination},
		{"GET /destinations/{id}", c.destination},
		{"POST /destinations/{id}/test-send", c.testSend},
		{"POST /destinations/{id}/resend", c.resend},
		{"POST /destinations/{id}/disable", c.setEnabled(false)},
		{"POST /destinations/{id}/enable", c.setEnabled(true)},
		{"GET /destinations/{id}/edit", c.editDestination},
		{"POST /destinations/{id}/edit", c.updateDestination},
		{"GET /destinations/{id}/remove", c.confirmRemove},
		{"POST /destinations/{id}/remove", c.removeDestination},
		{"GET /targets", c.targets},
		{"GET /targets/new", c.newTarget},
		{"POST /targets/new", c.addTarget},
		{"GET /targets/{id}", c.target},
		{"POST /targets/{id}", c.updateTarget},
		{"POST /targets/{id}/remove", c.removeTarget},
		{"GET /runs", c.runs},
		{"GET /runs/{id}", c.run},
	} {
		c.mux.Handle(rt.pattern, c.signedIn(rt.h))
	}
	c.mux.Handle("/", c.signedIn(func(w http.ResponseWriter, r *http.Request, s *session) error {
		return &pageError{status: http.StatusNotFound, msg: "There is no such page."}
	}))
	return c
}

// ServeHTTP sets the headers of every page and refuses cross-site posts.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	if !strings.HasPrefix(r.URL.Path, "/static/") {
		h.Set("Cache-Control", "no-store")
	}
	if c.cfg.Token == "" && !strings.HasPrefix(r.URL.Path, "/static/") {
		c.render(w, r, http.StatusServiceUnavailable, "setup", &page{Title: "Set up the console"})
		return
	}
	c.cross.Handler(c.mux).ServeHTTP(w, r)
}

// signedIn runs h for a signed-in session; otherwise a page asks to sign in and an action is
// refused. An action must carry the session's CSRF token.
func (c *Console) signedIn(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var id string
		err := errNoSession
		if ck, cerr := r.Cookie(sessionCookie); cerr == nil {
			id, err = c.sess.check(ck.Value)
		}
		if err != nil {
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				q := url.Values{"next": {r.URL.RequestURI()}}
				if errors.Is(err, errExpired) {
					q.Set("expired", "1")
				}
				http.Redirect(w, r, "/signin?"+q.Encode(), http.StatusSeeOther)
				return
			}
			msg := "You are not signed in: sign in, then try again."
			if errors.Is(err, errExpired) {
				msg = "Your session has expired: sign in again, then try again. Nothing was changed."
			}
			c.refuse(w, r, http.StatusUnauthorized, msg)
			return
		}
		s := &session{ID: id, CSRF: c.sess.csrf(id)}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
			if err := r.ParseForm(); err != nil {
				c.refuse(w, r, http.StatusBadRequest, "The form could not be read: "+err.Error())
				return
			}
			if !c.sess.checkCSRF(id, r.PostForm.Get("csrf")) {
				c.refuse(w, r, http.StatusForbidden, "This form is not from your session (a stale page, or sent from another site), so it was refused. Nothing was changed.")
				return
			}
		}
		if err := h(w, r, s); err != nil {
			c.fail(w, r, s, err)
		}
	})
}

// maxForm bounds a submitted form: a private key and a certificate are a few KiB.
const maxForm = 1 << 20

// pageError is a page's failure with its status and words for people.
type pageError struct {
	status int
	msg    string
}

func (e *pageError) Error() string { return e.msg }

// fail shows err on an error page: support's words for what support says (bad input, not
// found, conflicts), and only "see the log" for what went wrong inside.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, s *session, err error) {
	var pe *pageError
	if !errors.As(err, &pe) {
		kind, _, _ := support.KindOf(err)
		pe = &pageError{status: statusOf(kind), msg: err.Error()}
		if kind == support.KindInternal || kind == support.KindConfig {
			c.cfg.Logger.Error("console request failed", slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.String("error", err.Error()))
		}
		if kind == support.KindInternal {
			pe.msg = "The request failed inside the service; its log says why."
		}
	}
	c.render(w, r, pe.status, "error", &page{Title: http.StatusText(pe.status), CSRF: s.CSRF, Body: pe.msg})
}

// statusOf is the HTTP status of a support error's kind on a page.
func statusOf(k support.Kind) int {
	switch k {
	case support.KindInvalid:
		return http.StatusBadRequest
	case support.KindNotFound:
		return http.StatusNotFound
	case support.KindUnknownReference:
		return http.StatusUnprocessableEntity
	case support.KindConflict:
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}

// refuse answers a request that is not allowed, with a page saying why and a way to sign in.
func (c *Console) refuse(w http.ResponseWriter, r *http.Request, status int, msg string) {
	c.render(w, r, status, "refused", &page{Title: "Refused", Body: msg})
}

// page is what every template gets.
type page struct {
	Title string
	Nav   string // the section of the navigation this page is in
	CSRF  string // "" when not signed in
	Flash string // what an action did
	Zone  string
	Body  any
}

// render executes the page template name.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, p *page) {
	t, ok := c.pages[name]
	if !ok {
		panic("console: no template " + name)
	}
	p.Zone = location(c.cfg.Support).String()
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "layout", p); err != nil {
		c.cfg.Logger.Error("console: render page", slog.String("page", name), slog.String("error", err.Error()))
		http.Error(w, "the page could not be rendered; the service's log says why", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = fmt.Fprint(w, b.String())
}

// parsePages parses each page's template with the layout and the shared parts.
func parsePages(fm template.FuncMap) map[string]*template.Template {
	base := template.Must(template.New("").Funcs(fm).ParseFS(assets, "templates/layout.html"))
	pages := map[string]*template.Template{}
	names, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		panic(err)
	}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		pages[name] = template.Must(template.Must(base.Clone()).ParseFS(assets, n))
	}
	return pages
}

// signInPage asks for the token.
func (c *Console) signInPage(w http.ResponseWriter, r *http.Request) {
	var msg string
	if r.URL.Query().Get("expired") != "" {
		msg = "Your session has expired. Sign in again."
	}
	c.render(w, r, http.StatusOK, "signin", &page{Title: "Sign in", Body: signInBody{Next: localPath(r.URL.Query().Get("next")), Message: msg}})
}

type signInBody struct {
	Next, Message string
	Wrong         bool
}

// signIn checks the token (in constant time, of hashes) and starts a session.
func (c *Console) signIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	_ = r.ParseForm()
	next := localPath(r.PostForm.Get("next"))
	if !tokenEqual(r.PostForm.Get("token"), c.cfg.Token) {
		c.cfg.Logger.Warn("console: sign-in with a wrong token", slog.String("remote", r.RemoteAddr))
		c.render(w, r, http.StatusUnauthorized, "signin", &page{Title: "Sign in", Body: signInBody{Next: next,
			Message: "That is not the admin token (EVENTEXPORT_ADMIN_TOKEN). Try again.", Wrong: true}})
		return
	}
	value, expires := c.sess.issue()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: value, Path: "/", Expires: expires,
		MaxAge: int(c.cfg.SessionTTL / time.Second), HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	c.cfg.Logger.Info("console: signed in", slog.String("remote", r.RemoteAddr), slog.Time("expires", expires))
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// signOut deletes the session cookie.
func (c *Console) signOut(w http.ResponseWriter, r *http.Request, s *session) error {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	c.render(w, r, http.StatusOK, "signin", &page{Title: "Signed out", Body: signInBody{Next: "/", Message: "You are signed out."}})
	return nil
}

// localPath is next when it is a path of this site, else "/": a sign-in never leads elsewhere.
func localPath(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || strings.HasPrefix(next, "/signin") {
		return "/"
	}
	return next
}

// location is the instance zone, UTC without a support service.
func location(s *support.Service) *time.Location {
	if s == nil {
		return time.UTC
	}
	return s.Location()
}
