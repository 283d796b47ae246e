package fault

import (
	"os"
	"testing"
	"time"
)

// size is how hard a run pushes. The CI size keeps the whole package under
// about six minutes on two cores; the full size is the issue's.
type size struct {
	// Referrals streamed in while the broker is killed (test a) and while
	// the hubs are killed (test b).
	BrokerKillMessages, HubKillMessages int
	BrokerKills                         int
	// KillsPerHub is how many times each of the two hubs is SIGKILLed.
	KillsPerHub int
	// Outage is how long the broker stays down in test c; OutageMessages
	// are submitted evenly over it.
	Outage         time.Duration
	OutageMessages int
	// ToxicMessages stream in while the link to the broker is slowed down
	// for ToxicPhase, then reset for as long (test d).
	ToxicMessages int
	ToxicPhase    time.Duration
	// DrainBound is how long the backlog may take to reach the inbox once
	// the last fault ended.
	DrainBound time.Duration
}

var (
	ciSize = size{
		BrokerKillMessages: 1500, HubKillMessages: 1500, BrokerKills: 3, KillsPerHub: 2,
		Outage: 20 * time.Second, OutageMessages: 300, ToxicMessages: 400, ToxicPhase: 10 * time.Second,
		DrainBound: 2 * time.Minute,
	}
	fullSize = size{
		BrokerKillMessages: 10000, HubKillMessages: 10000, BrokerKills: 3, KillsPerHub: 5,
		Outage: 2 * time.Minute, OutageMessages: 2000, ToxicMessages: 1000, ToxicPhase: 20 * time.Second,
		DrainBound: 10 * time.Minute,
	}
)

// currentSize reads RELAIS_FAULT_FULL and RELAIS_FAULT_OUTAGE.
func currentSize(t *testing.T) size {
	t.Helper()
	s := ciSize
	if os.Getenv("RELAIS_FAULT_FULL") == "1" {
		s = fullSize
	}
	if v := os.Getenv("RELAIS_FAULT_OUTAGE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("RELAIS_FAULT_OUTAGE=%q: want a duration such as 2m", v)
		}
		s.Outage = d
	}
	return s
}
