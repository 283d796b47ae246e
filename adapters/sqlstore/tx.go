package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/hub/audit"
)

// Tx implements hub.Tx on one database transaction.
type Tx struct {
	tx txConn
	s  *Store
	// events collects the transaction's audit events, appended to the log
	// just before the commit (commit.go).
	events *audit.Batch
}

var _ hub.Tx = (*Tx)(nil)

// SQL exposes the underlying transaction to packages that write in the same
// transaction (the audit log).
func (t *Tx) SQL() *sql.Tx { return t.tx.tx }

func (t *Tx) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(ctx, t.s.rebind(q), args...)
}

func (t *Tx) Message(ctx context.Context, id string) (hub.StoredMessage, error) {
	return t.s.message(ctx, t.tx, id)
}

func (t *Tx) InsertMessage(ctx context.Context, m hub.StoredMessage) error {
	if m.Receipt == nil {
		m.Receipt = []byte{} // the hub signs receipts on demand (hub.receiptFor)
	}
	_, err := t.exec(ctx, `INSERT INTO messages (`+messageColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.ID, m.Kind, m.From, m.To, m.Transfer, m.InReplyTo, m.CaseDigest, m.JWS, m.SHA256, m.Receipt,
		int64(m.LeafIndex), micros(m.AcceptedAt), micros(m.DeliveredAt), int64(m.InboxSeq), micros(m.ReceiptedAt), m.ReceiptedBy, m.ConsentRef)
	if err != nil {
		return fmt.Errorf("insert message: %w", err)
	}
	return nil
}

func (t *Tx) MarkDelivered(ctx context.Context, id string, at time.Time) (bool, error) {
	m, err := t.Message(ctx, id)
	if err != nil {
		return false, err
	}
	if !m.DeliveredAt.IsZero() {
		return false, nil
	}
	// A per-recipient counter, incremented under the row lock, orders the
	// inbox in commit order even with several hubs on one PostgreSQL.
	var seq int64
	if err := t.tx.QueryRowContext(ctx, t.s.rebind(`UPDATE agencies SET inbox_head = inbox_head + 1 WHERE id = ? RETURNING inbox_head`), m.To).Scan(&seq); err != nil {
		return false, fmt.Errorf("inbox sequence: %w", err)
	}
	res, err := t.exec(ctx, `UPDATE messages SET delivered_at = ?, inbox_seq = ? WHERE id = ? AND delivered_at = 0`, micros(at), seq, id)
	if err != nil {
		return false, fmt.Errorf("mark delivered: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (t *Tx) MarkReceipted(ctx context.Context, id, by string, at time.Time) (bool, error) {
	res, err := t.exec(ctx, `UPDATE messages SET receipted_at = ?, receipted_by = ? WHERE id = ? AND receipted_at = 0`, micros(at), by, id)
	if err != nil {
		return false, fmt.Errorf("mark receipted: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (t *Tx) ConsumeInbox(ctx context.Context, agency string, upTo uint64, kinds []string, at time.Time) error {
	for _, k := range kinds {
		if _, err := t.exec(ctx, `UPDATE messages SET receipted_at = ?, receipted_by = 'cursor' WHERE recipient = ? AND kind = ? AND receipted_at = 0 AND inbox_seq > 0 AND inbox_seq <= ?`,
			micros(at), agency, k, int64(upTo)); err != nil {
			return fmt.Errorf("consume inbox: %w", err)
		}
	}
	return nil
}

func (t *Tx) TransferForUpdate(ctx context.Context, id string) (hub.Transfer, error) {
	return t.s.transfer(ctx, t.tx, id, true)
}

func (t *Tx) SaveTransfer(ctx context.Context, tr hub.Transfer) error {
	_, err := t.exec(ctx, `INSERT INTO transfers (id, sender, recipient, case_digest, state, holder, opened_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET state = excluded.state, holder = excluded.holder, updated_at = excluded.updated_at`,
		tr.ID, tr.Sender, tr.Recipient, tr.CaseDigest, string(tr.State), tr.Holder, micros(tr.OpenedAt), micros(tr.UpdatedAt))
	if err != nil {
		return fmt.Errorf("save transfer: %w", err)
	}
	return nil
}

func (t *Tx) AppendEvent(ctx context.Context, e hub.Event) (uint64, error) {
	// The leaf's time has millisecond precision; the queryable copy keeps
	// the same instant so both read alike.
	e.At = e.At.UTC().Truncate(time.Millisecond)
	if err := t.stampHolder(ctx, &e); err != nil {
		return 0, err
	}
	idx, err := t.events.Add(context.WithoutCancel(ctx), t.tx.tx, leafOf(e))
	if err != nil {
		return 0, fmt.Errorf("append event: %w", err)
	}
	_, err = t.exec(ctx, `INSERT INTO events (`+eventColumns+`, holder) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		int64(idx), string(e.Type), micros(e.At), e.MessageID, e.Transfer, e.Kind, e.From, e.To, e.Actor, e.Code, e.Detail, e.JWSDigest, e.CaseDigest, e.Holder)
	if err != nil {
		return 0, fmt.Errorf("index event: %w", err)
	}
	return idx, nil
}

// leafOf is the audit leaf of a trail event: the same commitments, nothing
// more. The holder (an agency id) is committed too, so who was responsible
// at each step is as tamper-evident as the step itself.
func leafOf(e hub.Event) audit.Event {
	ev := audit.Event{
		Type: audit.EventType(e.Type), At: e.At, MessageID: e.MessageID, Transfer: e.Transfer, Kind: e.Kind,
		From: e.From, To: e.To, Actor: e.Actor, Code: e.Code, CaseDigest: e.CaseDigest, BodyDigest: e.JWSDigest, Detail: e.Detail,
	}
	if e.Holder != "" {
		ev.Extra = map[string]string{"holder": e.Holder}
	}
	return ev
}

func (t *Tx) Enqueue(ctx context.Context, item hub.OutboxItem) error {
	_, err := t.exec(ctx, `INSERT INTO outbox (message_id, recipient, created_at) VALUES (?, ?, ?)`, item.MessageID, item.Recipient, micros(item.CreatedAt))
	if err != nil {
		return fmt.Errorf("enqueue: %w", err)
	}
	return nil
}

func (t *Tx) Dequeue(ctx context.Context, seq uint64) error {
	_, err := t.exec(ctx, `DELETE FROM outbox WHERE seq = ?`, int64(seq))
	return err
}

func (t *Tx) InsertAgency(ctx context.Context, a hub.Agency) error {
	_, err := t.exec(ctx, `INSERT INTO agencies (id, country, name, jwks, registered_at, supervisor_jwks) VALUES (?, ?, ?, ?, ?, ?)`,
		a.ID, a.Country, a.Name, a.JWKS, micros(a.RegisteredAt), string(a.SupervisorJWKS))
	if err != nil {
		return fmt.Errorf("insert agency: %w", err)
	}
	return nil
}
