package fault

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// streamFor is how long a killed-while-streaming run spreads its
// submissions over: long enough for every kill and restart (a RabbitMQ
// node takes about ten seconds to come back) to land inside the stream.
func streamFor(kills int) time.Duration { return time.Duration(kills+1) * 15 * time.Second }

func TestEveryAcceptedReferralIsDeliveredOnceWhileTheBrokerIsSIGKILLedAndRestarted(t *testing.T) {
	sz := currentSize(t)
	w := newWorld(t, 1)
	msgs := w.sealReferrals(sz.BrokerKillMessages)

	// The broker is killed when the stream passes evenly spaced points;
	// each kill is followed at once by a restart, while the stream goes on.
	thresholds := make([]int, sz.BrokerKills)
	for k := range thresholds {
		thresholds[k] = len(msgs) * (k + 1) / (sz.BrokerKills + 1)
	}
	var accepted atomic.Int64
	streamDone := make(chan struct{})
	killerDone := make(chan []int64)
	go func() {
		var at []int64
	kills:
		for _, threshold := range thresholds {
			for accepted.Load() < int64(threshold) {
				select {
				case <-streamDone:
					t.Errorf("the stream ended before %d acceptances", threshold)
					break kills
				case <-time.After(10 * time.Millisecond):
				}
			}
			if err := broker.Kill(); err != nil {
				t.Errorf("kill the broker: %v", err)
				break
			}
			at = append(at, accepted.Load())
			if err := broker.Start(); err != nil {
				t.Errorf("restart the broker: %v", err)
				break
			}
		}
		killerDone <- at
	}()

	started := time.Now()
	l := send(context.Background(), msgs, sendOptions{
		Workers: 8, URLs: w.URLs(), Interval: streamFor(sz.BrokerKills) / time.Duration(len(msgs)),
		OnAccepted: func(int) { accepted.Add(1) },
	})
	streamed := time.Since(started)
	close(streamDone)
	killedAt := <-killerDone
	t.Logf("streamed %d referrals in %s; broker SIGKILLed and restarted %d times, at acceptances %v",
		len(msgs), streamed.Round(time.Second), len(killedAt), killedAt)
	if len(l.refused) > 0 {
		t.Fatalf("submissions refused: %v", l.refused)
	}
	if len(killedAt) != sz.BrokerKills {
		t.Fatalf("the broker was killed %d times, want %d", len(killedAt), sz.BrokerKills)
	}
	w.settle(l, msgs, sz.DrainBound)
}
