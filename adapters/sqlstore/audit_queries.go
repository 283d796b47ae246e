package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/hub/audit"
)

// auditorsDDL is migration 4: the auditors table, and the indexes behind
// the auditor API's searches of the events table (by case digest, by party
// or actor, by time; by transfer exists since migration 1). The dialects
// differ only in the binary column type.
func auditorsDDL(blob string) string {
	return `
CREATE TABLE auditors (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  jwks ` + blob + ` NOT NULL,
  registered_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_case_digest ON events (case_digest, idx);
CREATE INDEX IF NOT EXISTS events_by_sender ON events (sender, idx);
CREATE INDEX IF NOT EXISTS events_by_recipient ON events (recipient, idx);
CREATE INDEX IF NOT EXISTS events_by_actor ON events (actor, idx);
CREATE INDEX IF NOT EXISTS events_by_time ON events (at, idx);
CREATE INDEX IF NOT EXISTS transfers_by_case_digest ON transfers (case_digest)
`
}

func (s *Store) Auditor(ctx context.Context, id string) (hub.Auditor, error) {
	var a hub.Auditor
	var at int64
	err := s.db.QueryRowContext(ctx, s.rebind(`SELECT id, name, jwks, registered_at FROM auditors WHERE id = ?`), id).
		Scan(&a.ID, &a.Name, &a.JWKS, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return a, hub.ErrNotFound
	}
	if err != nil {
		return a, fmt.Errorf("auditor: %w", err)
	}
	a.RegisteredAt = fromMicros(at)
	return a, nil
}

func (t *Tx) InsertAuditor(ctx context.Context, a hub.Auditor) error {
	_, err := t.exec(ctx, `INSERT INTO auditors (id, name, jwks, registered_at) VALUES (?, ?, ?, ?)`,
		a.ID, a.Name, a.JWKS, micros(a.RegisteredAt))
	if err != nil {
		return fmt.Errorf("insert auditor: %w", err)
	}
	return nil
}

// AppendAuditEvent logs e (Extra and all) and indexes it in events like a
// trail event, so that the auditor API finds it by actor and time.
func (t *Tx) AppendAuditEvent(ctx context.Context, e audit.Event) (uint64, error) {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	e = e.Normalize()
	idx, err := t.events.Add(context.WithoutCancel(ctx), t.tx.tx, e)
	if err != nil {
		return 0, fmt.Errorf("append audit event: %w", err)
	}
	_, err = t.exec(ctx, `INSERT INTO events (idx, type, at, message_id, transfer, kind, sender, recipient, actor, code, detail, jws_digest, case_digest)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		int64(idx), string(e.Type), micros(e.At), e.MessageID, e.Transfer, e.Kind, e.From, e.To, e.Actor, e.Code, e.Detail, e.BodyDigest, e.CaseDigest)
	if err != nil {
		return 0, fmt.Errorf("index audit event: %w", err)
	}
	return idx, nil
}

// AuditEvents searches the events table and returns the matching leaves
// themselves (LEFT JOIN: a leaf row that has gone missing comes back as nil,
// for the auditor to see, instead of silently vanishing from the answer).
func (s *Store) AuditEvents(ctx context.Context, q hub.AuditQuery) ([]hub.AuditEntry, error) {
	if q.Limit <= 0 {
		return nil, fmt.Errorf("audit events: limit must be positive")
	}
	where := []string{"e.idx >= ?"}
	args := []any{int64(q.Start)}
	var subject []string
	if len(q.Transfers) > 0 {
		subject = append(subject, "e.transfer IN ("+marks(len(q.Transfers))+")")
		args = appendStrings(args, q.Transfers)
	}
	if len(q.CaseDigests) > 0 {
		// The events a case's transfer records carry the digest of their
		// own sender's reference; the transfer row carries the opener's.
		// Selecting by both finds every event of the case's transfers.
		subject = append(subject, "e.case_digest IN ("+marks(len(q.CaseDigests))+")",
			"e.transfer IN (SELECT id FROM transfers WHERE case_digest IN ("+marks(len(q.CaseDigests))+"))")
		args = appendStrings(args, q.CaseDigests)
		args = appendStrings(args, q.CaseDigests)
	}
	if len(subject) > 0 {
		where = append(where, "("+strings.Join(subject, " OR ")+")")
	}
	if q.Agency != "" {
		where = append(where, "(e.sender = ? OR e.recipient = ? OR e.actor = ?)")
		args = append(args, q.Agency, q.Agency, q.Agency)
	}
	if !q.From.IsZero() {
		where = append(where, "e.at >= ?")
		args = append(args, micros(q.From))
	}
	if !q.To.IsZero() {
		where = append(where, "e.at < ?")
		args = append(args, micros(q.To))
	}
	args = append(args, q.Limit)
	query := `SELECT e.idx, l.data FROM events e LEFT JOIN audit_leaves l ON l.idx = e.idx WHERE ` +
		strings.Join(where, " AND ") + ` ORDER BY e.idx LIMIT ?`
	rows, err := s.db.QueryContext(ctx, s.rebind(query), args...)
	if err != nil {
		return nil, fmt.Errorf("audit events: %w", err)
	}
	defer rows.Close()
	var out []hub.AuditEntry
	for rows.Next() {
		var idx int64
		var leaf []byte
		if err := rows.Scan(&idx, &leaf); err != nil {
			return nil, fmt.Errorf("audit events: %w", err)
		}
		out = append(out, hub.AuditEntry{Index: uint64(idx), Leaf: leaf})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit events: %w", err)
	}
	return out, nil
}

// marks is n comma-separated placeholders.
func marks(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func appendStrings(args []any, values []string) []any {
	for _, v := range values {
		args = append(args, v)
	}
	return args
}
