package hub

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
)

// ReceiptTyp is the JWS typ of hub acceptance receipts.
const ReceiptTyp = "relais-receipt+jws"

// AcceptanceReceipt is the payload of the hub's signed receipt: proof that
// the hub took this exact JWS at this time and logged it at this index.
type AcceptanceReceipt struct {
	Hub        string    `json:"hub"`
	ID         string    `json:"id"`
	SHA256     string    `json:"sha256"`
	AcceptedAt time.Time `json:"accepted_at"`
	LeafIndex  uint64    `json:"leaf_index"`
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// verify checks the JWS against the registered key named by its kid, with
// the algorithm pinned by that key.
func (h *Hub) verify(ctx context.Context, in *Intake) error {
	payload, hdr, err := seal.Verify(in.Raw, seal.EnvelopeTyp, func(kid string) (jwk.Key, error) {
		agency, key, err := h.directory.SigningKey(ctx, kid)
		if err != nil {
			return nil, err
		}
		in.Signer = agency
		return key, nil
	})
	if err != nil {
		in.Signer = ""
		return err
	}
	in.KID, in.Payload = hdr.Kid, payload
	return nil
}

// validate decodes the envelope strictly and checks what the hub can check
// without the body's plaintext.
func (h *Hub) validate(ctx context.Context, in *Intake) error {
	env, err := contracts.DecodeEnvelope(in.Payload)
	if err != nil {
		return err
	}
	in.Envelope = env
	spec, _ := contracts.Kind(env.Kind)
	in.Spec = spec
	if env.From != in.Signer {
		return contracts.Refuse(contracts.CodeSenderMismatch, "envelope from differs from the agency of signing key %s", in.KID)
	}
	if ok, err := h.directory.IsRegistered(ctx, env.To); err != nil {
		return err
	} else if !ok {
		return contracts.Refuse(contracts.CodeUnknownRecipient, "recipient %s is not registered", env.To)
	}
	if env.To == env.From {
		return contracts.Refuse(contracts.CodeInvalidEnvelope, "an agency cannot send to itself")
	}
	if spec.PersonalData {
		var jwe string
		if err := json.Unmarshal(env.Body, &jwe); err != nil {
			return contracts.Refuse(contracts.CodeBodyNotEncrypted, "body of %s must be a JWE compact string", env.Kind)
		}
		hdr, err := seal.CheckJWE(jwe)
		if err != nil {
			return err
		}
		if ok, err := h.directory.IsEncryptionKey(ctx, env.To, hdr.Kid); err != nil {
			return err
		} else if !ok {
			return contracts.Refuse(contracts.CodeBodyInvalid, "body is not encrypted for a registered key of the recipient")
		}
	}
	return nil
}

// dedupe answers a resubmission of the identical JWS with its first receipt
// and refuses a reused id. The accepting transaction checks again: this
// stage only spares the work.
func (h *Hub) dedupe(ctx context.Context, in *Intake) error {
	prev, err := h.store.Message(ctx, in.Envelope.ID)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return h.sameOrDuplicate(in, prev)
}

func (h *Hub) sameOrDuplicate(in *Intake, prev StoredMessage) error {
	if prev.SHA256 != in.SHA256 {
		return contracts.Refuse(contracts.CodeDuplicateID, "message id %s was already used", in.Envelope.ID)
	}
	receipt := prev.Receipt
	if len(receipt) == 0 {
		var err error
		if receipt, err = h.receiptFor(prev); err != nil {
			return err
		}
	}
	in.outcome = Outcome{ID: prev.ID, Receipt: receipt, LeafIndex: prev.LeafIndex, Duplicate: true}
	return nil
}

// receiptFor signs the acceptance receipt of a stored message. The receipt
// is not stored: its payload is fixed by the message's row (acceptance time
// at the store's microsecond precision), and the hub's Ed25519 signature
// is deterministic, so signing it again gives it back byte for byte. Signing
// after the commit keeps it off the store's single writer.
func (h *Hub) receiptFor(m StoredMessage) ([]byte, error) {
	return h.signReceipt(AcceptanceReceipt{Hub: h.cfg.ID, ID: m.ID, SHA256: m.SHA256, AcceptedAt: m.AcceptedAt.UTC(), LeafIndex: m.LeafIndex})
}

// accept commits the message, the transfer's new state, the audit event and
// the outbound delivery in one transaction, then wakes the relay.
func (h *Hub) accept(ctx context.Context, in *Intake) error {
	env := in.Envelope
	// The store keeps microseconds; the receipt signs the same instant.
	now := h.now().Truncate(time.Microsecond)
	var stored StoredMessage
	err := h.store.Update(ctx, func(tx Tx) error {
		prev, err := tx.Message(ctx, env.ID)
		if err == nil {
			return h.sameOrDuplicate(in, prev)
		}
		if !errors.Is(err, ErrNotFound) {
			return err
		}
		caseDigest := h.CaseDigest(env.From, env.Case)
		change, err := h.advance(ctx, tx, in, caseDigest, now)
		if err != nil {
			return err
		}
		if err := h.cfg.Policy.Decide(ctx, in); err != nil {
			return err
		}
		if err := h.linkAttachments(ctx, tx, in, now); err != nil {
			return err
		}
		idx, err := tx.AppendEvent(ctx, Event{
			Type: EventAccepted, At: now, MessageID: env.ID, Transfer: env.Transfer, Kind: env.Kind,
			From: env.From, To: env.To, Actor: env.From, JWSDigest: in.SHA256, CaseDigest: caseDigest,
		})
		if err != nil {
			return err
		}
		stored = StoredMessage{
			ID: env.ID, Kind: env.Kind, From: env.From, To: env.To, Transfer: env.Transfer, InReplyTo: env.InReplyTo,
			CaseDigest: caseDigest, JWS: in.Raw, SHA256: in.SHA256, LeafIndex: idx, AcceptedAt: now,
			ConsentRef: consentRefOf(env),
		}
		if err := tx.InsertMessage(ctx, stored); err != nil {
			return err
		}
		if err := change.apply(ctx, tx, h, in, now); err != nil {
			return err
		}
		if err := h.recordConsentEffects(ctx, tx, in, now); err != nil {
			return err
		}
		in.outcome = Outcome{ID: env.ID, LeafIndex: idx}
		return tx.Enqueue(ctx, OutboxItem{MessageID: env.ID, Recipient: env.To, CreatedAt: now})
	})
	if err != nil {
		return err
	}
	if !in.outcome.Duplicate {
		if in.outcome.Receipt, err = h.receiptFor(stored); err != nil {
			return err
		}
		h.metrics.accepted(env.Kind)
		h.wakeRelay()
		h.eraseAttachmentsAfter(ctx, in)
	}
	return nil
}

func (h *Hub) signReceipt(r AcceptanceReceipt) ([]byte, error) {
	payload, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	key := h.hubKeys.signing()
	jws, err := seal.SignWith(payload, key, key.KeyID(), ReceiptTyp)
	if err != nil {
		return nil, fmt.Errorf("sign receipt: %w", err)
	}
	return jws, nil
}
