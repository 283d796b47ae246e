package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/tests/internal/relaistest"
)

// sealed is a referral signed and ready to submit.
type sealed struct {
	ID  string
	JWS []byte
}

func sealReferrals(t *testing.T, c *agency.Client, to string, count int) []sealed {
	t.Helper()
	out := make([]sealed, 0, count)
	for i := range count {
		env, jws, err := c.Seal(context.Background(), referralDraft(to, fmt.Sprintf("CI-ABJ-2026-%04d", 1000+i)))
		if err != nil {
			t.Fatalf("seal: %v", err)
		}
		out = append(out, sealed{ID: env.ID, JWS: jws})
	}
	return out
}

// referralDraft is a referral draft for the Go client.
func referralDraft(to, caseRef string) agency.Draft {
	return agency.Draft{
		Kind: "referral.request", To: to, Case: caseRef, Purpose: "protection_referral",
		DataCategories: referralCategories,
		Consent:        consentFor(to),
		Body:           []byte(firstReferral),
	}
}

// post submits a JWS raw and returns the status, without reading more of
// the answer than its status line and headers.
func post(client *http.Client, url string, jws []byte) (int, error) {
	resp, err := client.Post(url+"/v1/messages", "application/jose", bytes.NewReader(jws))
	if err != nil {
		return 0, err
	}
	go func() {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}()
	return resp.StatusCode, nil
}

// inboxIDs lists the recipient's inbox (every page), counting each id.
func inboxIDs(t *testing.T, c *agency.Client) map[string]int {
	t.Helper()
	counts := map[string]int{}
	cursor := ""
	for {
		items, next, err := c.Inbox(context.Background(), cursor, 0)
		if err != nil {
			t.Fatalf("inbox: %v", err)
		}
		for _, it := range items {
			counts[it.ID]++
		}
		if len(items) == 0 || next == cursor {
			return counts
		}
		cursor = next
	}
}

// eventsOf counts a message's accepted and delivered events in its
// transfer's trail (a referral opens its own transfer), and returns the
// delivery time.
func eventsOf(t *testing.T, c *agency.Client, id string) (accepted, delivered int, deliveredAt time.Time) {
	t.Helper()
	tr, err := c.Trail(context.Background(), id)
	if err != nil {
		t.Fatalf("trail %s: %v", id, err)
	}
	for _, e := range tr.Events {
		if e.MessageID != id {
			continue
		}
		switch e.Type {
		case "accepted":
			accepted++
		case "delivered":
			delivered++
			deliveredAt = e.At
		}
	}
	return accepted, delivered, deliveredAt
}

// restartDeliveryBound is how soon a restarted hub must have delivered what
// it accepted before the crash: it resumes its work at once, rather than
// waiting for anything the killed process held to time out.
const restartDeliveryBound = 15 * time.Second

// assertDeliveredOnce waits until every id is in the recipient's inbox,
// then checks each is listed once and has exactly one accepted and one
// delivered event.
func assertDeliveredOnce(t *testing.T, sender, recipient *agency.Client, ids []string) {
	t.Helper()
	relaistest.Eventually(t, restartDeliveryBound, 50*time.Millisecond, func() error {
		inbox := inboxIDs(t, recipient)
		for _, id := range ids {
			if inbox[id] == 0 {
				return fmt.Errorf("%s, accepted before the kill, is not in the inbox %s after the restart", id, restartDeliveryBound)
			}
		}
		return nil
	})
	inbox := inboxIDs(t, recipient)
	for _, id := range ids {
		if inbox[id] != 1 {
			t.Errorf("%s is %d times in the inbox", id, inbox[id])
		}
		if acc, del, _ := eventsOf(t, sender, id); acc != 1 || del != 1 {
			t.Errorf("%s: %d accepted and %d delivered events, want 1 and 1", id, acc, del)
		}
	}
}

func TestCrashSafety(t *testing.T) {
	n := newNetwork(t, ci, ml)
	sender, recipient := n.client(t, ci.ID), n.client(t, ml.ID)
	httpc := &http.Client{Timeout: 30 * time.Second}

	t.Run("a referral answered 202 and SIGKILLed at once is delivered exactly once after restart", func(t *testing.T) {
		// The kill follows the 202 by microseconds; the relay, which needs
		// two more fsynced commits, has run in about half the rounds. Rounds
		// go on until the kill has landed before the relay at least once;
		// every round must end with exactly one delivery.
		const minRounds, maxRounds = 4, 16
		rounds, beforeRelay := 0, 0
		for rounds < minRounds || (beforeRelay == 0 && rounds < maxRounds) {
			rounds++
			msg := sealReferrals(t, sender, ml.ID, 1)[0]
			status, err := post(httpc, n.Hub.URL(), msg.JWS)
			if err != nil || status != http.StatusAccepted {
				t.Fatalf("round %d: submit: %d %v", rounds, status, err)
			}
			n.Hub.Kill(t)
			restartedAt := time.Now()
			n.restart(t)
			assertDeliveredOnce(t, sender, recipient, []string{msg.ID})
			if _, _, at := eventsOf(t, sender, msg.ID); at.After(restartedAt) {
				beforeRelay++
			}
		}
		t.Logf("%d of %d kills landed before the relay had delivered", beforeRelay, rounds)
		if beforeRelay == 0 {
			t.Errorf("in %d rounds no kill landed between the 202 and the delivery: that case was not exercised", rounds)
		}
	})

	t.Run("a burst of 20 with a kill in the middle loses nothing and duplicates nothing", func(t *testing.T) {
		const burst, killAfter, workers = 20, 8, 4
		msgs := sealReferrals(t, sender, ml.ID, burst)
		var (
			mu       sync.Mutex
			accepted = map[string]bool{}
			killOnce sync.Once
			wg       sync.WaitGroup
		)
		queue := make(chan sealed)
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for m := range queue {
					status, err := post(httpc, n.Hub.URL(), m.JWS)
					if err != nil || status != http.StatusAccepted {
						continue // unconfirmed: the hub may or may not have committed it
					}
					mu.Lock()
					accepted[m.ID] = true
					kill := len(accepted) == killAfter
					mu.Unlock()
					if kill {
						killOnce.Do(func() { _ = n.Hub.Signal(os.Kill) })
					}
				}
			}()
		}
		for _, m := range msgs {
			queue <- m
		}
		close(queue)
		wg.Wait()
		n.Hub.Kill(t) // waits for the SIGKILLed process to be gone
		if len(accepted) < killAfter || len(accepted) == burst {
			t.Fatalf("%d of %d answered 202: the kill did not land mid-burst", len(accepted), burst)
		}

		restartedAt := time.Now()
		n.restart(t)
		var acceptedIDs, unconfirmed []string
		for _, m := range msgs {
			if accepted[m.ID] {
				acceptedIDs = append(acceptedIDs, m.ID)
			} else {
				unconfirmed = append(unconfirmed, m.ID)
			}
		}
		// No loss: every 202 is delivered, once.
		assertDeliveredOnce(t, sender, recipient, acceptedIDs)
		relayedAfterRestart := 0
		for _, id := range acceptedIDs {
			if _, _, at := eventsOf(t, sender, id); at.After(restartedAt) {
				relayedAfterRestart++
			}
		}
		// Unconfirmed messages may have arrived too: committed just before
		// the kill, their 202 lost on the way.
		sent := map[string]bool{}
		for _, m := range msgs {
			sent[m.ID] = true
		}
		inbox := inboxIDs(t, recipient)
		var extra []string
		for id := range inbox {
			if sent[id] && !accepted[id] {
				extra = append(extra, id)
			}
		}
		sort.Strings(extra)
		t.Logf("%d answered 202 before the kill (%d of them delivered only after the restart), %d unconfirmed, of which %d had been committed",
			len(acceptedIDs), relayedAfterRestart, len(unconfirmed), len(extra))

		// The senders retry the unconfirmed ones, as the protocol tells them
		// to: a committed one is answered as a duplicate, the others are
		// taken now. In the end each of the 20 is delivered exactly once.
		for _, m := range msgs {
			if accepted[m.ID] {
				continue
			}
			if status, err := post(httpc, n.Hub.URL(), m.JWS); err != nil || status != http.StatusAccepted {
				t.Fatalf("retry of %s: %d %v", m.ID, status, err)
			}
		}
		all := make([]string, 0, burst)
		for _, m := range msgs {
			all = append(all, m.ID)
		}
		assertDeliveredOnce(t, sender, recipient, all)
	})
}
