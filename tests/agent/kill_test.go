package agent

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relais-hub/relais/tests/internal/relaistest"
)

func TestAgentsKilledAtRandomWhileComposingAndSyncingLoseAndDuplicateNothing(t *testing.T) {
	rng := seed(t)
	n := newNetwork(t)
	ci := n.newSite(t, senderID, n.Hub.URL())
	ml := n.newSite(t, recipientID, n.Hub.URL())
	ci.mustStart(t)
	ml.mustStart(t)
	// Composing needs the directory, which the agent fetches at start.
	relaistest.Eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
		if ci.status(t).LastSync.IsZero() || ml.status(t).LastSync.IsZero() {
			return fmt.Errorf("the agents have not reached the hub yet")
		}
		return nil
	})

	// The killer SIGKILLs one agent or the other every few hundred
	// milliseconds and starts it again: kills land while the agents
	// submit, long-poll, store messages and queue receipts.
	var (
		bg          errs
		agentKills  atomic.Int64
		stopKilling = make(chan struct{})
		killer      sync.WaitGroup
	)
	killerRand := rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
	killer.Add(1)
	go func() {
		defer killer.Done()
		sites := []*site{ci, ml}
		for {
			select {
			case <-stopKilling:
				return
			case <-time.After(time.Duration(100+killerRand.IntN(500)) * time.Millisecond):
			}
			s := sites[killerRand.IntN(len(sites))]
			s.kill()
			agentKills.Add(1)
			time.Sleep(time.Duration(killerRand.IntN(200)) * time.Millisecond)
			bg.add(s.start())
		}
	}()

	// Rounds of five referrals, each composed by a process killed after a
	// random delay and run again until it succeeds. The delay is drawn
	// over 1.2 times what a whole compose takes on this machine (timed in
	// the first round), so kills land anywhere from start-up to after the
	// last commit. Rounds go on until kills have interrupted a compose at
	// least twice and also missed one (landing after it finished).
	const perRound, minRounds, maxRounds = 5, 10, 40
	file, ids := referralDrafts(t, n.Root, "round-00", perRound)
	began := time.Now()
	if _, err := composeUntilQueued(ci, file, 0); err != nil {
		t.Fatal(err)
	}
	window := time.Since(began) * 6 / 5
	interrupted, missed := 0, 0
	for round := 1; round < minRounds || ((interrupted < 2 || missed < 1) && round < maxRounds); round++ {
		file, batch := referralDrafts(t, n.Root, fmt.Sprintf("round-%02d", round), perRound)
		hit, err := composeUntilQueued(ci, file, 1+time.Duration(rng.Int64N(int64(window))))
		if err != nil {
			t.Fatal(err)
		}
		if hit {
			interrupted++
		} else {
			missed++
		}
		ids = append(ids, batch...)
	}
	// Keep killing a little while the backlog flows.
	time.Sleep(2 * time.Second)
	close(stopKilling)
	killer.Wait()
	bg.check(t)
	ci.mustStart(t)
	ml.mustStart(t)

	t.Logf("%d referrals composed; kills drawn within %s: %d composes killed mid-way, %d finished first; %d agent processes killed",
		len(ids), window.Round(time.Millisecond), interrupted, missed, agentKills.Load())
	if interrupted == 0 {
		t.Errorf("no kill interrupted a compose: that case was not exercised")
	}
	if agentKills.Load() < 5 {
		t.Errorf("only %d agent kills: syncing under kills was hardly exercised", agentKills.Load())
	}
	settled(t, ci, ml, ids, 90*time.Second)
	assertExactlyOnce(t, n.Hub.URL(), ci, ml, ids)
}
