package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// RecordWithdrawal records that agency withdrew the consent ref. The first
// withdrawal counts; later copies (one per recipient) change nothing.
func (t *Tx) RecordWithdrawal(ctx context.Context, agency, consentRef, messageID string, at time.Time) error {
	_, err := t.exec(ctx, `INSERT INTO consent_withdrawals (agency, consent_ref, message_id, withdrawn_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		agency, consentRef, messageID, micros(at))
	if err != nil {
		return fmt.Errorf("record withdrawal: %w", err)
	}
	return nil
}

// ConsentWithdrawn reports whether agency withdrew consentRef.
func (s *Store) ConsentWithdrawn(ctx context.Context, agency, consentRef string) (bool, error) {
	var one int
	err := s.db.QueryRowContext(ctx, s.rebind(`SELECT 1 FROM consent_withdrawals WHERE agency = ? AND consent_ref = ?`), agency, consentRef).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("consent withdrawn: %w", err)
	}
	return true, nil
}

// ConsentRecipients lists the agencies that received messages agency sent
// under consentRef: those a withdrawal must reach.
func (s *Store) ConsentRecipients(ctx context.Context, agency, consentRef string) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, s.rebind(`SELECT DISTINCT recipient FROM messages WHERE sender = ? AND consent_ref = ? AND kind <> 'consent.withdrawn' ORDER BY recipient`), agency, consentRef)
	if err != nil {
		return nil, fmt.Errorf("consent recipients: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
