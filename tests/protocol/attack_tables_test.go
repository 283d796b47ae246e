package protocol

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
	"github.com/relais-hub/relais/contracts/seal/sealtest"
)

// The seal package's unit tests run these shared attack tables against
// seal.Verify and seal.CheckJWE. Here every entry goes through the whole
// hub instead — HTTP, the Watermill pipeline, the directory, the store —
// to show that the wiring keeps every refusal, queues nothing and audits
// each one.

// p256Sender registers sn.dpe-dakar with an Ed25519 and a P-256 signing key
// (and its X25519 encryption key), the world JWSAttacks expects.
func p256Sender(t *testing.T, w *world) (*party, *ecdsa.PrivateKey, string) {
	t.Helper()
	const id = "sn.dpe-dakar"
	keyDir := filepath.Join(t.TempDir(), id)
	keys, err := agency.Init(id, keyDir)
	if err != nil {
		t.Fatal(err)
	}
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	point, err := p256.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		t.Fatal(err)
	}
	p256KID := seal.NewKID(id + "#sig-p256")
	jwks, err := keys.PublicJWKS()
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(jwks, &set); err != nil {
		t.Fatal(err)
	}
	ecKey, _ := json.Marshal(map[string]string{"kty": "EC", "crv": "P-256", "x": sealtest.B64(point[1:33]), "y": sealtest.B64(point[33:]),
		"kid": p256KID, "alg": "ES256", "use": "sig"})
	set.Keys = append(set.Keys, ecKey)
	jwks, _ = json.Marshal(set)
	w.registerJWKS(t, id, "Direction de la protection de l'enfant — Dakar", jwks)
	p := &party{ID: id, Keys: keys, Client: agency.New(w.srv.URL, keys), KeyDir: keyDir}
	p.SigKID, p.SigPriv = ed25519Private(t, keys.Signing)
	p.EncKID, p.EncPriv = x25519Private(t, keys.Encryption[0])
	return p, p256, p256KID
}

func TestJWSAttackTableOverHTTP(t *testing.T) {
	w := newWorld(t)
	sn, p256, p256KID := p256Sender(t, w)
	env, _ := sn.seal(t, referral(w.ml.ID))
	payload, _ := json.Marshal(env)
	var fetched atomic.Int32
	keyServer := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		fetched.Add(1)
		http.NotFound(rw, r)
	}))
	defer keyServer.Close()

	attacks := sealtest.JWSAttacks(sealtest.JWSFixture{
		Typ: seal.EnvelopeTyp, Payload: payload,
		Ed25519: sn.SigPriv, Ed25519KID: sn.SigKID, P256: p256, P256KID: p256KID,
		URL: keyServer.URL,
	})
	if len(attacks) < 50 {
		t.Fatalf("only %d attacks in the shared table", len(attacks))
	}
	before := w.settled(t)
	for _, a := range attacks {
		t.Run(a.Name, func(t *testing.T) {
			try := attempt{Body: a.Input, MessageID: env.ID, HubSeesIt: true}
			auditBefore := len(w.rejected(t, a.Want))
			r := w.submit(t, a.Input, joseType, "")
			assertProblem(t, r, a.Want.Status(), a.Want, "")
			assertNothingQueued(t, w, try, before, nil)
			assertAudited(t, w, a.Want, try, auditBefore, 1)
			assertLogsClean(t, w, try)
		})
	}
	if n := fetched.Load(); n != 0 {
		t.Errorf("the hub fetched a key URL from a header %d time(s)", n)
	}

	// The same payload, signed as the profile says with the sender's
	// registered P-256 key, goes through: the refusals above were the
	// attacks', not the fixture's.
	h := sealtest.Header("alg", "ES256", "kid", p256KID, "typ", seal.EnvelopeTyp)
	if r := w.submit(t, sealtest.SignES256(h, payload, p256), joseType, ""); r.Status != http.StatusAccepted {
		t.Fatalf("the genuine ES256 message was refused: %d %s", r.Status, r.Body)
	}
}

// compactJWEWithKey is the shape the envelope requires of a sealed body
// before the hub looks inside: five non-empty base64url parts (a wrapped
// key is always present with ECDH-ES+A256KW). Bodies of another shape are
// body_not_encrypted; the others are checked as JWE and refused as
// body_invalid.
var compactJWEWithKey = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+){4}$`)

// jweKID reads the kid of a compact JWE's protected header.
func jweKID(compact string) string {
	raw, err := base64.RawURLEncoding.DecodeString(strings.SplitN(compact, ".", 2)[0])
	if err != nil {
		return ""
	}
	var h struct {
		Kid string `json:"kid"`
	}
	_ = json.Unmarshal(raw, &h)
	return h.Kid
}

func TestJWEAttackTableOverHTTP(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	base, _ := w.ci.seal(t, referral(w.ml.ID))
	attacks, err := sealtest.JWEAttacks(sealtest.JWEFixture{Recipient: w.ml.EncPriv.PublicKey(), KID: w.ml.EncKID, Plaintext: []byte(referralBody)})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range attacks {
		t.Run(a.Name, func(t *testing.T) {
			// A genuine envelope from ci, genuinely signed, whose body is
			// the attack.
			env := base
			env.ID = contracts.NewMessageID()
			env.Transfer = env.ID
			env.Body = contracts.NewSealedBody(a.Input)
			jws := resigned(t, w.ci, env)

			if a.ShapeValid && jweKID(a.Input) == w.ml.EncKID {
				// Only the recipient can tell: the hub, holding no key,
				// delivers it, and the recipient's client refuses to open it.
				w.accepted(t, jws)
				w.delivered(t, w.ml.ID, env.ID)
				_, err := w.ml.Client.Open(ctx, jws)
				if contracts.CodeOf(err) != contracts.CodeBodyInvalid {
					t.Fatalf("the recipient opened a tampered body: %v", err)
				}
				return
			}
			want := contracts.CodeBodyInvalid
			if !compactJWEWithKey.MatchString(a.Input) {
				want = contracts.CodeBodyNotEncrypted
			}
			before := w.settled(t)
			auditBefore := len(w.rejected(t, want))
			try := attempt{Body: jws, MessageID: env.ID, HubSeesIt: true}
			r := w.submit(t, jws, joseType, "")
			assertProblem(t, r, want.Status(), want, "")
			if detail, _ := r.Doc["detail"].(string); want == contracts.CodeBodyInvalid && !a.ShapeValid && !strings.Contains(detail, a.Detail) {
				t.Errorf("refused for %q, want the rule about %s", detail, a.Detail)
			}
			assertNothingQueued(t, w, try, before, nil)
			assertAudited(t, w, want, try, auditBefore, 1)
			assertLogsClean(t, w, try)
		})
	}
}
