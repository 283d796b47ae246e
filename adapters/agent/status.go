package agent

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Status is what `agent status` shows a case worker: what waits to leave,
// when the hub was last reached, what waits for the recipient's receipt,
// and which transfers are overdue.
type Status struct {
	Agency string
	Hub    string
	// Queued counts outgoing items not yet accepted by the hub (receipts
	// included: they are owed to the senders); OldestQueued is when the
	// oldest was composed.
	Queued       int
	OldestQueued time.Time
	// AwaitingReceipt counts messages the hub accepted whose recipient has
	// not yet confirmed storing them.
	AwaitingReceipt int
	// Refused counts messages the hub refused (see the outbox for codes).
	Refused int
	// Unread counts received messages not yet read; Violations those whose
	// body broke the policy; Rejected those that failed verification.
	Unread     int
	Violations int
	Rejected   int
	// AttachmentsToUpload counts files waiting to be uploaded (their
	// messages wait with them); AttachmentsToDownload files of received
	// messages not yet fetched; AttachmentsFailed those given up.
	AttachmentsToUpload   int
	AttachmentsToDownload int
	AttachmentsFailed     int
	// LastSync is the last successful exchange with the hub (zero: never);
	// LastError and LastErrorAt the last failure's code and time.
	LastSync    time.Time
	LastError   string
	LastErrorAt time.Time
	// Overdue lists the transfers with a passed deadline, as of
	// OverdueAsOf; OverdueLive tells whether they were fetched just now
	// or are the last known list. OverdueKnown is false when they were
	// never fetched.
	Overdue      []OverdueTransfer
	OverdueAsOf  time.Time
	OverdueLive  bool
	OverdueKnown bool
}

// liveStatusTimeout bounds the hub call of a live status: a case worker at
// a terminal should not wait for a dead link's timeouts.
const liveStatusTimeout = 8 * time.Second

// Status gathers the status from the database. With live, it first tries
// to fetch the overdue transfers from the hub (when the keys are open),
// falling back to the last known list.
func (a *Agent) Status(ctx context.Context, live bool) (Status, error) {
	st := Status{Agency: a.cfg.Agency, Hub: a.cfg.Hub}
	if live && a.hasKeys {
		liveCtx, cancel := context.WithTimeout(ctx, liveStatusTimeout)
		st.OverdueLive = a.RefreshOverdue(liveCtx) == nil
		cancel()
	}
	oc, err := a.db.countOutbox(ctx)
	if err != nil {
		return st, err
	}
	st.Queued, st.OldestQueued, st.AwaitingReceipt, st.Refused = oc.Queued, oc.OldestQueued, oc.AwaitingReceipt, oc.Refused
	ic, err := a.db.countInbox(ctx)
	if err != nil {
		return st, err
	}
	st.Unread, st.Violations, st.Rejected = ic.Unread, ic.Violations, ic.Rejected
	ac, err := a.db.countAttachments(ctx)
	if err != nil {
		return st, err
	}
	st.AttachmentsToUpload, st.AttachmentsToDownload, st.AttachmentsFailed = ac.ToUpload, ac.ToDownload, ac.Failed
	if st.LastSync, err = a.db.stateTime(ctx, stateLastSync); err != nil {
		return st, err
	}
	if st.LastErrorAt, err = a.db.stateTime(ctx, stateLastErrorAt); err != nil {
		return st, err
	}
	if code, _, err := a.db.getState(ctx, stateLastError); err == nil {
		st.LastError = string(code)
	} else if !errors.Is(err, errNotFound) {
		return st, err
	}
	raw, _, err := a.db.getState(ctx, stateOverdue)
	switch {
	case errors.Is(err, errNotFound):
		st.OverdueLive = false
		return st, nil
	case err != nil:
		return st, err
	}
	if err := json.Unmarshal(raw, &st.Overdue); err != nil {
		return st, err
	}
	st.OverdueKnown = true
	st.OverdueAsOf, err = a.db.stateTime(ctx, stateOverdueAt)
	return st, err
}

// Outbox lists outbox items, newest first.
func (a *Agent) Outbox(ctx context.Context, f OutboxFilter) ([]Outgoing, error) {
	return a.db.listOutbox(ctx, f)
}

// Inbox lists received messages, newest first.
func (a *Agent) Inbox(ctx context.Context, f InboxFilter) ([]Received, error) {
	return a.db.listInbox(ctx, f)
}

// ErrNotInInbox is returned by Read for an id this agent did not store.
var ErrNotInInbox = errors.New("no such message in this agent's inbox")

// Read returns a stored message and marks it read.
func (a *Agent) Read(ctx context.Context, id string) (Received, error) {
	r, err := a.db.received(ctx, id)
	if errors.Is(err, errNotFound) {
		return r, ErrNotInInbox
	}
	if err != nil {
		return r, err
	}
	if r.Attachments, err = a.db.receivedAttachments(ctx, id); err != nil {
		return r, err
	}
	if r.ReadAt.IsZero() {
		now := time.Now()
		if err := a.db.markRead(ctx, id, now); err != nil {
			return r, err
		}
		r.ReadAt = now.UTC()
	}
	return r, nil
}
