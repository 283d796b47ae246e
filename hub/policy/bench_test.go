package policy

import (
	"context"
	"testing"
	"time"
)

// The engine runs inside the hub's accepting transaction, so its cost
// matters; docs/policy-engine.md quotes these numbers.

func BenchmarkDecideConsent(b *testing.B) {
	s := loadSet(b, "corridors")
	in := baseInput(b)
	ctx := context.Background()
	for b.Loop() {
		if d := s.Decide(ctx, in); !d.Allowed {
			b.Fatal(d.Code)
		}
	}
}

func BenchmarkDecideApprovedOverride(b *testing.B) {
	s := loadSet(b, "corridors")
	in := baseInput(b)
	override(&in, "imminent_harm", approve(b, keysOf(b, "bf.dpe-bobo").supervisor, testMessageID, "imminent_harm", testNow.Add(-time.Minute)))
	ctx := context.Background()
	for b.Loop() {
		if d := s.Decide(ctx, in); !d.Allowed {
			b.Fatal(d.Code)
		}
	}
}

func BenchmarkDecideNoCorridor(b *testing.B) {
	s := loadSet(b, "corridors")
	in := baseInput(b)
	reroute(b, &in, "ci.dpe-abidjan", "gh.dsw-accra")
	ctx := context.Background()
	for b.Loop() {
		if d := s.Decide(ctx, in); d.Allowed {
			b.Fatal("allowed")
		}
	}
}

func BenchmarkLoadShippedAgreements(b *testing.B) {
	for b.Loop() {
		if _, err := Load("../../policies"); err != nil {
			b.Fatal(err)
		}
	}
}
