package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eventexport/eventexport/delivery/sftptest"
	"github.com/eventexport/eventexport/events"
	"github.com/eventexport/eventexport/events/eventstest"
)

// serveProc is a running "eventexport serve".
type serveProc struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan struct{}
	err    error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fastEnv scales the service down so that a test sees a whole retry schedule in seconds.
var fastEnv = []string{
	"EVENTEXPORT_SCHEDULE=@every 1s",
	"EVENTEXPORT_RETRY_INITIAL=200ms",
	"EVENTEXPORT_RETRY_MAX=1s",
	"EVENTEXPORT_POLL_INTERVAL=50ms",
	"EVENTEXPORT_CONNECT_TIMEOUT=2s",
	"EVENTEXPORT_ATTEMPT_TIMEOUT=10s",
	"EVENTEXPORT_LEASE_MARGIN=2s",
	"EVENTEXPORT_SHUTDOWN_GRACE=5s",
	// Tests run side by side: each service listens on a port of its own, not the default 8080.
	"EVENTEXPORT_ADMIN_ADDR=127.0.0.1:0",
}

func startServe(t *testing.T, env []string) *serveProc {
	t.Helper()
	cmd := exec.Command(binary, "serve")
	cmd.Env = append(append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, fastEnv...), env...)
	p := &serveProc{cmd: cmd, stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = io.Discard, p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("serve (pid %d) log:\n%s", cmd.Process.Pid, p.stderr.String())
		}
	})
	return p
}

// stop sends sig and waits for the process to exit, failing t after limit.
func (p *serveProc) stop(t *testing.T, sig os.Signal, limit time.Duration) (time.Duration, int) {
	t.Helper()
	began := time.Now()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(limit):
		t.Fatalf("serve did not exit within %s of %s", limit, sig)
	}
	code := 0
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		code = ee.ExitCode()
	}
	return time.Since(began), code
}

// proxy forwards TCP connections to a server while up, and refuses them while down: a
// customer server that goes away and comes back on the same address.
type proxy struct {
	t    *testing.T
	addr string

	mu       sync.Mutex
	reserved *reservedPort // holds addr until the proxy is first up
	ln       net.Listener
	target   string
	conns    map[net.Conn]bool
	wg       sync.WaitGroup
}

// newProxy reserves a loopback address and starts down.
func newProxy(t *testing.T) *proxy {
	r, err := reservePort()
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, addr: r.addr, reserved: r, conns: map[net.Conn]bool{}}
	t.Cleanup(p.down)
	return p
}

// listenAgain listens on addr, which was in use a moment ago.
func listenAgain(addr string) (net.Listener, error) {
	var ln net.Listener
	var err error
	for range 50 { // the port may take a moment to be free again
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return ln, err
}

func (p *proxy) up(target string) {
	p.t.Helper()
	p.mu.Lock()
	r := p.reserved
	p.reserved = nil
	p.mu.Unlock()
	var ln net.Listener
	var err error
	if r != nil {
		ln, err = r.listen()
	} else {
		ln, err = listenAgain(p.addr)
	}
	if err != nil {
		p.t.Fatalf("proxy listen on %s: %v", p.addr, err)
	}
	p.mu.Lock()
	p.ln, p.target = ln, target
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.forward(c, target)
			}()
		}
	}()
}

func (p *proxy) forward(c net.Conn, target string) {
	s, err := net.Dial("tcp", target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[s] = true, true
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(s, c); s.Close(); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, s); c.Close(); done <- struct{}{} }()
	<-done
	<-done
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, s)
	p.mu.Unlock()
}

// down closes the listener and every connection: new connections are refused.
func (p *proxy) down() {
	p.mu.Lock()
	if p.reserved != nil {
		p.reserved.release()
		p.reserved = nil
	}
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// viaProxy rewrites the server's URL to go through the proxy.
func viaProxy(srv *sftptest.Server, p *proxy, dir string) string {
	return strings.Replace(srv.URL(dir), srv.Addr(), p.addr, 1)
}

// webhook records the alerts posted to it.
type webhook struct {
	*httptest.Server
	mu     sync.Mutex
	alerts map[string][]map[string]any // by path
}

func newWebhook(t *testing.T) *webhook {
	w := &webhook{alerts: map[string][]map[string]any{}}
	w.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var a map[string]any
		if err := json.NewDecoder(r.Body).Decode(&a); err != nil {
			t.Errorf("alert is not JSON: %v", err)
		}
		w.mu.Lock()
		w.alerts[r.URL.Path] = append(w.alerts[r.URL.Path], a)
		w.mu.Unlock()
	}))
	t.Cleanup(w.Close)
	return w
}

func (w *webhook) received(path string) []map[string]any {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]map[string]any(nil), w.alerts[path]...)
}

type runRow struct {
	ID, Status, FileName, Kind string
	Attempts                   int
	Next                       *time.Time
}

func (f *fixture) runs(t *testing.T, destID string) []runRow {
	t.Helper()
	rows, err := f.db.Pool.Query(context.Background(), `SELECT id, status, file_name, kind, attempts, next_attempt_at
		FROM runs WHERE destination_id = $1 ORDER BY day, created_at`, destID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []runRow
	for rows.Next() {
		var r runRow
		if err := rows.Scan(&r.ID, &r.Status, &r.FileName, &r.Kind, &r.Attempts, &r.Next); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

type attemptRow struct {
	Number    int
	Started   time.Time
	Outcome   string
	Error     string
	Permanent bool
	Replica   string
}

func (f *fixture) attempts(t *testing.T, runID string) []attemptRow {
	t.Helper()
	rows, err := f.db.Pool.Query(context.Background(), `SELECT number, started_at, outcome, error, permanent, replica
		FROM attempts WHERE run_id = $1 ORDER BY number`, runID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []attemptRow
	for rows.Next() {
		var a attemptRow
		if err := rows.Scan(&a.Number, &a.Started, &a.Outcome, &a.Error, &a.Permanent, &a.Replica); err != nil {
			t.Fatal(err)
		}
		out = append(out, a)
	}
	return out
}

// eventually polls cond until it holds, failing t with what after limit.
func eventually(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func yesterday() events.Day {
	return events.DayBefore(time.Now(), newYorkZone())
}

func newYorkZone() *time.Location {
	loc, err := time.LoadLocation("America/New_York")
	if err != nil {
		panic(err)
	}
	return loc
}

func inboxFiles(t *testing.T, srv *sftptest.Server) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(srv.Root(), "inbox"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// interval is the scaled-down schedule's wait before retry n: 200ms doubling, capped at 1s.
func interval(n int) time.Duration {
	d := 200 * time.Millisecond << (n - 1)
	return min(d, time.Second)
}

// checkSchedule checks that each attempt started about its retry's wait after the one before:
// within the ±10% jitter, plus the poll interval and some slack, never early.
func checkSchedule(t *testing.T, as []attemptRow) {
	t.Helper()
	for i := 1; i < len(as); i++ {
		gap := as[i].Started.Sub(as[i-1].Started)
		want := interval(i)
		if gap < want*9/10 || gap > want*11/10+400*time.Millisecond {
			t.Errorf("attempt %d came %s after attempt %d; want about %s (±10%%)", i+1, gap, i, want)
		}
	}
}

// A server that is down for the first attempts and then comes back gets the file once, and
// the attempts follow the retry schedule.
func TestServeRetriesUntilTheServerIsBack(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p := newProxy(t)
	out, errOut, code := cli(t, f.env, "destinations", "add", "--company", f.company, "--url", viaProxy(f.srv, p, "/inbox"),
		"--format", "json", "--host-key", f.srv.HostKeyPin(), "--start-date", yesterday().String())
	if code != 0 {
		t.Fatalf("add: %s", errOut)
	}
	dest := strings.TrimSpace(out)
	eventstest.Generate(t, f.db.Pool, f.company, yesterday().Window(newYorkZone()), 20)

	s := startServe(t, f.env)
	eventually(t, 20*time.Second, "4 failed attempts", func() bool {
		r := f.runs(t, dest)
		return len(r) == 1 && r[0].Attempts >= 4 && r[0].Status == "pending"
	})
	p.up(f.srv.Addr())
	eventually(t, 20*time.Second, "the run delivered", func() bool {
		r := f.runs(t, dest)
		return len(r) == 1 && r[0].Status == "delivered"
	})
	if _, code := s.stop(t, syscall.SIGTERM, 10*time.Second); code != 0 {
		t.Errorf("serve exited %d after SIGTERM, want 0", code)
	}

	run := f.runs(t, dest)[0]
	as := f.attempts(t, run.ID)
	for i, a := range as {
		want := "failed"
		if i == len(as)-1 {
			want = "delivered"
		}
		if a.Outcome != want || a.Number != i+1 {
			t.Errorf("attempt %d: #%d %s, want %s", i+1, a.Number, a.Outcome, want)
		}
		if want == "failed" && (a.Permanent || !strings.Contains(a.Error, "connect")) {
			t.Errorf("attempt %d: error %q (permanent %t); want a transient connection failure", i+1, a.Error, a.Permanent)
		}
	}
	checkSchedule(t, as)
	files := inboxFiles(t, f.srv)
	if len(files) != 1 || files[0] != run.FileName {
		t.Errorf("files on the server: %v; want only %s", files, run.FileName)
	}
	body, _ := os.ReadFile(filepath.Join(f.srv.Root(), "inbox", run.FileName))
	var evs []map[string]any
	if err := json.Unmarshal(body, &evs); err != nil || len(evs) != 20 {
		t.Errorf("delivered file holds %d events (%v), want 20", len(evs), err)
	}
}

// A server that never comes back: 11 attempts on the schedule, then the run fails and one
// alert goes to the instance's webhook and one to the destination's. A re-send once the
// server is back delivers, and the destination's recovery is alerted once.
func TestServeGivesUpAfterElevenAttempts(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p := newProxy(t)
	hook := newWebhook(t)
	out, errOut, code := cli(t, f.env, "destinations", "add", "--company", f.company, "--url", viaProxy(f.srv, p, "/inbox"),
		"--format", "csv", "--host-key", f.srv.HostKeyPin(), "--start-date", yesterday().String(),
		"--alert-url", hook.URL+"/destination", "--name", "Acme nightly")
	if code != 0 {
		t.Fatalf("add: %s", errOut)
	}
	dest := strings.TrimSpace(out)
	env := append(append([]string{}, f.env...), "EVENTEXPORT_ALERT_WEBHOOK="+hook.URL+"/instance")

	s := startServe(t, env)
	eventually(t, 30*time.Second, "the run failed", func() bool {
		r := f.runs(t, dest)
		return len(r) == 1 && r[0].Status == "failed"
	})
	eventually(t, 5*time.Second, "an alert", func() bool { return len(hook.received("/instance")) > 0 })
	time.Sleep(1500 * time.Millisecond) // would another attempt or alert come?
	run := f.runs(t, dest)[0]
	as := f.attempts(t, run.ID)
	if len(as) != 11 || run.Attempts != 11 || run.Next != nil {
		t.Errorf("run has %d attempts (%d counted), next %v; want 11 and none planned", len(as), run.Attempts, run.Next)
	}
	checkSchedule(t, as)
	for _, path := range []string{"/instance", "/destination"} {
		got := hook.received(path)
		if len(got) != 1 {
			t.Fatalf("%s webhook received %d alerts, want 1: %v", path, len(got), got)
		}
		a := got[0]
		if a["destination"] != dest || a["company"] != f.company || a["day"] != yesterday().String() ||
			a["event_type"] != "courseComplete" || a["attempts"] != float64(11) || a["permanent"] != false ||
			a["kind"] != "failed" || !strings.Contains(a["last_error"].(string), "connect") ||
			!strings.Contains(a["text"].(string), "NOT delivered") {
			t.Errorf("%s alert = %v", path, a)
		}
	}

	// The server is back; support re-sends the day.
	p.up(f.srv.Addr())
	out, errOut, code = cli(t, f.env, "resend", "--destination", dest, "--from", yesterday().String())
	if code != 0 {
		t.Fatalf("resend: exit %d: %s", code, errOut)
	}
	resent := strings.TrimSpace(out)
	eventually(t, 20*time.Second, "the re-send delivered", func() bool {
		for _, r := range f.runs(t, dest) {
			if r.ID == resent {
				return r.Status == "delivered"
			}
		}
		return false
	})
	eventually(t, 5*time.Second, "a recovery alert", func() bool { return len(hook.received("/instance")) == 2 })
	if a := hook.received("/instance")[1]; a["kind"] != "recovered" || a["run"] != resent {
		t.Errorf("second alert = %v; want the recovery, naming the re-sent run", a)
	}
	s.stop(t, syscall.SIGTERM, 10*time.Second)
	if n := len(hook.received("/destination")); n != 2 {
		t.Errorf("the destination's webhook received %d alerts, want 2 (failed, recovered)", n)
	}
	if files := inboxFiles(t, f.srv); len(files) != 1 || !strings.HasSuffix(files[0], ".csv") {
		t.Errorf("files on the server: %v; want the re-sent one", files)
	}
}

// Killed (SIGKILL) while waiting to retry and started again, the service continues the
// stored schedule: no attempt is lost, repeated or made early.
func TestServeKilledDuringRetryWaitKeepsTheSchedule(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p := newProxy(t)
	out, errOut, code := cli(t, f.env, "destinations", "add", "--company", f.company, "--url", viaProxy(f.srv, p, "/inbox"),
		"--format", "json", "--host-key", f.srv.HostKeyPin(), "--start-date", yesterday().String())
	if code != 0 {
		t.Fatalf("add: %s", errOut)
	}
	dest := strings.TrimSpace(out)
	env := append(append([]string{}, f.env...), "EVENTEXPORT_RETRY_INITIAL=1s", "EVENTEXPORT_RETRY_MAX=4s")

	s := startServe(t, env)
	var next time.Time
	eventually(t, 20*time.Second, "2 failed attempts", func() bool {
		r := f.runs(t, dest)
		if len(r) == 1 && r[0].Attempts == 2 && r[0].Status == "pending" && r[0].Next != nil {
			next = *r[0].Next
			return true
		}
		return false
	})
	s.stop(t, syscall.SIGKILL, 5*time.Second) // waiting 2s for the 3rd attempt
	if time.Now().After(next) {
		t.Fatalf("killed too late: the retry was due at %s", next)
	}
	s2 := startServe(t, env)
	eventually(t, 20*time.Second, "the 3rd attempt", func() bool { return f.runs(t, dest)[0].Attempts == 3 })
	as := f.attempts(t, f.runs(t, dest)[0].ID)
	if len(as) != 3 {
		t.Fatalf("%d attempts, want 3", len(as))
	}
	if as[2].Started.Before(next) || as[2].Started.Sub(next) > time.Second {
		t.Errorf("after the restart, attempt 3 started at %s; want at the stored time %s (not early, not lost)", as[2].Started, next)
	}
	p.up(f.srv.Addr())
	eventually(t, 20*time.Second, "the run delivered", func() bool { return f.runs(t, dest)[0].Status == "delivered" })
	s2.stop(t, syscall.SIGTERM, 10*time.Second)
	as = f.attempts(t, f.runs(t, dest)[0].ID)
	for i, a := range as {
		if a.Number != i+1 || (i < len(as)-1 && a.Outcome != "failed") {
			t.Errorf("attempt %d: #%d %s; want numbered in order, failed until the last", i+1, a.Number, a.Outcome)
		}
	}
	if as[len(as)-1].Outcome != "delivered" || len(as) != 4 {
		t.Errorf("%d attempts, the last %s; want 4, the last delivered", len(as), as[len(as)-1].Outcome)
	}
	if files := inboxFiles(t, f.srv); len(files) != 1 {
		t.Errorf("files on the server: %v; want one", files)
	}
}

// Two replicas against one database and one server deliver each run exactly once.
func TestServeTwoReplicasDeliverEachRunOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const dests, days = 15, 3
	start := yesterday().AddDays(-(days - 1))
	for range dests {
		f.addDestination(t, "json", "--start-date", start.String())
	}
	env := append(append([]string{}, f.env...), "EVENTEXPORT_CONCURRENCY=4")
	a, b := startServe(t, env), startServe(t, env)
	eventually(t, 60*time.Second, "every run delivered", func() bool {
		var n int
		err := f.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM runs WHERE status = 'delivered'`).Scan(&n)
		return err == nil && n == dests*days
	})
	time.Sleep(500 * time.Millisecond)
	a.stop(t, syscall.SIGTERM, 10*time.Second)
	b.stop(t, syscall.SIGTERM, 10*time.Second)
	var runs, attempts, replicas int
	err := f.db.Pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM attempts),
		(SELECT count(DISTINCT replica) FROM attempts)`).Scan(&runs, &attempts, &replicas)
	if err != nil {
		t.Fatal(err)
	}
	if runs != dests*days || attempts != dests*days {
		t.Errorf("%d runs, %d attempts; want %d of each: one run per destination and day, delivered once", runs, attempts, dests*days)
	}
	if files := inboxFiles(t, f.srv); len(files) != dests*days {
		t.Errorf("%d files on the server, want %d", len(files), dests*days)
	}
	t.Logf("attempts made by %d replicas", replicas)
}

// SIGTERM during an upload that never ends: the service stops claiming, waits the grace
// period, cancels the upload and exits; the run is not delivered and is due again at once,
// and the next start attempts it again without counting the cut-short attempt as a retry.
func TestServeSIGTERMDuringUploadExitsWithinGrace(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	stalled := sftptest.NewServer(t, sftptest.Options{User: "acme", Password: "pw", Faults: sftptest.Faults{StallWritesAfter: 1000}})
	out, errOut, code := cli(t, f.env, "destinations", "add", "--company", f.company, "--url", stalled.URL("/inbox"),
		"--format", "json", "--host-key", stalled.HostKeyPin(), "--start-date", yesterday().String())
	if code != 0 {
		t.Fatalf("add: %s", errOut)
	}
	dest := strings.TrimSpace(out)
	eventstest.Generate(t, f.db.Pool, f.company, yesterday().Window(newYorkZone()), 500)
	env := append(append([]string{}, f.env...), "EVENTEXPORT_ATTEMPT_TIMEOUT=2m", "EVENTEXPORT_SHUTDOWN_GRACE=2s")

	s := startServe(t, env)
	eventually(t, 20*time.Second, "an upload in progress", func() bool {
		r := f.runs(t, dest)
		return len(r) == 1 && r[0].Status == "running" && r[0].Attempts == 1
	})
	time.Sleep(300 * time.Millisecond)
	took, code := s.stop(t, syscall.SIGTERM, 10*time.Second)
	if code != 0 {
		t.Errorf("serve exited %d, want 0", code)
	}
	if took < 1500*time.Millisecond || took > 4*time.Second {
		t.Errorf("serve exited %s after SIGTERM; want after the 2s grace, and soon after it", took)
	}
	run := f.runs(t, dest)[0]
	if run.Status != "pending" || run.Next == nil || run.Next.After(time.Now()) {
		t.Errorf("after shutdown the run is %s, next attempt %v; want pending and due", run.Status, run.Next)
	}
	as := f.attempts(t, run.ID)
	if len(as) != 1 || as[0].Outcome != "abandoned" {
		t.Errorf("attempts %+v; want one, abandoned", as)
	}
	if files := inboxFiles(t, stalled); len(files) != 0 {
		// Only a temporary file may be left, never the final name.
		for _, name := range files {
			if name == run.FileName {
				t.Errorf("the file is on the server under its final name after a cut-short upload")
			}
		}
	}

	s2 := startServe(t, env)
	eventually(t, 20*time.Second, "the run attempted again", func() bool { return f.runs(t, dest)[0].Attempts == 2 })
	s2.stop(t, syscall.SIGTERM, 10*time.Second)
	as = f.attempts(t, run.ID)
	if len(as) != 2 || as[1].Outcome != "abandoned" {
		t.Errorf("attempts after the restart: %+v", as)
	}
}

// A replica that dies mid-attempt loses its lease: another replica takes the run once the
// lease has expired, marks the cut-short attempt abandoned and attempts the run again.
func TestServeReplicaDyingMidAttemptLosesTheLease(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	stalled := sftptest.NewServer(t, sftptest.Options{User: "acme", Password: "pw", Faults: sftptest.Faults{StallWritesAfter: 1000}})
	out, errOut, code := cli(t, f.env, "destinations", "add", "--company", f.company, "--url", stalled.URL("/inbox"),
		"--format", "json", "--host-key", stalled.HostKeyPin(), "--start-date", yesterday().String())
	if code != 0 {
		t.Fatalf("add: %s", errOut)
	}
	dest := strings.TrimSpace(out)
	eventstest.Generate(t, f.db.Pool, f.company, yesterday().Window(newYorkZone()), 500)
	env := append(append([]string{}, f.env...), "EVENTEXPORT_ATTEMPT_TIMEOUT=3s", "EVENTEXPORT_LEASE_MARGIN=1s")

	a := startServe(t, env)
	eventually(t, 20*time.Second, "an upload in progress", func() bool {
		r := f.runs(t, dest)
		return len(r) == 1 && r[0].Status == "running" && r[0].Attempts == 1
	})
	var leaseEnd time.Time
	if err := f.db.Pool.QueryRow(context.Background(), `SELECT lease_expires_at FROM runs`).Scan(&leaseEnd); err != nil {
		t.Fatal(err)
	}
	a.stop(t, syscall.SIGKILL, 5*time.Second)
	b := startServe(t, env)
	eventually(t, 20*time.Second, "another replica attempting the run", func() bool { return f.runs(t, dest)[0].Attempts == 2 })
	b.stop(t, syscall.SIGTERM, 10*time.Second)
	as := f.attempts(t, f.runs(t, dest)[0].ID)
	if len(as) < 2 || as[0].Outcome != "abandoned" || !strings.Contains(as[0].Error, "lease") {
		t.Fatalf("attempts %+v; want the first abandoned for its expired lease", as)
	}
	if as[1].Started.Before(leaseEnd) {
		t.Errorf("attempt 2 started at %s, before the first one's lease expired at %s", as[1].Started, leaseEnd)
	}
	if as[0].Replica == as[1].Replica {
		t.Errorf("both attempts by %s; want another replica", as[0].Replica)
	}
}

// With the nightly schedule, a destination added while the service runs, with a start date
// in the past, is backfilled at once rather than the next night.
func TestServeBackfillsANewDestinationAtOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	env := append(append([]string{}, f.env...), "EVENTEXPORT_SCHEDULE=0 2 * * *")
	s := startServe(t, env)
	time.Sleep(300 * time.Millisecond)
	start := yesterday().AddDays(-2)
	dest := f.addDestination(t, "json", "--start-date", start.String())
	want := 3
	if time.Now().In(newYorkZone()).Hour() < 2 { // yesterday is not due before 2am
		want = 2
	}
	eventually(t, 15*time.Second, "the days since the start date delivered", func() bool {
		r := f.runs(t, dest)
		return len(r) == want && r[0].Status == "delivered" && r[len(r)-1].Status == "delivered"
	})
	s.stop(t, syscall.SIGTERM, 10*time.Second)
	if files := inboxFiles(t, f.srv); len(files) != want {
		t.Errorf("%d files, want %d", len(files), want)
	}
}

func TestServeConfig(t *testing.T) {
	t.Parallel()
	base := map[string]string{"DATABASE_URL": "postgres://x@127.0.0.1/db"}
	getenv := func(kv ...string) env {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	sc, err := loadServeConfig(getenv())
	if err != nil {
		t.Fatal(err)
	}
	if sc.ScheduleSpec != "0 2 * * *" || sc.Nightly == nil || sc.CatchUpDays != 7 || sc.Concurrency != 32 ||
		sc.ShutdownGrace != 30*time.Second || sc.Retry.Initial != 20*time.Second || sc.Retry.Max != time.Hour ||
		sc.Retry.Retries != 10 || sc.Poll != time.Second || sc.Location.String() != "America/New_York" {
		t.Errorf("defaults = %+v", sc)
	}
	for _, spec := range []string{"0 0 2 * * *", "*/5 * * * * *", "@every 10s", "@daily", "30 1 * * 1-5"} {
		if _, err := loadServeConfig(getenv("EVENTEXPORT_SCHEDULE", spec)); err != nil {
			t.Errorf("schedule %q refused: %v", spec, err)
		}
	}
	if sc, _ := loadServeConfig(getenv("EVENTEXPORT_SCHEDULE", "@every 10s")); sc.Nightly != nil {
		t.Errorf("@every: a day must be due as soon as it is over")
	}
	if sc, _ := loadServeConfig(getenv("EVENTEXPORT_RETRIES", "0")); sc.Retry.Attempts() != 1 {
		t.Errorf("EVENTEXPORT_RETRIES=0 gives %d attempts, want 1", sc.Retry.Attempts())
	}
	for _, kv := range [][2]string{
		{"EVENTEXPORT_SCHEDULE", "0 25 * * *"},
		{"EVENTEXPORT_SCHEDULE", "CRON_TZ=Europe/Berlin 0 2 * * *"},
		{"EVENTEXPORT_SCHEDULE", "every night"},
		{"EVENTEXPORT_CATCHUP_DAYS", "-1"},
		{"EVENTEXPORT_RETRY_INITIAL", "soon"},
		{"EVENTEXPORT_RETRY_MAX", "1s"},
		{"EVENTEXPORT_RETRIES", "ten"},
		{"EVENTEXPORT_CONCURRENCY", "0"},
		{"EVENTEXPORT_SHUTDOWN_GRACE", "-5s"},
		{"EVENTEXPORT_ALERT_WEBHOOK", "hooks.slack.com/x"},
		{"EVENTEXPORT_RETRY_JITTER", "2"},
	} {
		if _, err := loadServeConfig(getenv(kv[0], kv[1])); err == nil || !strings.Contains(err.Error(), kv[0]) {
			t.Errorf("%s=%q: error %v; want one naming the variable", kv[0], kv[1], err)
		}
	}
	// The binary refuses a bad configuration with exit 2 at once.
	f := newFixture(t)
	_, errOut, code := cli(t, append(append([]string{}, f.env...), "EVENTEXPORT_SCHEDULE=0 25 * * *"), "serve")
	if code != 2 || !strings.Contains(errOut, "EVENTEXPORT_SCHEDULE") {
		t.Errorf("serve with a bad schedule: exit %d, %q; want 2 naming the variable", code, errOut)
	}
}
