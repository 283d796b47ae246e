package attachments

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
)

// CheckReferences checks, without a transaction, what the hub can see of
// a message's attachment references before the accepting transaction: each
// wrapped key is a JWE of the sealed-body profile addressed to a key that
// isEncryptionKey says is the recipient's.
func CheckReferences(ctx context.Context, env contracts.Envelope, isEncryptionKey func(ctx context.Context, agency, kid string) (bool, error)) error {
	for i, ref := range env.Attachments {
		field := fmt.Sprintf("attachments[%d].key", i)
		h, err := seal.CheckJWE(ref.Key)
		if err != nil {
			p := contracts.AsProblem(err)
			return &contracts.Problem{Code: contracts.CodeInvalidEnvelope, Detail: field + ": " + p.Detail, Fields: []string{field}}
		}
		ok, err := isEncryptionKey(ctx, env.To, h.Kid)
		if err != nil {
			return err
		}
		if !ok {
			return &contracts.Problem{Code: contracts.CodeInvalidEnvelope, Detail: field + ": not wrapped for a registered key of the recipient", Fields: []string{field}}
		}
	}
	return nil
}

// CheckAndLink runs in the transaction that accepts the message: every
// referenced attachment must have been uploaded completely by the sender
// with the digest and size the envelope signs; then the message is linked
// to each, in the same transaction, so its parties may read them.
func CheckAndLink(ctx context.Context, tx TxStore, env contracts.Envelope, at time.Time) error {
	for i, ref := range env.Attachments {
		r, err := tx.Attachment(ctx, ref.ID)
		field := fmt.Sprintf("attachments[%d]", i)
		switch {
		case errors.Is(err, ErrNotFound):
			return &contracts.Problem{Code: contracts.CodeAttachmentNotUploaded, Detail: field + " was not uploaded", Fields: []string{field}}
		case err != nil:
			return fmt.Errorf("attachment %s: %w", ref.ID, err)
		case r.Uploader != env.From:
			// Someone else's upload under that id: to this sender it does
			// not exist.
			return &contracts.Problem{Code: contracts.CodeAttachmentNotUploaded, Detail: field + " was not uploaded by the sender", Fields: []string{field}}
		case r.SHA256 != ref.SHA256 || r.Size != ref.Size:
			return &contracts.Problem{Code: contracts.CodeAttachmentMismatch, Detail: field + ": digest or size differs from the upload", Fields: []string{field}}
		case r.State == StateDeleted:
			return &contracts.Problem{Code: contracts.CodeAttachmentNotUploaded, Detail: field + " was deleted", Fields: []string{field}}
		case r.State != StateComplete:
			return &contracts.Problem{Code: contracts.CodeAttachmentNotUploaded, Detail: fmt.Sprintf("%s is incomplete (%d of %d bytes)", field, r.Offset, r.Size), Fields: []string{field}}
		}
		if err := tx.LinkAttachment(ctx, Link{AttachmentID: ref.ID, MessageID: env.ID, Transfer: env.Transfer,
			From: env.From, To: env.To, Kind: env.Kind, LinkedAt: at}); err != nil {
			return fmt.Errorf("link attachment %s: %w", ref.ID, err)
		}
	}
	return nil
}
