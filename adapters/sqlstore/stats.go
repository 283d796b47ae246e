package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/hub/stats"
)

// Statistics (hub/stats): the opening envelopes' codes, the facts of each
// transfer, and the national statistics authorities.

var (
	_ stats.Source      = (*Store)(nil)
	_ stats.ReaderStore = (*Store)(nil)
	_ stats.ReaderTx    = (*Tx)(nil)
)

// statsDirectoryDDL is migration 9: what statistics keep of each opening
// envelope (two codes, nothing else), the statistics authorities, and the
// directory of services (services.go). The dialects differ only in the
// binary column type.
func statsDirectoryDDL(blob string) string {
	return `
CREATE TABLE stats_openings (
  transfer TEXT PRIMARY KEY,
  purpose TEXT NOT NULL,
  age_band TEXT NOT NULL,
  indexed_at BIGINT NOT NULL
);
CREATE TABLE stats_readers (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  jwks ` + blob + ` NOT NULL,
  registered_at BIGINT NOT NULL
);
CREATE TABLE directory_records (
  agency TEXT NOT NULL,
  version BIGINT NOT NULL,
  valid_from TEXT NOT NULL,
  valid_to TEXT NOT NULL DEFAULT '',
  record TEXT NOT NULL,
  published_at BIGINT NOT NULL,
  PRIMARY KEY (agency, version)
)
`
}

// UnindexedOpenings reads the opening messages (their id is the transfer's)
// of transfers not indexed yet, oldest first.
func (s *Store) UnindexedOpenings(ctx context.Context, limit int) ([]stats.Opening, error) {
	rows, err := s.db.QueryContext(ctx, s.rebind(`SELECT t.id, m.jws FROM transfers t
JOIN messages m ON m.id = t.id
LEFT JOIN stats_openings o ON o.transfer = t.id
WHERE o.transfer IS NULL
ORDER BY t.opened_at, t.id LIMIT ?`), limit)
	if err != nil {
		return nil, fmt.Errorf("unindexed openings: %w", err)
	}
	defer rows.Close()
	var out []stats.Opening
	for rows.Next() {
		var o stats.Opening
		if err := rows.Scan(&o.Transfer, &o.JWS); err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// SaveOpeningCodes records codes once per transfer; a transfer indexed
// meanwhile (by another hub) keeps its first codes.
func (s *Store) SaveOpeningCodes(ctx context.Context, codes []stats.OpeningCodes) error {
	now := micros(time.Now())
	return s.Update(ctx, func(tx hub.Tx) error {
		t := tx.(*Tx)
		for _, c := range codes {
			if _, err := t.exec(ctx, `INSERT INTO stats_openings (transfer, purpose, age_band, indexed_at) VALUES (?, ?, ?, ?)
ON CONFLICT (transfer) DO NOTHING`, c.Transfer, c.Purpose, c.AgeBand, now); err != nil {
				return fmt.Errorf("save opening codes: %w", err)
			}
		}
		return nil
	})
}

// factsQuery assembles each transfer's facts from its row, its indexed
// codes and its trail: the first time of each step the hub logged. State
// changes are recognised by the target state in their detail
// ("from=accepted to=assessed"), the decision by its code.
var factsQuery = func() string {
	toState := func(states ...hub.State) string {
		var alts []string
		for _, st := range states {
			alts = append(alts, `(' ' || e.detail || ' ') LIKE '% to=`+string(st)+` %'`)
		}
		return `e.type = '` + string(hub.EventStateChanged) + `' AND (` + strings.Join(alts, " OR ") + `)`
	}
	decided := toState(hub.StateReturnDecided, hub.StateLocalIntegration, hub.StateThirdCountry)
	return `SELECT t.id, t.sender, t.recipient, t.opened_at, COALESCE(o.purpose, ''), COALESCE(o.age_band, ''),
  MIN(CASE WHEN e.type = '` + string(hub.EventReceipted) + `' AND e.message_id = t.id THEN e.at END),
  MIN(CASE WHEN e.type = '` + string(hub.EventTransferAccepted) + `' THEN e.at END),
  MIN(CASE WHEN e.type = '` + string(hub.EventTransferDeclined) + `' THEN e.at END),
  MIN(CASE WHEN ` + toState(hub.StateAssessed) + ` THEN e.at END),
  MIN(CASE WHEN ` + decided + ` THEN e.at END),
  MAX(CASE WHEN ` + decided + ` THEN e.code END),
  MIN(CASE WHEN ` + toState(hub.StateHandedOver) + ` THEN e.at END),
  MIN(CASE WHEN ` + toState(hub.StateClosed) + ` THEN e.at END),
  MIN(CASE WHEN e.type = '` + string(hub.EventReminder) + `' THEN e.at END)
FROM transfers t
LEFT JOIN stats_openings o ON o.transfer = t.id
LEFT JOIN events e ON e.transfer = t.id AND e.type IN ('` + strings.Join([]string{
		string(hub.EventReceipted), string(hub.EventTransferAccepted), string(hub.EventTransferDeclined),
		string(hub.EventStateChanged), string(hub.EventReminder)}, "', '") + `')
WHERE t.opened_at < ?
GROUP BY t.id, t.sender, t.recipient, t.opened_at, o.purpose, o.age_band`
}()

// Facts lists every transfer opened before until, with its steps.
func (s *Store) Facts(ctx context.Context, until time.Time) ([]stats.Fact, error) {
	rows, err := s.db.QueryContext(ctx, s.rebind(factsQuery), micros(until))
	if err != nil {
		return nil, fmt.Errorf("statistics facts: %w", err)
	}
	defer rows.Close()
	var out []stats.Fact
	for rows.Next() {
		var f stats.Fact
		var opened int64
		var received, accepted, declined, assessed, decided, handed, closed, overdue sql.NullInt64
		var outcome sql.NullString
		if err := rows.Scan(&f.Transfer, &f.Sender, &f.Recipient, &opened, &f.Purpose, &f.AgeBand,
			&received, &accepted, &declined, &assessed, &decided, &outcome, &handed, &closed, &overdue); err != nil {
			return nil, fmt.Errorf("statistics facts: %w", err)
		}
		f.Opened, f.Outcome = fromMicros(opened), outcome.String
		for _, p := range []struct {
			to *time.Time
			v  sql.NullInt64
		}{{&f.Received, received}, {&f.Accepted, accepted}, {&f.Declined, declined}, {&f.Assessed, assessed},
			{&f.Decided, decided}, {&f.HandedOver, handed}, {&f.Closed, closed}, {&f.FirstOverdue, overdue}} {
			if p.v.Valid {
				*p.to = fromMicros(p.v.Int64)
			}
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// StatsReader returns a registered statistics authority, or
// hub.ErrNotFound.
func (s *Store) StatsReader(ctx context.Context, id string) (stats.Reader, error) {
	var r stats.Reader
	var at int64
	err := s.db.QueryRowContext(ctx, s.rebind(`SELECT id, name, jwks, registered_at FROM stats_readers WHERE id = ?`), id).
		Scan(&r.ID, &r.Name, &r.JWKS, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return r, hub.ErrNotFound
	}
	if err != nil {
		return r, fmt.Errorf("statistics authority: %w", err)
	}
	r.RegisteredAt = fromMicros(at)
	return r, nil
}

// InsertStatsReader records a statistics authority.
func (t *Tx) InsertStatsReader(ctx context.Context, r stats.Reader) error {
	if _, err := t.exec(ctx, `INSERT INTO stats_readers (id, name, jwks, registered_at) VALUES (?, ?, ?, ?)`,
		r.ID, r.Name, r.JWKS, micros(r.RegisteredAt)); err != nil {
		return fmt.Errorf("insert statistics authority: %w", err)
	}
	return nil
}
