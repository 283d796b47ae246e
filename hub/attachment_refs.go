package hub

import (
	"context"
	"time"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/hub/attachments"
)

// Attachments is the hub's attachment service (nil when the hub stores no
// attachments).
func (h *Hub) Attachments() *attachments.Service { return h.cfg.Attachments }

// wireAttachments applies the corridors' retention to attachments: their
// ciphertext is delivered ciphertext like a sealed body.
func (h *Hub) wireAttachments() {
	svc, corridors := h.cfg.Attachments, h.cfg.Corridors
	if svc == nil || corridors == nil {
		return
	}
	svc.SetRetention(func(from, to, kind string, at time.Time) (time.Duration, bool) {
		c, ok := corridors.Current().Find(from, to, kind, at)
		if !ok {
			return 0, false
		}
		return c.Retention.DeliveredCiphertext, true
	})
}

// runAttachments starts the attachment sweeps (expiry, retention,
// erasure) until the hub stops.
func (h *Hub) runAttachments(ctx context.Context) {
	svc := h.cfg.Attachments
	if svc == nil {
		return
	}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		svc.Run(ctx)
	}()
}

// linkAttachments runs in the accepting transaction: every attachment the
// envelope references must be wrapped for the recipient and fully
// uploaded by the sender with the signed digest and size; the message is
// then linked to them, atomically with its acceptance.
func (h *Hub) linkAttachments(ctx context.Context, tx Tx, in *Intake, now time.Time) error {
	env := in.Envelope
	if len(env.Attachments) == 0 {
		return nil
	}
	txs, ok := tx.(attachments.TxStore)
	if h.cfg.Attachments == nil || !ok {
		return contracts.Refuse(contracts.CodeAttachmentNotUploaded, "this hub does not store attachments")
	}
	if err := attachments.CheckReferences(ctx, env, h.directory.IsEncryptionKey); err != nil {
		return err
	}
	return attachments.CheckAndLink(ctx, txs, env, now)
}

// eraseAttachmentsAfter deletes the attachments of a transfer as soon as
// the erasure that a case.erased confirmation completed has committed.
func (h *Hub) eraseAttachmentsAfter(ctx context.Context, in *Intake) {
	if in.Envelope.Kind == "case.erased" {
		h.sweepErasedAttachments(ctx)
	}
}

// sweepErasedAttachments deletes the ciphertext of every attachment of an
// erased transfer; reclaimErased calls it too, in case a crash came
// between an erasure and its deletion.
func (h *Hub) sweepErasedAttachments(ctx context.Context) {
	svc := h.cfg.Attachments
	if svc == nil {
		return
	}
	if _, err := svc.SweepErased(context.WithoutCancel(ctx)); err != nil {
		h.log.WarnContext(ctx, "erase attachments", "err", err)
	}
}
