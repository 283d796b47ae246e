package agent

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
	"github.com/relais-hub/relais/hub/policy"
)

// PullResult counts what a pull did.
type PullResult struct {
	// Stored counts messages kept (receipts of this agency's messages
	// included); Rejected those that failed verification or decryption.
	Stored   int
	Rejected int
}

// Pull reads the inbox after the saved cursor until it is empty, waiting
// up to wait for the first message when there is none. Each message is
// verified, decrypted and stored with its sealed receipt in one commit
// before the cursor moves past it.
func (a *Agent) Pull(ctx context.Context, wait time.Duration) (PullResult, error) {
	var res PullResult
	if err := a.requireKeys(); err != nil {
		return res, err
	}
	hubID, err := a.hubID(ctx)
	if err != nil {
		return res, err
	}
	cursorRaw, _, err := a.db.getState(ctx, stateCursor)
	if err != nil && !errors.Is(err, errNotFound) {
		return res, err
	}
	cursor := string(cursorRaw)
	for {
		items, next, err := a.api.inbox(ctx, hubID, cursor, wait, a.pages.size())
		if err != nil {
			if ctx.Err() == nil {
				a.pages.failed()
			}
			return res, err
		}
		a.pages.succeeded(len(items))
		for _, it := range items {
			if err := a.receive(ctx, it, &res); err != nil {
				return res, fmt.Errorf("message %s: %w", it.ID, err)
			}
		}
		if next != "" && next != cursor {
			if err := a.db.setState(ctx, time.Now(), stateCursor, next); err != nil {
				return res, err
			}
			cursor = next
		}
		if len(items) == 0 {
			return res, nil
		}
		wait = 0
	}
}

// pageSizer adapts the inbox page to the link: a read that fails halves
// the page, so that on a link dropping every few seconds a page still
// completes between two drops; a full page that arrives doubles it again,
// up to the configured size.
type pageSizer struct {
	max int
	cur atomic.Int32
}

func newPageSizer(max int) *pageSizer {
	p := &pageSizer{max: max}
	p.cur.Store(int32(max))
	return p
}

func (p *pageSizer) size() int { return int(p.cur.Load()) }

func (p *pageSizer) failed() {
	if n := p.cur.Load(); n > 1 {
		p.cur.Store(n / 2)
	}
}

func (p *pageSizer) succeeded(got int) {
	if n := p.cur.Load(); got >= int(n) && int(n) < p.max {
		p.cur.Store(int32(min(2*int(n), p.max)))
	}
}

// receive keeps one inbox message. An error leaves the cursor before it:
// the message is read again on the next pull.
func (a *Agent) receive(ctx context.Context, it agency.InboxItem, res *PullResult) error {
	if seen, err := a.db.seen(ctx, it.ID); err != nil || seen {
		return err
	}
	o, err := a.open(ctx, []byte(it.JWS))
	var p *contracts.Problem
	if err != nil && !errors.As(err, &p) {
		// Not the message's fault (the directory could not be fetched):
		// try again later.
		return err
	}
	r := Received{Envelope: o.Envelope, JWS: []byte(it.JWS), Plaintext: o.Plaintext, HubReceivedAt: it.ReceivedAt}
	switch {
	case err == nil:
		r.Violation = violation(it.ID, policy.CheckBodyCategories(o.Envelope.Kind, o.Plaintext, o.Envelope.DataCategories))
	case o.Plaintext != nil:
		// Signed and decrypted, but the body breaks its kind's contract:
		// the sender signed it and answers for it; keep it, marked.
		r.Violation = violation(it.ID, err)
	}
	if err != nil && r.Violation == nil {
		a.log.WarnContext(ctx, "message refused", "id", it.ID, "code", p.Code)
		res.Rejected++
		return a.db.rejectInbox(ctx, it.ID, string(p.Code), time.Now())
	}
	if o.Envelope.Kind == "receipt" {
		return a.keepReceipt(ctx, r, res)
	}
	return a.keepMessage(ctx, r, res)
}

// open verifies and decrypts with the local directory, fetching it again
// once when the signer's key is not in it (a new agency, a rotated key).
func (a *Agent) open(ctx context.Context, jws []byte) (agency.Opened, error) {
	o, err := a.sealer.Open(ctx, jws)
	if contracts.CodeOf(err) != contracts.CodeUnknownKey {
		return o, err
	}
	if rErr := a.RefreshDirectory(ctx); rErr != nil {
		return o, rErr
	}
	return a.sealer.Open(ctx, jws)
}

func violation(id string, err error) *Violation {
	v, ok := policy.NewPolicyViolation(id, err)
	if !ok {
		return nil
	}
	return &Violation{Code: v.Code, Categories: v.Categories}
}

// reply is a message the agent writes itself in answer to one it stored.
type reply struct {
	origin string
	draft  agency.Draft
}

// keepMessage stores a message with its receipt (and its violation report)
// in one transaction. The receipt is sealed before, without the network; it
// leaves only when Push finds it in the outbox, after this commit.
func (a *Agent) keepMessage(ctx context.Context, r Received, res *PullResult) error {
	env := r.Envelope
	receiptBody, _ := json.Marshal(contracts.DeliveryReceipt{SHA256: seal.SHA256Hex(r.JWS)})
	var replies []reply
	// Never answer a report with a report: two faulty agents would bounce
	// reports between them forever.
	if v := r.Violation; v != nil && env.Kind != "policy.violation" {
		v.Report = contracts.NewMessageID()
		body, err := json.Marshal(contracts.PolicyViolation{ViolatedMessage: env.ID, Code: v.Code, Categories: v.Categories})
		if err != nil {
			return err
		}
		replies = append(replies, reply{OriginReport, agency.Draft{ID: v.Report, Kind: "policy.violation", To: env.From, Case: env.Case,
			Transfer: env.Transfer, InReplyTo: env.ID, Body: body}})
	}
	replies = append(replies, reply{OriginReceipt, agency.Draft{Kind: "receipt", To: env.From, Case: env.Case, Transfer: env.Transfer,
		InReplyTo: env.ID, Body: receiptBody}})
	rows := make([]outboxRow, 0, len(replies))
	for _, s := range replies {
		out, jws, err := a.sealer.Seal(ctx, s.draft)
		if err != nil {
			return fmt.Errorf("seal %s: %w", s.draft.Kind, err)
		}
		rows = append(rows, outboxRow{ID: out.ID, Kind: out.Kind, To: out.To, Transfer: out.Transfer, Case: out.Case,
			InReplyTo: out.InReplyTo, Origin: s.origin, JWS: jws, BodyBytes: len(s.draft.Body)})
	}
	now := time.Now()
	r.StoredAt = now
	var stored bool
	err := a.db.update(ctx, func(tx *sql.Tx) error {
		var err error
		if stored, err = insertInboxTx(ctx, tx, r); err != nil || !stored {
			return err
		}
		if err := insertIncomingAttachmentsTx(ctx, tx, env); err != nil {
			return err
		}
		for _, row := range rows {
			if err := insertOutboxTx(ctx, tx, row, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || !stored {
		return err
	}
	res.Stored++
	a.log.InfoContext(ctx, "message stored", "id", env.ID, "kind", env.Kind, "from", env.From, "violation", r.Violation != nil)
	a.signal()
	return nil
}

// keepReceipt stores a recipient's delivery receipt and marks the message
// it acknowledges, when the digest it carries is that of the exact bytes
// this agent sent.
func (a *Agent) keepReceipt(ctx context.Context, r Received, res *PullResult) error {
	var body contracts.DeliveryReceipt
	if err := json.Unmarshal(r.Plaintext, &body); err != nil {
		return contracts.Refuse(contracts.CodeBodyInvalid, "receipt body")
	}
	now := time.Now()
	r.StoredAt = now
	matched := false
	err := a.db.update(ctx, func(tx *sql.Tx) error {
		stored, err := insertInboxTx(ctx, tx, r)
		if err != nil || !stored {
			return err
		}
		jws, err := outboxJWSTx(ctx, tx, r.Envelope.InReplyTo)
		if errors.Is(err, errNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if seal.SHA256Hex(jws) != body.SHA256 {
			return nil
		}
		matched = true
		return markReceiptedTx(ctx, tx, r.Envelope.InReplyTo, r.Envelope.ID, r.HubReceivedAt)
	})
	if err != nil {
		return err
	}
	res.Stored++
	if !matched {
		a.log.WarnContext(ctx, "delivery receipt does not match a message sent from here", "id", r.Envelope.ID,
			"in_reply_to", r.Envelope.InReplyTo, "code", contracts.CodeReceiptMismatch)
	}
	return nil
}
