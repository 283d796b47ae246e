package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/relais-hub/relais/hub"
)

// auditorKeysDDL is migration 10: one row per auditor key added after the
// registration or revoked (hub/auditor_keys.go). Keys registered with the
// auditor and never revoked have no row (they date from the
// registration). The kid is the primary key: a kid is recorded once,
// forever. The dialects differ only in the binary column type.
func auditorKeysDDL(blob string) string {
	return `
CREATE TABLE auditor_keys (
  kid TEXT PRIMARY KEY,
  auditor TEXT NOT NULL,
  jwk ` + blob + ` NOT NULL,
  added_at BIGINT NOT NULL,
  revoked_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX auditor_keys_auditor ON auditor_keys (auditor)
`
}

var (
	_ hub.AuditorKeyStore = (*Store)(nil)
	_ hub.AuditorKeyTx    = (*Tx)(nil)
)

const (
	auditorColumns    = `id, name, jwks, registered_at`
	auditorKeyColumns = `kid, auditor, jwk, added_at, revoked_at`
)

// Auditors lists every registered auditor, by id.
func (s *Store) Auditors(ctx context.Context) ([]hub.Auditor, error) {
	rows, err := dbConn{s}.QueryContext(ctx, `SELECT `+auditorColumns+` FROM auditors ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("auditors: %w", err)
	}
	defer rows.Close()
	var out []hub.Auditor
	for rows.Next() {
		a, err := scanAuditor(rows)
		if err != nil {
			return nil, fmt.Errorf("auditors: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("auditors: %w", err)
	}
	return out, nil
}

// AuditorKeyRecords lists the key records of auditor (of every auditor
// when it is ""), oldest first.
func (s *Store) AuditorKeyRecords(ctx context.Context, auditor string) ([]hub.AuditorKeyRecord, error) {
	return s.auditorKeyRecords(ctx, dbConn{s}, auditor)
}

func (s *Store) auditorKeyRecords(ctx context.Context, q querier, auditor string) ([]hub.AuditorKeyRecord, error) {
	query := `SELECT ` + auditorKeyColumns + ` FROM auditor_keys`
	var args []any
	if auditor != "" {
		query += ` WHERE auditor = ?`
		args = append(args, auditor)
	}
	rows, err := q.QueryContext(ctx, s.rebind(query+` ORDER BY added_at, kid`), args...)
	if err != nil {
		return nil, fmt.Errorf("auditor keys: %w", err)
	}
	defer rows.Close()
	var out []hub.AuditorKeyRecord
	for rows.Next() {
		var r hub.AuditorKeyRecord
		var added, revoked int64
		if err := rows.Scan(&r.KID, &r.Auditor, &r.JWK, &added, &revoked); err != nil {
			return nil, fmt.Errorf("auditor keys: %w", err)
		}
		r.AddedAt, r.RevokedAt = fromMicros(added), fromMicros(revoked)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("auditor keys: %w", err)
	}
	return out, nil
}

// AuditorForUpdate reads an auditor and, on PostgreSQL, locks its row
// until the transaction ends (SQLite has a single writer: every write
// transaction is alone).
func (t *Tx) AuditorForUpdate(ctx context.Context, id string) (hub.Auditor, error) {
	query := `SELECT ` + auditorColumns + ` FROM auditors WHERE id = ?`
	if t.s.dialect == Postgres {
		query += ` FOR UPDATE`
	}
	a, err := scanAuditor(t.tx.QueryRowContext(ctx, t.s.rebind(query), id))
	if errors.Is(err, sql.ErrNoRows) {
		return a, hub.ErrNotFound
	}
	if err != nil {
		return a, fmt.Errorf("auditor for update: %w", err)
	}
	return a, nil
}

// AuditorKeyRecords lists the auditor's key records as the transaction
// sees them, oldest first.
func (t *Tx) AuditorKeyRecords(ctx context.Context, auditor string) ([]hub.AuditorKeyRecord, error) {
	return t.s.auditorKeyRecords(ctx, t.tx, auditor)
}

// SetAuditorJWKS replaces the auditor's valid public keys.
func (t *Tx) SetAuditorJWKS(ctx context.Context, id string, jwks []byte) error {
	res, err := t.exec(ctx, `UPDATE auditors SET jwks = ? WHERE id = ?`, jwks, id)
	if err != nil {
		return fmt.Errorf("set auditor jwks: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return hub.ErrNotFound
	}
	return nil
}

// InsertAuditorKeyRecord records a new key; a kid already recorded fails.
func (t *Tx) InsertAuditorKeyRecord(ctx context.Context, r hub.AuditorKeyRecord) error {
	_, err := t.exec(ctx, `INSERT INTO auditor_keys (`+auditorKeyColumns+`) VALUES (?, ?, ?, ?, ?)`,
		r.KID, r.Auditor, r.JWK, micros(r.AddedAt), micros(r.RevokedAt))
	if err != nil {
		return fmt.Errorf("insert auditor key record: %w", err)
	}
	return nil
}

// SaveAuditorKeyRecord inserts r, or replaces the record with its kid.
func (t *Tx) SaveAuditorKeyRecord(ctx context.Context, r hub.AuditorKeyRecord) error {
	_, err := t.exec(ctx, `INSERT INTO auditor_keys (`+auditorKeyColumns+`) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (kid) DO UPDATE SET auditor = excluded.auditor, jwk = excluded.jwk,
  added_at = excluded.added_at, revoked_at = excluded.revoked_at`,
		r.KID, r.Auditor, r.JWK, micros(r.AddedAt), micros(r.RevokedAt))
	if err != nil {
		return fmt.Errorf("save auditor key record: %w", err)
	}
	return nil
}

func scanAuditor(row interface{ Scan(...any) error }) (hub.Auditor, error) {
	var a hub.Auditor
	var at int64
	if err := row.Scan(&a.ID, &a.Name, &a.JWKS, &at); err != nil {
		return a, err
	}
	a.RegisteredAt = fromMicros(at)
	return a, nil
}
