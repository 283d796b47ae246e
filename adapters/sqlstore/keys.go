package sqlstore

import (
	"context"
	"fmt"

	"github.com/relais-hub/relais/hub"
)

// agencyKeysDDL is migration 7: one row per agency key that was added by a
// rotation or revoked. Keys registered with their agency and never touched
// since have no row (the directory dates them from the registration).
func agencyKeysDDL(blob string) string {
	return `
CREATE TABLE agency_keys (
  kid TEXT PRIMARY KEY,
  agency TEXT NOT NULL,
  key_use TEXT NOT NULL,
  jwk ` + blob + ` NOT NULL,
  added_at BIGINT NOT NULL,
  revoked_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX agency_keys_agency ON agency_keys (agency)
`
}

var (
	_ hub.KeyStore = (*Store)(nil)
	_ hub.KeyTx    = (*Tx)(nil)
)

// AgencyKeyRecords lists every key record, oldest first.
func (s *Store) AgencyKeyRecords(ctx context.Context) ([]hub.KeyRecord, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT kid, agency, key_use, jwk, added_at, revoked_at FROM agency_keys ORDER BY added_at, kid`)
	if err != nil {
		return nil, fmt.Errorf("agency keys: %w", err)
	}
	defer rows.Close()
	var out []hub.KeyRecord
	for rows.Next() {
		var r hub.KeyRecord
		var added, revoked int64
		if err := rows.Scan(&r.KID, &r.Agency, &r.Use, &r.JWK, &added, &revoked); err != nil {
			return nil, fmt.Errorf("agency keys: %w", err)
		}
		r.AddedAt = fromMicros(added)
		if revoked != 0 {
			r.RevokedAt = fromMicros(revoked)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// SaveKeyRecord inserts r, or replaces the record with its kid.
func (t *Tx) SaveKeyRecord(ctx context.Context, r hub.KeyRecord) error {
	var revoked int64
	if !r.RevokedAt.IsZero() {
		revoked = micros(r.RevokedAt)
	}
	_, err := t.exec(ctx, `INSERT INTO agency_keys (kid, agency, key_use, jwk, added_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (kid) DO UPDATE SET agency = excluded.agency, key_use = excluded.key_use, jwk = excluded.jwk,
  added_at = excluded.added_at, revoked_at = excluded.revoked_at`,
		r.KID, r.Agency, r.Use, r.JWK, micros(r.AddedAt), revoked)
	if err != nil {
		return fmt.Errorf("save key record: %w", err)
	}
	return nil
}

// SetAgencyJWKS replaces the agency's valid public keys.
func (t *Tx) SetAgencyJWKS(ctx context.Context, agency string, jwks []byte) error {
	res, err := t.exec(ctx, `UPDATE agencies SET jwks = ? WHERE id = ?`, jwks, agency)
	if err != nil {
		return fmt.Errorf("set agency jwks: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return hub.ErrNotFound
	}
	return nil
}
