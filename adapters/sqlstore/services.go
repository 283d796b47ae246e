package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/relais-hub/relais/hub/services"
)

// The directory of services (hub/services): one row per version of an
// agency's record, the record itself as JSON. The columns that decide
// which version applies (version, validity, publication) are the source
// of truth; a version's end is set when the next one is published.

var (
	_ services.Store = (*Store)(nil)
	_ services.Tx    = (*Tx)(nil)
)

// DirectoryRecords lists the versions of agency's record ("" for every
// agency), by agency then version.
func (s *Store) DirectoryRecords(ctx context.Context, agency string) ([]services.Record, error) {
	q := `SELECT agency, version, valid_from, valid_to, record, published_at FROM directory_records`
	var args []any
	if agency != "" {
		q += ` WHERE agency = ?`
		args = append(args, agency)
	}
	rows, err := s.db.QueryContext(ctx, s.rebind(q+` ORDER BY agency, version`), args...)
	if err != nil {
		return nil, fmt.Errorf("directory records: %w", err)
	}
	defer rows.Close()
	var out []services.Record
	for rows.Next() {
		var r services.Record
		var ag, from, to, doc string
		var version, published int64
		if err := rows.Scan(&ag, &version, &from, &to, &doc, &published); err != nil {
			return nil, fmt.Errorf("directory records: %w", err)
		}
		if err := json.Unmarshal([]byte(doc), &r); err != nil {
			return nil, fmt.Errorf("directory record %s v%d: %w", ag, version, err)
		}
		r.Agency, r.Version, r.ValidFrom, r.ValidTo, r.PublishedAt = ag, int(version), services.Date(from), services.Date(to), fromMicros(published)
		out = append(out, r)
	}
	return out, rows.Err()
}

// InsertDirectoryRecord adds a version; the primary key refuses a version
// number already taken.
func (t *Tx) InsertDirectoryRecord(ctx context.Context, r services.Record) error {
	doc, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("insert directory record: %w", err)
	}
	if _, err := t.exec(ctx, `INSERT INTO directory_records (agency, version, valid_from, valid_to, record, published_at) VALUES (?, ?, ?, ?, ?, ?)`,
		r.Agency, r.Version, string(r.ValidFrom), string(r.ValidTo), string(doc), micros(r.PublishedAt)); err != nil {
		return fmt.Errorf("insert directory record: %w", err)
	}
	return nil
}

// EndDirectoryRecord sets the first day a version no longer applies.
func (t *Tx) EndDirectoryRecord(ctx context.Context, agency string, version int, validTo services.Date) error {
	if _, err := t.exec(ctx, `UPDATE directory_records SET valid_to = ? WHERE agency = ? AND version = ?`,
		string(validTo), agency, version); err != nil {
		return fmt.Errorf("end directory record: %w", err)
	}
	return nil
}
