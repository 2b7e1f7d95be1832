package export

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/eventexport/eventexport/export/store"
)

// AlertKind says what an alert is about.
type AlertKind string

// The kinds of alert.
const (
	AlertFailed    AlertKind = "failed"    // a run failed for good: no more attempts
	AlertRecovered AlertKind = "recovered" // a destination delivered again after a run failed for good
)

// Alert is what a webhook receives: Slack-compatible (Text) with structured fields for
// other receivers.
type Alert struct {
	Text            string        `json:"text"`
	Kind            AlertKind     `json:"kind"`
	Destination     string        `json:"destination"`
	DestinationName string        `json:"destination_name,omitempty"`
	Company         string        `json:"company"`
	Run             string        `json:"run"`
	RunKind         store.RunKind `json:"run_kind"`
	Day             string        `json:"day"`
	EventType       string        `json:"event_type"`
	FileName        string        `json:"file_name"`
	Attempts        int           `json:"attempts"`
	LastError       string        `json:"last_error"`
	ErrorClass      string        `json:"error_class,omitempty"`
	Permanent       bool          `json:"permanent"`
	// LateEvents and the window's bounds (RFC 3339, UTC), on late_events alerts.
	LateEvents  int64     `json:"late_events,omitempty"`
	WindowStart string    `json:"window_start,omitempty"`
	WindowEnd   string    `json:"window_end,omitempty"`
	At          time.Time `json:"at"`
}

// failedAlert is the alert of a run that failed for good after out, its last attempt.
func failedAlert(d store.Destination, run store.Run, out Outcome, attempts int, at time.Time) Alert {
	a := Alert{Kind: AlertFailed, Destination: d.ID, DestinationName: d.Name, Company: d.CompanyID, Run: run.ID,
		RunKind: run.Kind, Day: run.Day.String(), EventType: run.EventType, FileName: run.FileName,
		Attempts: attempts, ErrorClass: out.Class, Permanent: out.Permanent, At: at}
	if out.Err != nil {
		a.LastError = out.Err.Error()
	}
	hint := "it will not be retried; fix the cause, then re-send with `eventexport resend`"
	if a.Permanent {
		hint = "the error is permanent (" + a.ErrorClass + "): retrying does not help until it is fixed; then re-send with `eventexport resend`"
	}
	a.Text = fmt.Sprintf(":red_circle: eventexport: the %s file of %s for destination %s (company %s) was NOT delivered after %d attempts: %s. %s.",
		a.EventType, a.Day, destinationLabel(d), a.Company, attempts, a.LastError, hint)
	return a
}

// recoveredAlert is the alert of a destination that delivered run after failing.
func recoveredAlert(d store.Destination, run store.Run, attempts int, at time.Time) Alert {
	a := Alert{Kind: AlertRecovered, Destination: d.ID, DestinationName: d.Name, Company: d.CompanyID, Run: run.ID,
		RunKind: run.Kind, Day: run.Day.String(), EventType: run.EventType, FileName: run.FileName,
		Attempts: attempts, At: at}
	a.Text = fmt.Sprintf(":large_green_circle: eventexport: destination %s (company %s) delivers again: the %s file of %s arrived (attempt %d). Days that failed earlier are not re-sent by themselves; use `eventexport resend`.",
		destinationLabel(d), a.Company, a.EventType, a.Day, attempts)
	return a
}

func destinationLabel(d store.Destination) string {
	if d.Name != "" {
		return fmt.Sprintf("%q (%s)", d.Name, d.ID)
	}
	return d.ID
}

// AlerterConfig wires an Alerter.
type AlerterConfig struct {
	Client  *http.Client  // default: one with a 10 s timeout
	Tries   int           // tries per webhook; default 4
	Backoff time.Duration // the wait after the first failed try, doubling; default 1 s
	Queue   int           // alerts waiting to be sent at most; default 1000
	Logger  *slog.Logger
}

// Alerter posts alerts to webhooks in the background, so that a slow or broken webhook never
// holds up an export. Alerts wait in a bounded queue; one that does not fit is logged and
// dropped. Each webhook is tried a few times with a short backoff.
type Alerter struct {
	cfg    AlerterConfig
	queue  chan alertJob
	ctx    context.Context // ends in-flight posts when Close runs out of time
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	closed bool
}

type alertJob struct {
	alert Alert
	urls  []string
}

// NewAlerter returns an Alerter and starts its sender; Close stops it.
func NewAlerter(cfg AlerterConfig) *Alerter {
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Tries <= 0 {
		cfg.Tries = 4
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = time.Second
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 1000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a := &Alerter{cfg: cfg, queue: make(chan alertJob, cfg.Queue), ctx: ctx, cancel: cancel, done: make(chan struct{})}
	go a.run()
	return a
}

// Send queues alert for the webhooks urls; empty and repeated URLs are skipped. It never
// blocks.
func (a *Alerter) Send(alert Alert, urls ...string) {
	var to []string
	seen := map[string]bool{}
	for _, u := range urls {
		if u != "" && !seen[u] {
			seen[u] = true
			to = append(to, u)
		}
	}
	if len(to) == 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		a.cfg.Logger.Error("alert not sent: the service is stopping", alertAttrs(alert)...)
		return
	}
	select {
	case a.queue <- alertJob{alert, to}:
	default:
		a.cfg.Logger.Error("alert dropped: too many alerts waiting", alertAttrs(alert)...)
	}
}

// Close stops accepting alerts and sends those waiting until ctx ends; then it abandons the
// rest, and returns once the sender has stopped.
func (a *Alerter) Close(ctx context.Context) {
	a.mu.Lock()
	if !a.closed {
		a.closed = true
		close(a.queue)
	}
	a.mu.Unlock()
	select {
	case <-a.done:
	case <-ctx.Done():
		a.cancel()
		<-a.done
	}
	a.cancel()
	a.cfg.Client.CloseIdleConnections()
}

func (a *Alerter) run() {
	defer close(a.done)
	for job := range a.queue {
		if a.ctx.Err() != nil {
			a.cfg.Logger.Error("alert not sent: the service stopped", alertAttrs(job.alert)...)
			continue
		}
		body, err := json.Marshal(job.alert)
		if err != nil {
			a.cfg.Logger.Error("alert not sent", append(alertAttrs(job.alert), slog.String("error", err.Error()))...)
			continue
		}
		for _, u := range job.urls {
			if err := a.post(u, body); err != nil {
				a.cfg.Logger.Error("alert not delivered", append(alertAttrs(job.alert),
					slog.String("webhook", RedactWebhook(u)), slog.String("error", err.Error()))...)
			}
		}
	}
}

// post sends body to url, trying again after a failure, the waits doubling.
func (a *Alerter) post(url string, body []byte) error {
	wait := a.cfg.Backoff
	var err error
	for try := 1; try <= a.cfg.Tries; try++ {
		if err = a.postOnce(url, body); err == nil {
			return nil
		}
		if try == a.cfg.Tries {
			break
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-a.ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (gave up: the service stopped)", err)
		}
		wait *= 2
	}
	return fmt.Errorf("%w (after %d tries)", err, a.cfg.Tries)
}

func (a *Alerter) postOnce(url string, body []byte) error {
	req, err := http.NewRequestWithContext(a.ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("alert webhook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.cfg.Client.Do(req)
	if err != nil {
		return fmt.Errorf("post alert: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("post alert: the webhook answered %s", resp.Status)
	}
	return nil
}

func alertAttrs(a Alert) []any {
	return []any{slog.String("alert", string(a.Kind)), slog.String("run", a.Run), slog.String("destination", a.Destination),
		slog.String("day", a.Day), slog.String("event_type", a.EventType)}
}

// RedactWebhook shows a webhook's scheme and host only: its path is often a secret (Slack).
func RedactWebhook(u string) string {
	req, err := http.NewRequest(http.MethodPost, u, nil)
	if err != nil || req.URL.Host == "" {
		return "(unparsable URL)"
	}
	return req.URL.Scheme + "://" + req.URL.Host + "/…"
}
