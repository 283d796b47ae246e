package hub

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/hub/audit"
)

// The auditor use cases. Every one of them first logs an auditor_query
// event naming who asked what (the parameters, all of them ids, digests,
// sizes and times, never personal data), in its own transaction, and only
// then answers: a query is on the record even if its answer is lost.

// Limits of the auditor API.
const (
	// DefaultAuditPageSize and MaxAuditPageSize bound a page of events.
	DefaultAuditPageSize = 100
	MaxAuditPageSize     = 1000
	// MaxBundleEvents bounds a bundle; a case has tens of events, not
	// thousands.
	MaxBundleEvents = 10_000
	// maxAuditSelectors bounds the transfers and case digests of one query,
	// so that its parameters fit in the query's own audit leaf.
	maxAuditSelectors = 8
)

var hexDigest = regexp.MustCompile(`^[0-9a-f]{64}$`)

// AuditQuery selects logged events. An event matches when it belongs to one
// of Transfers or to one of CaseDigests (a case digest also selects every
// event of the transfers opened under it, whoever sent them), when Agency
// (if set) is its sender, recipient or actor, and when its time is in
// [From, To) (either bound optional). Events come in log order from index
// Start on.
type AuditQuery struct {
	Transfers   []string
	CaseDigests []string
	Agency      string
	From, To    time.Time
	Start       uint64
	Limit       int
}

// Validate admits only ids, digests and times, so that the query can be
// logged as it is.
func (q AuditQuery) Validate() error {
	if n := len(q.Transfers) + len(q.CaseDigests); n > maxAuditSelectors {
		return contracts.Refuse(contracts.CodeBadRequest, "at most %d transfers and case digests in one query, got %d", maxAuditSelectors, n)
	}
	for _, t := range q.Transfers {
		if !contracts.ValidMessageID(t) {
			return contracts.Refuse(contracts.CodeBadRequest, "transfer must be a message id (UUIDv7 or ULID)")
		}
	}
	for _, d := range q.CaseDigests {
		if !hexDigest.MatchString(d) {
			return contracts.Refuse(contracts.CodeBadRequest, "case_digest must be 64 lowercase hex characters")
		}
	}
	if q.Agency != "" && !validPartyID(q.Agency) {
		return contracts.Refuse(contracts.CodeBadRequest, "agency must be an agency id, an auditor id, %q or %q", audit.ActorAdmin, audit.ActorHub)
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.To.After(q.From) {
		return contracts.Refuse(contracts.CodeBadRequest, "to must be after from")
	}
	if q.Limit < 0 || q.Limit > MaxAuditPageSize {
		return contracts.Refuse(contracts.CodeBadRequest, "limit must be between 1 and %d", MaxAuditPageSize)
	}
	return nil
}

// validPartyID admits whoever can appear as a party or an actor.
func validPartyID(id string) bool {
	return contracts.ValidAgencyID(id) || ValidAuditorID(id) || id == audit.ActorAdmin || id == audit.ActorHub
}

// params renders the query for its audit leaf.
func (q AuditQuery) params(p queryParams) {
	p.list("transfer", q.Transfers)
	p.list("case_digest", q.CaseDigests)
	p.set("agency", q.Agency)
	if !q.From.IsZero() {
		p.set("from", q.From.UTC().Format(time.RFC3339Nano))
	}
	if !q.To.IsZero() {
		p.set("to", q.To.UTC().Format(time.RFC3339Nano))
	}
	if q.Start > 0 {
		p.uint("cursor", q.Start)
	}
	if q.Limit > 0 {
		p.uint("limit", uint64(q.Limit))
	}
}

// queryParams are the Extra entries of an auditor_query leaf.
type queryParams map[string]string

func (p queryParams) set(k, v string) {
	if v != "" {
		p[k] = v
	}
}

func (p queryParams) uint(k string, v uint64) { p[k] = strconv.FormatUint(v, 10) }

// list stores values as key, key_2, key_3, …: one value per entry keeps
// every entry well under the leaf's size bound.
func (p queryParams) list(k string, values []string) {
	for i, v := range values {
		key := k
		if i > 0 {
			key = k + "_" + strconv.Itoa(i+1)
		}
		p[key] = v
	}
}

// AuditEntry is one logged event as the store returns it: its leaf index
// and its exact leaf bytes (nil when the leaf row is missing).
type AuditEntry struct {
	Index uint64
	Leaf  []byte
}

// AuditedEvent is a logged event as an auditor sees it. Damaged is set when
// the stored leaf is missing or not a canonical event: the log was
// tampered with or broken, and verification will say where.
type AuditedEvent struct {
	Index   uint64
	Event   audit.Event
	Damaged bool
}

// AuditPage is one page of events. Next is the cursor of the following
// page; More tells whether it holds anything yet.
type AuditPage struct {
	Events []AuditedEvent
	Next   uint64
	More   bool
}

// logAuditorQuery appends the auditor_query event of a request, in its own
// transaction, and returns its leaf index.
func (h *Hub) logAuditorQuery(ctx context.Context, actor, endpoint string, fill func(queryParams)) (uint64, error) {
	if !ValidAuditorID(actor) && actor != audit.ActorAdmin {
		return 0, contracts.Refuse(contracts.CodeForbidden, "the audit API is for auditors and the admin")
	}
	p := queryParams{"endpoint": endpoint}
	if fill != nil {
		fill(p)
	}
	var idx uint64
	err := h.store.Update(ctx, func(tx Tx) error {
		var err error
		idx, err = tx.AppendAuditEvent(ctx, audit.Event{Type: audit.TypeAuditorQuery, At: h.now(), Actor: actor, Extra: p})
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("log auditor query: %w", err)
	}
	return idx, nil
}

// AuditEvents answers an auditor's search of the log.
func (h *Hub) AuditEvents(ctx context.Context, actor string, q AuditQuery) (AuditPage, error) {
	if err := q.Validate(); err != nil {
		return AuditPage{}, err
	}
	if _, err := h.logAuditorQuery(ctx, actor, "events", q.params); err != nil {
		return AuditPage{}, err
	}
	if q.Limit == 0 {
		q.Limit = DefaultAuditPageSize
	}
	limit := q.Limit
	q.Limit++ // one more tells whether another page follows
	entries, err := h.store.AuditEvents(ctx, q)
	if err != nil {
		return AuditPage{}, err
	}
	page := AuditPage{Next: q.Start}
	if len(entries) > limit {
		entries, page.More = entries[:limit], true
	}
	for _, e := range entries {
		page.Events = append(page.Events, decodeEntry(e))
		page.Next = e.Index + 1
	}
	return page, nil
}

func decodeEntry(e AuditEntry) AuditedEvent {
	if e.Leaf == nil {
		return AuditedEvent{Index: e.Index, Damaged: true}
	}
	ev, err := audit.DecodeEvent(e.Leaf)
	if err != nil {
		return AuditedEvent{Index: e.Index, Damaged: true}
	}
	return AuditedEvent{Index: e.Index, Event: ev}
}

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
	cp, err := audit.ParseCheckpoint([]byte(b.Checkpoint), log.Origin(), log.PublicKey())
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
