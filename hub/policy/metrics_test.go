package policy

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/relais-hub/relais/contracts"
)

func TestDecisionsAreCountedByOutcomeCodeAndCorridor(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	m.ObserveDecision(Decision{Allowed: true, Corridor: "bf-ci-ml"})
	m.ObserveDecision(Decision{Allowed: true, Override: true, Corridor: "bf-ci-ml"})
	m.ObserveDecision(Decision{Code: contracts.CodeConsentExpired, Corridor: "bf-ci-ml"})
	m.ObserveDecision(Decision{Code: contracts.CodeConsentExpired, Corridor: "bf-ci-ml"})
	for _, c := range []struct {
		outcome, code string
		want          float64
	}{{"allowed", "", 1}, {"override", "", 1}, {"denied", "consent_expired", 2}} {
		if got := value(t, m.decisions.WithLabelValues(c.outcome, c.code, "bf-ci-ml")); got != c.want {
			t.Errorf("%s %s = %v, want %v", c.outcome, c.code, got, c.want)
		}
	}
	var none *Metrics
	none.ObserveDecision(Decision{}) // a watcher without metrics must not panic
}
