package hub_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/hub"
)

// One child's case, from the referral to the erasure of its data, with the
// three agencies of the procedure: the host country where the child was
// found (Côte d'Ivoire), the country of origin (Mali), and a third country
// where the family turned out to be (Burkina Faso). The transfer to Mali is
// forwarded to Burkina Faso, which then carries the case to its end; the
// other exits (decline, revocation, local integration) run on sibling
// transfers. Together they must visit every state of the table, as the
// trails tell it.
func TestOneTransferWalksThroughEveryState(t *testing.T) {
	ci := lifecycleParty(t, "ci.dpe-abidjan")
	ml := lifecycleParty(t, "ml.dnpef")
	bf := lifecycleParty(t, "bf.dpe-bobo")
	g := &gate{open: make(chan struct{})}
	w := newWorld(t, instanceOptions{gate: g}, regs(ci, ml, bf)...)
	visited := map[hub.State]bool{}
	record := func(transfer string) []hub.Event {
		events := w.trail(t, transfer)
		for _, s := range statesOf(events, transfer) {
			visited[s] = true
		}
		return events
	}

	// Referral: requested until the hub delivers it, then received and
	// accepted by Mali, which holds the case from then on.
	t1 := w.send(t, msg{kind: "referral.request", from: ci, to: ml, seq: 1})
	w.requireState(t, t1, hub.StateRequested, ci)
	g.Open()
	w.delivered(t, t1)
	w.requireState(t, t1, hub.StateDelivered, ci)
	w.receipt(t, ml, t1)
	w.requireState(t, t1, hub.StateReceipted, ci)
	w.exchange(t, msg{kind: "referral.accepted", from: ml, to: ci, transfer: t1, inReplyTo: t1})
	w.requireState(t, t1, hub.StateAccepted, ml)

	// Questions go both ways at any open point without moving anything.
	q := w.exchange(t, msg{kind: "info.request", from: ml, to: ci, transfer: t1})
	w.exchange(t, msg{kind: "info.reply", from: ci, to: ml, transfer: t1, inReplyTo: q, seq: 2})
	w.requireState(t, t1, hub.StateAccepted, ml)

	// Mali assesses: the family is not in Mali. The host country decides
	// for the third country, and forwards the case there.
	w.exchange(t, msg{kind: "family.assessment", from: ml, to: ci, transfer: t1,
		body: []byte(`{"outcome":"not_found","assessed_on":"2026-01-20","findings":"La mère vit au Burkina Faso."}`)})
	w.requireState(t, t1, hub.StateAssessed, ml)
	w.exchange(t, msg{kind: "alert.child_missing", from: ci, to: ml, transfer: t1, seq: 3})
	w.requireState(t, t1, hub.StateAssessed, ml)
	w.exchange(t, msg{kind: "bid.decision", from: ci, to: ml, transfer: t1, seq: 4,
		body: []byte(`{"decision":"third_country","decided_on":"2026-01-25","country":"bf"}`)})
	w.requireState(t, t1, hub.StateThirdCountry, ml)
	t2 := w.send(t, msg{kind: "transfer.forwarded", from: ci, to: bf, inReplyTo: t1, seq: 1})
	w.requireState(t, t1, hub.StateForwarded, ci)

	// Burkina Faso takes the forwarded transfer through return, handover,
	// reintegration and follow-up to closure.
	w.receipt(t, bf, t2)
	w.requireState(t, t2, hub.StateReceipted, ci)
	w.exchange(t, msg{kind: "referral.accepted", from: bf, to: ci, transfer: t2, inReplyTo: t2})
	w.requireState(t, t2, hub.StateAccepted, bf)
	w.exchange(t, msg{kind: "family.assessment", from: bf, to: ci, transfer: t2})
	w.exchange(t, msg{kind: "bid.decision", from: ci, to: bf, transfer: t2, seq: 2})
	w.requireState(t, t2, hub.StateReturnDecided, bf)
	w.exchange(t, msg{kind: "return.plan", from: ci, to: bf, transfer: t2, seq: 3})
	w.exchange(t, msg{kind: "return.plan", from: ci, to: bf, transfer: t2, seq: 4})
	w.requireState(t, t2, hub.StateReturnPlanned, bf)
	first := w.exchange(t, msg{kind: "handover.confirmation", from: ci, to: bf, transfer: t2, seq: 5})
	w.requireState(t, t2, hub.StateReturnPlanned, bf)
	w.exchange(t, msg{kind: "handover.confirmation", from: bf, to: ci, transfer: t2, inReplyTo: first})
	w.requireState(t, t2, hub.StateHandedOver, bf)
	w.exchange(t, msg{kind: "reintegration.plan", from: bf, to: ci, transfer: t2})
	w.requireState(t, t2, hub.StateReintegrating, bf)
	w.exchange(t, msg{kind: "followup.report", from: bf, to: ci, transfer: t2})
	w.exchange(t, msg{kind: "followup.report", from: bf, to: ci, transfer: t2})
	w.requireState(t, t2, hub.StateFollowingUp, bf)
	w.exchange(t, msg{kind: "consent.withdrawn", from: ci, to: bf, transfer: t2, seq: 6})
	w.exchange(t, msg{kind: "case.closed", from: bf, to: ci, transfer: t2})
	w.requireState(t, t2, hub.StateClosed, bf)
	w.exchange(t, msg{kind: "case.erasure_requested", from: ci, to: bf, transfer: t2, seq: 7})
	w.requireState(t, t2, hub.StateErasureRequested, bf)
	w.exchange(t, msg{kind: "case.erased", from: bf, to: ci, transfer: t2})
	w.requireState(t, t2, hub.StateErasureRequested, bf)
	w.exchange(t, msg{kind: "case.erased", from: ci, to: bf, transfer: t2, seq: 8})
	w.requireState(t, t2, hub.StateErased, bf)

	e1, e2 := record(t1), record(t2)
	if want := []hub.State{hub.StateRequested, hub.StateDelivered, hub.StateReceipted, hub.StateAccepted,
		hub.StateAssessed, hub.StateThirdCountry, hub.StateForwarded}; !slices.Equal(statesOf(e1, t1), want) {
		t.Errorf("the first transfer's trail tells %v, want %v", statesOf(e1, t1), want)
	}
	// Who held the case when: Côte d'Ivoire until Mali accepted, Mali
	// until the case was forwarded, then Côte d'Ivoire until Burkina Faso
	// accepted the forwarded transfer.
	if got, want := holdersOf(e1), []string{ci.ID, ml.ID, ci.ID}; !slices.Equal(got, want) {
		t.Errorf("holders of the first transfer: %v, want %v", got, want)
	}
	if got, want := holdersOf(e2), []string{ci.ID, bf.ID}; !slices.Equal(got, want) {
		t.Errorf("holders of the forwarded transfer: %v, want %v", got, want)
	}
	requireLink(t, e1, hub.EventTransferForwarded, "next="+t2)
	requireLink(t, e2, hub.EventTransferLinked, "previous="+t1)

	// The exits a single case cannot take all at once.
	declined := w.toReceipted(t, ci, ml)
	w.exchange(t, msg{kind: "referral.declined", from: ml, to: ci, transfer: declined, inReplyTo: declined})
	w.requireState(t, declined, hub.StateDeclined, ci)
	record(declined)

	revoked := w.toAccepted(t, ci, ml)
	w.exchange(t, msg{kind: "transfer.revoked", from: ci, to: ml, transfer: revoked})
	w.requireState(t, revoked, hub.StateRevoked, ml)
	record(revoked)

	local := w.toAccepted(t, ci, ml)
	w.exchange(t, msg{kind: "family.assessment", from: ml, to: ci, transfer: local})
	w.exchange(t, msg{kind: "bid.decision", from: ci, to: ml, transfer: local, body: []byte(`{"decision":"local_integration","decided_on":"2026-01-25"}`)})
	// The child stays in Côte d'Ivoire, whose services hold the case again
	// and report on it.
	w.requireState(t, local, hub.StateLocalIntegration, ci)
	w.exchange(t, msg{kind: "followup.report", from: ci, to: ml, transfer: local})
	w.requireState(t, local, hub.StateFollowingUp, ci)
	record(local)

	for _, s := range hub.States() {
		if !visited[s.State] {
			t.Errorf("no trail went through state %s", s.State)
		}
	}
}

func requireLink(t *testing.T, events []hub.Event, typ hub.EventType, detail string) {
	t.Helper()
	for _, e := range events {
		if e.Type == typ && strings.Contains(e.Detail, detail) {
			return
		}
	}
	t.Errorf("no %s event with %q in the trail", typ, detail)
}

// toReceipted opens a referral from → to and has it delivered and
// receipted.
func (w *world) toReceipted(tb testing.TB, from, to party) string {
	tb.Helper()
	id := w.send(tb, msg{kind: "referral.request", from: from, to: to})
	w.receipt(tb, to, id)
	return id
}

// toAccepted goes one step further: the recipient accepts.
func (w *world) toAccepted(tb testing.TB, from, to party) string {
	tb.Helper()
	id := w.toReceipted(tb, from, to)
	w.exchange(tb, msg{kind: "referral.accepted", from: to, to: from, transfer: id, inReplyTo: id})
	return id
}

// The second handover confirmation must answer the first and state the
// same time: the two signatures are over one handover.
func TestTheHandoverNeedsBothSidesToConfirmTheSameTime(t *testing.T) {
	ci, ml := lifecycleParty(t, "ci.dpe-abidjan"), lifecycleParty(t, "ml.dnpef")
	w := newWorld(t, instanceOptions{}, regs(ci, ml)...)
	id := w.toAccepted(t, ci, ml)
	w.exchange(t, msg{kind: "family.assessment", from: ml, to: ci, transfer: id})
	w.exchange(t, msg{kind: "bid.decision", from: ci, to: ml, transfer: id})
	w.exchange(t, msg{kind: "return.plan", from: ci, to: ml, transfer: id})
	first := w.exchange(t, msg{kind: "handover.confirmation", from: ml, to: ci, transfer: id})

	if p := w.refuse(t, msg{kind: "handover.confirmation", from: ml, to: ci, transfer: id}); p.Code != contracts.CodeInvalidTransition {
		t.Errorf("a second confirmation by the same side: %v, want invalid_transition", p)
	}
	if p := w.refuse(t, msg{kind: "handover.confirmation", from: ci, to: ml, transfer: id}); p.Code != contracts.CodeInvalidTransition {
		t.Errorf("a counter-confirmation that does not answer the first: %v, want invalid_transition", p)
	}
	p := w.refuse(t, msg{kind: "handover.confirmation", from: ci, to: ml, transfer: id, inReplyTo: first,
		body: []byte(`{"handed_over_at":"2026-02-11T11:00:00Z"}`)})
	if p.Code != contracts.CodeBodyInvalid {
		t.Errorf("a counter-confirmation stating another time: %v, want body_invalid", p)
	}
	w.requireState(t, id, hub.StateReturnPlanned, ml)
	w.exchange(t, msg{kind: "handover.confirmation", from: ci, to: ml, transfer: id, inReplyTo: first})
	w.requireState(t, id, hub.StateHandedOver, ml)
}

func TestForwardingFollowsTheBestInterestsDecision(t *testing.T) {
	ci, ml, bf, gh := lifecycleParty(t, "ci.dpe-abidjan"), lifecycleParty(t, "ml.dnpef"), lifecycleParty(t, "bf.dpe-bobo"), lifecycleParty(t, "gh.dsw-accra")
	w := newWorld(t, instanceOptions{}, regs(ci, ml, bf, gh)...)
	id := w.toAccepted(t, ci, ml)
	w.exchange(t, msg{kind: "family.assessment", from: ml, to: ci, transfer: id})

	// No forwarding before a third-country decision.
	if p := w.refuse(t, msg{kind: "transfer.forwarded", from: ci, to: bf, inReplyTo: id}); p.Code != contracts.CodeInvalidTransition || p.Extra["state"] != "assessed" {
		t.Errorf("forwarding before the decision: %v %v, want invalid_transition in assessed", p, p.Extra)
	}
	w.exchange(t, msg{kind: "bid.decision", from: ci, to: ml, transfer: id, body: []byte(`{"decision":"third_country","decided_on":"2026-01-25","country":"bf"}`)})
	tests := []struct {
		name string
		m    msg
		code contracts.Code
	}{
		{"to another country than the one decided", msg{kind: "transfer.forwarded", from: ci, to: gh, inReplyTo: id}, contracts.CodeInvalidTransition},
		{"by the receiving side", msg{kind: "transfer.forwarded", from: ml, to: bf, inReplyTo: id}, contracts.CodeInvalidTransition},
		{"by an agency of neither side", msg{kind: "transfer.forwarded", from: gh, to: bf, inReplyTo: id}, contracts.CodeNotParty},
		{"of a transfer the hub does not know", msg{kind: "transfer.forwarded", from: ci, to: bf, inReplyTo: contracts.NewMessageID()}, contracts.CodeUnknownTransfer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if p := w.refuse(t, tt.m); p.Code != tt.code {
				t.Fatalf("refused with %v, want %s", p, tt.code)
			}
		})
	}
	w.requireState(t, id, hub.StateThirdCountry, ml)
	next := w.send(t, msg{kind: "transfer.forwarded", from: ci, to: bf, inReplyTo: id})
	w.requireState(t, id, hub.StateForwarded, ci)
	if tr := w.transfer(t, next); tr.Sender != ci.ID || tr.Recipient != bf.ID || tr.Holder != ci.ID {
		t.Errorf("forwarded transfer: %+v", tr)
	}
	sums, err := w.h.Transfers(context.Background(), hub.TransferQuery{Agency: bf.ID})
	if err != nil || len(sums) != 1 || sums[0].ID != next || sums[0].Previous != id {
		t.Errorf("the third country's list: %+v, %v; want the forwarded transfer linked to %s", sums, err, id)
	}
}

func TestASendersSeqMustFollowItsLastOne(t *testing.T) {
	ci, ml := lifecycleParty(t, "ci.dpe-abidjan"), lifecycleParty(t, "ml.dnpef")
	w := newWorld(t, instanceOptions{}, regs(ci, ml)...)
	if p := w.refuse(t, msg{kind: "referral.request", from: ci, to: ml, seq: 2}); p.Code != contracts.CodeOutOfOrder || p.Extra["expected_seq"] != uint64(1) {
		t.Fatalf("an opening message with seq 2: %v %v, want out_of_order expecting 1", p, p.Extra)
	}
	id := w.send(t, msg{kind: "referral.request", from: ci, to: ml, seq: 1})
	w.receipt(t, ml, id)
	w.exchange(t, msg{kind: "referral.accepted", from: ml, to: ci, transfer: id, inReplyTo: id, seq: 1})
	// Côte d'Ivoire's second message was signed offline and has not
	// arrived; its third is refused until it does.
	third := msg{kind: "info.request", from: ci, to: ml, transfer: id, seq: 3}
	p := w.refuse(t, third)
	if p.Code != contracts.CodeOutOfOrder || p.Extra["expected_seq"] != uint64(2) {
		t.Fatalf("seq 3 before 2: %v %v, want out_of_order expecting 2", p, p.Extra)
	}
	w.exchange(t, msg{kind: "info.request", from: ci, to: ml, transfer: id, seq: 2})
	w.exchange(t, third)
	// A replayed number is as wrong as a skipped one; messages without seq
	// are not ordered; the other party's count is its own.
	if p := w.refuse(t, msg{kind: "info.request", from: ci, to: ml, transfer: id, seq: 3}); p.Code != contracts.CodeOutOfOrder {
		t.Fatalf("a repeated seq: %v, want out_of_order", p)
	}
	w.exchange(t, msg{kind: "info.request", from: ci, to: ml, transfer: id})
	w.exchange(t, msg{kind: "info.request", from: ml, to: ci, transfer: id, seq: 2})
	w.exchange(t, msg{kind: "info.request", from: ci, to: ml, transfer: id, seq: 4})
}

func TestAReplyMustAnswerARequestTheReplierReceived(t *testing.T) {
	ci, ml := lifecycleParty(t, "ci.dpe-abidjan"), lifecycleParty(t, "ml.dnpef")
	w := newWorld(t, instanceOptions{}, regs(ci, ml)...)
	id := w.toAccepted(t, ci, ml)
	asked := w.exchange(t, msg{kind: "info.request", from: ci, to: ml, transfer: id})
	// The asker cannot answer its own question, nor can anything but a
	// question be answered.
	if p := w.refuse(t, msg{kind: "info.reply", from: ci, to: ml, transfer: id, inReplyTo: asked}); p.Code != contracts.CodeInvalidTransition {
		t.Errorf("the asker replying: %v", p)
	}
	if p := w.refuse(t, msg{kind: "info.reply", from: ml, to: ci, transfer: id, inReplyTo: id}); p.Code != contracts.CodeInvalidTransition {
		t.Errorf("a reply to the referral: %v", p)
	}
	w.exchange(t, msg{kind: "info.reply", from: ml, to: ci, transfer: id, inReplyTo: asked})
}
