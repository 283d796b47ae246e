package httpapi

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/hub/audit"
)

// registerAuditRoutes adds the auditor registration (admin) and the auditor
// API (auditors and admin). Every auditor API call is logged by the hub as
// an auditor_query event before it is answered.
func (s *Server) registerAuditRoutes() {
	s.mux.HandleFunc("POST /v1/auditors", s.postAuditor)
	s.registerAuditorKeyRoutes()
	s.mux.HandleFunc("GET /v1/audit/events", s.getAuditEvents)
	s.mux.HandleFunc("GET /v1/audit/checkpoint", s.getAuditCheckpoint)
	s.mux.HandleFunc("POST /v1/audit/checkpoint", s.postAuditCheckpoint)
	s.mux.HandleFunc("GET /v1/audit/proof/inclusion", s.getInclusionProof)
	s.mux.HandleFunc("GET /v1/audit/proof/consistency", s.getConsistencyProof)
	s.mux.HandleFunc("GET /v1/audit/bundle", s.getAuditBundle)
	s.mux.HandleFunc("GET /v1/audit/key", s.getAuditKey)
}

type auditorDoc struct {
	ID           string          `json:"id"`
	Name         string          `json:"name"`
	JWKS         json.RawMessage `json:"jwks"`
	RegisteredAt time.Time       `json:"registered_at"`
}

func (s *Server) postAuditor(w http.ResponseWriter, r *http.Request) {
	c, err := s.authenticate(r)
	if err != nil {
		writeProblem(w, r, err)
		return
	}
	if !c.Admin {
		writeProblem(w, r, contracts.Refuse(contracts.CodeForbidden, "registering auditors needs the admin token"))
		return
	}
	var req struct {
		ID   string          `json:"id"`
		Name string          `json:"name"`
		JWKS json.RawMessage `json:"jwks"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || len(req.JWKS) == 0 {
		writeProblem(w, r, contracts.Refuse(contracts.CodeAuditorInvalid, "body must be {id, name, jwks}"))
		return
	}
	a, err := s.hub.RegisterAuditor(r.Context(), hub.AuditorRegistration{ID: req.ID, Name: req.Name, JWKS: req.JWKS}, audit.ActorAdmin)
	if err != nil {
		writeProblem(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, auditorDoc{ID: a.ID, Name: a.Name, JWKS: a.JWKS, RegisteredAt: a.RegisteredAt})
}

// auditParams reads a query string strictly: an unknown or repeated
// parameter is refused, so that a misspelt filter never silently widens a
// search.
type auditParams struct {
	v   url.Values
	err error
}

func readParams(r *http.Request, allowed ...string) *auditParams {
	p := &auditParams{v: r.URL.Query()}
	known := make(map[string]bool, len(allowed))
	for _, a := range allowed {
		known[a] = true
	}
	for k := range p.v {
		if !known[k] {
			p.err = contracts.Refuse(contracts.CodeBadRequest, "unknown parameter %q", k)
		}
	}
	return p
}

// list returns every value of a repeatable parameter.
func (p *auditParams) list(name string) []string { return p.v[name] }

func (p *auditParams) one(name string) string {
	if len(p.v[name]) > 1 && p.err == nil {
		p.err = contracts.Refuse(contracts.CodeBadRequest, "parameter %q given more than once", name)
	}
	return p.v.Get(name)
}

func (p *auditParams) uint(name string) (uint64, bool) {
	raw := p.one(name)
	if raw == "" {
		return 0, false
	}
	n, err := strconv.ParseUint(raw, 10, 63)
	if err != nil && p.err == nil {
		p.err = contracts.Refuse(contracts.CodeBadRequest, "%s must be a non-negative integer", name)
	}
	return n, err == nil
}

// requiredUint is uint for a parameter that must be present.
func (p *auditParams) requiredUint(name string) uint64 {
	n, ok := p.uint(name)
	if !ok && p.err == nil {
		p.err = contracts.Refuse(contracts.CodeBadRequest, "%s is required", name)
	}
	return n
}

func (p *auditParams) time(name string) time.Time {
	raw := p.one(name)
	if raw == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, raw)
	if err != nil && p.err == nil {
		p.err = contracts.Refuse(contracts.CodeBadRequest, "%s must be an RFC 3339 time such as 2026-03-01T00:00:00Z", name)
	}
	return t
}

type auditedEventDoc struct {
	Index   uint64       `json:"index"`
	Event   *audit.Event `json:"event,omitempty"`
	Damaged bool         `json:"damaged,omitempty"`
}

func eventDoc(e hub.AuditedEvent) auditedEventDoc {
	d := auditedEventDoc{Index: e.Index, Damaged: e.Damaged}
	if !e.Damaged {
		ev := e.Event
		d.Event = &ev
	}
	return d
}

func (s *Server) getAuditEvents(w http.ResponseWriter, r *http.Request) {
	actor, ok := s.requireAuditor(w, r)
	if !ok {
		return
	}
	p := readParams(r, "transfer", "case_digest", "agency", "from", "to", "limit", "cursor")
	q := hub.AuditQuery{Transfers: p.list("transfer"), CaseDigests: p.list("case_digest"), Agency: p.one("agency"),
		From: p.time("from"), To: p.time("to")}
	if n, ok := p.uint("limit"); ok {
		if n < 1 || n > hub.MaxAuditPageSize {
			p.err = contracts.Refuse(contracts.CodeBadRequest, "limit must be between 1 and %d", hub.MaxAuditPageSize)
		}
		q.Limit = int(min(n, hub.MaxAuditPageSize))
	}
	q.Start, _ = p.uint("cursor")
	if p.err != nil {
		writeProblem(w, r, p.err)
		return
	}
	page, err := s.hub.AuditEvents(r.Context(), actor, q)
	if err != nil {
		writeProblem(w, r, err)
		return
	}
	events := make([]auditedEventDoc, 0, len(page.Events))
	for _, e := range page.Events {
		events = append(events, eventDoc(e))
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": events, "cursor": strconv.FormatUint(page.Next, 10), "more": page.More})
}

// writeNote answers with a signed checkpoint exactly as signed.
func writeNote(w http.ResponseWriter, status int, note []byte) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(note)
}

func (s *Server) getAuditCheckpoint(w http.ResponseWriter, r *http.Request) {
	actor, ok := s.requireAuditor(w, r)
	if !ok {
		return
	}
	p := readParams(r, "size")
	size, atSize := p.uint("size")
	if p.err != nil {
		writeProblem(w, r, p.err)
		return
	}
	var cp audit.SignedCheckpoint
	var err error
	if atSize {
		cp, err = s.hub.AuditCheckpointAt(r.Context(), actor, size)
	} else {
		cp, err = s.hub.AuditLatestCheckpoint(r.Context(), actor)
	}
	if err != nil {
		writeProblem(w, r, err)
		return
	}
	writeNote(w, http.StatusOK, cp.Note)
}

func (s *Server) postAuditCheckpoint(w http.ResponseWriter, r *http.Request) {
	actor, ok := s.requireAuditor(w, r)
	if !ok {
		return
	}
	if p := readParams(r); p.err != nil {
		writeProblem(w, r, p.err)
		return
	}
	cp, err := s.hub.AuditPublishCheckpoint(r.Context(), actor)
	if err != nil {
		writeProblem(w, r, err)
		return
	}
	writeNote(w, http.StatusOK, cp.Note)
}

func (s *Server) getInclusionProof(w http.ResponseWriter, r *http.Request) {
	actor, ok := s.requireAuditor(w, r)
	if !ok {
		return
	}
	p := readParams(r, "index", "size")
	index := p.requiredUint("index")
	size, _ := p.uint("size")
	if p.err != nil {
		writeProblem(w, r, p.err)
		return
	}
	ans, err := s.hub.AuditInclusionProof(r.Context(), actor, index, size)
	if err != nil {
		writeProblem(w, r, err)
		return
	}
	doc := map[string]any{"index": ans.Index, "size": ans.Size, "leaf": ans.Leaf, "proof": proofDoc(ans.Proof)}
	if ans.Damaged {
		doc["damaged"] = true
	} else {
		doc["event"] = ans.Event
	}
	if ans.Checkpoint != nil {
		doc["checkpoint"] = string(ans.Checkpoint)
	}
	writeJSON(w, http.StatusOK, doc)
}

// proofDoc keeps an empty proof a JSON list rather than null.
func proofDoc(p [][]byte) [][]byte {
	if p == nil {
		return [][]byte{}
	}
	return p
}

func (s *Server) getConsistencyProof(w http.ResponseWriter, r *http.Request) {
	actor, ok := s.requireAuditor(w, r)
	if !ok {
		return
	}
	p := readParams(r, "from", "to")
	from := p.requiredUint("from")
	to, _ := p.uint("to")
	if p.err != nil {
		writeProblem(w, r, p.err)
		return
	}
	to, proof, err := s.hub.AuditConsistencyProof(r.Context(), actor, from, to)
	if err != nil {
		writeProblem(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"from": from, "to": to, "proof": proofDoc(proof)})
}

func (s *Server) getAuditBundle(w http.ResponseWriter, r *http.Request) {
	actor, ok := s.requireAuditor(w, r)
	if !ok {
		return
	}
	p := readParams(r, "transfer", "case_digest", "since")
	req := hub.BundleRequest{Transfers: p.list("transfer"), CaseDigests: p.list("case_digest")}
	req.Since, req.HasSince = p.uint("since")
	if p.err != nil {
		writeProblem(w, r, p.err)
		return
	}
	b, err := s.hub.AuditBundle(r.Context(), actor, req)
	if err != nil {
		writeProblem(w, r, err)
		return
	}
	out, err := b.Marshal()
	if err != nil {
		writeProblem(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", `attachment; filename="relais-audit-bundle.json"`)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
}

func (s *Server) getAuditKey(w http.ResponseWriter, r *http.Request) {
	actor, ok := s.requireAuditor(w, r)
	if !ok {
		return
	}
	if p := readParams(r); p.err != nil {
		writeProblem(w, r, p.err)
		return
	}
	key, err := s.hub.AuditKey(r.Context(), actor)
	if err != nil {
		writeProblem(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"origin": s.hub.Audit().Origin(), "note_verifier": key.NoteVerifier, "jwk": key.JWK})
}
