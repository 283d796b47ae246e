package hub_test

import (
	"context"
	"slices"
	"testing"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/hub"
)

// Table-driven over the lifecycle table, through the hub: a transfer is
// brought to each state in turn, and each party then submits every kind the
// table does not allow it there. Each one must be refused with
// invalid_transition naming the state and what the party may send instead,
// and leave the transfer where it was.
func TestTheHubRefusesEveryKindAStateDoesNotAllow(t *testing.T) {
	ci, ml, gh := lifecycleParty(t, "ci.dpe-abidjan"), lifecycleParty(t, "ml.dnpef"), lifecycleParty(t, "gh.dsw-accra")
	g := &gate{open: make(chan struct{})}
	w := newWorld(t, instanceOptions{gate: g}, regs(ci, ml, gh)...)
	swept := map[hub.State]bool{}
	sweep := func(id string) {
		t.Helper()
		before := w.transfer(t, id)
		swept[before.State] = true
		refused := 0
		for _, p := range []party{ci, ml} {
			roles := rolesOf(before, p.ID)
			allowed := hub.Allowed(before.State, roles...)
			for _, kind := range contracts.KindNames() {
				if kind == "receipt" || kind == "referral.request" || slices.Contains(allowed, kind) {
					continue
				}
				m := msg{kind: kind, from: p, to: counterpart(t, before, p), transfer: id, inReplyTo: contracts.NewMessageID()}
				if kind == "transfer.forwarded" {
					m = msg{kind: kind, from: p, to: gh, inReplyTo: id}
				}
				problem := w.refuse(t, m)
				if problem.Code != contracts.CodeInvalidTransition {
					t.Errorf("%s by %s in %s: refused with %v, want invalid_transition", kind, p.ID, before.State, problem)
					continue
				}
				got, _ := problem.Extra["allowed"].([]string)
				if problem.Extra["state"] != string(before.State) || !slices.Equal(got, allowed) {
					t.Errorf("%s by %s in %s: the refusal names state %v and allowed %v, want %s and %v",
						kind, p.ID, before.State, problem.Extra["state"], got, before.State, allowed)
				}
				refused++
			}
		}
		if refused == 0 {
			t.Errorf("nothing was refused in state %s", before.State)
		}
		if after := w.transfer(t, id); after.State != before.State || after.Holder != before.Holder {
			t.Errorf("refused messages moved the transfer from %s/%s to %s/%s", before.State, before.Holder, after.State, after.Holder)
		}
	}

	// The main path, held at each state.
	id := w.send(t, msg{kind: "referral.request", from: ci, to: ml})
	sweep(id) // requested: the relay is held back
	g.Open()
	w.delivered(t, id)
	sweep(id)
	w.receipt(t, ml, id)
	sweep(id)
	steps := []msg{
		{kind: "referral.accepted", from: ml, to: ci, inReplyTo: id},
		{kind: "family.assessment", from: ml, to: ci},
		{kind: "bid.decision", from: ci, to: ml},
		{kind: "return.plan", from: ci, to: ml},
	}
	for _, m := range steps {
		m.transfer = id
		w.exchange(t, m)
		sweep(id)
	}
	first := w.exchange(t, msg{kind: "handover.confirmation", from: ci, to: ml, transfer: id})
	w.exchange(t, msg{kind: "handover.confirmation", from: ml, to: ci, transfer: id, inReplyTo: first})
	for _, m := range []msg{
		{kind: "reintegration.plan", from: ml, to: ci},
		{kind: "followup.report", from: ml, to: ci},
		{kind: "case.closed", from: ml, to: ci},
		{kind: "case.erasure_requested", from: ci, to: ml},
		{kind: "case.erased", from: ml, to: ci},
		{kind: "case.erased", from: ci, to: ml},
	} {
		sweep(id)
		m.transfer = id
		w.exchange(t, m)
	}
	sweep(id)

	// The exits.
	declined := w.toReceipted(t, ci, ml)
	w.exchange(t, msg{kind: "referral.declined", from: ml, to: ci, transfer: declined, inReplyTo: declined})
	sweep(declined)
	revoked := w.toAccepted(t, ci, ml)
	w.exchange(t, msg{kind: "transfer.revoked", from: ci, to: ml, transfer: revoked})
	sweep(revoked)
	for _, decision := range []string{`{"decision":"local_integration","decided_on":"2026-01-25"}`, `{"decision":"third_country","decided_on":"2026-01-25","country":"gh"}`} {
		other := w.toAccepted(t, ci, ml)
		w.exchange(t, msg{kind: "family.assessment", from: ml, to: ci, transfer: other})
		w.exchange(t, msg{kind: "bid.decision", from: ci, to: ml, transfer: other, body: []byte(decision)})
		sweep(other)
		if w.transfer(t, other).State == hub.StateThirdCountry {
			w.send(t, msg{kind: "transfer.forwarded", from: ci, to: gh, inReplyTo: other})
			sweep(other)
		}
	}

	for _, s := range hub.States() {
		if !swept[s.State] {
			t.Errorf("state %s was not swept", s.State)
		}
	}
	if rejected := countEvents(t, w, hub.EventRejected); rejected == 0 {
		t.Error("no refusal reached the audit log")
	}
}

func rolesOf(t hub.Transfer, agency string) []hub.Role {
	roles := []hub.Role{hub.RoleRecipient}
	if agency == t.Sender {
		roles[0] = hub.RoleSender
	}
	if agency == t.Holder {
		roles = append(roles, hub.RoleHolder)
	}
	return roles
}

func counterpart(tb testing.TB, t hub.Transfer, p party) party {
	if p.ID == t.Sender {
		return partyOf(tb, t.Recipient)
	}
	return partyOf(tb, t.Sender)
}

// countEvents counts the events of a type across every transfer listed for
// the world's first parties.
func countEvents(tb testing.TB, w *world, typ hub.EventType) int {
	tb.Helper()
	sums, err := w.h.Transfers(context.Background(), hub.TransferQuery{Agency: "ci.dpe-abidjan"})
	if err != nil {
		tb.Fatal(err)
	}
	n := 0
	for _, s := range sums {
		for _, e := range w.trail(tb, s.ID) {
			if e.Type == typ {
				n++
			}
		}
	}
	return n
}
