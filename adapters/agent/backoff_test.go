package agent

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	cases := []struct {
		name string
		draw float64
		// waits are the successive waits expected for that draw.
		waits []time.Duration
	}{
		{"the lowest draw still waits half the ceiling, which doubles up to the cap", 0,
			[]time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}},
		{"the highest draw waits just under the ceiling, never past the cap", 0.999999,
			[]time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := Backoff{Base: time.Second, Cap: 10 * time.Second, Rand: func() float64 { return c.draw }}
			for i, want := range c.waits {
				if got := b.Next(); (got - want).Abs() > time.Millisecond {
					t.Fatalf("wait %d: %s, want %s", i+1, got, want)
				}
			}
		})
	}

	t.Run("a success starts again from the base", func(t *testing.T) {
		b := Backoff{Base: time.Second, Cap: time.Minute, Rand: func() float64 { return 0 }}
		for range 5 {
			b.Next()
		}
		b.Reset()
		if got := b.Next(); got != 500*time.Millisecond || b.Failures() != 1 {
			t.Fatalf("after reset: %s, %d failures", got, b.Failures())
		}
	})

	t.Run("days of failures neither overflow nor pass the cap", func(t *testing.T) {
		b := Backoff{}
		for range 10_000 {
			if w := b.Next(); w < DefaultBackoffCap/2 && b.Failures() > 20 || w > DefaultBackoffCap {
				t.Fatalf("wait %s after %d failures", w, b.Failures())
			}
		}
	})

	t.Run("the jitter spreads sites that failed together", func(t *testing.T) {
		seen := map[time.Duration]bool{}
		for range 50 {
			b := Backoff{Base: time.Second, Cap: time.Minute}
			b.Next()
			b.Next()
			seen[b.Next()] = true
		}
		if len(seen) < 40 {
			t.Fatalf("50 sites drew only %d distinct waits", len(seen))
		}
	})
}
