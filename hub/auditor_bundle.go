package hub

import (
	"context"
	"errors"
	"slices"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/hub/audit"
)

// BundleRequest selects the events of a bundle: every event of the listed
// transfers and cases. Since, when set, asks for a consistency proof from
// the stored checkpoint of that size (the last one the auditor verified);
// see addSince for when there can be none.
type BundleRequest struct {
	Transfers   []string
	CaseDigests []string
	Since       uint64
	HasSince    bool
}

// AuditBundle exports the selected events as a self-contained bundle:
// events, inclusion proofs, a signed checkpoint covering them all and the
// hub's public key. If the latest checkpoint does not cover the events yet,
// one is published first.
func (h *Hub) AuditBundle(ctx context.Context, actor string, r BundleRequest) (*audit.Bundle, error) {
	q := AuditQuery{Transfers: r.Transfers, CaseDigests: r.CaseDigests}
	if err := q.Validate(); err != nil {
		return nil, err
	}
	if len(r.Transfers)+len(r.CaseDigests) == 0 {
		return nil, contracts.Refuse(contracts.CodeBadRequest, "name at least one transfer or case_digest")
	}
	_, err := h.logAuditorQuery(ctx, actor, "bundle", func(p queryParams) {
		q.params(p)
		if r.HasSince {
			p.uint("since", r.Since)
		}
	})
	if err != nil {
		return nil, err
	}
	indexes, err := h.bundleIndexes(ctx, q)
	if err != nil {
		return nil, err
	}
	if len(indexes) == 0 {
		return nil, contracts.Refuse(contracts.CodeNotFound, "no logged event for this selection")
	}
	db, log := h.store.AuditDB(), h.cfg.Audit
	latest, err := log.LatestCheckpoint(ctx, db)
	if errors.Is(err, audit.ErrNotFound) || (err == nil && latest.Size <= slices.Max(indexes)) {
		_, err = log.Checkpoint(ctx, db)
	}
	if err != nil {
		return nil, auditProblem(err)
	}
	b, err := audit.BuildBundle(ctx, db, log, indexes)
	if err != nil {
		return nil, auditProblem(err)
	}
	if r.HasSince {
		if err := addSince(ctx, b, db, log, r.Since); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// addSince adds the proof that the bundle's checkpoint extends the stored
// checkpoint of size since. When there is no such checkpoint, or it is
// larger than the bundle's, no proof can exist: the bundle goes without,
// and the auditor's verifier, holding that checkpoint, reports why (a
// missing proof, or a shrunk log). Refusing instead would hide the evidence
// behind an error.
func addSince(ctx context.Context, b *audit.Bundle, db audit.Querier, log *audit.Log, since uint64) error {
	cp, err := log.ParseCheckpoint([]byte(b.Checkpoint))
	if err != nil {
		return err
	}
	if since > cp.Size {
		return nil
	}
	err = b.AddConsistency(ctx, db, log, since)
	if errors.Is(err, audit.ErrNotFound) {
		return nil
	}
	return auditProblem(err)
}

// bundleIndexes lists the leaf indexes of every event selected by q.
func (h *Hub) bundleIndexes(ctx context.Context, q AuditQuery) ([]uint64, error) {
	var out []uint64
	for {
		q.Limit = MaxAuditPageSize
		entries, err := h.store.AuditEvents(ctx, q)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			out = append(out, e.Index)
		}
		if len(out) > MaxBundleEvents {
			return nil, contracts.Refuse(contracts.CodeBadRequest, "more than %d events: select fewer transfers or cases", MaxBundleEvents)
		}
		if len(entries) < q.Limit {
			return out, nil
		}
		q.Start = entries[len(entries)-1].Index + 1
	}
}
