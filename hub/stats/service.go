package stats

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/hub/audit"
)

// TypeStatsRelease is the audit event of a statistics release: who asked,
// the query's parameters, and the digest of what was published.
const TypeStatsRelease audit.EventType = "stats_release"

// Service answers statistics queries from the hub's store and logs each
// release in the audit trail.
type Service struct {
	store      hub.Store
	source     Source
	thresholds Thresholds
	indexer    *Indexer
	now        func() time.Time
}

// NewService serves releases from store, which must also be a Source
// (adapters/sqlstore is). thresholds may be nil: every transfer then has
// DefaultMinCellSize.
func NewService(store hub.Store, thresholds Thresholds) (*Service, error) {
	source, ok := store.(Source)
	if !ok {
		return nil, errors.New("stats: the store does not serve statistics")
	}
	if thresholds == nil {
		thresholds = FixedThreshold(DefaultMinCellSize)
	}
	return &Service{store: store, source: source, thresholds: thresholds,
		indexer: &Indexer{Source: source}, now: func() time.Time { return time.Now().UTC() }}, nil
}

// Indexer returns the service's indexer, to run in the background.
func (s *Service) Indexer() *Indexer { return s.indexer }

// mayRead reports whether actor may receive statistics: a national
// statistics authority, an auditor, or the admin.
func mayRead(actor string) bool {
	return ValidReaderID(actor) || hub.ValidAuditorID(actor) || actor == audit.ActorAdmin
}

// Release computes the answer to q for actor and logs it (query,
// parameters, format and the digest of the release) before returning it:
// there is no release without its audit event.
func (s *Service) Release(ctx context.Context, actor string, q Query, format string) (Release, error) {
	if !mayRead(actor) {
		return Release{}, contracts.Refuse(contracts.CodeForbidden, "statistics are for statistics authorities, auditors and the admin")
	}
	now := s.now()
	q = q.WithDefaults(now)
	if err := q.Validate(); err != nil {
		return Release{}, err
	}
	if err := q.Completed(now); err != nil {
		return Release{}, err
	}
	if _, err := s.indexer.CatchUp(ctx); err != nil {
		return Release{}, err
	}
	facts, err := s.source.Facts(ctx, q.To)
	if err != nil {
		return Release{}, fmt.Errorf("statistics facts: %w", err)
	}
	for i := range facts {
		facts[i].MinCellSize = s.thresholds.MinCellSize(facts[i].Sender, facts[i].Recipient, facts[i].Opened)
	}
	countries, err := s.countries(ctx)
	if err != nil {
		return Release{}, err
	}
	rel := Compute(q, Input{Facts: facts, Countries: countries, MinCellSize: DefaultMinCellSize, Now: now})
	digest, err := releaseDigest(rel)
	if err != nil {
		return Release{}, err
	}
	err = s.store.Update(ctx, func(tx hub.Tx) error {
		idx, err := tx.AppendAuditEvent(ctx, audit.Event{Type: TypeStatsRelease, At: now, Actor: actor, Extra: releaseParams(q, format, digest)})
		rel.AuditIndex = idx
		return err
	})
	if err != nil {
		return Release{}, fmt.Errorf("log statistics release: %w", err)
	}
	return rel, nil
}

// countries are those of the registered agencies: every corridor between
// them is a row, whether or not anything moved along it.
func (s *Service) countries(ctx context.Context) ([]string, error) {
	agencies, err := s.store.Agencies(ctx)
	if err != nil {
		return nil, fmt.Errorf("statistics countries: %w", err)
	}
	var out []string
	for _, a := range agencies {
		out = append(out, strings.ToLower(a.Country))
	}
	return out, nil
}

// releaseDigest commits to the published figures: the SHA-256 of the
// release's JSON before its audit index is known.
func releaseDigest(rel Release) (string, error) {
	raw, err := json.Marshal(rel)
	if err != nil {
		return "", fmt.Errorf("statistics release: %w", err)
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:]), nil
}

// ReleaseDigest recomputes the digest a release's audit event records,
// so that a reader can check a release against the log.
func ReleaseDigest(rel Release) (string, error) {
	rel.AuditIndex = 0
	return releaseDigest(rel)
}

// releaseParams are the Extra entries of a stats_release event: codes,
// dates and a digest only.
func releaseParams(q Query, format, digest string) map[string]string {
	p := map[string]string{"endpoint": "stats", "release_sha256": digest}
	for k, v := range q.Params() {
		p[k] = strings.Join(v, ",")
	}
	if format != "" {
		p["format"] = format
	}
	return p
}
