package policy

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the policy's Prometheus series. Labels carry outcomes, codes
// and corridor ids: never agency-chosen text or personal data.
type Metrics struct {
	reloads   *prometheus.CounterVec
	failing   prometheus.Gauge
	corridors prometheus.Gauge
	loadedAt  prometheus.Gauge
	decisions *prometheus.CounterVec
}

// NewMetrics registers the series on reg (nil: unregistered, for tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "relais_policy_reloads_total", Help: "Reloads of the corridor agreements after a file changed, by result (ok, error).",
		}, []string{"result"}),
		failing: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "relais_policy_reload_failing", Help: "1 while the agreement files on disk are broken and the hub keeps deciding with the last good set.",
		}),
		corridors: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "relais_policy_corridors", Help: "Agreements in the set in use.",
		}),
		loadedAt: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "relais_policy_loaded_timestamp_seconds", Help: "When the set in use was loaded (Unix time).",
		}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "relais_policy_decisions_total", Help: "Policy decisions, by outcome (allowed, override, denied), code and corridor.",
		}, []string{"outcome", "code", "corridor"}),
	}
	if reg != nil {
		reg.MustRegister(m.reloads, m.failing, m.corridors, m.loadedAt, m.decisions)
	}
	return m
}

// ObserveDecision counts a decision.
func (m *Metrics) ObserveDecision(d Decision) {
	if m == nil {
		return
	}
	outcome := "denied"
	switch {
	case d.Allowed && d.Override:
		outcome = "override"
	case d.Allowed:
		outcome = "allowed"
	}
	m.decisions.WithLabelValues(outcome, string(d.Code), d.Corridor).Inc()
}

func (m *Metrics) loaded(s *Set, at time.Time) {
	if m == nil {
		return
	}
	m.reloads.WithLabelValues("ok").Inc()
	m.failing.Set(0)
	m.corridors.Set(float64(s.Len()))
	m.loadedAt.Set(float64(at.Unix()))
}

func (m *Metrics) reloadFailed() {
	if m == nil {
		return
	}
	m.reloads.WithLabelValues("error").Inc()
	m.failing.Set(1)
}
