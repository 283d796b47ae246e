package httpapi

import (
	"net/http"
	"time"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/hub/audit"
)

// registerHubKeyRoutes adds the hub key set, for auditors (every key that
// ever signed checkpoints, so that those signed before a rotation still
// verify offline), and its rotation, for the admin.
func (s *Server) registerHubKeyRoutes() {
	s.mux.HandleFunc("GET /v1/audit/keys", s.getHubKeys)
	s.mux.HandleFunc("POST /v1/hub/keys/rotate", s.postHubKeyRotation)
}

// hubKeyDoc is one hub key as published.
type hubKeyDoc struct {
	KID          string          `json:"kid"`
	Status       string          `json:"status"`
	NoteVerifier string          `json:"note_verifier"`
	JWK          audit.PublicJWK `json:"jwk"`
	RetiredAt    *time.Time      `json:"retired_at,omitempty"`
}

func (s *Server) hubKeyDoc(k hub.HubKeyInfo) (hubKeyDoc, error) {
	hk, err := audit.NewHubKey(s.hub.Audit().Origin(), k.Public)
	if err != nil {
		return hubKeyDoc{}, err
	}
	doc := hubKeyDoc{KID: k.KID, Status: string(k.Status), NoteVerifier: hk.NoteVerifier, JWK: hk.JWK}
	if !k.RetiredAt.IsZero() {
		at := k.RetiredAt.UTC()
		doc.RetiredAt = &at
	}
	return doc, nil
}

func (s *Server) getHubKeys(w http.ResponseWriter, r *http.Request) {
	actor, ok := s.requireAuditor(w, r)
	if !ok {
		return
	}
	if p := readParams(r); p.err != nil {
		writeProblem(w, r, p.err)
		return
	}
	keys, err := s.hub.AuditHubKeys(r.Context(), actor)
	if err != nil {
		writeProblem(w, r, err)
		return
	}
	docs := make([]hubKeyDoc, 0, len(keys))
	for _, k := range keys {
		d, err := s.hubKeyDoc(k)
		if err != nil {
			writeProblem(w, r, err)
			return
		}
		docs = append(docs, d)
	}
	writeJSON(w, http.StatusOK, map[string]any{"origin": s.hub.Audit().Origin(), "keys": docs})
}

func (s *Server) postHubKeyRotation(w http.ResponseWriter, r *http.Request) {
	c, err := s.authenticate(r)
	if err != nil {
		writeProblem(w, r, err)
		return
	}
	if !c.Admin {
		writeProblem(w, r, contracts.Refuse(contracts.CodeForbidden, "rotating the hub key needs the admin token"))
		return
	}
	k, err := s.hub.RotateHubKey(r.Context(), audit.ActorAdmin)
	if err != nil {
		writeProblem(w, r, err)
		return
	}
	doc, err := s.hubKeyDoc(k)
	if err != nil {
		writeProblem(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, doc)
}
