package exporter

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// selfMetrics are the exporter's own metrics, served on /metrics.
type selfMetrics struct {
	reg         *prometheus.Registry
	probes      *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	inFlight    prometheus.Gauge
	refused     *prometheus.CounterVec
	reloadOK    prometheus.Gauge
	reloadStamp prometheus.Gauge
}

// The reasons a scrape is refused before any probe, the label of
// smtpprobe_exporter_requests_refused_total.
const (
	refusedBadRequest = "bad_request" // 400
	refusedForbidden  = "forbidden"   // 403: outside allowed_targets
	refusedOverload   = "overload"    // 503: MaxConcurrent probes in flight
)

func newSelfMetrics() *selfMetrics {
	m := &selfMetrics{
		reg: prometheus.NewRegistry(),
		probes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smtpprobe_exporter_probes_total",
			Help: "Probes run, by module and result (success, failure).",
		}, []string{"module", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "smtpprobe_exporter_probe_duration_seconds",
			Help:    "How long the probes took, by module.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"module"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "smtpprobe_exporter_probes_in_flight",
			Help: "Probes running now.",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smtpprobe_exporter_requests_refused_total",
			Help: "Probe requests answered without a probe, by reason (bad_request, forbidden, overload).",
		}, []string{"reason"}),
		reloadOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "smtpprobe_exporter_config_last_reload_successful",
			Help: "Whether the last load of the module file succeeded (1) or not (0).",
		}),
		reloadStamp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "smtpprobe_exporter_config_last_reload_success_timestamp_seconds",
			Help: "When the module file was last loaded successfully, in seconds since the epoch.",
		}),
	}
	for _, r := range [...]string{refusedBadRequest, refusedForbidden, refusedOverload} {
		m.refused.WithLabelValues(r)
	}
	m.reg.MustRegister(m.probes, m.duration, m.inFlight, m.refused, m.reloadOK, m.reloadStamp,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *selfMetrics) reloaded(ok bool) {
	if ok {
		m.reloadOK.Set(1)
		m.reloadStamp.Set(float64(time.Now().Unix()))
	} else {
		m.reloadOK.Set(0)
	}
}

func (m *selfMetrics) probed(module string, success bool, d time.Duration) {
	result := "failure"
	if success {
		result = "success"
	}
	m.probes.WithLabelValues(module, result).Inc()
	m.duration.WithLabelValues(module).Observe(d.Seconds())
}
