package sqlstore

import (
	"context"
	"fmt"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/hub"
)

// ConsentDeliveries lists, one per recipient in id order, the agencies that
// received personal data agency sent under consentRef, the transfer a
// withdrawal notice to each belongs in, and the notice already sent.
func (s *Store) ConsentDeliveries(ctx context.Context, agency, consentRef string) ([]hub.ConsentDelivery, error) {
	targets, live, order, err := s.withdrawalTargets(ctx, agency, consentRef)
	if err != nil {
		return nil, err
	}
	notices, err := s.withdrawalNotices(ctx, agency, consentRef)
	if err != nil {
		return nil, err
	}
	out := make([]hub.ConsentDelivery, 0, len(order))
	for _, recipient := range order {
		d := hub.ConsentDelivery{Recipient: recipient, Transfer: targets[recipient], Erasing: !live[recipient]}
		if n, ok := notices[recipient]; ok {
			d.Notice = &n
		}
		out = append(out, d)
	}
	return out, nil
}

// withdrawalTargets picks, for each recipient of data sent under the
// consent, the transfer of the latest such message, preferring transfers
// whose erasure has not begun (a notice cannot be added to those), and
// reports whether such a live transfer exists.
func (s *Store) withdrawalTargets(ctx context.Context, agency, consentRef string) (map[string]string, map[string]bool, []string, error) {
	rows, err := s.db.QueryContext(ctx, s.rebind(`
SELECT m.recipient, m.transfer, COALESCE(t.state, '')
FROM messages m LEFT JOIN transfers t ON t.id = m.transfer
WHERE m.sender = ? AND m.consent_ref = ? AND m.kind <> 'consent.withdrawn'
ORDER BY m.recipient, m.accepted_at, m.id`), agency, consentRef)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("consent deliveries: %w", err)
	}
	defer rows.Close()
	targets := map[string]string{}
	live := map[string]bool{}
	var order []string
	for rows.Next() {
		var recipient, transfer, state string
		if err := rows.Scan(&recipient, &transfer, &state); err != nil {
			return nil, nil, nil, fmt.Errorf("consent deliveries: %w", err)
		}
		if _, seen := targets[recipient]; !seen {
			order = append(order, recipient)
		}
		phase := hub.State(state).Info().Phase
		erasing := phase == hub.PhaseErasing || phase == hub.PhaseErased
		// Rows come oldest first: a later transfer replaces an earlier one
		// unless it is being erased while an earlier one is not.
		if !erasing || !live[recipient] {
			targets[recipient] = transfer
			live[recipient] = !erasing
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, nil, fmt.Errorf("consent deliveries: %w", err)
	}
	return targets, live, order, nil
}

// withdrawalNotices returns, per recipient, the consent.withdrawn copy
// agency sent it for consentRef: the first acknowledged one, else the
// latest.
func (s *Store) withdrawalNotices(ctx context.Context, agency, consentRef string) (map[string]hub.WithdrawalNotice, error) {
	rows, err := s.db.QueryContext(ctx, s.rebind(`
SELECT id, recipient, transfer, accepted_at, delivered_at, receipted_at, receipted_by
FROM messages
WHERE sender = ? AND consent_ref = ? AND kind = 'consent.withdrawn'
ORDER BY accepted_at, id`), agency, consentRef)
	if err != nil {
		return nil, fmt.Errorf("withdrawal notices: %w", err)
	}
	defer rows.Close()
	out := map[string]hub.WithdrawalNotice{}
	for rows.Next() {
		var n hub.WithdrawalNotice
		var recipient string
		var accepted, delivered, receipted int64
		if err := rows.Scan(&n.MessageID, &recipient, &n.Transfer, &accepted, &delivered, &receipted, &n.ReceiptedBy); err != nil {
			return nil, fmt.Errorf("withdrawal notices: %w", err)
		}
		n.AcceptedAt, n.DeliveredAt, n.ReceiptedAt = fromMicros(accepted), fromMicros(delivered), fromMicros(receipted)
		// EraseTransfer takes erased messages out of the inbox this way.
		n.Erased = receipted != 0 && n.ReceiptedBy == "erased"
		if prev, ok := out[recipient]; ok && acknowledged(prev) {
			continue
		}
		out[recipient] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("withdrawal notices: %w", err)
	}
	return out, nil
}

// acknowledged: the recipient's signed receipt came back. A notice in an
// erased transfer also leaves the inbox, marked "erased", without one.
func acknowledged(n hub.WithdrawalNotice) bool {
	return !n.ReceiptedAt.IsZero() && contracts.ValidMessageID(n.ReceiptedBy)
}
