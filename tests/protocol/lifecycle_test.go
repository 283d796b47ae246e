package protocol

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/contracts"
)

// openedReferral sends a referral ci → ml, waits for its delivery and has
// ml pull and open it (without receipting it).
func openedReferral(t *testing.T, w *world) agency.Opened {
	t.Helper()
	ctx := context.Background()
	env, jws := w.ci.seal(t, referral(w.ml.ID))
	w.accepted(t, jws)
	w.delivered(t, w.ml.ID, env.ID)
	items, _, err := w.ml.Client.Inbox(ctx, "", 0)
	if err != nil || len(items) != 1 {
		t.Fatalf("ml inbox: %d items, %v", len(items), err)
	}
	o, err := w.ml.Client.Open(ctx, []byte(items[0].JWS))
	if err != nil {
		t.Fatalf("ml opens the referral: %v", err)
	}
	return o
}

// hubRefusal extracts the hub's problem document from a client error.
func hubRefusal(t *testing.T, err error, status int, code contracts.Code) map[string]any {
	t.Helper()
	var he *agency.HubError
	if !errors.As(err, &he) {
		t.Fatalf("got %v, want a %s refusal", err, code)
	}
	if he.Status != status || he.Code != string(code) {
		t.Fatalf("refused %d %s, want %d %s (%s)", he.Status, he.Code, status, code, he.Detail)
	}
	return he.Raw
}

// refusedAndAudited checks that message id was neither stored nor queued
// and that its refusal is in the audit log under its id.
func refusedAndAudited(t *testing.T, w *world, id string, code contracts.Code) {
	t.Helper()
	if _, err := w.store.Message(context.Background(), id); !isNotFound(err) {
		t.Errorf("refused message %s: store.Message = %v, want ErrNotFound", id, err)
	}
	if s := w.queueState(t); s.Outbox != 0 {
		t.Errorf("%d deliveries in the outbox after a refusal", s.Outbox)
	}
	for _, e := range w.rejected(t, code) {
		if e.MessageID == id {
			return
		}
	}
	t.Errorf("no rejected %s event for message %s in the audit log", code, id)
}

func TestLifecycleRefusals(t *testing.T) {
	ctx := context.Background()

	t.Run("accepting before the receipt is an invalid transition naming the state and what is allowed", func(t *testing.T) {
		w := newWorld(t)
		o := openedReferral(t, w)
		env, jws := w.ml.seal(t, agency.Draft{Kind: "referral.accepted", To: w.ci.ID, Case: o.Envelope.Case,
			Transfer: o.Envelope.Transfer, InReplyTo: o.Envelope.ID, Body: json.RawMessage(`{}`)})
		_, err := w.ml.Client.Submit(ctx, jws)
		doc := hubRefusal(t, err, http.StatusConflict, contracts.CodeInvalidTransition)
		if doc["state"] != "delivered" {
			t.Errorf("problem state = %v, want delivered", doc["state"])
		}
		allowed, ok := doc["allowed"].([]any)
		if !ok {
			t.Fatalf("problem has no allowed list: %v", doc)
		}
		for _, k := range allowed {
			if k == "referral.accepted" {
				t.Errorf("allowed lists referral.accepted in the state that refused it: %v", allowed)
			}
		}
		refusedAndAudited(t, w, env.ID, contracts.CodeInvalidTransition)

		// Once receipted, the same answer goes through: the state alone
		// refused it.
		if _, err := w.ml.Client.Receipt(ctx, o); err != nil {
			t.Fatalf("receipt: %v", err)
		}
		if _, err := w.ml.Client.Answer(ctx, o.Envelope, true, ""); err != nil {
			t.Fatalf("accept after the receipt: %v", err)
		}
		tr, err := w.hub.Store().Transfer(ctx, o.Envelope.Transfer)
		if err != nil || tr.State != "accepted" || tr.Holder != w.ml.ID {
			t.Fatalf("transfer after acceptance: %+v, %v", tr, err)
		}
	})

	t.Run("a third agency answering a transfer is not a party", func(t *testing.T) {
		w := newWorld(t)
		o := openedReferral(t, w)
		env, jws := w.bf.seal(t, agency.Draft{Kind: "referral.accepted", To: w.ci.ID, Case: "BF-BOB-2026-0001",
			Transfer: o.Envelope.Transfer, InReplyTo: o.Envelope.ID, Body: json.RawMessage(`{}`)})
		_, err := w.bf.Client.Submit(ctx, jws)
		hubRefusal(t, err, http.StatusForbidden, contracts.CodeNotParty)
		refusedAndAudited(t, w, env.ID, contracts.CodeNotParty)
		if tr, _ := w.hub.Store().Transfer(ctx, o.Envelope.Transfer); tr.State != "delivered" || tr.Holder != w.ci.ID {
			t.Errorf("transfer moved: %+v", tr)
		}
	})

	t.Run("a receipt with a wrong sha256 does not match the message received", func(t *testing.T) {
		w := newWorld(t)
		o := openedReferral(t, w)
		body, _ := json.Marshal(contracts.DeliveryReceipt{SHA256: sha256Hex(append(o.JWS, ' '))})
		env, jws := w.ml.seal(t, agency.Draft{Kind: "receipt", To: w.ci.ID, Case: o.Envelope.Case,
			Transfer: o.Envelope.Transfer, InReplyTo: o.Envelope.ID, Body: body})
		_, err := w.ml.Client.Submit(ctx, jws)
		hubRefusal(t, err, http.StatusUnprocessableEntity, contracts.CodeReceiptMismatch)
		refusedAndAudited(t, w, env.ID, contracts.CodeReceiptMismatch)
		m, err := w.store.Message(ctx, o.Envelope.ID)
		if err != nil || !m.ReceiptedAt.IsZero() {
			t.Errorf("referral marked receipted by a mismatched receipt: %+v, %v", m.ReceiptedAt, err)
		}
		if items, _ := w.store.Inbox(ctx, w.ml.ID, 0, 10); len(items) != 1 {
			t.Errorf("referral left ml's inbox: %d items", len(items))
		}
	})

	t.Run("an answer to a transfer the hub does not know is refused", func(t *testing.T) {
		w := newWorld(t)
		unknown := contracts.NewMessageID()
		env, jws := w.ml.seal(t, agency.Draft{Kind: "referral.accepted", To: w.ci.ID, Case: "CI-ABJ-2026-0117",
			Transfer: unknown, InReplyTo: unknown, Body: json.RawMessage(`{}`)})
		_, err := w.ml.Client.Submit(ctx, jws)
		hubRefusal(t, err, http.StatusUnprocessableEntity, contracts.CodeUnknownTransfer)
		refusedAndAudited(t, w, env.ID, contracts.CodeUnknownTransfer)
	})
}
