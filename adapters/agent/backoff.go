package agent

import (
	"math/rand/v2"
	"time"
)

// Backoff spaces the retries after failures: the ceiling doubles from Base
// after each consecutive failure up to Cap, and each wait is drawn between
// half the ceiling and the ceiling ("equal jitter"). The jitter keeps the
// sites of a region, which lose and regain the network together when a
// mast comes back, from hammering the hub in step; the half that is kept
// guarantees a real pause even on an unlucky draw. The cap bounds how long
// a site stays silent after a hub outage of days ends.
type Backoff struct {
	Base time.Duration
	Cap  time.Duration
	// Rand draws the jitter in [0, 1); math/rand/v2 when nil.
	Rand     func() float64
	failures int
}

// Default backoff: a blip is retried within a second or two; a long outage
// is probed every few minutes at most.
const (
	DefaultBackoffBase = time.Second
	DefaultBackoffCap  = 5 * time.Minute
)

// Next returns the wait before the next attempt and counts a failure.
func (b *Backoff) Next() time.Duration {
	base, maxWait := b.Base, b.Cap
	if base <= 0 {
		base = DefaultBackoffBase
	}
	if maxWait <= 0 {
		maxWait = DefaultBackoffCap
	}
	ceiling := maxWait
	// Shift only while it cannot overflow or pass the cap.
	if b.failures < 62 && base <= maxWait>>b.failures {
		ceiling = min(base<<b.failures, maxWait)
	}
	b.failures++
	draw := rand.Float64
	if b.Rand != nil {
		draw = b.Rand
	}
	half := ceiling / 2
	return half + time.Duration(draw()*float64(ceiling-half))
}

// Reset forgets the failures after a success.
func (b *Backoff) Reset() { b.failures = 0 }

// Failures counts the consecutive failures since the last success.
func (b *Backoff) Failures() int { return b.failures }
