package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/contracts"
)

// Queued is an outbox item as Compose created (or found) it.
type Queued struct {
	ID       string
	Kind     string
	To       string
	Transfer string
	// Existing is true when this very draft (same preset id, same content)
	// had been composed before: nothing new was queued.
	Existing bool
	// JWSBytes is the size of the signed message; BodyBytes the size of
	// the body in clear.
	JWSBytes  int
	BodyBytes int
	// Attachments counts the files sealed to go with it.
	Attachments int
}

// Compose seals a draft — validates its body, encrypts it for the
// recipient's current key from the local copy of the directory, signs it —
// and commits the signed bytes to the outbox before returning. It needs no
// network. Files to attach are encrypted for the recipient first, into the
// agent directory; the message then waits for their upload (see
// attachments.go). A draft with a preset id can be composed again after a
// crash: the same draft is recognised, a different one under that id is
// refused (duplicate_id).
func (a *Agent) Compose(ctx context.Context, d agency.Draft, files ...Attachment) (Queued, error) {
	if err := a.requireKeys(); err != nil {
		return Queued{}, err
	}
	if d.Kind == "" {
		d.Kind = "referral.request"
	}
	if d.Kind == "receipt" {
		return Queued{}, contracts.Refuse(contracts.CodeInvalidEnvelope, "receipts are sent by the agent itself once a message is stored")
	}
	if len(files) > 0 && len(d.Attachments) > 0 {
		return Queued{}, contracts.Refuse(contracts.CodeInvalidEnvelope, "attach files, or reference uploaded attachments, not both")
	}
	digest, err := draftDigest(d, files)
	if err != nil {
		return Queued{}, err
	}
	if d.ID != "" {
		if q, found, err := a.composedBefore(ctx, a.db.db, d.ID, digest); found || err != nil {
			return q, err
		}
	}
	sealed, err := a.sealAttachments(ctx, d.To, files)
	if errors.Is(err, ErrNoDirectory) {
		return Queued{}, ErrNoDirectory
	}
	if err != nil {
		return Queued{}, err
	}
	committed := false
	defer func() {
		if !committed {
			removeSealed(sealed)
		}
	}()
	for _, sa := range sealed {
		d.Attachments = append(d.Attachments, sa.Ref)
	}
	env, jws, err := a.sealer.Seal(ctx, d)
	if errors.Is(err, ErrNoDirectory) {
		return Queued{}, ErrNoDirectory
	}
	if err != nil {
		return Queued{}, fmt.Errorf("seal: %w", err)
	}
	q := Queued{ID: env.ID, Kind: env.Kind, To: env.To, Transfer: env.Transfer, JWSBytes: len(jws), BodyBytes: len(d.Body), Attachments: len(sealed)}
	err = a.db.update(ctx, func(tx *sql.Tx) error {
		if d.ID != "" {
			// Another process may have composed the same draft meanwhile.
			prev, found, err := a.composedBefore(ctx, tx, d.ID, digest)
			if found || err != nil {
				q = prev
				return err
			}
		}
		if err := insertOutboxTx(ctx, tx, outboxRow{ID: env.ID, Kind: env.Kind, To: env.To, Transfer: env.Transfer, Case: env.Case,
			InReplyTo: env.InReplyTo, Origin: OriginCompose, DraftSHA256: digest, JWS: jws, BodyBytes: len(d.Body)}, time.Now()); err != nil {
			return err
		}
		if err := insertOutgoingAttachmentsTx(ctx, tx, env.ID, sealed); err != nil {
			return err
		}
		committed = true
		return nil
	})
	if err != nil {
		committed = false
		return Queued{}, err
	}
	a.signal()
	return q, nil
}

// composedBefore looks for an outbox item with the draft's preset id.
func (a *Agent) composedBefore(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, id, digest string) (Queued, bool, error) {
	o, draft, err := outgoing(ctx, q, id)
	if errors.Is(err, errNotFound) {
		return Queued{}, false, nil
	}
	if err != nil {
		return Queued{}, false, err
	}
	if draft != digest {
		return Queued{}, true, contracts.Refuse(contracts.CodeDuplicateID, "message id %s was already used for another draft", id)
	}
	return Queued{ID: o.ID, Kind: o.Kind, To: o.To, Transfer: o.Transfer, Existing: true, JWSBytes: o.JWSBytes, BodyBytes: o.BodyBytes}, true, nil
}

// draftDigest identifies a draft's content, whatever the formatting of its
// body, and the files it attaches (by name, type and size).
func draftDigest(d agency.Draft, files []Attachment) (string, error) {
	var body bytes.Buffer
	if err := json.Compact(&body, d.Body); err != nil {
		return "", contracts.Refuse(contracts.CodeBodyInvalid, "body is not JSON")
	}
	d.Body = body.Bytes()
	type file struct {
		Name, MediaType string
		Size            int64
	}
	var attached []file
	for _, f := range files {
		f = f.withDefaults()
		st, err := os.Stat(f.Path)
		if err != nil {
			return "", fmt.Errorf("attachment: %w", err)
		}
		attached = append(attached, file{f.Name, f.MediaType, st.Size()})
	}
	b, err := json.Marshal(struct {
		Draft agency.Draft
		Files []file `json:",omitempty"`
	}{d, attached})
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// Answer composes referral.accepted, or referral.declined with a reason
// code, for a referral this agency received and stored.
func (a *Agent) Answer(ctx context.Context, referral string, accept bool, reason string) (Queued, error) {
	r, err := a.db.received(ctx, referral)
	if errors.Is(err, errNotFound) {
		return Queued{}, contracts.Refuse(contracts.CodeNotFound, "message %s is not in this agent's inbox", referral)
	}
	if err != nil {
		return Queued{}, err
	}
	opening := r.Envelope
	d := agency.Draft{To: opening.From, Case: opening.Case, Transfer: opening.Transfer, InReplyTo: opening.ID}
	if accept {
		d.Kind, d.Body = "referral.accepted", json.RawMessage(`{}`)
	} else {
		body, err := json.Marshal(contracts.ReferralDeclined{Reason: reason})
		if err != nil {
			return Queued{}, err
		}
		d.Kind, d.Body = "referral.declined", body
	}
	return a.Compose(ctx, d)
}

// signal wakes the push loop of this process, if it runs.
func (a *Agent) signal() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}
