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
)

// caller is who made a request.
type caller struct {
	Agency string
	Admin  bool
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	const prefix = "bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", false
	}
	return strings.TrimSpace(h[len(prefix):]), true
}

// authenticate accepts an admin token or an agency JWT. Agency tokens are
// single-use: their jti is remembered until they expire.
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
	claims, err := seal.VerifyToken(tok, s.hub.ID(), time.Now(), func(iss, kid string) (jwk.Key, error) {
		return s.agencyKey(ctx, iss, kid)
	})
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
	return caller{Agency: claims.Issuer}, nil
}

// agencyKey returns iss's signing key named kid; a kid of another agency is
// refused as if unknown.
func (s *Server) agencyKey(ctx context.Context, iss, kid string) (jwk.Key, error) {
	agency, key, err := s.hub.Directory().SigningKey(ctx, kid)
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
