package hub

import (
	"slices"
	"strings"
	"testing"

	"github.com/relais-hub/relais/contracts"
)

func TestLifecycle(t *testing.T) {
	tests := []struct {
		name  string
		from  State
		step  Step
		by    []Role
		want  State
		wantE bool
	}{
		{"a referral opens a transfer", StateNone, "referral.request", []Role{RoleSender}, StateRequested, false},
		{"the recipient cannot open a transfer", StateNone, "referral.request", []Role{RoleRecipient}, StateNone, true},
		{"the hub's delivery moves a requested transfer", StateRequested, StepDelivered, []Role{RoleHub}, StateDelivered, false},
		{"the recipient's receipt of the referral moves it on", StateDelivered, ReceiptStep("referral.request"), []Role{RoleRecipient}, StateReceipted, false},
		{"a receipt of the referral before delivery is refused", StateRequested, ReceiptStep("referral.request"), []Role{RoleRecipient}, StateRequested, true},
		{"the recipient accepts after its receipt", StateReceipted, "referral.accepted", []Role{RoleRecipient}, StateAccepted, false},
		{"the recipient declines after its receipt", StateReceipted, "referral.declined", []Role{RoleRecipient}, StateDeclined, false},
		{"accepting before the receipt is refused with invalid_transition", StateDelivered, "referral.accepted", []Role{RoleRecipient}, StateDelivered, true},
		{"the sender cannot accept its own referral", StateReceipted, "referral.accepted", []Role{RoleSender, RoleHolder}, StateReceipted, true},
		{"a second acceptance is refused", StateAccepted, "referral.accepted", []Role{RoleRecipient, RoleHolder}, StateAccepted, true},
		{"the sender receipts the acceptance without moving the transfer", StateAccepted, ReceiptStep("referral.accepted"), []Role{RoleSender}, StateAccepted, false},
		{"the sender receipts a decline in the ended state", StateDeclined, ReceiptStep("referral.declined"), []Role{RoleSender}, StateDeclined, false},
		{"nothing but side messages follows a decline", StateDeclined, "referral.accepted", []Role{RoleRecipient}, StateDeclined, true},
		{"a late receipt of a revoked referral is still taken", StateRevoked, ReceiptStep("referral.request"), []Role{RoleRecipient}, StateRevoked, false},
		{"the receiving country assesses the family", StateAccepted, "family.assessment", []Role{RoleRecipient, RoleHolder}, StateAssessed, false},
		{"the host country does not assess the family", StateAccepted, "family.assessment", []Role{RoleSender}, StateAccepted, true},
		{"a decision to return moves to return_decided", StateAssessed, OutcomeStep("bid.decision", "return"), []Role{RoleSender}, StateReturnDecided, false},
		{"a decision to integrate locally", StateAssessed, OutcomeStep("bid.decision", "local_integration"), []Role{RoleSender}, StateLocalIntegration, false},
		{"a decision for a third country", StateAssessed, OutcomeStep("bid.decision", "third_country"), []Role{RoleSender}, StateThirdCountry, false},
		{"no decision before the assessment", StateAccepted, OutcomeStep("bid.decision", "return"), []Role{RoleSender}, StateAccepted, true},
		{"the receiving country does not decide", StateAssessed, OutcomeStep("bid.decision", "return"), []Role{RoleRecipient, RoleHolder}, StateAssessed, true},
		{"forwarding ends a third-country transfer", StateThirdCountry, "transfer.forwarded", []Role{RoleSender}, StateForwarded, false},
		{"forwarding without a third-country decision is refused", StateReturnDecided, "transfer.forwarded", []Role{RoleSender}, StateReturnDecided, true},
		{"either side confirms the handover without moving the transfer", StateReturnPlanned, "handover.confirmation", []Role{RoleRecipient, RoleHolder}, StateReturnPlanned, false},
		{"the hub records the handover once both confirmed", StateReturnPlanned, StepHandedOver, []Role{RoleHub}, StateHandedOver, false},
		{"no handover before a return plan", StateReturnDecided, "handover.confirmation", []Role{RoleSender}, StateReturnDecided, true},
		{"the holder plans reintegration", StateHandedOver, "reintegration.plan", []Role{RoleRecipient, RoleHolder}, StateReintegrating, false},
		{"a party that does not hold the case does not plan reintegration", StateHandedOver, "reintegration.plan", []Role{RoleSender}, StateHandedOver, true},
		{"follow-up reports repeat", StateFollowingUp, "followup.report", []Role{RoleRecipient, RoleHolder}, StateFollowingUp, false},
		{"after local integration the sender, holding the case, follows up", StateLocalIntegration, "followup.report", []Role{RoleSender, RoleHolder}, StateFollowingUp, false},
		{"the holder closes the case", StateFollowingUp, "case.closed", []Role{RoleRecipient, RoleHolder}, StateClosed, false},
		{"the other party cannot close it", StateFollowingUp, "case.closed", []Role{RoleSender}, StateFollowingUp, true},
		{"the sender revokes before the handover", StateReturnPlanned, "transfer.revoked", []Role{RoleSender}, StateRevoked, false},
		{"no revocation once the child was handed over", StateHandedOver, "transfer.revoked", []Role{RoleSender}, StateHandedOver, true},
		{"the recipient cannot revoke", StateAccepted, "transfer.revoked", []Role{RoleRecipient, RoleHolder}, StateAccepted, true},
		{"a missing-child alert never moves the transfer", StateReturnPlanned, "alert.child_missing", []Role{RoleSender}, StateReturnPlanned, false},
		{"a missing-child alert is taken after closure too", StateClosed, "alert.child_missing", []Role{RoleRecipient}, StateClosed, false},
		{"information requests stop once the case ended", StateClosed, "info.request", []Role{RoleSender}, StateClosed, true},
		{"erasure may be requested after closure", StateClosed, "case.erasure_requested", []Role{RoleSender}, StateErasureRequested, false},
		{"during erasure only confirmations are taken", StateErasureRequested, "alert.child_missing", []Role{RoleSender}, StateErasureRequested, true},
		{"every party confirms erasure", StateErasureRequested, "case.erased", []Role{RoleSender}, StateErasureRequested, false},
		{"the hub ends the erasure", StateErasureRequested, StepErased, []Role{RoleHub}, StateErased, false},
		{"an erased transfer takes receipts only", StateErased, "case.erased", []Role{RoleSender}, StateErased, true},
		{"an erased transfer still takes the last receipts", StateErased, ReceiptStep("case.erased"), []Role{RoleRecipient}, StateErased, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Next(tt.from, tt.step, tt.by...)
			if tt.wantE {
				requireInvalidTransition(t, err, tt.from)
			} else if err != nil {
				t.Fatalf("unexpected refusal: %v", err)
			}
			if got != tt.want {
				t.Fatalf("state = %q, want %q", got, tt.want)
			}
		})
	}
}

func requireInvalidTransition(t *testing.T, err error, state State) {
	t.Helper()
	if contracts.CodeOf(err) != contracts.CodeInvalidTransition {
		t.Fatalf("err = %v, want invalid_transition", err)
	}
	p := contracts.AsProblem(err)
	if p.Extra["state"] != displayState(state) || p.Extra["allowed"] == nil {
		t.Fatalf("refusal does not name the state %q and the allowed kinds: %+v", state, p)
	}
}

func TestAllowedNamesTheChoicesOfEachParty(t *testing.T) {
	side := []string{"alert.child_missing", "case.erasure_requested", "consent.withdrawn", "info.reply", "info.request", "policy.violation"}
	tests := []struct {
		name  string
		state State
		roles []Role
		want  []string
	}{
		{"the recipient after its receipt answers", StateReceipted, []Role{RoleRecipient}, append([]string{"referral.accepted", "referral.declined"}, side...)},
		{"the sender before anything opens", StateNone, []Role{RoleSender}, []string{"referral.request", "transfer.forwarded"}},
		{"the host country after the assessment decides, or revokes", StateAssessed, []Role{RoleSender}, append([]string{"bid.decision", "transfer.revoked"}, side...)},
		{"the holder under follow-up reports or closes", StateFollowingUp, []Role{RoleRecipient, RoleHolder}, append([]string{"case.closed", "followup.report"}, side...)},
		{"a party during erasure confirms", StateErasureRequested, []Role{RoleSender}, []string{"case.erased"}},
		{"nobody sends anything once erased", StateErased, []Role{RoleRecipient}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := slices.Clone(tt.want)
			slices.Sort(want)
			if got := Allowed(tt.state, tt.roles...); !slices.Equal(got, want) {
				t.Fatalf("Allowed = %v, want %v", got, want)
			}
		})
	}
}

func TestEveryLifecycleStepIsARegisteredKindOrOutcome(t *testing.T) {
	for _, tr := range lifecycle {
		s := string(tr.Step)
		if tr.By == RoleHub || tr.Step == stepAnyReceipt {
			continue
		}
		if k, ok := strings.CutPrefix(s, "receipt:"); ok {
			s = k
		}
		kind, outcome, hasOutcome := strings.Cut(s, "=")
		if _, ok := contracts.Kind(kind); !ok {
			t.Errorf("lifecycle row %+v names unknown kind %q", tr, kind)
		}
		if hasOutcome && !outcomeVocabulary(kind).Has(outcome) {
			t.Errorf("lifecycle row %+v names unknown outcome %q", tr, outcome)
		}
	}
}

func TestEveryKindHasARow(t *testing.T) {
	for _, k := range contracts.KindNames() {
		if k == "receipt" {
			continue
		}
		if !slices.ContainsFunc(lifecycle, func(tr transition) bool { return tr.Step.Kind() == k }) {
			t.Errorf("kind %s is registered but the lifecycle has no row for it: every message would be refused", k)
		}
	}
}

func TestEveryStateIsReachableAndDescribed(t *testing.T) {
	reached := map[State]bool{StateNone: true}
	for changed := true; changed; {
		changed = false
		for _, tr := range lifecycle {
			if tr.To == same {
				continue
			}
			for _, s := range append(States(), StateInfo{State: StateNone}) {
				if reached[s.State] && inGroup(tr.From, s.State) && !reached[tr.To] {
					reached[tr.To], changed = true, true
				}
			}
		}
	}
	for _, s := range States() {
		if !reached[s.State] {
			t.Errorf("state %s cannot be reached", s.State)
		}
		if s.Phase == "" || s.Label.FR == "" || s.Label.EN == "" {
			t.Errorf("state %s lacks a phase or a label: %+v", s.State, s)
		}
	}
	for _, tr := range lifecycle {
		if tr.To != same && tr.To.Info().Phase == "" {
			t.Errorf("row %+v leads to an undescribed state", tr)
		}
	}
}

// Each state refuses, for each party, every kind it does not allow, with
// invalid_transition naming the state and the allowed kinds; and takes
// every kind it allows.
func TestEveryStateRefusesEveryKindItDoesNotAllow(t *testing.T) {
	roleSets := [][]Role{{RoleSender}, {RoleRecipient}, {RoleSender, RoleHolder}, {RoleRecipient, RoleHolder}}
	for _, st := range append([]StateInfo{{State: StateNone}}, States()...) {
		for _, roles := range roleSets {
			allowed := Allowed(st.State, roles...)
			for _, kind := range contracts.KindNames() {
				if kind == "receipt" {
					continue
				}
				for _, step := range stepsOf(kind) {
					_, err := Next(st.State, step, roles...)
					if slices.Contains(allowed, kind) {
						if err != nil && !outcomeRestricted(st.State, step) {
							t.Errorf("%s by %v in %s: allowed but refused: %v", step, roles, st.State, err)
						}
						continue
					}
					if contracts.CodeOf(err) != contracts.CodeInvalidTransition {
						t.Errorf("%s by %v in %s: err = %v, want invalid_transition", step, roles, st.State, err)
						continue
					}
					p := contracts.AsProblem(err)
					if p.Extra["state"] != displayState(st.State) || !slices.Equal(p.Extra["allowed"].([]string), allowed) {
						t.Errorf("%s by %v in %s: refusal names %v / %v", step, roles, st.State, p.Extra["state"], p.Extra["allowed"])
					}
				}
			}
		}
	}
}

// stepsOf lists the steps a message of kind can take: one per outcome for
// outcome kinds.
func stepsOf(kind string) []Step {
	if _, ok := outcomeKinds[kind]; ok {
		var out []Step
		for _, code := range outcomeVocabulary(kind).Codes() {
			out = append(out, OutcomeStep(kind, code))
		}
		return out
	}
	return []Step{Step(kind)}
}

func outcomeVocabulary(kind string) contracts.Vocabulary {
	if kind == "bid.decision" {
		return contracts.BIDDecisions
	}
	return contracts.Vocabulary{}
}

// outcomeRestricted: a kind may be allowed in a state for some outcomes
// only.
func outcomeRestricted(s State, step Step) bool {
	_, ok := find(s, step, []Role{RoleSender, RoleRecipient})
	return !ok && strings.Contains(string(step), "=")
}

func TestExpectationsNameKindsTheExpectedPartyMaySend(t *testing.T) {
	for _, e := range expectations {
		roles := []Role{e.By}
		if e.By == RoleParty {
			roles = []Role{RoleSender}
		}
		for _, k := range e.Kinds {
			if !slices.Contains(Allowed(e.State, roles...), k) {
				t.Errorf("state %s expects %s from the %s, who may not send it", e.State, k, e.By)
			}
		}
	}
}
