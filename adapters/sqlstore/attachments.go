package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/hub/attachments"
)

// attachmentsDDL is the attachments migration: upload state and the links
// from accepted messages (hub/attachments). Nothing personal: ids,
// digests, sizes, agencies and times.
const attachmentsDDL = `
CREATE TABLE attachments (
  id TEXT PRIMARY KEY,
  uploader TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  size BIGINT NOT NULL,
  durable_offset BIGINT NOT NULL DEFAULT 0,
  state TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  completed_at BIGINT NOT NULL DEFAULT 0,
  deleted_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX attachments_state ON attachments (state, updated_at);
CREATE TABLE attachment_links (
  attachment_id TEXT NOT NULL,
  message_id TEXT NOT NULL,
  transfer TEXT NOT NULL,
  sender TEXT NOT NULL,
  recipient TEXT NOT NULL,
  kind TEXT NOT NULL,
  linked_at BIGINT NOT NULL,
  PRIMARY KEY (attachment_id, message_id)
);
CREATE INDEX attachment_links_transfer ON attachment_links (transfer)
`

var (
	_ attachments.MetaStore = (*Store)(nil)
	_ attachments.TxStore   = (*Tx)(nil)
)

const attachmentColumns = `id, uploader, sha256, size, durable_offset, state, created_at, updated_at, completed_at, deleted_at`

func scanAttachment(row interface{ Scan(...any) error }) (attachments.Record, error) {
	var r attachments.Record
	var state string
	var created, updated, completed, deleted int64
	err := row.Scan(&r.ID, &r.Uploader, &r.SHA256, &r.Size, &r.Offset, &state, &created, &updated, &completed, &deleted)
	if errors.Is(err, sql.ErrNoRows) {
		return r, attachments.ErrNotFound
	}
	if err != nil {
		return r, err
	}
	r.State = attachments.State(state)
	r.CreatedAt, r.UpdatedAt, r.CompletedAt, r.DeletedAt = fromMicros(created), fromMicros(updated), fromMicros(completed), fromMicros(deleted)
	return r, nil
}

func (s *Store) attachment(ctx context.Context, q querier, id string) (attachments.Record, error) {
	return scanAttachment(q.QueryRowContext(ctx, s.rebind(`SELECT `+attachmentColumns+` FROM attachments WHERE id = ?`), id))
}

// Attachment implements attachments.MetaStore.
func (s *Store) Attachment(ctx context.Context, id string) (attachments.Record, error) {
	return s.attachment(ctx, s.db, id)
}

// CreateAttachment implements attachments.MetaStore.
func (s *Store) CreateAttachment(ctx context.Context, r attachments.Record) (attachments.Record, bool, error) {
	var out attachments.Record
	created := false
	err := s.Update(ctx, func(tx hub.Tx) error {
		t := tx.(*Tx)
		res, err := t.exec(ctx, `INSERT INTO attachments (`+attachmentColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			r.ID, r.Uploader, r.SHA256, r.Size, r.Offset, string(r.State), micros(r.CreatedAt), micros(r.UpdatedAt), micros(r.CompletedAt), micros(r.DeletedAt))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		created = n == 1
		out, err = s.attachment(ctx, t.tx, r.ID)
		return err
	})
	if err != nil {
		return attachments.Record{}, false, fmt.Errorf("create attachment: %w", err)
	}
	return out, created, nil
}

// SetAttachmentOffset implements attachments.MetaStore.
func (s *Store) SetAttachmentOffset(ctx context.Context, id string, offset int64, at time.Time) error {
	return s.attachmentUpdate(ctx, `UPDATE attachments SET durable_offset = ?, updated_at = ? WHERE id = ?`, offset, micros(at), id)
}

// SetAttachmentState implements attachments.MetaStore.
func (s *Store) SetAttachmentState(ctx context.Context, id string, state attachments.State, at time.Time) error {
	switch state {
	case attachments.StateComplete:
		return s.attachmentUpdate(ctx, `UPDATE attachments SET state = ?, completed_at = ?, updated_at = ? WHERE id = ?`, string(state), micros(at), micros(at), id)
	case attachments.StateDeleted:
		return s.attachmentUpdate(ctx, `UPDATE attachments SET state = ?, deleted_at = ?, updated_at = ? WHERE id = ?`, string(state), micros(at), micros(at), id)
	default:
		return s.attachmentUpdate(ctx, `UPDATE attachments SET state = ?, updated_at = ? WHERE id = ?`, string(state), micros(at), id)
	}
}

// DeleteAttachment implements attachments.MetaStore.
func (s *Store) DeleteAttachment(ctx context.Context, id string) error {
	return s.attachmentUpdate(ctx, `DELETE FROM attachments WHERE id = ?`, id)
}

func (s *Store) attachmentUpdate(ctx context.Context, q string, args ...any) error {
	return s.Update(ctx, func(tx hub.Tx) error {
		_, err := tx.(*Tx).exec(ctx, q, args...)
		return err
	})
}

// AttachmentLinks implements attachments.MetaStore.
func (s *Store) AttachmentLinks(ctx context.Context, id string) ([]attachments.Link, error) {
	rows, err := s.db.QueryContext(ctx, s.rebind(`SELECT attachment_id, message_id, transfer, sender, recipient, kind, linked_at
FROM attachment_links WHERE attachment_id = ? ORDER BY linked_at`), id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []attachments.Link
	for rows.Next() {
		var l attachments.Link
		var at int64
		if err := rows.Scan(&l.AttachmentID, &l.MessageID, &l.Transfer, &l.From, &l.To, &l.Kind, &at); err != nil {
			return nil, err
		}
		l.LinkedAt = fromMicros(at)
		out = append(out, l)
	}
	return out, rows.Err()
}

// AbandonedAttachments implements attachments.MetaStore.
func (s *Store) AbandonedAttachments(ctx context.Context, before time.Time, limit int) ([]attachments.Record, error) {
	rows, err := s.db.QueryContext(ctx, s.rebind(`SELECT `+attachmentColumns+` FROM attachments a
WHERE a.updated_at < ? AND (a.state = 'uploading'
  OR (a.state = 'complete' AND NOT EXISTS (SELECT 1 FROM attachment_links l WHERE l.attachment_id = a.id)))
ORDER BY a.updated_at LIMIT ?`), micros(before), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []attachments.Record
	for rows.Next() {
		r, err := scanAttachment(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// ErasedAttachments implements attachments.MetaStore.
func (s *Store) ErasedAttachments(ctx context.Context, limit int) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, s.rebind(`SELECT DISTINCT a.id FROM attachments a
JOIN attachment_links l ON l.attachment_id = a.id
JOIN transfers t ON t.id = l.transfer
WHERE a.state <> 'deleted' AND t.state = ?
LIMIT ?`), string(hub.StateErased), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// LinkedComplete implements attachments.MetaStore.
func (s *Store) LinkedComplete(ctx context.Context, limit int) ([]attachments.LinkedMessage, error) {
	rows, err := s.db.QueryContext(ctx, s.rebind(`SELECT l.attachment_id, l.message_id, l.transfer, l.sender, l.recipient, l.kind, l.linked_at, m.receipted_at
FROM attachments a
JOIN attachment_links l ON l.attachment_id = a.id
JOIN messages m ON m.id = l.message_id
WHERE a.state = 'complete'
ORDER BY l.attachment_id, l.message_id LIMIT ?`), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []attachments.LinkedMessage
	for rows.Next() {
		var l attachments.LinkedMessage
		var linked, receipted int64
		if err := rows.Scan(&l.AttachmentID, &l.MessageID, &l.Transfer, &l.From, &l.To, &l.Kind, &linked, &receipted); err != nil {
			return nil, err
		}
		l.LinkedAt, l.ReceiptedAt = fromMicros(linked), fromMicros(receipted)
		out = append(out, l)
	}
	return out, rows.Err()
}

// Attachment implements attachments.TxStore: the upload as the accepting
// transaction sees it.
func (t *Tx) Attachment(ctx context.Context, id string) (attachments.Record, error) {
	return t.s.attachment(ctx, t.tx, id)
}

// LinkAttachment implements attachments.TxStore.
func (t *Tx) LinkAttachment(ctx context.Context, l attachments.Link) error {
	_, err := t.exec(ctx, `INSERT INTO attachment_links (attachment_id, message_id, transfer, sender, recipient, kind, linked_at)
VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, l.AttachmentID, l.MessageID, l.Transfer, l.From, l.To, l.Kind, micros(l.LinkedAt))
	if err != nil {
		return fmt.Errorf("link attachment: %w", err)
	}
	return nil
}
