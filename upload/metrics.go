package upload

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the handler's Prometheus collectors. A nil *metrics records
// nothing, so the session code never checks whether metrics are on.
type metrics struct {
	active      prometheus.Gauge
	received    prometheus.Counter
	completed   prometheus.Counter
	errors      *prometheus.CounterVec
	checkpoints prometheus.Histogram
}

// newMetrics registers the collectors with reg. A collector that reg already
// holds (a second Handler on one registry) is shared rather than an error.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &metrics{
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ferry_upload_sessions_active",
			Help: "Upload WebSocket connections open now.",
		}),
		received: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ferry_upload_received_bytes_total",
			Help: "File bytes accepted from upload connections and written to storage.",
		}),
		completed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ferry_uploads_completed_total",
			Help: "Uploads completed (committed with a verified digest).",
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_upload_errors_total",
			Help: "Error frames sent to upload clients, by protocol code.",
		}, []string{"code"}),
		checkpoints: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ferry_upload_checkpoint_seconds",
			Help:    "Time a storage Checkpoint took (making received bytes durable).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
	}
	var err error
	m.active, err = register(reg, m.active)
	if err == nil {
		m.received, err = register(reg, m.received)
	}
	if err == nil {
		m.completed, err = register(reg, m.completed)
	}
	if err == nil {
		m.errors, err = register(reg, m.errors)
	}
	if err == nil {
		m.checkpoints, err = register(reg, m.checkpoints)
	}
	if err != nil {
		return nil, fmt.Errorf("register upload metrics: %w", err)
	}
	return m, nil
}

// register registers c, or returns the equal collector reg already has.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, err
}

func (m *metrics) sessionStarted() {
	if m != nil {
		m.active.Inc()
	}
}

func (m *metrics) sessionEnded() {
	if m != nil {
		m.active.Dec()
	}
}

func (m *metrics) bytes(n int) {
	if m != nil {
		m.received.Add(float64(n))
	}
}

func (m *metrics) complete() {
	if m != nil {
		m.completed.Inc()
	}
}

func (m *metrics) error(c Code) {
	if m != nil {
		m.errors.WithLabelValues(string(c)).Inc()
	}
}

func (m *metrics) checkpoint(seconds float64) {
	if m != nil {
		m.checkpoints.Observe(seconds)
	}
}
