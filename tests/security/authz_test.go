package security

// Authorization: who may read what. An agency reads only its own inbox,
// the trails of its own transfers and the attachments sent to it; an
// auditor reads the audit log (commitments, never bodies) and nothing an
// agency reads; the admin endpoints refuse agency and auditor tokens; and
// a token is refused when replayed, expired, for another hub or otherwise
// malformed. tests/protocol/auth_test.go and tests/audit/authz_test.go
// cover single cases of these; this suite walks every route.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/adapters/sqlstore"
	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
	"github.com/relais-hub/relais/contracts/seal/sealtest"
	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/hub/attachments"
)

const secAuditorID = "auditor:cdp-bf"

// auditorKey registers an auditor and returns its signing key.
func (w *world) auditorKey(t *testing.T) jwk.Key {
	t.Helper()
	key, err := seal.GenerateSigningKey(seal.NewKID(secAuditorID + "#sig"))
	if err != nil {
		t.Fatal(err)
	}
	set, err := seal.PublicSet(key)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"id": secAuditorID, "name": "Commission de l'informatique et des libertés", "jwks": set})
	r := w.do(t, http.MethodPost, "/v1/auditors", bytes.NewReader(body), map[string]string{"Authorization": "Bearer " + secAdminToken, "Content-Type": "application/json"})
	if r.Status != http.StatusCreated {
		t.Fatalf("register auditor: %d %s", r.Status, r.Body)
	}
	return key
}

func issue(t *testing.T, key jwk.Key, iss string) string {
	t.Helper()
	tok, err := seal.IssueToken(key, iss, secHubID, time.Minute, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// withAttachments gives the world's hub an attachment store.
func withAttachments(t *testing.T) worldOptions {
	dir := t.TempDir()
	return worldOptions{configure: func(c *hub.Config) {
		blobs, err := attachments.NewFileStore(dir)
		if err != nil {
			t.Fatal(err)
		}
		svc, err := attachments.New(attachments.Config{Meta: c.Store.(*sqlstore.Store), Blobs: blobs, Lane: attachments.NewLane(4, 2*time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		c.Attachments = svc
	}}
}

func TestWhoMayReadWhat(t *testing.T) {
	ctx := context.Background()
	w := newWorldWith(t, withAttachments(t))
	auditor := w.auditorKey(t)

	// ci refers a child to ml with a photo attached.
	photo := bytes.Repeat([]byte("photo of Kadiatou "), 4096)
	ref, err := w.ci.Client.UploadAttachment(ctx, bytes.NewReader(photo), int64(len(photo)),
		agency.AttachmentOptions{To: w.ml.ID, Name: "kadiatou.jpg", MediaType: "image/jpeg", SpoolDir: t.TempDir()})
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	d := childReferral(w.ml.ID)
	d.Attachments = []contracts.AttachmentRef{ref}
	env, sub, err := w.ci.Client.Send(ctx, d)
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	w.delivered(t, env.ID)
	parts := strings.Split(string(sub.JWS), ".")

	t.Run("an agency reads its own inbox only", func(t *testing.T) {
		for _, path := range []string{"/v1/inbox", "/v1/inbox?agency=" + w.ml.ID, "/v1/inbox?to=" + w.ml.ID} {
			r := w.get(t, path, w.bf.token(t))
			if r.Status == http.StatusOK && strings.Contains(string(r.Body), env.ID) {
				t.Fatalf("bf read ml's message through %s", path)
			}
		}
		if r := w.get(t, "/v1/inbox", w.ml.token(t)); !strings.Contains(string(r.Body), env.ID) {
			t.Fatalf("ml does not see its own message: %d %s", r.Status, r.Body)
		}
		// A token claiming ml's identity, signed by bf's key, is refused.
		wantProblem(t, w.get(t, "/v1/inbox", issue(t, w.bf.Keys.Signing, w.ml.ID)), contracts.CodeTokenInvalid)
	})
	t.Run("an agency cannot read another's trail or find its transfers", func(t *testing.T) {
		wantProblem(t, w.get(t, "/v1/transfers/"+env.Transfer+"/trail", w.bf.token(t)), contracts.CodeNotFound)
		r := w.get(t, "/v1/transfers", w.bf.token(t))
		if strings.Contains(string(r.Body), env.Transfer) {
			t.Fatalf("bf lists ci's transfer: %s", r.Body)
		}
		for _, p := range []*party{w.ci, w.ml} {
			if r := w.get(t, "/v1/transfers/"+env.Transfer+"/trail", p.token(t)); r.Status != http.StatusOK {
				t.Fatalf("party %s cannot read its trail: %d", p.ID, r.Status)
			}
		}
	})
	t.Run("an agency cannot download another's attachment", func(t *testing.T) {
		for who, tok := range map[string]string{"bf, party to nothing": w.bf.token(t), "an auditor": issue(t, auditor, secAuditorID)} {
			r := w.get(t, "/v1/attachments/"+ref.ID, tok)
			if r.Status == http.StatusOK || r.Status == http.StatusPartialContent || len(r.Body) > 1024 {
				t.Fatalf("%s downloaded the attachment: %d, %d bytes", who, r.Status, len(r.Body))
			}
		}
		var got bytes.Buffer
		if _, err := w.ml.Client.DownloadAttachment(ctx, ref, &got, agency.TransferOptions{}); err != nil || !bytes.Equal(got.Bytes(), photo) {
			t.Fatalf("the recipient could not download its attachment: %v", err)
		}
	})
	t.Run("an auditor reads commitments, never bodies", func(t *testing.T) {
		tok := func() string { return issue(t, auditor, secAuditorID) }
		for _, path := range []string{"/v1/inbox", "/v1/transfers/" + env.Transfer + "/trail"} {
			r := w.get(t, path, tok())
			if r.Status == http.StatusOK {
				t.Fatalf("an auditor read %s", path)
			}
		}
		for _, path := range []string{"/v1/audit/events?transfer=" + env.Transfer, "/v1/audit/bundle?transfer=" + env.Transfer} {
			r := w.get(t, path, tok())
			if r.Status != http.StatusOK {
				t.Fatalf("%s: %d %s", path, r.Status, r.Body)
			}
			if strings.Contains(string(r.Body), parts[1][:32]) || strings.Contains(string(r.Body), ref.Key[:32]) {
				t.Fatalf("%s holds the message or its wrapped attachment key", path)
			}
			w.assertNoLeak(t, nil, r.Body)
		}
	})
	t.Run("admin endpoints refuse agency and auditor tokens", func(t *testing.T) {
		jwks, _ := w.bf.Keys.PublicJWKS()
		newKey, _ := seal.GenerateSigningKey("bf.dpe-bobo#sig-extra")
		pub, _ := seal.PublicKey(newKey)
		pubJSON, _ := json.Marshal(map[string]any{"jwk": pub})
		routes := []struct {
			method, path string
			body         []byte
		}{
			{http.MethodPost, "/v1/agencies", mustJSON(map[string]any{"id": "gh.dsw", "country": "gh", "name": "x", "jwks": json.RawMessage(jwks)})},
			{http.MethodPost, "/v1/auditors", mustJSON(map[string]any{"id": "auditor:x", "name": "x", "jwks": json.RawMessage(jwks)})},
			{http.MethodPost, "/v1/agencies/" + w.bf.ID + "/keys", pubJSON},
			{http.MethodPost, "/v1/agencies/" + w.ml.ID + "/keys/" + url.PathEscape(w.ml.SigKID) + "/revoke", []byte(`{}`)},
			{http.MethodPost, "/v1/hub/keys/rotate", nil},
			{http.MethodGet, "/v1/admin/dead-letters", nil},
			{http.MethodPost, "/v1/admin/dead-letters/" + contracts.NewMessageID() + "/replay", nil},
		}
		for _, rt := range routes {
			for who, tok := range map[string]string{"agency": w.bf.token(t), "auditor": issue(t, auditor, secAuditorID)} {
				t.Run(who+" on "+rt.method+" "+rt.path, func(t *testing.T) {
					h := map[string]string{"Authorization": "Bearer " + tok, "Content-Type": "application/json"}
					r := w.do(t, rt.method, rt.path, bytes.NewReader(rt.body), h)
					if r.Status != http.StatusForbidden {
						t.Fatalf("answered %d %s, want 403", r.Status, r.Body)
					}
				})
			}
		}
		// Nothing was changed: ml's key is not revoked, no agency added.
		if _, err := w.store.Agency(ctx, "gh.dsw"); err == nil {
			t.Fatal("an agency was registered with a non-admin token")
		}
		if r := w.get(t, "/v1/inbox", w.ml.token(t)); r.Status != http.StatusOK {
			t.Fatalf("ml's key was revoked by a non-admin: %d %s", r.Status, r.Body)
		}
	})
	t.Run("agency tokens are refused on the audit API", func(t *testing.T) {
		for _, path := range []string{"/v1/audit/events?transfer=" + env.Transfer, "/v1/audit/checkpoint", "/v1/audit/keys", "/v1/audit/key", "/v1/audit/bundle?transfer=" + env.Transfer} {
			wantProblem(t, w.get(t, path, w.ci.token(t)), contracts.CodeForbidden)
		}
	})
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// TestTokenAttacksAreRefusedOverHTTP replays the shared table of hostile
// access tokens against a real route: replay, expiry, wrong audience,
// claims out of place, headers of the attacks on messages.
func TestTokenAttacksAreRefusedOverHTTP(t *testing.T) {
	w := newWorld(t)
	_, seed := okpSecret(t, w.bf.Keys.Signing, "Ed25519")
	fix := sealtest.TokenFixture{
		Hub: secHubID, Now: time.Now(),
		Issuer: w.ml.ID, Key: w.ml.SigPriv, KID: w.ml.SigKID,
		OtherIssuer: w.bf.ID, OtherKey: ed25519.NewKeyFromSeed(seed), OtherKID: w.bf.SigKID,
	}
	attacks := sealtest.TokenAttacks(fix)
	if len(attacks) < 20 {
		t.Fatalf("only %d token attacks in the shared table", len(attacks))
	}
	for _, a := range attacks {
		t.Run(a.Name, func(t *testing.T) {
			r := w.get(t, "/v1/inbox", string(a.Input))
			want := a.Want
			if len(a.Input) == 0 {
				// Over HTTP an empty bearer token is no token at all.
				want = contracts.CodeUnauthenticated
			}
			wantProblem(t, r, want)
			if len(a.Input) > 16 && strings.Contains(string(r.Body), string(a.Input)) {
				t.Error("the refusal echoes the token")
			}
		})
	}
	t.Run("jku and x5u in a token header are refused and never fetched", func(t *testing.T) {
		ks := newKeyServer(t)
		for _, m := range []string{"jku", "x5u"} {
			h := sealtest.Header("alg", "EdDSA", "kid", fix.KID, "typ", "JWT", m, ks.URL+"/keys")
			tok := string(sealtest.SignEd25519(h, []byte(fix.Claims()), fix.Key))
			wantProblem(t, w.get(t, "/v1/inbox", tok), contracts.CodeTokenInvalid)
		}
		if n := ks.hits.Load(); n != 0 {
			t.Fatalf("the hub fetched a key URL from a token header %d time(s)", n)
		}
	})
	t.Run("a genuine token is accepted once, then refused as replayed", func(t *testing.T) {
		tok := fix.Token(fix.Claims())
		if r := w.get(t, "/v1/inbox", tok); r.Status != http.StatusOK {
			t.Fatalf("first use: %d %s", r.Status, r.Body)
		}
		wantProblem(t, w.get(t, "/v1/inbox", tok), contracts.CodeTokenReplayed)
	})
	t.Run("a token for another hub is refused", func(t *testing.T) {
		tok, err := seal.IssueToken(w.ml.Keys.Signing, w.ml.ID, "another-hub", time.Minute, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		wantProblem(t, w.get(t, "/v1/inbox", tok), contracts.CodeTokenInvalid)
	})
	t.Run("an expired token is refused", func(t *testing.T) {
		tok, err := seal.IssueToken(w.ml.Keys.Signing, w.ml.ID, secHubID, time.Minute, time.Now().Add(-10*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		wantProblem(t, w.get(t, "/v1/inbox", tok), contracts.CodeTokenExpired)
	})
	t.Run("no token, or not a bearer token", func(t *testing.T) {
		wantProblem(t, w.get(t, "/v1/inbox", ""), contracts.CodeUnauthenticated)
		r := w.do(t, http.MethodGet, "/v1/inbox", nil, map[string]string{"Authorization": "Basic " + fmt.Sprint("bWw6cGFzcw==")})
		wantProblem(t, r, contracts.CodeUnauthenticated)
	})
}
