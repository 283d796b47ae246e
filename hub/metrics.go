package hub

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/relais-hub/relais/contracts"
)

// Metrics are the hub's Prometheus series. Labels carry kinds and codes,
// never agency-chosen free text or personal data.
type Metrics struct {
	messages   *prometheus.CounterVec
	rejections *prometheus.CounterVec
	submit     *prometheus.HistogramVec
	deliveries prometheus.Counter
	poisoned   prometheus.Counter
	outbox     prometheus.Gauge
	// deadlines counts reminders and escalations of the case-transfer
	// lifecycle (timers.go).
	deadlines *prometheus.CounterVec
	// deadLetters counts recorded dead letters (deadletter.go).
	deadLetters *prometheus.CounterVec
}

// NewMetrics registers the series on reg (nil: unregistered, for tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "relais_messages_total", Help: "Messages submitted to the hub, by kind and outcome.",
		}, []string{"kind", "outcome"}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "relais_rejections_total", Help: "Refused submissions, by refusal code.",
		}, []string{"code"}),
		submit: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "relais_submit_duration_seconds", Help: "Time from submission to decision (verify, validate, commit).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"outcome"}),
		deliveries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "relais_deliveries_total", Help: "Messages placed in a recipient's inbox.",
		}),
		poisoned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "relais_deliveries_poison_total", Help: "Deliveries that could not be processed (unknown message).",
		}),
		outbox: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "relais_outbox_relayed_batch", Help: "Size of the last batch the outbox relay handed to the transport.",
		}),
	}
	m.deadlines = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "relais_deadlines_missed_total", Help: "Lifecycle deadlines that passed, by stage (reminder, escalation) and timer (receipt, alert, answer, followup, erasure).",
	}, []string{"stage", "timer"})
	m.deadLetters = newDeadLetterCounter()
	if reg != nil {
		reg.MustRegister(m.messages, m.rejections, m.submit, m.deliveries, m.poisoned, m.outbox)
		reg.MustRegister(m.deadlines)
		reg.MustRegister(m.deadLetters)
	}
	return m
}

func (m *Metrics) accepted(kind string)         { m.messages.WithLabelValues(kind, "accepted").Inc() }
func (m *Metrics) rejected(code contracts.Code) { m.rejections.WithLabelValues(string(code)).Inc() }
func (m *Metrics) delivered()                   { m.deliveries.Inc() }
func (m *Metrics) poison()                      { m.poisoned.Inc() }
func (m *Metrics) setOutbox(n int)              { m.outbox.Set(float64(n)) }

func (m *Metrics) timerFired(stage TimerStage, kind TimerKind) {
	m.deadlines.WithLabelValues(string(stage), string(kind)).Inc()
}

func (m *Metrics) observeSubmit(in *Intake, d time.Duration) {
	outcome := "accepted"
	switch {
	case in.outcome.Err != nil:
		outcome = "rejected"
		if in.Spec.Name != "" {
			m.messages.WithLabelValues(in.Spec.Name, "rejected").Inc()
		}
	case in.outcome.Duplicate:
		outcome = "duplicate"
	}
	m.submit.WithLabelValues(outcome).Observe(d.Seconds())
}
