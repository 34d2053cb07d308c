package httpupload

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the Handler's Prometheus series; a nil *metrics records nothing.
type metrics struct {
	creations   *prometheus.CounterVec
	completes   prometheus.Counter
	received    prometheus.Counter
	refusals    *prometheus.CounterVec
	checkpoints prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &metrics{
		creations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_http_uploads_created_total",
			Help: "Uploads created over HTTP, by protocol (tus or ietf).",
		}, []string{"protocol"}),
		completes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ferry_http_uploads_completed_total",
			Help: "Uploads completed over HTTP.",
		}),
		received: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ferry_http_upload_bytes_total",
			Help: "File bytes received over HTTP uploads and written to storage.",
		}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_http_upload_errors_total",
			Help: "HTTP upload requests answered with an error, by status.",
		}, []string{"status"}),
		checkpoints: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ferry_http_upload_checkpoint_seconds",
			Help:    "Time to make an HTTP upload's received bytes durable.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
	}
	for _, c := range []prometheus.Collector{m.creations, m.completes, m.received, m.refusals, m.checkpoints} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) created(p protocol) {
	if m == nil {
		return
	}
	name := "tus"
	if !p.tus {
		name = "ietf"
	}
	m.creations.WithLabelValues(name).Inc()
}

func (m *metrics) completed() {
	if m != nil {
		m.completes.Inc()
	}
}

func (m *metrics) bytes(n int) {
	if m != nil {
		m.received.Add(float64(n))
	}
}

func (m *metrics) failed(status int) {
	if m != nil {
		m.refusals.WithLabelValues(strconv.Itoa(status)).Inc()
	}
}

func (m *metrics) checkpoint(d time.Duration) {
	if m != nil {
		m.checkpoints.Observe(d.Seconds())
	}
}
