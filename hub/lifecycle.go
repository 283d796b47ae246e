package hub

import (
	"sort"
	"strings"

	"github.com/relais-hub/relais/contracts"
)

// State is where a transfer stands.
type State string

const (
	StateNone      State = ""
	StateRequested State = "requested"
	StateDelivered State = "delivered"
	StateReceipted State = "receipted"
	StateAccepted  State = "accepted"
	StateDeclined  State = "declined"
)

// Role is the part a party plays in a transfer.
type Role string

const (
	RoleSender    Role = "sender"    // the agency that opened the transfer
	RoleRecipient Role = "recipient" // the agency it was sent to
	RoleHub       Role = "hub"
)

// Step names what moves a transfer: a message kind, or, for receipts, the
// kind of the message receipted ("receipt:referral.request"), or a hub event
// ("hub:delivered").
type Step string

const (
	StepDelivered Step = "hub:delivered"
	// stepAnyReceipt matches the receipt of any message not named by a more
	// specific row: receipts never move the transfer on their own.
	stepAnyReceipt Step = "receipt:*"
)

// ReceiptStep is the step of a receipt for a message of kind k.
func ReceiptStep(k string) Step { return Step("receipt:" + k) }

// transition is one row of the lifecycle table. From == anyOpen matches
// every state that is not terminal; To == same keeps the state.
type transition struct {
	From State
	Step Step
	By   Role
	To   State
}

const (
	anyOpen State = "*"
	same    State = "="
)

// lifecycle is the transfer state machine, as data. A new kind is a new row.
var lifecycle = []transition{
	{StateNone, "referral.request", RoleSender, StateRequested},
	{StateRequested, StepDelivered, RoleHub, StateDelivered},
	{StateDelivered, ReceiptStep("referral.request"), RoleRecipient, StateReceipted},
	{StateReceipted, "referral.accepted", RoleRecipient, StateAccepted},
	{StateReceipted, "referral.declined", RoleRecipient, StateDeclined},
	{anyOpen, stepAnyReceipt, RoleSender, same},
	{anyOpen, stepAnyReceipt, RoleRecipient, same},
	// Answers are receipted by the sender; a receipt never closes anything.
	{StateAccepted, stepAnyReceipt, RoleSender, same},
	{StateDeclined, stepAnyReceipt, RoleSender, same},
}

// terminal states accept no further business message.
var terminal = map[State]bool{StateDeclined: true}

// Next returns the state a transfer in state cur moves to when role takes
// step, or an invalid_transition refusal naming the state and what is
// allowed there.
func Next(cur State, step Step, role Role) (State, error) {
	if t, ok := find(cur, step, role); ok {
		if t.To == same {
			return cur, nil
		}
		return t.To, nil
	}
	if strings.HasPrefix(string(step), "receipt:") && step != stepAnyReceipt {
		if t, ok := find(cur, stepAnyReceipt, role); ok && !hasSpecificRow(step) {
			if t.To == same {
				return cur, nil
			}
			return t.To, nil
		}
	}
	allowed := Allowed(cur, role)
	p := contracts.Refuse(contracts.CodeInvalidTransition,
		"%s not allowed for the %s in state %q; allowed: %s", step, role, displayState(cur), strings.Join(allowed, ", "))
	p.Extra = map[string]any{"state": displayState(cur), "allowed": allowed}
	return cur, p
}

func find(cur State, step Step, role Role) (transition, bool) {
	for _, t := range lifecycle {
		if t.Step != step || t.By != role {
			continue
		}
		if t.From == cur || (t.From == anyOpen && cur != StateNone && !terminal[cur]) {
			return t, true
		}
	}
	return transition{}, false
}

func hasSpecificRow(step Step) bool {
	for _, t := range lifecycle {
		if t.Step == step {
			return true
		}
	}
	return false
}

// Allowed lists the message kinds role may send in state cur (receipts and
// hub events are left out: they are not choices).
func Allowed(cur State, role Role) []string {
	set := map[string]bool{}
	for _, t := range lifecycle {
		if t.By != role || strings.Contains(string(t.Step), ":") {
			continue
		}
		if t.From == cur || (t.From == anyOpen && cur != StateNone && !terminal[cur]) {
			set[string(t.Step)] = true
		}
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func displayState(s State) string {
	if s == StateNone {
		return "none"
	}
	return string(s)
}
