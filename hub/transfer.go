package hub

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/relais-hub/relais/contracts"
)

// transferChange is what accepting a message does to its transfer, decided
// before anything is written and applied after the message row exists.
type transferChange struct {
	transfer Transfer
	isNew    bool
	// receipted is the message a receipt acknowledges.
	receipted *StoredMessage
	events    []Event
}

// advance checks the message against its transfer and the lifecycle table.
func (h *Hub) advance(ctx context.Context, tx Tx, in *Intake, caseDigest string, now time.Time) (*transferChange, error) {
	env := in.Envelope
	if in.Spec.OpensTransfer {
		if _, err := tx.TransferForUpdate(ctx, env.Transfer); err == nil {
			return nil, contracts.Refuse(contracts.CodeDuplicateID, "transfer %s already exists", env.Transfer)
		} else if !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		state, err := Next(StateNone, Step(env.Kind), RoleSender)
		if err != nil {
			return nil, err
		}
		return &transferChange{isNew: true, transfer: Transfer{
			ID: env.Transfer, Sender: env.From, Recipient: env.To, CaseDigest: caseDigest,
			State: state, Holder: env.From, OpenedAt: now, UpdatedAt: now,
		}}, nil
	}

	t, err := tx.TransferForUpdate(ctx, env.Transfer)
	if errors.Is(err, ErrNotFound) {
		return nil, contracts.Refuse(contracts.CodeUnknownTransfer, "transfer %s is not known to the hub", env.Transfer)
	}
	if err != nil {
		return nil, err
	}
	role, counterpart := roleIn(t, env.From)
	if role == "" {
		return nil, contracts.Refuse(contracts.CodeNotParty, "%s is not a party to transfer %s", env.From, env.Transfer)
	}
	if env.To != counterpart {
		return nil, contracts.Refuse(contracts.CodeNotParty, "%s is not a party to transfer %s", env.To, env.Transfer)
	}
	change := &transferChange{transfer: t}
	step := Step(env.Kind)
	if env.Kind == "receipt" {
		orig, err := h.receiptTarget(ctx, tx, in)
		if err != nil {
			return nil, err
		}
		change.receipted = &orig
		step = ReceiptStep(orig.Kind)
	}
	next, err := Next(t.State, step, role)
	if err != nil {
		return nil, err
	}
	change.transfer.State, change.transfer.UpdatedAt = next, now
	switch env.Kind {
	case "referral.accepted":
		change.transfer.Holder = t.Recipient
		change.events = append(change.events, Event{Type: EventTransferAccepted, Detail: "holder=" + t.Recipient})
	case "referral.declined":
		var body struct {
			Reason string `json:"reason"`
		}
		_ = json.Unmarshal(env.Body, &body) // validated by contracts
		change.events = append(change.events, Event{Type: EventTransferDeclined, Code: body.Reason})
	}
	return change, nil
}

// receiptTarget finds and checks the message a receipt acknowledges: it
// must have been delivered to the receipt's sender, in this transfer, and
// the digest must be of the exact bytes the hub delivered.
func (h *Hub) receiptTarget(ctx context.Context, tx Tx, in *Intake) (StoredMessage, error) {
	env := in.Envelope
	orig, err := tx.Message(ctx, env.InReplyTo)
	if errors.Is(err, ErrNotFound) || (err == nil && (orig.To != env.From || orig.Transfer != env.Transfer)) {
		return orig, contracts.Refuse(contracts.CodeReceiptMismatch, "no message %s was delivered to %s in this transfer", env.InReplyTo, env.From)
	}
	if err != nil {
		return orig, err
	}
	var body struct {
		SHA256 string `json:"sha256"`
	}
	if err := json.Unmarshal(env.Body, &body); err != nil || body.SHA256 != orig.SHA256 {
		return orig, contracts.Refuse(contracts.CodeReceiptMismatch, "sha256 does not match the message delivered")
	}
	if orig.DeliveredAt.IsZero() {
		return orig, contracts.Refuse(contracts.CodeInvalidTransition, "message %s has not been delivered yet", orig.ID)
	}
	if !orig.ReceiptedAt.IsZero() {
		return orig, contracts.Refuse(contracts.CodeInvalidTransition, "message %s was already receipted", orig.ID)
	}
	return orig, nil
}

// apply writes the change decided by advance.
func (c *transferChange) apply(ctx context.Context, tx Tx, h *Hub, in *Intake, now time.Time) error {
	env := in.Envelope
	if err := tx.SaveTransfer(ctx, c.transfer); err != nil {
		return err
	}
	if c.receipted != nil {
		if _, err := tx.MarkReceipted(ctx, c.receipted.ID, env.ID, now); err != nil {
			return err
		}
		c.events = append(c.events, Event{Type: EventReceipted, MessageID: c.receipted.ID, Kind: c.receipted.Kind,
			From: c.receipted.From, To: c.receipted.To, Detail: "receipt=" + env.ID})
	}
	for _, e := range c.events {
		e.At, e.Transfer, e.Actor, e.CaseDigest = now, c.transfer.ID, env.From, c.transfer.CaseDigest
		if e.MessageID == "" {
			e.MessageID, e.Kind, e.From, e.To = env.ID, env.Kind, env.From, env.To
		}
		if _, err := tx.AppendEvent(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

// roleIn says what part agency plays in t, and who the other party is.
func roleIn(t Transfer, agency string) (Role, string) {
	switch agency {
	case t.Sender:
		return RoleSender, t.Recipient
	case t.Recipient:
		return RoleRecipient, t.Sender
	}
	return "", ""
}
