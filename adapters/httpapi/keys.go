package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/hub"
)

// directoryKey is one valid agency key's place in a rotation, listed beside
// the JWKS (the JWKs themselves admit no extra members).
type directoryKey struct {
	KID     string    `json:"kid"`
	Use     string    `json:"use"`
	Status  string    `json:"status"`
	AddedAt time.Time `json:"added_at"`
}

// directoryRevocation is one revoked agency key.
type directoryRevocation struct {
	Agency    string    `json:"agency"`
	KID       string    `json:"kid"`
	Use       string    `json:"use"`
	RevokedAt time.Time `json:"revoked_at"`
}

func (s *Server) registerKeyRoutes() {
	s.mux.HandleFunc("POST /v1/agencies/{id}/keys", s.postAgencyKey)
	s.mux.HandleFunc("POST /v1/agencies/{id}/keys/{kid}/revoke", s.postRevokeKey)
}

func directoryKeys(infos []hub.KeyInfo) []directoryKey {
	out := make([]directoryKey, 0, len(infos))
	for _, k := range infos {
		out = append(out, directoryKey{KID: k.KID, Use: k.Use, Status: string(k.Status), AddedAt: k.AddedAt})
	}
	return out
}

func directoryRevocations(list []hub.Revocation) []directoryRevocation {
	out := make([]directoryRevocation, 0, len(list))
	for _, r := range list {
		out = append(out, directoryRevocation{Agency: r.Agency, KID: r.KID, Use: r.Use, RevokedAt: r.RevokedAt})
	}
	return out
}

// postAgencyKey adds a public key to an agency: {"jwk": {...}}.
func (s *Server) postAgencyKey(w http.ResponseWriter, r *http.Request) {
	if !s.requireAdmin(w, r, "adding agency keys") {
		return
	}
	jwkRaw, ok := decodeKeyRequest(w, r, contracts.CodeAgencyInvalid)
	if !ok {
		return
	}
	k, err := s.hub.AddAgencyKey(r.Context(), r.PathValue("id"), jwkRaw, "admin")
	if err != nil {
		writeProblem(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{
		"agency": k.Agency, "key": directoryKey{KID: k.KID, Use: k.Use, Status: string(k.Status), AddedAt: k.AddedAt},
	})
}

// postRevokeKey revokes an agency key: {"revoked_at": RFC3339}, optional
// (default now).
func (s *Server) postRevokeKey(w http.ResponseWriter, r *http.Request) {
	if !s.requireAdmin(w, r, "revoking agency keys") {
		return
	}
	at, ok := decodeRevocationRequest(w, r)
	if !ok {
		return
	}
	rev, err := s.hub.RevokeAgencyKey(r.Context(), r.PathValue("id"), r.PathValue("kid"), at, "admin")
	if err != nil {
		writeProblem(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, directoryRevocation{Agency: rev.Agency, KID: rev.KID, Use: rev.Use, RevokedAt: rev.RevokedAt})
}

// decodeKeyRequest reads {"jwk": {...}}, the body that adds a key to an
// agency or an auditor; a refusal carries code.
func decodeKeyRequest(w http.ResponseWriter, r *http.Request, code contracts.Code) (json.RawMessage, bool) {
	var req struct {
		JWK json.RawMessage `json:"jwk"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || len(req.JWK) == 0 {
		writeProblem(w, r, contracts.Refuse(code, "body must be {jwk}"))
		return nil, false
	}
	return req.JWK, true
}

// decodeRevocationRequest reads {"revoked_at": RFC3339} or an empty body
// (zero time: the hub takes now), the body that revokes a key.
func decodeRevocationRequest(w http.ResponseWriter, r *http.Request) (time.Time, bool) {
	var req struct {
		RevokedAt *time.Time `json:"revoked_at"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil && !errors.Is(err, io.EOF) {
		writeProblem(w, r, contracts.Refuse(contracts.CodeBadRequest, "body must be {revoked_at} with an RFC 3339 time, or empty"))
		return time.Time{}, false
	}
	if req.RevokedAt == nil {
		return time.Time{}, true
	}
	return *req.RevokedAt, true
}
