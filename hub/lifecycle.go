package hub

import (
	"slices"
	"sort"
	"strings"

	"github.com/relais-hub/relais/contracts"
)

// State is where a transfer stands.
type State string

// The states of a transfer, along the ECOWAS/RAO procedure: referral,
// assessment of the family, best-interests decision, return and handover,
// reintegration and follow-up, closure; and the side exits (decline,
// revocation, forwarding to a third country) and erasure.
const (
	StateNone             State = ""
	StateRequested        State = "requested"
	StateDelivered        State = "delivered"
	StateReceipted        State = "receipted"
	StateAccepted         State = "accepted"
	StateDeclined         State = "declined"
	StateAssessed         State = "assessed"
	StateReturnDecided    State = "return_decided"
	StateLocalIntegration State = "local_integration"
	StateThirdCountry     State = "third_country"
	StateForwarded        State = "forwarded"
	StateReturnPlanned    State = "return_planned"
	StateHandedOver       State = "handed_over"
	StateReintegrating    State = "reintegrating"
	StateFollowingUp      State = "following_up"
	StateClosed           State = "closed"
	StateRevoked          State = "revoked"
	StateErasureRequested State = "erasure_requested"
	StateErased           State = "erased"
)

// Phase groups states by what may still happen in them.
type Phase string

const (
	// PhaseOpen: the case is being worked on.
	PhaseOpen Phase = "open"
	// PhaseEnded: the case work is over (declined, revoked, forwarded,
	// closed); alerts, consent withdrawal and erasure may still come.
	PhaseEnded Phase = "ended"
	// PhaseErasing: erasure was requested; only confirmations follow.
	PhaseErasing Phase = "erasing"
	// PhaseErased: the hub holds no ciphertext of the transfer any more.
	PhaseErased Phase = "erased"
)

// StateInfo describes one state.
type StateInfo struct {
	State State
	Phase Phase
	Label contracts.Label
}

// states lists every state a transfer can be in, in documentation order.
var states = []StateInfo{
	{StateRequested, PhaseOpen, contracts.Label{FR: "demandé", EN: "requested"}},
	{StateDelivered, PhaseOpen, contracts.Label{FR: "remis", EN: "delivered"}},
	{StateReceipted, PhaseOpen, contracts.Label{FR: "reçu", EN: "received"}},
	{StateAccepted, PhaseOpen, contracts.Label{FR: "accepté", EN: "accepted"}},
	{StateAssessed, PhaseOpen, contracts.Label{FR: "famille évaluée", EN: "family assessed"}},
	{StateReturnDecided, PhaseOpen, contracts.Label{FR: "retour décidé", EN: "return decided"}},
	{StateLocalIntegration, PhaseOpen, contracts.Label{FR: "intégration sur place", EN: "local integration"}},
	{StateThirdCountry, PhaseOpen, contracts.Label{FR: "pays tiers décidé", EN: "third country decided"}},
	{StateReturnPlanned, PhaseOpen, contracts.Label{FR: "retour planifié", EN: "return planned"}},
	{StateHandedOver, PhaseOpen, contracts.Label{FR: "enfant remis", EN: "child handed over"}},
	{StateReintegrating, PhaseOpen, contracts.Label{FR: "en réintégration", EN: "reintegrating"}},
	{StateFollowingUp, PhaseOpen, contracts.Label{FR: "en suivi", EN: "under follow-up"}},
	{StateDeclined, PhaseEnded, contracts.Label{FR: "refusé", EN: "declined"}},
	{StateRevoked, PhaseEnded, contracts.Label{FR: "révoqué", EN: "revoked"}},
	{StateForwarded, PhaseEnded, contracts.Label{FR: "transmis à un pays tiers", EN: "forwarded to a third country"}},
	{StateClosed, PhaseEnded, contracts.Label{FR: "clôturé", EN: "closed"}},
	{StateErasureRequested, PhaseErasing, contracts.Label{FR: "effacement demandé", EN: "erasure requested"}},
	{StateErased, PhaseErased, contracts.Label{FR: "effacé", EN: "erased"}},
}

// States returns every state, in documentation order.
func States() []StateInfo { return slices.Clone(states) }

// Info describes s; the zero StateInfo for an unknown state.
func (s State) Info() StateInfo {
	for _, st := range states {
		if st.State == s {
			return st
		}
	}
	return StateInfo{State: s}
}

// Label is the state's name in lang ("fr" or "en").
func (s State) Label(lang string) string {
	if l := s.Info().Label; l.FR != "" {
		return l.In(lang)
	}
	return displayState(s)
}

// Role is the part a party plays in a transfer.
type Role string

const (
	RoleSender    Role = "sender"    // the agency that opened the transfer
	RoleRecipient Role = "recipient" // the agency it was sent to
	RoleHub       Role = "hub"
	// RoleHolder is whichever party holds the case at the time: the sender
	// until the recipient accepts, the recipient from then on, the sender
	// again after a decision to integrate the child locally or to forward.
	RoleHolder Role = "holder"
	// RoleParty is either party.
	RoleParty Role = "party"
)

// keep, as a transition's Holder, leaves the holder unchanged.
const keep Role = ""

// Step names what moves a transfer: a message kind; a kind with the coded
// outcome the hub reads in its plain body ("bid.decision=return"); for
// receipts, the kind of the message receipted ("receipt:referral.request");
// or a hub event ("hub:delivered").
type Step string

const (
	StepDelivered Step = "hub:delivered"
	// StepHandedOver: both parties confirmed the handover.
	StepHandedOver Step = "hub:handed_over"
	// StepErased: every party confirmed erasure; the hub drops the
	// transfer's ciphertext.
	StepErased Step = "hub:erased"
	// stepAnyReceipt matches the receipt of any message not named by a more
	// specific row: receipts never move the transfer on their own.
	stepAnyReceipt Step = "receipt:*"
)

// ReceiptStep is the step of a receipt for a message of kind k.
func ReceiptStep(k string) Step { return Step("receipt:" + k) }

// OutcomeStep is the step of a plain-bodied kind with a coded outcome.
func OutcomeStep(kind, outcome string) Step { return Step(kind + "=" + outcome) }

// Kind is the message kind a step is taken with ("" for hub steps).
func (s Step) Kind() string {
	k, _, _ := strings.Cut(string(s), "=")
	if strings.Contains(k, ":") {
		return ""
	}
	return k
}

// transition is one row of the lifecycle table: in state From, the party
// playing By may take Step, and the transfer moves to To. Holder, when set,
// names the party that holds the case afterwards.
type transition struct {
	From   State
	Step   Step
	By     Role
	To     State
	Holder Role
}

// State sets a row may start from, and the "no change" target.
const (
	anyOpen State = "*open" // every open state
	anyLive State = "*live" // every open or ended state
	// anyReceiptable: every state where messages may await their receipt.
	anyReceiptable State = "*receiptable"
	// beforeHandover: while the child has not moved and the case is not
	// back with the sender; the sender may still revoke.
	beforeHandover State = "*before_handover"
	// afterAcceptance: open states once a party took the case; its holder
	// may close it.
	afterAcceptance State = "*after_acceptance"
	same            State = "="
)

// stateSet is a named group of states.
type stateSet struct {
	Label contracts.Label
	Has   func(State) bool
}

func inPhase(phases ...Phase) func(State) bool {
	return func(s State) bool { return slices.Contains(phases, s.Info().Phase) }
}

func oneOf(list ...State) func(State) bool {
	return func(s State) bool { return slices.Contains(list, s) }
}

var stateSets = map[State]stateSet{
	anyOpen: {contracts.Label{FR: "toute étape ouverte", EN: "any open state"}, inPhase(PhaseOpen)},
	anyLive: {contracts.Label{FR: "toute étape ouverte ou terminée", EN: "any open or ended state"}, inPhase(PhaseOpen, PhaseEnded)},
	anyReceiptable: {contracts.Label{FR: "toute étape après la remise au destinataire", EN: "any state after delivery"},
		func(s State) bool { return s.Info().Phase != "" && s != StateRequested }},
	beforeHandover: {contracts.Label{FR: "avant la remise de l'enfant", EN: "before the child is handed over"},
		oneOf(StateRequested, StateDelivered, StateReceipted, StateAccepted, StateAssessed, StateReturnDecided, StateThirdCountry, StateReturnPlanned)},
	afterAcceptance: {contracts.Label{FR: "cas pris en charge, avant sa clôture", EN: "case taken on, not yet ended"},
		oneOf(StateAccepted, StateAssessed, StateReturnDecided, StateLocalIntegration, StateThirdCountry, StateReturnPlanned,
			StateHandedOver, StateReintegrating, StateFollowingUp)},
}

// lifecycle is the transfer state machine, as data. A new kind is a new row.
var lifecycle = []transition{
	// Referral, or a transfer forwarded from an earlier one.
	{StateNone, "referral.request", RoleSender, StateRequested, RoleSender},
	{StateNone, "transfer.forwarded", RoleSender, StateRequested, RoleSender},
	{StateRequested, StepDelivered, RoleHub, StateDelivered, keep},
	{StateDelivered, ReceiptStep("referral.request"), RoleRecipient, StateReceipted, keep},
	{StateDelivered, ReceiptStep("transfer.forwarded"), RoleRecipient, StateReceipted, keep},
	{StateReceipted, "referral.accepted", RoleRecipient, StateAccepted, RoleRecipient},
	{StateReceipted, "referral.declined", RoleRecipient, StateDeclined, keep},

	// The receiving country assesses the family; the host country, where
	// the child is, takes the best-interests decision.
	{StateAccepted, "family.assessment", RoleRecipient, StateAssessed, keep},
	{StateAssessed, "family.assessment", RoleRecipient, same, keep},
	{StateAssessed, OutcomeStep("bid.decision", "return"), RoleSender, StateReturnDecided, keep},
	{StateAssessed, OutcomeStep("bid.decision", "local_integration"), RoleSender, StateLocalIntegration, RoleSender},
	{StateAssessed, OutcomeStep("bid.decision", "third_country"), RoleSender, StateThirdCountry, keep},
	// The forwarding message opens a new transfer (row above) and ends this
	// one; the case is the sender's until the third country accepts.
	{StateThirdCountry, "transfer.forwarded", RoleSender, StateForwarded, RoleSender},

	// Return, and a handover that both sides confirm.
	{StateReturnDecided, "return.plan", RoleSender, StateReturnPlanned, keep},
	{StateReturnPlanned, "return.plan", RoleSender, same, keep},
	{StateReturnPlanned, "handover.confirmation", RoleParty, same, keep},
	{StateReturnPlanned, StepHandedOver, RoleHub, StateHandedOver, keep},

	// Reintegration and follow-up by whoever holds the case.
	{StateHandedOver, "reintegration.plan", RoleHolder, StateReintegrating, keep},
	{StateReintegrating, "followup.report", RoleHolder, StateFollowingUp, keep},
	{StateLocalIntegration, "followup.report", RoleHolder, StateFollowingUp, keep},
	{StateFollowingUp, "followup.report", RoleHolder, same, keep},

	// The exits.
	{beforeHandover, "transfer.revoked", RoleSender, StateRevoked, keep},
	{afterAcceptance, "case.closed", RoleHolder, StateClosed, keep},

	// Erasure: every party confirms, then the hub drops the ciphertext.
	{anyLive, "case.erasure_requested", RoleParty, StateErasureRequested, keep},
	{StateErasureRequested, "case.erased", RoleParty, same, keep},
	{StateErasureRequested, StepErased, RoleHub, StateErased, keep},

	// Side messages that never move the transfer.
	{anyOpen, "info.request", RoleParty, same, keep},
	{anyOpen, "info.reply", RoleParty, same, keep},
	{anyLive, "alert.child_missing", RoleParty, same, keep},
	{anyLive, "consent.withdrawn", RoleParty, same, keep},
	{anyLive, "policy.violation", RoleParty, same, keep},
	{anyReceiptable, stepAnyReceipt, RoleParty, same, keep},
}

// jointSteps are kinds every party of the transfer must send, once each;
// when the last one arrives, the hub takes the step.
var jointSteps = map[string]Step{
	"handover.confirmation": StepHandedOver,
	"case.erased":           StepErased,
}

// awaitedReplies: a message of the key kind awaits, from its recipient, a
// message of the value kind whose in_reply_to names it.
var awaitedReplies = map[string]string{"info.request": "info.reply"}

// outcomeKinds are plain-bodied kinds whose coded outcome selects the row:
// the value names the body member holding the code.
var outcomeKinds = map[string]string{"bid.decision": "decision"}

// inGroup reports whether state s belongs to the From of a row.
func inGroup(from, s State) bool {
	if set, ok := stateSets[from]; ok {
		return set.Has(s)
	}
	return from == s
}

// covers reports whether a party playing roles may take a row's By.
func covers(by Role, roles []Role) bool {
	for _, r := range roles {
		if r == by || (by == RoleParty && (r == RoleSender || r == RoleRecipient)) {
			return true
		}
	}
	return false
}

// Next returns the state a transfer in state cur moves to when a party
// playing roles takes step, or an invalid_transition refusal naming the
// state and what is allowed there.
func Next(cur State, step Step, roles ...Role) (State, error) {
	t, err := nextRow(cur, step, roles)
	if err != nil {
		return cur, err
	}
	if t.To == same {
		return cur, nil
	}
	return t.To, nil
}

// nextRow finds the row that applies. A receipt uses its specific row when
// one exists and matches, and the generic receipt row otherwise.
func nextRow(cur State, step Step, roles []Role) (transition, error) {
	if t, ok := find(cur, step, roles); ok {
		return t, nil
	}
	if strings.HasPrefix(string(step), "receipt:") && step != stepAnyReceipt {
		if t, ok := find(cur, stepAnyReceipt, roles); ok {
			return t, nil
		}
	}
	allowed := Allowed(cur, roles...)
	role := RoleParty
	if len(roles) > 0 {
		role = roles[0]
	}
	p := contracts.Refuse(contracts.CodeInvalidTransition,
		"%s not allowed for the %s in state %q; allowed: %s", step, role, displayState(cur), strings.Join(allowed, ", "))
	p.Extra = map[string]any{"state": displayState(cur), "allowed": allowed}
	return transition{}, p
}

func find(cur State, step Step, roles []Role) (transition, bool) {
	for _, t := range lifecycle {
		if t.Step == step && covers(t.By, roles) && inGroup(t.From, cur) {
			return t, true
		}
	}
	return transition{}, false
}

// Allowed lists the message kinds a party playing roles may send in state
// cur (receipts and hub events are left out: they are not choices).
func Allowed(cur State, roles ...Role) []string {
	set := map[string]bool{}
	for _, t := range lifecycle {
		if k := t.Step.Kind(); k != "" && covers(t.By, roles) && inGroup(t.From, cur) {
			set[k] = true
		}
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// AllowedFor lists the kinds agency may send now in transfer t (none when
// it is not a party).
func AllowedFor(t Transfer, agency string) []string {
	roles := rolesIn(t, agency)
	if roles == nil {
		return []string{}
	}
	return Allowed(t.State, roles...)
}

func displayState(s State) string {
	if s == StateNone {
		return "none"
	}
	return string(s)
}
