package protocol

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
)

func TestAuthentication(t *testing.T) {
	w := newWorld(t)

	t.Run("an inbox read without a token is unauthenticated", func(t *testing.T) {
		r := w.do(t, http.MethodGet, "/v1/inbox", nil, nil)
		assertProblem(t, r, http.StatusUnauthorized, contracts.CodeUnauthenticated, "")
	})

	t.Run("an expired token is refused", func(t *testing.T) {
		past := time.Now().Add(-10 * time.Minute)
		tok, err := seal.IssueToken(w.ml.Keys.Signing, w.ml.ID, testHubID, 2*time.Minute, past)
		if err != nil {
			t.Fatal(err)
		}
		r := w.do(t, http.MethodGet, "/v1/inbox", nil, bearer(tok))
		assertProblem(t, r, http.StatusUnauthorized, contracts.CodeTokenExpired, "")
	})

	t.Run("a token for another hub is refused", func(t *testing.T) {
		tok, err := seal.IssueToken(w.ml.Keys.Signing, w.ml.ID, "another-hub", 2*time.Minute, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		h := bearer(tok)
		h["Accept-Language"] = "en-GB,en;q=0.9"
		r := w.do(t, http.MethodGet, "/v1/inbox", nil, h)
		assertProblem(t, r, http.StatusUnauthorized, contracts.CodeTokenInvalid, "en")
	})

	t.Run("a token claiming another agency's identity is refused", func(t *testing.T) {
		// Signed by ml's key, but iss says ci: the kid does not belong to ci.
		tok, err := seal.IssueToken(w.ml.Keys.Signing, w.ci.ID, testHubID, 2*time.Minute, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		r := w.do(t, http.MethodGet, "/v1/inbox", nil, bearer(tok))
		assertProblem(t, r, http.StatusUnauthorized, contracts.CodeTokenInvalid, "")
	})

	t.Run("a token used twice is refused the second time", func(t *testing.T) {
		tok := w.ml.token(t)
		if r := w.do(t, http.MethodGet, "/v1/inbox", nil, bearer(tok)); r.Status != http.StatusOK {
			t.Fatalf("first use: %d %s", r.Status, r.Body)
		}
		r := w.do(t, http.MethodGet, "/v1/inbox", nil, bearer(tok))
		assertProblem(t, r, http.StatusUnauthorized, contracts.CodeTokenReplayed, "")
	})

	t.Run("registering an agency with an agency token is forbidden", func(t *testing.T) {
		jwks, _ := w.bf.Keys.PublicJWKS()
		body, _ := json.Marshal(map[string]any{"id": "sn.dpe-dakar", "country": "sn", "name": "Dakar", "jwks": json.RawMessage(jwks)})
		h := bearer(w.ml.token(t))
		h["Content-Type"] = "application/json"
		r := w.do(t, http.MethodPost, "/v1/agencies", body, h)
		assertProblem(t, r, http.StatusForbidden, contracts.CodeForbidden, "")
		if _, err := w.store.Agency(t.Context(), "sn.dpe-dakar"); !isNotFound(err) {
			t.Errorf("agency registered with an agency token: %v", err)
		}
	})

	t.Run("an agency cannot read the trail of a transfer it is not party to", func(t *testing.T) {
		env, jws := w.ci.seal(t, referral(w.ml.ID))
		w.accepted(t, jws)
		path := "/v1/transfers/" + env.Transfer + "/trail"
		for _, p := range []*party{w.ci, w.ml} {
			if r := w.do(t, http.MethodGet, path, nil, bearer(p.token(t))); r.Status != http.StatusOK {
				t.Fatalf("party %s reads the trail: %d %s", p.ID, r.Status, r.Body)
			}
		}
		r := w.do(t, http.MethodGet, path, nil, bearer(w.bf.token(t)))
		assertProblem(t, r, http.StatusNotFound, contracts.CodeNotFound, "")
		// Indistinguishable from a transfer that does not exist.
		missing := w.do(t, http.MethodGet, "/v1/transfers/"+contracts.NewMessageID()+"/trail", nil, bearer(w.bf.token(t)))
		assertProblem(t, missing, http.StatusNotFound, contracts.CodeNotFound, "")
		if r.Doc["detail"] != missing.Doc["detail"] {
			t.Errorf("a non-party can tell a real transfer (%v) from a missing one (%v)", r.Doc["detail"], missing.Doc["detail"])
		}
	})
}
