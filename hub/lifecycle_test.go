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
		by    Role
		want  State
		wantE bool
	}{
		{"a referral opens a transfer", StateNone, "referral.request", RoleSender, StateRequested, false},
		{"the recipient cannot open a transfer", StateNone, "referral.request", RoleRecipient, StateNone, true},
		{"the hub's delivery moves a requested transfer", StateRequested, StepDelivered, RoleHub, StateDelivered, false},
		{"the recipient's receipt of the referral moves it on", StateDelivered, ReceiptStep("referral.request"), RoleRecipient, StateReceipted, false},
		{"a receipt of the referral before delivery is refused", StateRequested, ReceiptStep("referral.request"), RoleRecipient, StateRequested, true},
		{"the recipient accepts after its receipt", StateReceipted, "referral.accepted", RoleRecipient, StateAccepted, false},
		{"the recipient declines after its receipt", StateReceipted, "referral.declined", RoleRecipient, StateDeclined, false},
		{"accepting before the receipt is refused with invalid_transition", StateDelivered, "referral.accepted", RoleRecipient, StateDelivered, true},
		{"the sender cannot accept its own referral", StateReceipted, "referral.accepted", RoleSender, StateReceipted, true},
		{"a second acceptance is refused", StateAccepted, "referral.accepted", RoleRecipient, StateAccepted, true},
		{"the sender receipts the acceptance without moving the transfer", StateAccepted, ReceiptStep("referral.accepted"), RoleSender, StateAccepted, false},
		{"the sender receipts a decline in the terminal state", StateDeclined, ReceiptStep("referral.declined"), RoleSender, StateDeclined, false},
		{"nothing but receipts follows a decline", StateDeclined, "referral.accepted", RoleRecipient, StateDeclined, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Next(tt.from, tt.step, tt.by)
			if tt.wantE {
				if contracts.CodeOf(err) != contracts.CodeInvalidTransition {
					t.Fatalf("err = %v, want invalid_transition", err)
				}
				p := contracts.AsProblem(err)
				if p.Extra["state"] == nil || p.Extra["allowed"] == nil {
					t.Fatalf("refusal does not name the state and the allowed kinds: %+v", p)
				}
			} else if err != nil {
				t.Fatalf("unexpected refusal: %v", err)
			}
			if got != tt.want {
				t.Fatalf("state = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAllowedNamesTheChoicesOfEachParty(t *testing.T) {
	if got := Allowed(StateReceipted, RoleRecipient); !slices.Equal(got, []string{"referral.accepted", "referral.declined"}) {
		t.Fatalf("recipient after receipt: %v", got)
	}
	if got := Allowed(StateNone, RoleSender); !slices.Equal(got, []string{"referral.request"}) {
		t.Fatalf("sender before anything: %v", got)
	}
}

func TestEveryLifecycleStepIsARegisteredKind(t *testing.T) {
	for _, tr := range lifecycle {
		s := string(tr.Step)
		if tr.By == RoleHub || s == string(stepAnyReceipt) {
			continue
		}
		if k, ok := strings.CutPrefix(s, "receipt:"); ok {
			s = k
		}
		if _, ok := contracts.Kind(s); !ok {
			t.Errorf("lifecycle row %+v names unknown kind %q", tr, s)
		}
	}
}
