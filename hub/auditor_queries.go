package hub

import (
	"context"
	"fmt"
	"regexp"
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
