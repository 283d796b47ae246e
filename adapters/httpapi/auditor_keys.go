package httpapi

import (
	"net/http"
	"time"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/hub/audit"
)

// Auditor key rotation and revocation (hub/auditor_keys.go). Adding and
// revoking are the admin's: an auditor's stolen key must not be able to
// add its thief's key. Listing is the admin's and the auditor's own.
// Auditors' keys and revocations are not in the public directory: it does
// not say which auditors exist, and only the hub ever verifies an
// auditor's signature. They are in the audit log and in
// GET /v1/auditors/{id}/keys.

func (s *Server) registerAuditorKeyRoutes() {
	s.mux.HandleFunc("POST /v1/auditors/{id}/keys", s.postAuditorKey)
	s.mux.HandleFunc("POST /v1/auditors/{id}/keys/{kid}/revoke", s.postRevokeAuditorKey)
	s.mux.HandleFunc("GET /v1/auditors/{id}/keys", s.getAuditorKeys)
}

// auditorKeyDoc is one valid auditor key.
type auditorKeyDoc struct {
	KID     string    `json:"kid"`
	Use     string    `json:"use"`
	Status  string    `json:"status"`
	AddedAt time.Time `json:"added_at"`
}

// auditorRevocationDoc is one revoked auditor key.
type auditorRevocationDoc struct {
	Auditor   string    `json:"auditor"`
	KID       string    `json:"kid"`
	AddedAt   time.Time `json:"added_at"`
	RevokedAt time.Time `json:"revoked_at"`
}

func auditorKeyDocOf(k hub.AuditorKey) auditorKeyDoc {
	return auditorKeyDoc{KID: k.KID, Use: k.Use, Status: string(k.Status), AddedAt: k.AddedAt}
}

func auditorRevocationDocOf(r hub.AuditorRevocation) auditorRevocationDoc {
	return auditorRevocationDoc{Auditor: r.Auditor, KID: r.KID, AddedAt: r.AddedAt, RevokedAt: r.RevokedAt}
}

// postAuditorKey adds a public signing key to an auditor: {"jwk": {...}}.
func (s *Server) postAuditorKey(w http.ResponseWriter, r *http.Request) {
	if !s.requireAdmin(w, r, "adding auditor keys") {
		return
	}
	jwkRaw, ok := decodeKeyRequest(w, r, contracts.CodeAuditorInvalid)
	if !ok {
		return
	}
	id := r.PathValue("id")
	k, err := s.hub.AddAuditorKey(r.Context(), id, jwkRaw, audit.ActorAdmin)
	if err != nil {
		writeProblem(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"auditor": id, "key": auditorKeyDocOf(k)})
}

// postRevokeAuditorKey revokes an auditor key: {"revoked_at": RFC3339},
// optional (default now).
func (s *Server) postRevokeAuditorKey(w http.ResponseWriter, r *http.Request) {
	if !s.requireAdmin(w, r, "revoking auditor keys") {
		return
	}
	at, ok := decodeRevocationRequest(w, r)
	if !ok {
		return
	}
	rev, err := s.hub.RevokeAuditorKey(r.Context(), r.PathValue("id"), r.PathValue("kid"), at, audit.ActorAdmin)
	if err != nil {
		writeProblem(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, auditorRevocationDocOf(rev))
}

// getAuditorKeys lists an auditor's valid keys, newest (current) first,
// and its revoked keys. The admin may read any auditor's, an auditor only
// its own; another auditor is refused before anything is looked up, so
// the answer says nothing of which auditors exist.
func (s *Server) getAuditorKeys(w http.ResponseWriter, r *http.Request) {
	c, err := s.authenticate(r)
	if err != nil {
		writeProblem(w, r, err)
		return
	}
	id := r.PathValue("id")
	if !c.Admin && (c.Auditor == "" || c.Auditor != id) {
		writeProblem(w, r, contracts.Refuse(contracts.CodeForbidden, "an auditor's keys are read with the admin token or the auditor's own"))
		return
	}
	if p := readParams(r); p.err != nil {
		writeProblem(w, r, p.err)
		return
	}
	list, err := s.hub.AuditorKeys(r.Context(), id)
	if err != nil {
		writeProblem(w, r, err)
		return
	}
	keys := make([]auditorKeyDoc, 0, len(list.Keys))
	for _, k := range list.Keys {
		keys = append(keys, auditorKeyDocOf(k))
	}
	revoked := make([]auditorRevocationDoc, 0, len(list.Revoked))
	for _, rv := range list.Revoked {
		revoked = append(revoked, auditorRevocationDocOf(rv))
	}
	writeJSON(w, http.StatusOK, map[string]any{"auditor": list.Auditor, "keys": keys, "revoked": revoked})
}
