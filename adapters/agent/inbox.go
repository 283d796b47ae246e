package agent

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/relais-hub/relais/contracts"
)

// Received is a message kept in the local inbox: verified, decrypted and
// stored before its receipt was queued.
type Received struct {
	Envelope contracts.Envelope
	// JWS is the exact message received: the proof of what was sent.
	JWS []byte
	// Plaintext is the body in clear (decrypted, or the plain body).
	Plaintext []byte
	// HubReceivedAt is when the hub accepted the message; StoredAt when
	// this agent committed it.
	HubReceivedAt time.Time
	StoredAt      time.Time
	ReadAt        time.Time
	// Violation is set when the decrypted body broke the policy; the
	// sender was sent a policy.violation report.
	Violation *Violation
	// Attachments are the files the message references (filled by Read).
	Attachments []ReceivedAttachment
}

// Violation marks a received message whose body did not follow its kind or
// carried data of undeclared categories.
type Violation struct {
	Code       string
	Categories []string
	// Report is the id of the policy.violation message queued back.
	Report string
}

// InboxFilter selects inbox messages.
type InboxFilter struct {
	Unread bool
	// IncludeReceipts lists the delivery receipts of this agency's own
	// messages too.
	IncludeReceipts bool
	Limit           int
}

// insertInboxTx stores a received message unless its id is already there,
// and reports whether it did.
func insertInboxTx(ctx context.Context, tx *sql.Tx, r Received) (bool, error) {
	env, err := json.Marshal(r.Envelope)
	if err != nil {
		return false, err
	}
	var code, cats, report string
	if v := r.Violation; v != nil {
		code, cats, report = v.Code, strings.Join(v.Categories, ","), v.Report
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO inbox (id, kind, sender, transfer, case_ref, in_reply_to, envelope, jws, plaintext,
		hub_received_at, stored_at, violation_code, violation_categories, report_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
		r.Envelope.ID, r.Envelope.Kind, r.Envelope.From, r.Envelope.Transfer, r.Envelope.Case, r.Envelope.InReplyTo, env, r.JWS, r.Plaintext,
		millis(r.HubReceivedAt), millis(r.StoredAt), code, cats, report)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// seen reports whether a message id was already kept or refused here.
func (s *store) seen(ctx context.Context, id string) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM inbox WHERE id = ?) + (SELECT COUNT(*) FROM inbox_rejected WHERE id = ?)`, id, id).Scan(&n)
	return n > 0, err
}

// rejectInbox remembers a message that failed verification or decryption:
// it is never stored as genuine nor receipted, and not opened again.
func (s *store) rejectInbox(ctx context.Context, id, code string, now time.Time) error {
	return s.update(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO inbox_rejected (id, code, at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING`, id, code, millis(now))
		return err
	})
}

const receivedColumns = `envelope, jws, plaintext, hub_received_at, stored_at, read_at, violation_code, violation_categories, report_id`

func scanReceived(row scanner) (Received, error) {
	var r Received
	var env []byte
	var hubAt, storedAt int64
	var readAt sql.NullInt64
	var code, cats, report string
	if err := row.Scan(&env, &r.JWS, &r.Plaintext, &hubAt, &storedAt, &readAt, &code, &cats, &report); err != nil {
		return r, err
	}
	if err := json.Unmarshal(env, &r.Envelope); err != nil {
		return r, err
	}
	r.HubReceivedAt, r.StoredAt, r.ReadAt = time.UnixMilli(hubAt).UTC(), time.UnixMilli(storedAt).UTC(), fromMillis(readAt)
	if code != "" {
		r.Violation = &Violation{Code: code, Report: report}
		if cats != "" {
			r.Violation.Categories = strings.Split(cats, ",")
		}
	}
	return r, nil
}

func (s *store) received(ctx context.Context, id string) (Received, error) {
	r, err := scanReceived(s.db.QueryRowContext(ctx, `SELECT `+receivedColumns+` FROM inbox WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, errNotFound
	}
	return r, err
}

func (s *store) listInbox(ctx context.Context, f InboxFilter) ([]Received, error) {
	q := `SELECT ` + receivedColumns + ` FROM inbox WHERE 1 = 1`
	var args []any
	if f.Unread {
		q += ` AND read_at IS NULL`
	}
	if !f.IncludeReceipts {
		q += ` AND kind <> 'receipt'`
	}
	q += ` ORDER BY stored_at DESC, id DESC`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Received
	for rows.Next() {
		r, err := scanReceived(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (s *store) markRead(ctx context.Context, id string, now time.Time) error {
	return s.update(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE inbox SET read_at = ? WHERE id = ? AND read_at IS NULL`, millis(now), id)
		return err
	})
}

// inboxCounts are the inbox figures of the status.
type inboxCounts struct {
	Unread, Violations, Rejected int
}

func (s *store) countInbox(ctx context.Context) (inboxCounts, error) {
	var c inboxCounts
	err := s.db.QueryRowContext(ctx, `SELECT
		COALESCE(SUM(kind <> 'receipt' AND read_at IS NULL), 0),
		COALESCE(SUM(violation_code <> ''), 0),
		(SELECT COUNT(*) FROM inbox_rejected)
		FROM inbox`).Scan(&c.Unread, &c.Violations, &c.Rejected)
	return c, err
}
