package main

import (
	"context"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"github.com/eventexport/eventexport/delivery/sftptest"
	"github.com/eventexport/eventexport/events/eventstest"
)

// screenshotsEnv names the directory the console test writes its screenshots to (docs/ for
// the README); unset, it writes none.
const screenshotsEnv = "EVENTEXPORT_SCREENSHOTS"

// findChromium returns the path of Debian's chromium. Missing, the test is skipped saying what
// to install, or fails when EVENTEXPORT_REQUIRE_PEERS=1 (as CI sets it).
func findChromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("EVENTEXPORT_CHROMIUM"), "chromium", "/usr/bin/chromium", "chromium-browser"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	why := "chromium is not installed (apt-get install chromium), so the console's browser tests cannot run"
	if os.Getenv(sftptest.RequirePeersEnv) == "1" {
		t.Fatalf("%s; %s=1 requires it", why, sftptest.RequirePeersEnv)
	}
	t.Skipf("%s; set %s=1 to make this a failure", why, sftptest.RequirePeersEnv)
	return ""
}

// newBrowser starts headless Chromium for the test, with a profile of its own and nothing that
// reaches beyond this machine, and returns a tab.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(findChromium(t)),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.WindowSize(1280, 900),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The first run starts the browser: without a timeout of its own, which would stop it.
	start := make(chan error, 1)
	go func() { start <- chromedp.Do(ctx) }()
	select {
	case err := <-start:
		if err != nil {
			t.Fatalf("start chromium: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("chromium did not start within 60s")
	}
	return ctx
}

// consoleTab drives the console in one tab and keeps every page and URL it saw, to scan for
// secrets.
type consoleTab struct {
	t    *testing.T
	ctx  context.Context
	base string
	f    *fixture

	mu   sync.Mutex
	seen []string
}

// step runs one browser action within a time limit.
func (c *consoleTab) step(what string, a chromedp.Action[chromedp.Void]) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, a); err != nil {
		c.t.Fatalf("%s: %v\npage:\n%s", what, err, c.text())
	}
}

// navigate runs the actions, which lead to a new page, and returns that page's HTTP status
// once it is loaded.
func (c *consoleTab) navigate(what string, steps ...chromedp.Action[chromedp.Void]) int64 {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 60*time.Second)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, steps...)
	if err != nil {
		c.t.Fatalf("%s: %v\npage:\n%s", what, err, c.text())
	}
	c.remember()
	return resp.Status
}

// open loads a console path.
func (c *consoleTab) open(path string) int64 {
	c.t.Helper()
	return c.navigate("open "+path, chromedp.Navigate(c.base+path))
}

// remember keeps the page's HTML and URL for the secret scan.
func (c *consoleTab) remember() {
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	h, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	c.mu.Lock()
	c.seen = append(c.seen, loc, h)
	c.mu.Unlock()
}

// text is the page's visible text.
func (c *consoleTab) text() string {
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	return s
}

// location is the page's path and query.
func (c *consoleTab) location() string {
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	return strings.TrimPrefix(loc, c.base)
}

// want fails the test unless the page's text holds every one of words.
func (c *consoleTab) want(what string, words ...string) {
	c.t.Helper()
	text := c.text()
	for _, w := range words {
		if !strings.Contains(text, w) {
			c.t.Fatalf("%s: the page lacks %q; it reads:\n%s", what, w, text)
		}
	}
}

// fill sets form fields by id and submits with the button sel, returning the next page's status.
func (c *consoleTab) fill(what string, fields map[string]string, sel string) int64 {
	c.t.Helper()
	var steps []chromedp.Action[chromedp.Void]
	for id, v := range fields {
		steps = append(steps, chromedp.SetValue(chromedp.ID(id), v))
	}
	c.step(what+": fill in", chromedp.Steps(steps...))
	return c.navigate(what, chromedp.Click(chromedp.CSS(sel)))
}

// until reloads path until its text holds want, for at most limit.
func (c *consoleTab) until(path, want string, limit time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		c.open(path)
		if strings.Contains(c.text(), want) {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s never showed %q within %s; it reads:\n%s", path, want, limit, c.text())
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// cookies returns the browser's cookies of the console.
func (c *consoleTab) cookies() []*network.Cookie {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	res, err := chromedp.Run(ctx, func(ctx context.Context, t *chromedp.Target) (*network.GetCookiesResult, error) {
		r, err := cdp.Call(ctx, t, network.GetCookies, network.GetCookiesParams{URLs: []string{c.base + "/"}})
		return &r, err
	})
	if err != nil {
		c.t.Fatal(err)
	}
	return res.Cookies
}

// screenshot saves the page at width, whole, into the screenshots directory, if one is set.
func (c *consoleTab) screenshot(name string, width int64) {
	c.t.Helper()
	dir := os.Getenv(screenshotsEnv)
	if dir == "" {
		return
	}
	ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, 900)); err != nil {
		c.t.Fatal(err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		c.t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		c.t.Fatal(err)
	}
	path := filepath.Join(dir, fmt.Sprintf("console-%s-%d.png", name, width))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		c.t.Fatal(err)
	}
	c.t.Logf("screenshot %s", path)
}

var adminListening = regexp.MustCompile(`"msg":"admin server listening"[^\n]*?"addr":"([^"]+)"`)

// adminURL waits for serve to log its admin address.
func adminURL(t *testing.T, p *serveProc) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if m := adminListening.FindStringSubmatch(p.stderr.String()); m != nil {
			return "http://" + m[1]
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("serve logged no admin address:\n%s", p.stderr.String())
	return ""
}

// The support console in a real browser against a real serve, PostgreSQL and SFTP server:
// sign in, add destinations (SFTP and HTTPS, with bad input first), test-send to an unknown
// host key and trust it, re-send a day and see it delivered, see a failing destination's
// error in plain words, filter the runs, edit, disable, remove, sign out; a wrong token, an
// expired session and cross-site or token-less posts are refused. No page, URL or log line
// holds a secret.
func TestConsoleInTheBrowser(t *testing.T) {
	t.Parallel()
	ctx := newBrowser(t)
	f := newFixture(t)
	eventstest.Generate(t, f.db.Pool, f.company, yesterday().Window(newYorkZone()), 25)

	// A customer's web service, for an HTTPS destination.
	var hookMu sync.Mutex
	var hookAuth []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		hookMu.Lock()
		hookAuth = append(hookAuth, r.Header.Get("Authorization"))
		hookMu.Unlock()
	}))
	t.Cleanup(hook.Close)

	// No retries: a run that fails has failed for good at once, so the failed state shows.
	env := append(f.env, "EVENTEXPORT_ADMIN_TOKEN="+testToken, "EVENTEXPORT_SCHEDULE=@every 1h", "EVENTEXPORT_RETRIES=0")
	srv := startServe(t, env)
	c := &consoleTab{t: t, ctx: ctx, base: adminURL(t, srv), f: f}
	password := f.srv.Password()
	secrets := []string{password, html.EscapeString(password), url.QueryEscape(password), url.PathEscape(password),
		testToken, "hdr-secret-4711", "sign-secret-0815"}
	t.Cleanup(func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		findSecrets(t, "a console page or its URL", strings.Join(c.seen, "\n"), secrets)
		findSecrets(t, "the service's log", srv.stderr.String(), secrets)
	})
	began := time.Now()
	defer func() { t.Logf("console test took %s", time.Since(began).Round(100*time.Millisecond)) }()

	// Signing in: a page asks for the token; a wrong one is refused.
	c.open("/")
	if loc := c.location(); !strings.HasPrefix(loc, "/signin") {
		t.Fatalf("/ without a session went to %s, want the sign-in page", loc)
	}
	if st := c.fill("wrong token", map[string]string{"f-token": "not-the-token-0123456789"}, "form.card button"); st != http.StatusUnauthorized {
		t.Errorf("a wrong token: status %d, want 401", st)
	}
	c.want("wrong token", "That is not the admin token")
	if len(c.cookies()) != 0 {
		t.Errorf("a wrong token left cookies: %v", c.cookies())
	}
	c.fill("sign in", map[string]string{"f-token": testToken}, "form.card button")
	c.want("signed in", "Destinations", "No destinations yet")
	cookies := c.cookies()
	if len(cookies) != 1 || !cookies[0].HTTPOnly || cookies[0].SameSite != network.CookieSameSiteStrict || cookies[0].Secure || cookies[0].Expires <= 0 {
		t.Errorf("session cookie %+v: want one, HttpOnly, SameSite=Strict, expiring (not Secure over plain HTTP)", cookies)
	}

	// Adding: bad input is refused in the CLI's words next to its field, and the password is
	// not shown again; then the destination is added without a pinned host key.
	c.open("/destinations/new?kind=sftp")
	sftpURL := f.srv.URL("/inbox")
	if st := c.fill("add with a bad company", map[string]string{"f-company_id": "acme", "f-name": "Acme nightly",
		"f-url": sftpURL}, "form.edit button.primary"); st != http.StatusBadRequest {
		t.Errorf("a bad company id: status %d, want 400", st)
	}
	c.want("a bad company id", `company_id: company "acme" is not a UUID`)
	if n := f.countRows(t, "destinations"); n != 0 {
		t.Fatalf("bad input stored %d destinations", n)
	}
	c.fill("add", map[string]string{"f-company_id": f.company, "f-url": sftpURL}, "form.edit button.primary")
	c.want("added", "Destination added", "Acme nightly", "HEALTHY")
	sftpID := strings.TrimPrefix(strings.Split(c.location(), "?")[0], "/destinations/")

	// Test send to an unknown host key: the fingerprint presented, trusted explicitly, then
	// the file's path.
	c.navigate("test send", chromedp.Click(chromedp.CSS(`form[action$="/test-send"] button`)))
	c.want("test send to an unknown key", "Test send: failed", "host key", f.srv.HostKeyPin(), "Trust this key and send again")
	c.step("confirm the key", chromedp.Click(chromedp.ID("f-confirm")))
	c.navigate("trust the key", chromedp.Click(chromedp.CSS(`form.trust button`)))
	c.want("trusted", "Test send: delivered", "Delivered to /inbox/test-courseCompletion-", "is now pinned")
	if !strings.Contains(c.text(), f.srv.HostKeyPin()) {
		t.Errorf("the pinned key is not named")
	}

	// Re-send yesterday: the run appears and is delivered.
	day := yesterday().String()
	c.fill("re-send", map[string]string{"f-from": day, "f-to": day}, `form#resend button`)
	c.want("re-send queued", "Queued 1 file(s)")
	c.until("/destinations/"+sftpID, "25 events", 30*time.Second)
	c.want("re-sent", day, "resend", "delivered", "/inbox/courseCompletion-")
	if files := inboxFiles(t, f.srv); len(files) < 2 {
		t.Errorf("inbox holds %v, want the test file and the re-sent day", files)
	}

	// An HTTPS destination: its own fields, secrets never shown back.
	c.open("/destinations/new?kind=https")
	c.step("https fields", chromedp.Steps(chromedp.WaitVisible(chromedp.ID("f-header")), chromedp.WaitVisible(chromedp.ID("f-signing_secret"))))
	c.fill("add https", map[string]string{"f-company_id": f.company, "f-name": "Acme webhook", "f-url": hook.URL + "/events",
		"f-header": "Authorization: Bearer hdr-secret-4711", "f-signing_secret": "sign-secret-0815", "f-format": "jsonl"}, "form.edit button.primary")
	c.want("https added", "Destination added", "Acme webhook", "Authorization", "Signing secret")
	c.navigate("https test send", chromedp.Click(chromedp.CSS(`form[action$="/test-send"] button`)))
	c.want("https test send", "Test send: delivered")
	hookMu.Lock()
	if len(hookAuth) != 1 || hookAuth[0] != "Bearer hdr-secret-4711" {
		t.Errorf("the web service got Authorization %q, want the header set in the console", hookAuth)
	}
	hookMu.Unlock()

	// A failing destination: its error in plain words, with the side that failed.
	closed := closedPort(t)
	c.open("/destinations/new?kind=sftp")
	c.fill("add failing", map[string]string{"f-company_id": uuid.NewString(), "f-name": "Globex (server down)",
		"f-url": "sftp://globex:pw@" + closed + "/drop", "f-host_key": f.srv.HostKeyPin(), "f-start_date": day}, "form.edit button.primary")
	failingID := strings.TrimPrefix(strings.Split(c.location(), "?")[0], "/destinations/")
	c.until("/destinations/"+failingID, "refused", 30*time.Second)
	// Its one attempt was its last: the message promises no retry.
	c.want("failing", "The failing side: the network or the customer's server", "connection refused", "this attempt is not retried")
	c.open("/")
	c.want("overview", "Globex (server down)", "Acme nightly", "Acme webhook", "SFTP", "HTTPS")
	if text := c.text(); strings.Index(text, "Globex") > strings.Index(text, "Acme nightly") {
		t.Errorf("the failing destination is not listed first:\n%s", text)
	}
	c.open("/?status=failed")
	if text := c.text(); !strings.Contains(text, "Globex") || strings.Contains(text, "Acme nightly") {
		t.Errorf("the failed filter shows:\n%s", text)
	}
	c.open("/?status=healthy")
	if text := c.text(); strings.Contains(text, "Globex") || !strings.Contains(text, "Acme nightly") {
		t.Errorf("the healthy filter shows:\n%s", text)
	}
	c.open("/?name=webhook")
	if text := c.text(); !strings.Contains(text, "Acme webhook") || strings.Contains(text, "Acme nightly") {
		t.Errorf("the name filter shows:\n%s", text)
	}

	// Screenshots for the README: the overview and a destination, wide and narrow.
	c.open("/")
	c.screenshot("overview", 1280)
	c.screenshot("overview", 390)
	c.open("/destinations/" + sftpID)
	c.screenshot("destination", 1280)
	c.screenshot("destination", 390)

	// Runs across destinations, by kind and day.
	c.open("/runs?kind=resend&day=" + day)
	c.want("runs by kind and day", "resend", day, "Acme nightly")
	if text := c.text(); strings.Contains(text, "test-courseCompletion") || strings.Contains(text, "Globex") {
		t.Errorf("runs filtered by kind resend show others:\n%s", text)
	}
	c.open("/runs?kind=test")
	c.want("test runs", "test-courseCompletion-")

	// Edit: bad input refused next to its field, changing nothing; then saved.
	c.open("/destinations/" + sftpID + "/edit")
	if st := c.fill("bad edit", map[string]string{"f-name": "Acme renamed", "f-max_file_size": "1kB"}, "form.edit button.primary"); st != http.StatusBadRequest {
		t.Errorf("a too small max file size: status %d, want 400", st)
	}
	c.want("bad edit", "max_file_size:")
	c.open("/destinations/" + sftpID + "/edit")
	c.fill("edit", map[string]string{"f-name": "Acme renamed", "f-format": "csv", "f-every": "6h", "f-timezone": "Australia/Sydney"},
		"form.edit button.primary")
	// A new cadence and zone take effect when the window in progress ends: the page says so.
	c.want("edited", "Saved.", "Acme renamed", "csv", "then every 6h in Australia/Sydney")

	// Disable and enable.
	c.navigate("disable", chromedp.Click(chromedp.CSS(`form[action$="/disable"] button`)))
	c.want("disabled", "Disabled:", "DISABLED")
	c.navigate("enable", chromedp.Click(chromedp.CSS(`form[action$="/enable"] button`)))
	c.want("enabled", "Enabled:")

	// A form posted from another site is refused, and so is one without the session's token.
	evilLn, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	evil := &httptest.Server{Listener: evilLn, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<!doctype html><form method="post" action="%s/destinations/%s/disable"><input type="hidden" name="csrf" value="forged"><button id="go">win a prize</button></form>`, c.base, sftpID)
	})}}
	evil.Start()
	t.Cleanup(evil.Close)
	c.navigate("open another site", chromedp.Navigate(evil.URL))
	if st := c.navigate("cross-site post", chromedp.Click(chromedp.ID("go"))); st != http.StatusForbidden {
		t.Errorf("a form posted from another site: status %d, want 403", st)
	}
	c.want("cross-site post", "sent from another site")
	if c.enabled(sftpID) != true {
		t.Errorf("a cross-site post disabled the destination")
	}
	session := c.cookies()[0]
	req, _ := http.NewRequest("POST", c.base+"/destinations/"+sftpID+"/disable", strings.NewReader("csrf=forged"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: session.Name, Value: session.Value})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	c.seen = append(c.seen, string(body))
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "not from your session") || !c.enabled(sftpID) {
		t.Errorf("a post without the session's CSRF token: %d %q", resp.StatusCode, body)
	}

	// A second replica with the same token takes the session: it is signed, not kept. Its
	// sessions last two seconds; a cookie replayed after that is refused as expired.
	other := startServe(t, append(env, "EVENTEXPORT_CONSOLE_SESSION_TTL=2s"))
	otherURL := adminURL(t, other)
	c.navigate("the other replica", chromedp.Navigate(otherURL+"/"))
	c.want("the other replica", "Acme renamed")
	c2 := &consoleTab{t: t, ctx: ctx, base: otherURL, f: f}
	c2.navigate("sign out of the other replica", chromedp.Click(chromedp.CSS(`form.signout button`)))
	c2.fill("sign in on the other replica", map[string]string{"f-token": testToken}, "form.card button")
	short := c2.cookies()[0]
	time.Sleep(2500 * time.Millisecond)
	c2.step("replay the expired cookie", func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, t, network.SetCookie, network.SetCookieParams{Name: short.Name, Value: short.Value,
			URL: otherURL + "/", SameSite: network.CookieSameSiteStrict})
		return chromedp.Void{}, err
	})
	c2.open("/destinations/" + sftpID)
	if loc := c2.location(); !strings.HasPrefix(loc, "/signin") || !strings.Contains(loc, "expired=1") {
		t.Errorf("an expired session went to %s, want the sign-in page saying it expired", loc)
	}
	c2.want("expired", "Your session has expired")
	c2.fill("sign in again", map[string]string{"f-token": testToken}, "form.card button")
	c2.want("back where it was", "Acme renamed", "Settings")
	other.stop(t, os.Interrupt, 30*time.Second)
	c.seen = append(c.seen, c2.seen...)
	c.open("/signin")
	c.fill("sign in again on the first replica", map[string]string{"f-token": testToken}, "form.card button")
	findSecrets(t, "the other replica's log", other.stderr.String(), secrets)

	// Remove: the confirmation names what is kept; the history stays readable.
	c.open("/destinations/" + sftpID + "/remove")
	c.want("remove confirmation", "What is kept", "run history")
	c.step("confirm the removal", chromedp.Click(chromedp.ID("f-confirm")))
	c.navigate("remove", chromedp.Click(chromedp.CSS(`form.danger button`)))
	c.want("removed", "Destination removed")
	if strings.Contains(c.text(), "Acme renamed") {
		t.Errorf("the removed destination is still listed")
	}
	c.open("/runs?destination=" + sftpID)
	c.want("history of a removed destination", "resend", "/inbox/courseCompletion-")

	// Sign out: the next page asks to sign in again.
	c.navigate("sign out", chromedp.Click(chromedp.CSS(`form.signout button`)))
	c.want("signed out", "You are signed out")
	c.open("/")
	if loc := c.location(); !strings.HasPrefix(loc, "/signin") {
		t.Errorf("after signing out / went to %s, want the sign-in page", loc)
	}
}

// enabled reads whether a destination is enabled, from the database.
func (c *consoleTab) enabled(id string) bool {
	c.t.Helper()
	var on bool
	if err := c.f.db.Pool.QueryRow(context.Background(), "SELECT enabled FROM destinations WHERE id = $1", id).Scan(&on); err != nil {
		c.t.Fatal(err)
	}
	return on
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
