package protocol

import (
	"context"
	"net/http"
	"testing"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/hub"
)

func TestResubmission(t *testing.T) {
	t.Run("the identical JWS resubmitted is answered 202 with the same receipt and queued once", func(t *testing.T) {
		ctx := context.Background()
		w := newWorld(t)
		env, jws := w.ci.seal(t, referral(w.ml.ID))
		first := w.accepted(t, jws)
		receipt, _ := first.Doc["receipt"].(string)
		if receipt == "" || first.Doc["id"] != env.ID {
			t.Fatalf("first answer: %s", first.Body)
		}
		same := func(when string) {
			t.Helper()
			r := w.submit(t, jws, joseType, "")
			if r.Status != http.StatusAccepted {
				t.Fatalf("resubmission %s: %d %s", when, r.Status, r.Body)
			}
			if r.Doc["id"] != env.ID || r.Doc["receipt"] != receipt || r.Doc["leaf_index"] != first.Doc["leaf_index"] {
				t.Fatalf("resubmission %s answered %s, want the first answer %s", when, r.Body, first.Body)
			}
		}
		same("before delivery")
		w.delivered(t, w.ml.ID, env.ID)
		same("after delivery")

		o := openedFromInbox(t, w, env.ID)
		if _, err := w.ml.Client.Receipt(ctx, o); err != nil {
			t.Fatal(err)
		}
		same("after the receipt")

		w.settled(t)
		var rows int
		if err := w.store.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM messages WHERE id = ?`, env.ID).Scan(&rows); err != nil || rows != 1 {
			t.Fatalf("%d message rows for %s (%v)", rows, env.ID, err)
		}
		trail, err := w.store.Trail(ctx, env.Transfer)
		if err != nil {
			t.Fatal(err)
		}
		if n := countEvents(trail, hub.EventAccepted, env.ID); n != 1 {
			t.Errorf("%d accepted events for the message, want 1", n)
		}
		if n := countEvents(trail, hub.EventDelivered, env.ID); n != 1 {
			t.Errorf("%d delivered events for the message, want 1", n)
		}
	})
}

// openedFromInbox pulls ml's inbox and opens message id.
func openedFromInbox(t *testing.T, w *world, id string) agency.Opened {
	t.Helper()
	ctx := context.Background()
	items, _, err := w.ml.Client.Inbox(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	var jws []byte
	for _, it := range items {
		if it.ID == id {
			seen++
			jws = []byte(it.JWS)
		}
	}
	if seen != 1 {
		t.Fatalf("message %s is %d times in the inbox, want once", id, seen)
	}
	o, err := w.ml.Client.Open(ctx, jws)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func countEvents(events []hub.Event, typ hub.EventType, messageID string) int {
	n := 0
	for _, e := range events {
		if e.Type == typ && e.MessageID == messageID {
			n++
		}
	}
	return n
}
