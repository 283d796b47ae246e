package fault

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"
)

func TestTwoHubsSIGKILLedAtRandomMomentsLoseNothingAndDeliverNothingTwice(t *testing.T) {
	sz := currentSize(t)
	w := newWorld(t, 2)
	msgs := w.sealReferrals(sz.HubKillMessages)
	kills := 2 * sz.KillsPerHub
	stream := streamFor(kills) / 2 // a hub restarts in a second or two

	// The killer picks a hub at random, waits a random moment, SIGKILLs
	// it and restarts it at once; one hub at a time, so the other keeps
	// taking submissions. Each hub is killed KillsPerHub times.
	seed := uint64(time.Now().UnixNano())
	t.Logf("kill schedule seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	order := make([]int, 0, kills)
	for i := range kills {
		order = append(order, i%2)
	}
	rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	gap := stream / time.Duration(kills+1)
	killerDone := make(chan struct{})
	go func() {
		defer close(killerDone)
		for _, i := range order {
			time.Sleep(gap/2 + time.Duration(rng.Int64N(int64(gap))))
			h := w.hubs[i]
			if err := h.kill(); err != nil {
				t.Error(err)
				return
			}
			if err := h.launch(); err != nil {
				t.Error(err)
				return
			}
		}
	}()

	started := time.Now()
	l := send(context.Background(), msgs, sendOptions{
		Workers: 8, URLs: w.URLs(), Interval: stream / time.Duration(len(msgs)),
	})
	t.Logf("streamed %d referrals over both hubs in %s", len(msgs), time.Since(started).Round(time.Second))
	<-killerDone
	for _, h := range w.hubs {
		t.Logf("%s SIGKILLed %d times", h.Name, h.kills)
		if h.kills != sz.KillsPerHub {
			t.Errorf("%s was killed %d times, want %d", h.Name, h.kills, sz.KillsPerHub)
		}
	}
	w.settle(l, msgs, sz.DrainBound)
}
