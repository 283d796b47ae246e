package hub

import (
	"context"
	"errors"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/hub/audit"
)

// Checkpoints, proofs and the hub key, for auditors.

// AuditLatestCheckpoint returns the latest signed checkpoint.
func (h *Hub) AuditLatestCheckpoint(ctx context.Context, actor string) (audit.SignedCheckpoint, error) {
	if _, err := h.logAuditorQuery(ctx, actor, "checkpoint", nil); err != nil {
		return audit.SignedCheckpoint{}, err
	}
	cp, err := h.cfg.Audit.LatestCheckpoint(ctx, h.store.AuditDB())
	return cp, auditProblem(err)
}

// AuditCheckpointAt returns the stored checkpoint of the given size.
func (h *Hub) AuditCheckpointAt(ctx context.Context, actor string, size uint64) (audit.SignedCheckpoint, error) {
	if _, err := h.logAuditorQuery(ctx, actor, "checkpoint", func(p queryParams) { p.uint("size", size) }); err != nil {
		return audit.SignedCheckpoint{}, err
	}
	cp, err := h.cfg.Audit.CheckpointAt(ctx, h.store.AuditDB(), size)
	return cp, auditProblem(err)
}

// AuditPublishCheckpoint signs and stores a checkpoint of the log as it is
// now, on demand. It covers the request's own auditor_query event.
func (h *Hub) AuditPublishCheckpoint(ctx context.Context, actor string) (audit.SignedCheckpoint, error) {
	if _, err := h.logAuditorQuery(ctx, actor, "publish_checkpoint", nil); err != nil {
		return audit.SignedCheckpoint{}, err
	}
	cp, err := h.cfg.Audit.Checkpoint(ctx, h.store.AuditDB())
	return cp, auditProblem(err)
}

// InclusionAnswer proves one event is in the log of a given size.
type InclusionAnswer struct {
	Index uint64
	Size  uint64
	// Leaf is the exact leaf bytes; Event decodes it unless Damaged.
	Leaf    []byte
	Event   audit.Event
	Damaged bool
	Proof   [][]byte
	// Checkpoint is the signed checkpoint of Size, when one was published
	// at that size (nil otherwise).
	Checkpoint []byte
}

// AuditInclusionProof returns the inclusion proof of the event at index in
// the log of the given size; size 0 means the latest checkpoint's size.
func (h *Hub) AuditInclusionProof(ctx context.Context, actor string, index, size uint64) (InclusionAnswer, error) {
	_, err := h.logAuditorQuery(ctx, actor, "inclusion_proof", func(p queryParams) {
		p.uint("index", index)
		if size > 0 {
			p.uint("size", size)
		}
	})
	if err != nil {
		return InclusionAnswer{}, err
	}
	db, log := h.store.AuditDB(), h.cfg.Audit
	if size == 0 {
		latest, err := log.LatestCheckpoint(ctx, db)
		if err != nil {
			return InclusionAnswer{}, auditProblem(err)
		}
		size = latest.Size
	}
	if index >= size {
		return InclusionAnswer{}, contracts.Refuse(contracts.CodeBadRequest, "index %d is not below size %d", index, size)
	}
	proof, err := log.InclusionProof(ctx, db, index, size)
	if err != nil {
		return InclusionAnswer{}, auditProblem(err)
	}
	ans := InclusionAnswer{Index: index, Size: size, Proof: proof}
	ev, raw, err := log.Leaf(ctx, db, index)
	switch {
	case err == nil:
		ans.Leaf, ans.Event = raw, ev
	case raw != nil:
		ans.Leaf, ans.Damaged = raw, true
	default:
		return InclusionAnswer{}, auditProblem(err)
	}
	if cp, err := log.CheckpointAt(ctx, db, size); err == nil {
		ans.Checkpoint = cp.Note
	} else if !errors.Is(err, audit.ErrNotFound) {
		return InclusionAnswer{}, err
	}
	return ans, nil
}

// AuditConsistencyProof returns the proof that the log of size to extends
// the log of size from; to 0 means the latest checkpoint's size.
func (h *Hub) AuditConsistencyProof(ctx context.Context, actor string, from, to uint64) (uint64, [][]byte, error) {
	_, err := h.logAuditorQuery(ctx, actor, "consistency_proof", func(p queryParams) {
		p.uint("from", from)
		if to > 0 {
			p.uint("to", to)
		}
	})
	if err != nil {
		return 0, nil, err
	}
	db, log := h.store.AuditDB(), h.cfg.Audit
	if to == 0 {
		latest, err := log.LatestCheckpoint(ctx, db)
		if err != nil {
			return 0, nil, auditProblem(err)
		}
		to = latest.Size
	}
	if from > to {
		return 0, nil, contracts.Refuse(contracts.CodeBadRequest, "from %d is larger than to %d", from, to)
	}
	proof, err := log.ConsistencyProof(ctx, db, from, to)
	if err != nil {
		return 0, nil, auditProblem(err)
	}
	return to, proof, nil
}

// AuditKey describes the hub's audit signing key: the checkpoint origin, the
// signed-note verifier key and the JWK.
func (h *Hub) AuditKey(ctx context.Context, actor string) (audit.HubKey, error) {
	if _, err := h.logAuditorQuery(ctx, actor, "key", nil); err != nil {
		return audit.HubKey{}, err
	}
	return audit.NewHubKey(h.cfg.Audit.Origin(), h.cfg.Audit.PublicKey())
}

// auditProblem maps the audit log's lookup errors to refusals; anything
// else stays an internal error.
func auditProblem(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, audit.ErrNotFound):
		return &contracts.Problem{Code: contracts.CodeNotFound, Detail: "no such checkpoint or leaf in the audit log", Err: err}
	case errors.Is(err, audit.ErrBeyondHead):
		return &contracts.Problem{Code: contracts.CodeBadRequest, Detail: "size is beyond the current log size", Err: err}
	}
	return err
}
