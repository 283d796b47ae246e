package agent

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"
)

// Outbox states.
const (
	StateQueued  = "queued"
	StateSent    = "sent"
	StateRefused = "refused"
)

// Origins of outbox items: composed by a case worker, or written by the
// agent itself when it stored a received message.
const (
	OriginCompose = "compose"
	OriginReceipt = "receipt"
	OriginReport  = "report"
)

// Outgoing is one outbox item, without its signed bytes.
type Outgoing struct {
	ID        string
	Kind      string
	To        string
	Transfer  string
	Case      string
	InReplyTo string
	Origin    string
	State     string
	CreatedAt time.Time
	// Attempts counts submissions that did not settle the item.
	Attempts      int
	LastError     string
	LastAttemptAt time.Time
	// SentAt and LeafIndex come from the hub's signed acceptance receipt.
	SentAt    time.Time
	LeafIndex uint64
	// RefusedCode and RefusedDetail are the hub's problem when it refused.
	RefusedCode   string
	RefusedDetail string
	// ReceiptedAt is when the recipient's signed delivery receipt arrived.
	ReceiptedAt time.Time
	JWSBytes    int
	BodyBytes   int
}

// AwaitsReceipt reports whether the hub took the item and the recipient has
// not yet confirmed it stored it. Receipts themselves are never receipted.
func (o Outgoing) AwaitsReceipt() bool {
	return o.State == StateSent && o.Kind != "receipt" && o.ReceiptedAt.IsZero()
}

// outboxRow is what an item is created with.
type outboxRow struct {
	ID, Kind, To, Transfer, Case, InReplyTo, Origin string
	// DraftSHA256 identifies the draft a preset id was sealed from, so that
	// composing the same draft again is recognised rather than refused.
	DraftSHA256 string
	JWS         []byte
	BodyBytes   int
}

func insertOutboxTx(ctx context.Context, tx *sql.Tx, r outboxRow, now time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO outbox (id, kind, recipient, transfer, case_ref, in_reply_to, origin, draft_sha256, jws, body_bytes, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.Kind, r.To, r.Transfer, r.Case, r.InReplyTo, r.Origin, r.DraftSHA256, r.JWS, r.BodyBytes, millis(now))
	return err
}

const outgoingColumns = `id, kind, recipient, transfer, case_ref, in_reply_to, origin, state, created_at, attempts, last_error,
	last_attempt_at, sent_at, leaf_index, refused_code, refused_detail, receipted_at, length(jws), body_bytes`

type scanner interface{ Scan(dest ...any) error }

// scanOutgoing reads outgoingColumns, then extra columns into extra.
func scanOutgoing(row scanner, extra ...any) (Outgoing, error) {
	var o Outgoing
	var created int64
	var attempted, sent, leaf, receipted sql.NullInt64
	dest := append([]any{&o.ID, &o.Kind, &o.To, &o.Transfer, &o.Case, &o.InReplyTo, &o.Origin, &o.State, &created, &o.Attempts, &o.LastError,
		&attempted, &sent, &leaf, &o.RefusedCode, &o.RefusedDetail, &receipted, &o.JWSBytes, &o.BodyBytes}, extra...)
	if err := row.Scan(dest...); err != nil {
		return o, err
	}
	o.CreatedAt = time.UnixMilli(created).UTC()
	o.LastAttemptAt, o.SentAt, o.ReceiptedAt = fromMillis(attempted), fromMillis(sent), fromMillis(receipted)
	if leaf.Valid {
		o.LeafIndex = uint64(leaf.Int64)
	}
	return o, nil
}

// outgoing returns one item and the digest of the draft it was sealed from.
func outgoing(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, id string) (Outgoing, string, error) {
	var draft string
	o, err := scanOutgoing(q.QueryRowContext(ctx, `SELECT `+outgoingColumns+`, draft_sha256 FROM outbox WHERE id = ?`, id), &draft)
	if errors.Is(err, sql.ErrNoRows) {
		return o, "", errNotFound
	}
	return o, draft, err
}

// dueItem is the next item to submit, with its exact signed bytes.
type dueItem struct {
	ID       string
	Kind     string
	To       string
	Transfer string
	JWS      []byte
}

// nextDue returns the oldest queued item that may go now: every attachment
// it references is uploaded, and no older item of the same transfer is still
// queued (the hub takes a sender's messages of one transfer in order; items
// of other transfers do not wait for it). Items of the transfers in skip
// are passed over.
func (s *store) nextDue(ctx context.Context, skip ...string) (dueItem, bool, error) {
	var d dueItem
	q := `SELECT o.id, o.kind, o.recipient, o.transfer, o.jws FROM outbox o
		WHERE o.state = 'queued'
		  AND NOT EXISTS (SELECT 1 FROM outbox_attachments a WHERE a.message_id = o.id AND a.uploaded_at IS NULL)
		  AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.transfer = o.transfer AND e.state = 'queued' AND e.seq < o.seq)`
	args := make([]any, 0, len(skip))
	if len(skip) > 0 {
		q += ` AND o.transfer NOT IN (?` + strings.Repeat(`, ?`, len(skip)-1) + `)`
		for _, t := range skip {
			args = append(args, t)
		}
	}
	err := s.db.QueryRowContext(ctx, q+` ORDER BY o.seq LIMIT 1`, args...).Scan(&d.ID, &d.Kind, &d.To, &d.Transfer, &d.JWS)
	if errors.Is(err, sql.ErrNoRows) {
		return d, false, nil
	}
	return d, err == nil, err
}

// markSent records the hub's acceptance. Only a queued item moves: a second
// process that submitted the same bytes finds it already settled.
func (s *store) markSent(ctx context.Context, id string, acceptedAt time.Time, leaf uint64, receipt string) error {
	return s.update(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE outbox SET state = 'sent', sent_at = ?, leaf_index = ?, hub_receipt = ?, last_error = ''
			WHERE id = ? AND state = 'queued'`, millis(acceptedAt), int64(leaf), receipt, id)
		return err
	})
}

// markRefused settles an item the hub refused with a problem code.
func (s *store) markRefused(ctx context.Context, id, code, detail string, now time.Time) error {
	return s.update(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE outbox SET state = 'refused', refused_code = ?, refused_detail = ?, attempts = attempts + 1, last_attempt_at = ?
			WHERE id = ? AND state = 'queued'`, code, detail, millis(now), id)
		return err
	})
}

// markAttempt records a submission that did not settle the item.
func (s *store) markAttempt(ctx context.Context, id, errCode string, now time.Time) error {
	return s.update(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE outbox SET attempts = attempts + 1, last_error = ?, last_attempt_at = ? WHERE id = ? AND state = 'queued'`,
			errCode, millis(now), id)
		return err
	})
}

// markReceiptedTx records the recipient's delivery receipt of item id.
func markReceiptedTx(ctx context.Context, tx *sql.Tx, id, receiptID string, at time.Time) error {
	_, err := tx.ExecContext(ctx, `UPDATE outbox SET receipted_at = ?, delivery_receipt = ? WHERE id = ? AND receipted_at IS NULL`,
		millis(at), receiptID, id)
	return err
}

// outboxJWSTx returns the signed bytes of item id.
func outboxJWSTx(ctx context.Context, tx *sql.Tx, id string) ([]byte, error) {
	var jws []byte
	err := tx.QueryRowContext(ctx, `SELECT jws FROM outbox WHERE id = ?`, id).Scan(&jws)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFound
	}
	return jws, err
}

// OutboxFilter selects outbox items.
type OutboxFilter struct {
	// State is queued, sent or refused; empty for all.
	State string
	// AwaitingReceipt keeps sent items the recipient has not receipted.
	AwaitingReceipt bool
	// IncludeReceipts lists the receipts the agent sent as well.
	IncludeReceipts bool
	Limit           int
}

func (s *store) listOutbox(ctx context.Context, f OutboxFilter) ([]Outgoing, error) {
	q := `SELECT ` + outgoingColumns + ` FROM outbox WHERE 1 = 1`
	var args []any
	if f.State != "" {
		q += ` AND state = ?`
		args = append(args, f.State)
	}
	if f.AwaitingReceipt {
		q += ` AND state = 'sent' AND kind <> 'receipt' AND receipted_at IS NULL`
	}
	if !f.IncludeReceipts {
		q += ` AND origin <> 'receipt'`
	}
	q += ` ORDER BY seq DESC`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Outgoing
	for rows.Next() {
		o, err := scanOutgoing(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// outboxCounts are the figures of the status.
type outboxCounts struct {
	Queued, AwaitingReceipt, Refused int
	OldestQueued                     time.Time
}

func (s *store) countOutbox(ctx context.Context) (outboxCounts, error) {
	var c outboxCounts
	var oldest sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT
		COALESCE(SUM(state = 'queued'), 0),
		COALESCE(SUM(state = 'sent' AND kind <> 'receipt' AND receipted_at IS NULL), 0),
		COALESCE(SUM(state = 'refused'), 0),
		MIN(CASE WHEN state = 'queued' THEN created_at END)
		FROM outbox`).Scan(&c.Queued, &c.AwaitingReceipt, &c.Refused, &oldest)
	c.OldestQueued = fromMillis(oldest)
	return c, err
}
