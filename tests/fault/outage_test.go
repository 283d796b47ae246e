package fault

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relais-hub/relais/tests/internal/relaistest"
)

func TestWhileTheBrokerIsDownTheHubKeepsAccepting202ReportsDegradedAndThenDrains(t *testing.T) {
	sz := currentSize(t)
	w := newWorld(t, 1)
	msgs := w.sealReferrals(sz.OutageMessages)
	hubURL := w.hubs[0].URL()
	ctx := context.Background()

	if err := broker.Stop(); err != nil {
		t.Fatalf("stop the broker: %v", err)
	}
	down := time.Now()
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			_ = broker.Start()
		}
	})

	// /readyz is watched throughout the outage: it must report the
	// degraded broker (503) while submissions are still answered 202.
	var notReady, readyPolls atomic.Int64
	pollCtx, stopPolling := context.WithCancel(ctx)
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		client := &http.Client{Timeout: 2 * time.Second}
		defer client.CloseIdleConnections()
		for pollCtx.Err() == nil {
			readyPolls.Add(1)
			if ready(client, hubURL) != nil {
				notReady.Add(1)
			}
			select {
			case <-pollCtx.Done():
			case <-time.After(250 * time.Millisecond):
			}
		}
	}()

	l := send(ctx, msgs, sendOptions{Workers: 4, URLs: []string{hubURL}, Interval: sz.Outage / time.Duration(len(msgs))})
	if rest := sz.Outage - time.Since(down); rest > 0 {
		time.Sleep(rest)
	}
	stopPolling()
	<-polled
	held, err := w.undelivered(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("broker down %s: %d submissions, %d answered 202, %d retried; /readyz not ready in %d of %d polls; %d messages held undelivered",
		time.Since(down).Round(time.Second), l.sent, l.acceptedCount(), l.retries, notReady.Load(), readyPolls.Load(), held)
	if l.acceptedCount() != len(msgs) || l.retries != 0 {
		t.Errorf("during the outage %d of %d submissions were answered 202 at first try (%d retried): the outbox should take them all",
			l.acceptedCount(), len(msgs), l.retries)
	}
	// The poller may run once before the hub notices the lost connection.
	if notReady.Load() < readyPolls.Load()-2 {
		t.Errorf("/readyz answered ready in %d of %d polls while the broker was down", readyPolls.Load()-notReady.Load(), readyPolls.Load())
	}
	if held != len(msgs) {
		t.Errorf("%d messages undelivered during the outage, want all %d held in the outbox", held, len(msgs))
	}

	if err := broker.Start(); err != nil {
		t.Fatalf("restart the broker: %v", err)
	}
	restarted = true
	back := time.Now()
	client := &http.Client{Timeout: 2 * time.Second}
	relaistest.Eventually(t, 30*time.Second, 50*time.Millisecond, func() error { return ready(client, hubURL) })
	t.Logf("/readyz ready %s after the broker restarted", time.Since(back).Round(100*time.Millisecond))
	w.settle(l, msgs, sz.DrainBound)
}
