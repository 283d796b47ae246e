package attachments

import (
	"context"
	"time"

	"github.com/relais-hub/relais/contracts"
)

// Lane bounds how many attachment requests run at once. A request waits a
// little for a slot, then is told to come back (503 with Retry-After):
// holding it longer would only pile up connections.
type Lane struct {
	slots   chan struct{}
	maxWait time.Duration
}

// NewLane allows n concurrent attachment requests, each waiting at most
// maxWait for a slot.
func NewLane(n int, maxWait time.Duration) *Lane {
	return &Lane{slots: make(chan struct{}, n), maxWait: maxWait}
}

// Acquire takes a slot; release gives it back.
func (l *Lane) Acquire(ctx context.Context) (release func(), err error) {
	select {
	case l.slots <- struct{}{}:
		return func() { <-l.slots }, nil
	default:
	}
	timer := time.NewTimer(l.maxWait)
	defer timer.Stop()
	select {
	case l.slots <- struct{}{}:
		return func() { <-l.slots }, nil
	case <-timer.C:
		return nil, contracts.Refuse(contracts.CodeUnavailable, "the attachment lane is busy")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// InUse is how many slots are taken.
func (l *Lane) InUse() int { return len(l.slots) }

// Capacity is the number of slots.
func (l *Lane) Capacity() int { return cap(l.slots) }
