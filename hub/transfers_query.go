package hub

import (
	"context"

	"github.com/relais-hub/relais/contracts"
)

// TransferQuery selects the transfers an agency sees: those it is a party
// to, and those escalated to it as the directorate of an overdue party.
type TransferQuery struct {
	Agency string
	// State keeps only transfers in that state ("": any).
	State State
	// Overdue keeps only transfers with a passed deadline still unmet.
	Overdue bool
	Limit   int
}

// TransferSummary is one line of an agency's transfer list. It holds ids,
// states, times and deadlines: no personal data.
type TransferSummary struct {
	Transfer
	// Previous is the transfer this one continues (forwarded), if any.
	Previous string
	// Overdue lists the fired reminders and escalations whose step is still
	// missing.
	Overdue []Timer
}

// maxTransferList bounds one listing.
const maxTransferList = 500

// Transfers lists the transfers q.Agency sees, most recently updated first.
func (h *Hub) Transfers(ctx context.Context, q TransferQuery) ([]TransferSummary, error) {
	if q.State != StateNone && q.State.Info().Phase == "" {
		return nil, contracts.Refuse(contracts.CodeBadRequest, "state must be one of the lifecycle states")
	}
	if q.Limit <= 0 || q.Limit > maxTransferList {
		q.Limit = maxTransferList
	}
	return h.store.Transfers(ctx, q)
}

// RoleOf says what part agency plays in a listed transfer: sender,
// recipient, or the directorate an overdue party's deadline was escalated
// to.
func (s TransferSummary) RoleOf(agency string) string {
	switch agency {
	case s.Sender:
		return string(RoleSender)
	case s.Recipient:
		return string(RoleRecipient)
	}
	return "directorate"
}
