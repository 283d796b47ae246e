package stats

import (
	"time"

	"github.com/relais-hub/relais/hub/policy"
)

// Thresholds give the disclosure threshold of a transfer: the minimum
// cell size of the corridor agreement that covered it when it opened.
type Thresholds interface {
	MinCellSize(sender, recipient string, opened time.Time) int
}

// FixedThreshold is one threshold for every transfer.
type FixedThreshold int

func (f FixedThreshold) MinCellSize(string, string, time.Time) int { return int(f) }

// AgreementThresholds read each transfer's threshold from the corridor
// agreement in force between its parties when it opened (statistics:
// min_cell_size in the agreement file, policies/README.md), and fall back
// to DefaultMinCellSize when no agreement covers it.
type AgreementThresholds struct {
	Agreements *policy.Watcher
}

func (a AgreementThresholds) MinCellSize(sender, recipient string, opened time.Time) int {
	if a.Agreements == nil {
		return DefaultMinCellSize
	}
	c, ok := a.Agreements.Current().Find(sender, recipient, "referral.request", opened)
	if !ok || c.Statistics.MinCellSize <= 0 {
		return DefaultMinCellSize
	}
	return c.Statistics.MinCellSize
}
