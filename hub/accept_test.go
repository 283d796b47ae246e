package hub_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/relais-hub/relais/contracts"
)

func TestConcurrentSubmissionsAreEachDeliveredOnce(t *testing.T) {
	ci, ml, bf := newParty(t, "ci.dpe-abidjan"), newParty(t, "ml.dnpef"), newParty(t, "bf.dpe-bobo")
	h, store := startHub(t, ci, ml, bf)
	ctx := context.Background()

	const perSender = 40
	var wg sync.WaitGroup
	ids := make(chan string, 2*perSender)
	for _, from := range []party{ci, bf} {
		msgs := make([][]byte, perSender)
		for i := range msgs {
			msgs[i] = referral(t, from, ml, 200)
		}
		for _, m := range msgs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out := h.Submit(ctx, m)
				if out.Err != nil {
					t.Errorf("submit: %v", out.Err)
					return
				}
				// Resubmitting the identical bytes is answered with the
				// first receipt and delivers nothing more.
				again := h.Submit(ctx, m)
				if again.Err != nil || !again.Duplicate || string(again.Receipt) != string(out.Receipt) {
					t.Errorf("resubmission: %+v", again)
				}
				ids <- out.ID
			}()
		}
	}
	wg.Wait()
	close(ids)
	want := map[string]bool{}
	for id := range ids {
		want[id] = true
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		page, err := h.Inbox(ctx, ml.ID, 0, 0, 500)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Items) == len(want) {
			seen := map[string]bool{}
			for _, it := range page.Items {
				if !want[it.ID] || seen[it.ID] {
					t.Fatalf("inbox holds %s unexpectedly or twice", it.ID)
				}
				seen[it.ID] = true
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("inbox has %d of %d messages", len(page.Items), len(want))
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The relay removes a delivery from the outbox once the transport took
	// it, just after the inbox shows it.
	for {
		pending, err := store.PendingOutbox(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(pending) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox still holds %d deliveries", len(pending))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestASignatureByAnotherAgencysKeyIsRefused(t *testing.T) {
	ci, ml, bf := newParty(t, "ci.dpe-abidjan"), newParty(t, "ml.dnpef"), newParty(t, "bf.dpe-bobo")
	h, _ := startHub(t, ci, ml, bf)
	// bf signs an envelope that claims to come from ci.
	impostor := party{ID: ci.ID, Sig: bf.Sig, Enc: ci.Enc}
	out := h.Submit(context.Background(), referral(t, impostor, ml, 10))
	if contracts.CodeOf(out.Err) != contracts.CodeSenderMismatch {
		t.Fatalf("err = %v, want sender_mismatch", out.Err)
	}
}

// BenchmarkSubmit measures acceptance on the embedded default: verify,
// validate, dedupe and the committing transaction (with its fsync).
func BenchmarkSubmit(b *testing.B) {
	ci, ml := newParty(b, "ci.dpe-abidjan"), newParty(b, "ml.dnpef")
	h, _ := startHub(b, ci, ml)
	msgs := make([][]byte, b.N)
	for i := range msgs {
		msgs[i] = referral(b, ci, ml, 2048)
	}
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if out := h.Submit(ctx, msgs[i]); out.Err != nil {
			b.Fatal(out.Err)
		}
	}
}
