package https_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventexport/eventexport/delivery"
	"github.com/eventexport/eventexport/delivery/https"
)

const (
	token  = "Bearer tok-3f9a1c7e5b"
	secret = "whsec-8d2e6a4b0c"
)

func input(t *testing.T, kv map[string]any) delivery.Input {
	t.Helper()
	in := delivery.Input{}
	for k, v := range kv {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		in[k] = b
	}
	return in
}

// received is a request as the receiver saw it.
type received struct {
	header http.Header
	body   []byte
	length int64
	remote string // the client's address: one per connection
}

// receiver is a real HTTPS server recording what it receives and answering with answer.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []received
	answer http.HandlerFunc
}

func newReceiver(t *testing.T, tlsOn bool) *receiver {
	rc := &receiver{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, received{r.Header.Clone(), body, r.ContentLength, r.RemoteAddr})
		answer := rc.answer
		rc.mu.Unlock()
		if answer != nil {
			answer(w, r)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	if tlsOn {
		rc.Server = httptest.NewTLSServer(h)
	} else {
		rc.Server = httptest.NewServer(h)
	}
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) last(t *testing.T) received {
	t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.got) == 0 {
		t.Fatal("the receiver got no request")
	}
	return rc.got[len(rc.got)-1]
}

func (rc *receiver) caPEM() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rc.Certificate().Raw}))
}

func (rc *receiver) pin() string { return string(delivery.PinOf(rc.Certificate().Raw)) }

func configure(t *testing.T, kv map[string]any) delivery.Target {
	t.Helper()
	tg, err := https.Transport{}.Configure(nil, input(t, kv))
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func open(t *testing.T, tg delivery.Target, o delivery.Options) delivery.Sink {
	t.Helper()
	s, err := https.Transport{}.Open(tg, "", o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func asError(t *testing.T, err error) *delivery.Error {
	t.Helper()
	var de *delivery.Error
	if !errors.As(err, &de) {
		t.Fatalf("want a *delivery.Error, got %T: %v", err, err)
	}
	return de
}

// noSecrets fails when s shows a secret.
func noSecrets(t *testing.T, what, s string) {
	t.Helper()
	for _, sec := range []string{token, "tok-3f9a1c7e5b", secret} {
		if strings.Contains(s, sec) {
			t.Errorf("%s shows a secret: %s", what, s)
		}
	}
}

func TestHTTPSConfigure(t *testing.T) {
	tr := https.Transport{}
	rc := newReceiver(t, true)
	for name, kv := range map[string]map[string]any{
		"http to another host": {"url": "http://example.com/in"},
		"http to a LAN host":   {"url": "http://10.0.0.5/in"},
		"ftp scheme":           {"url": "ftp://example.com/in"},
		"user in the URL":      {"url": "https://acme:" + secret + "@example.com/in"},
		"fragment":             {"url": "https://example.com/in#x"},
		"no url":               {"header": "Authorization: " + token},
		"bad header line":      {"url": "https://example.com/in", "header": "Authorization " + token},
		"header without value": {"url": "https://example.com/in", "header": "X-Token:"},
		"reserved header":      {"url": "https://example.com/in", "header": "Content-Type: " + token},
		"own header":           {"url": "https://example.com/in", "header": "Eventexport-Run: " + token},
		"bad pin":              {"url": "https://example.com/in", "tls_pin": "SHA256:abcd"},
		"bad CA":               {"url": "https://example.com/in", "tls_ca": "not a certificate"},
		"unknown field":        {"url": "https://example.com/in", "host_key": "x"},
	} {
		_, err := tr.Configure(nil, input(t, kv))
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		var fe *delivery.FieldError
		if !errors.As(err, &fe) {
			t.Errorf("%s: %v names no field", name, err)
		}
		noSecrets(t, name, err.Error())
	}
	for _, u := range []string{"http://127.0.0.1:8080/in", "http://localhost/in", "http://[::1]:9/x", "https://example.com"} {
		if _, err := tr.Configure(nil, input(t, map[string]any{"url": u})); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}

	tg := configure(t, map[string]any{"url": rc.URL + "/hooks", "header": "Authorization: " + token + "\nx-tenant: acme",
		"signing_secret": secret, "tls_ca": rc.caPEM(), "tls_pin": strings.ToLower(rc.pin())})
	if string(tg.Secrets[https.SecretSigningSecret]) != secret || !strings.Contains(string(tg.Secrets[https.SecretHeaders]), token) {
		t.Errorf("secrets to store: %q", tg.Secrets)
	}
	noSecrets(t, "settings", string(tg.Settings))
	desc, _ := json.Marshal(tr.Describe(tg))
	noSecrets(t, "Describe", string(desc))
	if !strings.Contains(string(desc), "Authorization") || !strings.Contains(string(desc), "X-Tenant") {
		t.Errorf("Describe does not name the headers: %s", desc)
	}
	noSecrets(t, "URL", tr.URL(tg, "acme/in"))
	if got, want := tr.URL(tg, "acme/in"), rc.URL+"/hooks/acme/in"; got != want {
		t.Errorf("URL = %s, want %s", got, want)
	}
	if !tr.Pinned(tg) {
		t.Error("the pin is not pinned")
	}

	// A change: another host drops the pin; an empty header removes the headers.
	tg.Has, tg.Secrets = map[string]bool{"headers": true, "signing_secret": true}, nil
	moved, err := tr.Configure(&tg, input(t, map[string]any{"url": "https://other.example/in", "header": ""}))
	if err != nil {
		t.Fatal(err)
	}
	if tr.Pinned(moved) || moved.HasSecret(https.SecretHeaders) || !moved.HasSecret(https.SecretSigningSecret) {
		t.Errorf("after the change: pinned %v, headers %v, signing secret %v", tr.Pinned(moved),
			moved.HasSecret(https.SecretHeaders), moved.HasSecret(https.SecretSigningSecret))
	}
	if _, err := tr.Configure(&tg, input(t, map[string]any{"url": "http://example.com/"})); err == nil {
		t.Error("a change to plain http to another host was accepted")
	}
}

// verifyWithPython checks the signature of body with an implementation independent of ours.
func verifyWithPython(t *testing.T, sig string, body []byte) {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Fatal("python3 is not installed: the signature is checked by an independent implementation in Python (apt-get install python3)")
	}
	f := filepath.Join(t.TempDir(), "body")
	if err := os.WriteFile(f, body, 0o600); err != nil {
		t.Fatal(err)
	}
	const script = `
import hashlib, hmac, sys, time
secret, header, path = sys.argv[1], sys.argv[2], sys.argv[3]
parts = dict(p.split("=", 1) for p in header.split(","))
body = open(path, "rb").read()
want = hmac.new(secret.encode(), parts["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
if not hmac.compare_digest(want, parts["v1"]):
    sys.exit("signature mismatch: want " + want)
if abs(time.time() - int(parts["t"])) > 300:
    sys.exit("timestamp too old")
`
	out, err := exec.Command(py, "-c", script, secret, sig, f).CombinedOutput()
	if err != nil {
		t.Errorf("python3 does not verify the signature %q: %v: %s", sig, err, out)
	}
}

func TestHTTPSRoundTrip(t *testing.T) {
	rc := newReceiver(t, true)
	body := bytes.Repeat([]byte(`{"type":"courseComplete","n":1}`+"\n"), 50000)
	window := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	fi := delivery.FileInfo{Run: "run-42", EventType: "courseComplete", WindowStart: window,
		WindowEnd: window.Add(24 * time.Hour), Part: 2, Events: 50000, ContentType: "application/x-ndjson"}
	for _, trust := range []string{"tls_ca", "tls_pin"} {
		t.Run(trust, func(t *testing.T) {
			kv := map[string]any{"url": rc.URL + "/in", "header": "Authorization: " + token + "\nX-Tenant: acme", "signing_secret": secret}
			if trust == "tls_ca" {
				kv["tls_ca"] = rc.caPEM()
			} else {
				kv["tls_pin"] = rc.pin()
			}
			sink := open(t, configure(t, kv), delivery.Options{})
			// A pipe: the body is streamed, of a length not known beforehand.
			pr, pw := io.Pipe()
			go func() { pw.CloseWithError(iotest(pw, body)) }()
			where, err := sink.Put(delivery.WithFileInfo(context.Background(), fi), "events-2025-03-01.part2.jsonl", pr)
			if err != nil {
				t.Fatal(err)
			}
			if where != rc.URL+"/in" {
				t.Errorf("delivered to %s", where)
			}
			got := rc.last(t)
			if !bytes.Equal(got.body, body) {
				t.Errorf("received %d bytes, want the file's %d", len(got.body), len(body))
			}
			for name, want := range map[string]string{
				"Content-Type":             "application/x-ndjson",
				"Idempotency-Key":          "run-42/events-2025-03-01.part2.jsonl",
				"Eventexport-File-Name":    "events-2025-03-01.part2.jsonl",
				"Eventexport-Run":          "run-42",
				"Eventexport-Event-Type":   "courseComplete",
				"Eventexport-Window-Start": "2025-03-01T00:00:00Z",
				"Eventexport-Window-End":   "2025-03-02T00:00:00Z",
				"Eventexport-Part":         "2",
				"Eventexport-Events":       "50000",
				"Authorization":            token,
				"X-Tenant":                 "acme",
				"Content-Encoding":         "",
			} {
				if v := got.header.Get(name); v != want {
					t.Errorf("%s: %q, want %q", name, v, want)
				}
			}
			if got.length != int64(len(body)) {
				t.Errorf("Content-Length %d, want %d (a signed body is known whole)", got.length, len(body))
			}
			verifyWithPython(t, got.header.Get("Eventexport-Signature"), got.body)
		})
	}

	// Unsigned and without FileInfo: streamed as it comes; the key is the file name; a
	// local file's length is sent.
	sink := open(t, configure(t, map[string]any{"url": rc.URL, "tls_ca": rc.caPEM()}), delivery.Options{})
	f, err := os.CreateTemp(t.TempDir(), "part")
	if err != nil {
		t.Fatal(err)
	}
	f.Write(body)
	f.Seek(0, io.SeekStart)
	if _, err := sink.Put(context.Background(), "events.csv.gz", f); err != nil {
		t.Fatal(err)
	}
	got := rc.last(t)
	if got.header.Get("Idempotency-Key") != "events.csv.gz" || got.header.Get("Content-Type") != "application/gzip" ||
		got.header.Get("Eventexport-Signature") != "" || got.length != int64(len(body)) || !bytes.Equal(got.body, body) {
		t.Errorf("unsigned local file: headers %v, length %d, %d bytes", got.header, got.length, len(got.body))
	}
}

// iotest writes b in small pieces, as a producer does.
func iotest(w io.Writer, b []byte) error {
	for len(b) > 0 {
		n := min(len(b), 4096)
		if _, err := w.Write(b[:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// A certificate nothing trusts is refused, naming the one presented; support may accept it
// on first use, and pin what was presented.
func TestHTTPSUnknownCertificate(t *testing.T) {
	rc := newReceiver(t, true)
	tr := https.Transport{}
	tg := configure(t, map[string]any{"url": rc.URL + "/in", "header": "Authorization: " + token})
	_, err := open(t, tg, delivery.Options{}).Put(context.Background(), "a.json", strings.NewReader("[]"))
	de := asError(t, err)
	if de.Class != delivery.ClassCertificate || !de.Permanent() || de.Presented != rc.pin() || !strings.Contains(err.Error(), rc.pin()) {
		t.Errorf("unknown certificate: class %q, permanent %v, presented %q: %v", de.Class, de.Permanent(), de.Presented, err)
	}
	noSecrets(t, "the error", err.Error())
	if len(rc.got) != 0 {
		t.Error("a request was sent to an untrusted server")
	}

	sink := open(t, tg, delivery.Options{AcceptUnknown: true})
	if _, err := sink.Put(context.Background(), "a.json", strings.NewReader("[]")); err != nil {
		t.Fatalf("accepted on first use: %v", err)
	}
	fp, pin := sink.(delivery.Presenter).Presented()
	if pin != rc.pin() || fp == "" {
		t.Errorf("presented %q %q, want %s", fp, pin, rc.pin())
	}
	pinned, err := tr.Pin(tg, pin)
	if err != nil || !tr.Pinned(pinned) {
		t.Fatalf("pin: %v", err)
	}
	pinned.Secrets = tg.Secrets
	if _, err := open(t, pinned, delivery.Options{}).Put(context.Background(), "b.json", strings.NewReader("[]")); err != nil {
		t.Errorf("pinned: %v", err)
	}

	// A pin of another certificate is a mismatch, whatever AcceptUnknown says.
	other, _ := tr.Pin(tg, "SHA256:"+strings.Repeat("AB", 32))
	_, err = open(t, other, delivery.Options{AcceptUnknown: true}).Put(context.Background(), "c.json", strings.NewReader("[]"))
	if de := asError(t, err); de.Class != delivery.ClassCertificate {
		t.Errorf("another certificate than the pinned one: %v", err)
	}
}

func TestHTTPSStatusClasses(t *testing.T) {
	rc := newReceiver(t, true)
	tg := configure(t, map[string]any{"url": rc.URL + "/in", "tls_ca": rc.caPEM(), "header": "Authorization: " + token,
		"signing_secret": secret})
	sink := open(t, tg, delivery.Options{})
	for _, c := range []struct {
		code       int
		header     string // Name: value
		class      delivery.Class
		permanent  bool
		wantInText string
	}{
		{200, "", "", false, ""},
		{201, "", "", false, ""},
		{204, "", "", false, ""},
		{408, "", delivery.ClassServer, false, "408"},
		{429, "Retry-After: 120", delivery.ClassServer, false, "retry after 120 s"},
		{503, "Retry-After: " + time.Now().Add(90*time.Second).UTC().Format(http.TimeFormat), delivery.ClassServer, false, "retry after"},
		{500, "", delivery.ClassServer, false, "500 Internal Server Error"},
		{400, "", delivery.ClassRejected, true, "400 Bad Request: rejected"},
		{422, "", delivery.ClassRejected, true, "422 Unprocessable Entity"},
		{404, "", delivery.ClassConfig, true, "404 Not Found"},
		{405, "", delivery.ClassConfig, true, "405 Method Not Allowed"},
		{401, "", delivery.ClassAuth, true, "401 Unauthorized"},
		{403, "", delivery.ClassAuth, true, "403 Forbidden"},
		{301, "Location: /v2/in", delivery.ClassConfig, true, rc.URL + "/v2/in"},
		{307, "Location: https://elsewhere.example/in", delivery.ClassConfig, true, "https://elsewhere.example/in"},
	} {
		t.Run(fmt.Sprint(c.code), func(t *testing.T) {
			rc.mu.Lock()
			rc.answer = func(w http.ResponseWriter, r *http.Request) {
				if name, value, ok := strings.Cut(c.header, ": "); ok {
					w.Header().Set(name, value)
				}
				w.WriteHeader(c.code)
				// A receiver echoing the request's secrets: they must not reach messages.
				fmt.Fprintf(w, "rejected: %s %s\n", r.Header.Get("Authorization"), secret)
			}
			rc.mu.Unlock()
			before := len(rc.got)
			_, err := sink.Put(context.Background(), "a.json", strings.NewReader(`[{"n":1}]`))
			if len(rc.got) != before+1 {
				t.Errorf("%d requests sent, want 1 (redirects are not followed)", len(rc.got)-before)
			}
			if c.class == "" {
				if err != nil {
					t.Errorf("not delivered: %v", err)
				}
				return
			}
			de := asError(t, err)
			if de.Class != c.class || de.Permanent() != c.permanent || delivery.IsPermanent(err) != c.permanent {
				t.Errorf("class %q permanent %v, want %q %v: %v", de.Class, de.Permanent(), c.class, c.permanent, err)
			}
			if !strings.Contains(err.Error(), c.wantInText) {
				t.Errorf("%v\nsays nothing of %q", err, c.wantInText)
			}
			noSecrets(t, "the error", err.Error())
		})
	}
}

// A receiver that stops reading mid-body fails the attempt at its time limit.
func TestHTTPSStallingReceiver(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.CopyN(io.Discard, r.Body, 1<<20)
		<-release
	}))
	defer srv.Close()
	defer close(release)
	ca := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	tg := configure(t, map[string]any{"url": srv.URL + "/in", "tls_ca": ca})
	sink := open(t, tg, delivery.Options{AttemptTimeout: 700 * time.Millisecond})
	start := time.Now()
	_, err := sink.Put(context.Background(), "big.json", io.LimitReader(zeros{}, 1<<30))
	took := time.Since(start)
	de := asError(t, err)
	if de.Class != delivery.ClassTimeout || de.Limit != delivery.LimitAttempt || de.Permanent() {
		t.Errorf("class %q limit %q: %v", de.Class, de.Limit, err)
	}
	if took < 600*time.Millisecond || took > 10*time.Second {
		t.Errorf("failed after %s, want at the attempt timeout of 700ms", took)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// Nothing listening is a refused connection, to retry; plain http is for loopback.
func TestHTTPSRefusedAndPlainHTTP(t *testing.T) {
	rc := newReceiver(t, false)
	sink := open(t, configure(t, map[string]any{"url": rc.URL + "/in", "header": "X-Api-Key: " + token}), delivery.Options{})
	if _, err := sink.Put(context.Background(), "a.csv", strings.NewReader("a,b\n")); err != nil {
		t.Fatalf("plain http to loopback: %v", err)
	}
	if got := rc.last(t); got.header.Get("Content-Type") != "text/csv" || got.header.Get("X-Api-Key") != token {
		t.Errorf("headers %v", got.header)
	}
	url := rc.URL
	rc.Close()
	_, err := open(t, configure(t, map[string]any{"url": url}), delivery.Options{}).Put(context.Background(), "a.csv", strings.NewReader("a,b\n"))
	if de := asError(t, err); de.Class != delivery.ClassRefused || de.Permanent() {
		t.Errorf("nothing listening: %v", err)
	}
}

// A source that fails is the source's failure, and nothing is delivered.
func TestHTTPSSourceFails(t *testing.T) {
	rc := newReceiver(t, true)
	for _, signed := range []bool{false, true} {
		kv := map[string]any{"url": rc.URL + "/in", "tls_ca": rc.caPEM()}
		if signed {
			kv["signing_secret"] = secret
		}
		pr, pw := io.Pipe()
		go func() {
			pw.Write([]byte("[{}"))
			pw.CloseWithError(errors.New("the database went away"))
		}()
		_, err := open(t, configure(t, kv), delivery.Options{}).Put(context.Background(), "a.json", pr)
		if de := asError(t, err); de.Class != delivery.ClassSource {
			t.Errorf("signed %v: %v", signed, err)
		}
	}
}

// Deliveries to one receiver share connections, as SFTP's do; delivery.CloseIdle closes them,
// and a sink tells the certificate presented even on a connection it did not open.
func TestHTTPSKeepsConnectionsAcrossDeliveries(t *testing.T) {
	rc := newReceiver(t, true)
	tg := configure(t, map[string]any{"url": rc.URL + "/in"})
	conns := func() int {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		seen := map[string]bool{}
		for _, g := range rc.got {
			seen[g.remote] = true
		}
		return len(seen)
	}
	put := func() delivery.Sink {
		t.Helper()
		sink := open(t, tg, delivery.Options{AcceptUnknown: true})
		if _, err := sink.Put(context.Background(), "a.json", strings.NewReader("[]")); err != nil {
			t.Fatal(err)
		}
		return sink
	}
	put()
	second := put()
	if n := conns(); n != 1 {
		t.Errorf("two deliveries in a row used %d connections, want 1", n)
	}
	if fp, pin := second.(delivery.Presenter).Presented(); pin != rc.pin() || fp != pin {
		t.Errorf("presented %q %q over a kept connection, want %s", fp, pin, rc.pin())
	}
	delivery.CloseIdle()
	put()
	if n := conns(); n != 2 {
		t.Errorf("after delivery.CloseIdle, %d connections in all, want 2", n)
	}
}
