package httpapi

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/hub/audit"
	"github.com/relais-hub/relais/hub/stats"
)

// caller is who made a request: an agency, an auditor, a national
// statistics authority, or the admin.
type caller struct {
	Agency  string
	Auditor string
	// Statistics is a statistics authority's id (hub/stats): it may read
	// statistics releases and nothing else.
	Statistics string
	Admin      bool
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	const prefix = "bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", false
	}
	return strings.TrimSpace(h[len(prefix):]), true
}

// authenticate accepts an admin token, an agency JWT, an auditor JWT or a
// statistics authority's JWT. These tokens are single-use: their jti is
// remembered until they expire. The issuer's form decides whose keys
// verify the token, so an auditor can never pass for an agency, nor the
// reverse, and neither for a statistics authority.
func (s *Server) authenticate(r *http.Request) (caller, error) {
	tok, ok := bearer(r)
	if !ok {
		return caller{}, contracts.Refuse(contracts.CodeUnauthenticated, "missing bearer token")
	}
	if s.adminToken != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(s.adminToken)) == 1 {
		return caller{Admin: true}, nil
	}
	if strings.Count(tok, ".") != 2 {
		return caller{}, contracts.Refuse(contracts.CodeTokenInvalid, "not a JWT")
	}
	ctx := r.Context()
	// A token signed with a revoked key is refused as key_revoked, not
	// merely token_invalid, so the agency knows to use its new key (the
	// revocation is public in the directory anyway).
	var revoked error
	claims, err := seal.VerifyToken(tok, s.hub.ID(), time.Now(), func(iss, kid string) (jwk.Key, error) {
		if hub.ValidAuditorID(iss) {
			return s.hub.AuditorSigningKey(ctx, iss, kid)
		}
		if stats.ValidReaderID(iss) {
			return stats.ReaderSigningKey(ctx, s.hub.Store(), iss, kid)
		}
		k, err := s.agencyKey(ctx, iss, kid)
		if contracts.CodeOf(err) == contracts.CodeKeyRevoked {
			revoked = err
		}
		return k, err
	})
	if err != nil && revoked != nil {
		return caller{}, revoked
	}
	if err != nil {
		return caller{}, err
	}
	fresh, err := s.hub.Store().UseToken(ctx, claims.Issuer, claims.JTI, claims.Expires)
	if err != nil {
		return caller{}, err
	}
	if !fresh {
		return caller{}, contracts.Refuse(contracts.CodeTokenReplayed, "token id already used")
	}
	if hub.ValidAuditorID(claims.Issuer) {
		return caller{Auditor: claims.Issuer}, nil
	}
	if stats.ValidReaderID(claims.Issuer) {
		return caller{Statistics: claims.Issuer}, nil
	}
	if s.seen != nil {
		s.seen(claims.Issuer, time.Now())
	}
	return caller{Agency: claims.Issuer}, nil
}

// agencyKey returns iss's signing key named kid; a kid of another agency is
// refused as if unknown.
func (s *Server) agencyKey(ctx context.Context, iss, kid string) (jwk.Key, error) {
	agency, key, err := s.hub.Directory().SigningKey(ctx, kid)
	if contracts.CodeOf(err) == contracts.CodeKeyRevoked {
		return nil, err
	}
	if err != nil {
		return nil, contracts.Refuse(contracts.CodeTokenInvalid, "unknown signing key")
	}
	if agency != iss {
		return nil, contracts.Refuse(contracts.CodeTokenInvalid, "key does not belong to the issuer")
	}
	return key, nil
}

func (s *Server) requireAgency(w http.ResponseWriter, r *http.Request) (caller, bool) {
	c, err := s.authenticate(r)
	if err != nil {
		writeProblem(w, r, err)
		return c, false
	}
	if c.Agency == "" {
		writeProblem(w, r, contracts.Refuse(contracts.CodeForbidden, "an agency token is required"))
		return c, false
	}
	return c, true
}

// requireAuditor admits auditors and the admin to the audit API; agencies
// are refused (they read their own transfers' trails instead). It returns
// the actor recorded in the log: the auditor id, or "admin".
func (s *Server) requireAuditor(w http.ResponseWriter, r *http.Request) (string, bool) {
	c, err := s.authenticate(r)
	if err != nil {
		writeProblem(w, r, err)
		return "", false
	}
	switch {
	case c.Auditor != "":
		return c.Auditor, true
	case c.Admin:
		return audit.ActorAdmin, true
	}
	writeProblem(w, r, contracts.Refuse(contracts.CodeForbidden, "an auditor token or the admin token is required"))
	return "", false
}

// requireStatsReader admits statistics authorities, auditors and the admin
// to the statistics API. It returns the actor recorded in the release's
// audit event.
func (s *Server) requireStatsReader(w http.ResponseWriter, r *http.Request) (string, bool) {
	c, err := s.authenticate(r)
	if err != nil {
		writeProblem(w, r, err)
		return "", false
	}
	switch {
	case c.Statistics != "":
		return c.Statistics, true
	case c.Auditor != "":
		return c.Auditor, true
	case c.Admin:
		return audit.ActorAdmin, true
	}
	writeProblem(w, r, contracts.Refuse(contracts.CodeForbidden, "a statistics authority's, an auditor's or the admin token is required"))
	return "", false
}
