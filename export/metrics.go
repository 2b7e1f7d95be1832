package export

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventexport/eventexport/export/store"
)

// Metrics counts delivery attempts as the runner makes them: give its ObserveAttempt to
// RunnerConfig.Observe. Each replica counts its own attempts; Prometheus sums them.
type Metrics struct {
	attempts *prometheus.CounterVec
	duration *prometheus.HistogramVec
	bytes    *prometheus.CounterVec
	events   *prometheus.CounterVec
}

// NewMetrics returns the attempt metrics, registered with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventexport_attempts_total",
			Help: "Delivery attempts by run kind, outcome (delivered, failed) and error class (empty when delivered).",
		}, []string{"kind", "outcome", "error_class"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "eventexport_attempt_duration_seconds",
			Help: "How long delivery attempts took, from connecting to the renamed file or the failure, by outcome.",
			// From a small file on a near server to the 5-minute attempt limit.
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600},
		}, []string{"outcome"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventexport_delivered_bytes_total",
			Help: "Bytes of the files delivered, by run kind.",
		}, []string{"kind"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventexport_delivered_events_total",
			Help: "Events in the files delivered, by run kind.",
		}, []string{"kind"}),
	}
	for _, c := range []prometheus.Collector{m.attempts, m.duration, m.bytes, m.events} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// ObserveAttempt counts one recorded attempt.
func (m *Metrics) ObserveAttempt(run store.Run, out Outcome, took time.Duration) {
	kind := string(run.Kind)
	if out.Delivered() {
		m.attempts.WithLabelValues(kind, "delivered", "").Inc()
		m.duration.WithLabelValues("delivered").Observe(took.Seconds())
		m.bytes.WithLabelValues(kind).Add(float64(out.Bytes))
		m.events.WithLabelValues(kind).Add(float64(out.Events))
		return
	}
	class := out.Class
	if class == "" {
		class = "other"
	}
	m.attempts.WithLabelValues(kind, "failed", class).Inc()
	m.duration.WithLabelValues("failed").Observe(took.Seconds())
}

// StoreCollector reports what the database knows, read at scrape time, so that every replica
// reports the same truth whichever of them made the attempts: runs by kind and status, the
// queue of due and waiting runs, and the age of each enabled destination's last delivery.
type StoreCollector struct {
	store   *store.Store
	timeout time.Duration
	now     func() time.Time
	logger  *slog.Logger

	up, runs, queue, oldestDue, lastDelivery *prometheus.Desc
}

var _ prometheus.Collector = (*StoreCollector)(nil)

// StoreCollectorConfig wires a StoreCollector.
type StoreCollectorConfig struct {
	Store   *store.Store
	Timeout time.Duration // bounds the queries of one scrape; default 5 s
	Now     func() time.Time
	Logger  *slog.Logger
}

// NewStoreCollector returns a collector of the database's gauges; register it with a registry.
func NewStoreCollector(cfg StoreCollectorConfig) *StoreCollector {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &StoreCollector{
		store: cfg.Store, timeout: cfg.Timeout, now: cfg.Now, logger: cfg.Logger,
		up: prometheus.NewDesc("eventexport_database_up",
			"1 when the database answered this scrape's queries, 0 when it did not (the other database gauges are then missing).", nil, nil),
		runs: prometheus.NewDesc("eventexport_runs",
			"Runs in the database by kind (scheduled, manual, resend, test) and status (pending, running, delivered, failed).",
			[]string{"kind", "status"}, nil),
		queue: prometheus.NewDesc("eventexport_queue_runs",
			"Runs waiting for an attempt: due (their time has come, or their replica died) and waiting (a retry later).",
			[]string{"state"}, nil),
		oldestDue: prometheus.NewDesc("eventexport_queue_oldest_due_seconds",
			"How long the longest-due run has been due; 0 when none is. Growing means no replica is delivering.", nil, nil),
		lastDelivery: prometheus.NewDesc("eventexport_destination_last_delivery_age_seconds",
			"Seconds since the enabled destination's last delivered file (test files not counted); since its creation when it never had one.",
			[]string{"destination", "company"}, nil),
	}
}

// Describe sends the descriptions of the gauges.
func (c *StoreCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.runs, c.queue, c.oldestDue, c.lastDelivery} {
		ch <- d
	}
}

// Collect reads the gauges from the database in two aggregate queries.
func (c *StoreCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	if err := c.collect(ctx, ch); err != nil {
		c.logger.Warn("metrics: read the database", slog.String("error", err.Error()))
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
}

func (c *StoreCollector) collect(ctx context.Context, ch chan<- prometheus.Metric) error {
	now := c.now()
	st, err := c.store.Stats(ctx, now)
	if err != nil {
		return err
	}
	counts, due, waiting, oldest, ages := st.Runs, float64(st.Due), float64(st.Waiting), st.OldestDue, st.LastDeliveries
	// Only complete answers are reported: a scrape never mixes fresh and missing values.
	for _, rc := range counts {
		ch <- prometheus.MustNewConstMetric(c.runs, prometheus.GaugeValue, float64(rc.N), string(rc.Kind), string(rc.Status))
	}
	ch <- prometheus.MustNewConstMetric(c.queue, prometheus.GaugeValue, due, "due")
	ch <- prometheus.MustNewConstMetric(c.queue, prometheus.GaugeValue, waiting, "waiting")
	var oldestAge float64
	if !oldest.IsZero() {
		oldestAge = max(now.Sub(oldest).Seconds(), 0)
	}
	ch <- prometheus.MustNewConstMetric(c.oldestDue, prometheus.GaugeValue, oldestAge)
	for _, a := range ages {
		ch <- prometheus.MustNewConstMetric(c.lastDelivery, prometheus.GaugeValue,
			max(now.Sub(a.At).Seconds(), 0), a.DestinationID, a.CompanyID)
	}
	return nil
}
