package protocol

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"

	"github.com/relais-hub/relais/contracts/seal/sealtest"
)

// This file shows that the protocol is what docs/protocol.md says, not
// whatever jwx happens to do: messages are built and opened with a second,
// independent JOSE implementation. go-jose v4 signs and verifies (JWS,
// EdDSA) and parses JWE headers; it cannot do ECDH-ES with X25519, so the
// body is encrypted and decrypted by sealtest's standard-library RFC 7518
// implementation. Nothing on the independent side touches jwx or the seal
// package.

// directoryDoc is GET /v1/directory, decoded with encoding/json only.
type directoryDoc struct {
	Hub struct {
		ID   string          `json:"id"`
		JWKS json.RawMessage `json:"jwks"`
	} `json:"hub"`
	Agencies []struct {
		ID   string          `json:"id"`
		JWKS json.RawMessage `json:"jwks"`
	} `json:"agencies"`
}

func fetchDirectory(t *testing.T, w *world) directoryDoc {
	t.Helper()
	r := w.do(t, http.MethodGet, "/v1/directory", nil, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("directory: %d %s", r.Status, r.Body)
	}
	var d directoryDoc
	if err := json.Unmarshal(r.Body, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

func (d directoryDoc) jwks(t *testing.T, agency string) json.RawMessage {
	t.Helper()
	for _, a := range d.Agencies {
		if a.ID == agency {
			return a.JWKS
		}
	}
	t.Fatalf("%s is not in the directory", agency)
	return nil
}

// rawKeys splits a JWKS into its keys' JSON.
func rawKeys(t *testing.T, jwks json.RawMessage) []json.RawMessage {
	t.Helper()
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(jwks, &set); err != nil {
		t.Fatal(err)
	}
	return set.Keys
}

// goJoseSigningKey finds the Ed25519 key named kid in a JWKS, parsed by
// go-jose. Keys go-jose cannot read (X25519) are skipped.
func goJoseSigningKey(t *testing.T, jwks json.RawMessage, kid string) (jose.JSONWebKey, bool) {
	t.Helper()
	for _, raw := range rawKeys(t, jwks) {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil {
			continue
		}
		if k.KeyID == kid && k.Valid() && k.IsPublic() && k.Use == "sig" {
			return k, true
		}
	}
	return jose.JSONWebKey{}, false
}

// x25519EncryptionKey reads an agency's X25519 encryption key from its
// JWKS with the standard library.
func x25519EncryptionKey(t *testing.T, jwks json.RawMessage) (string, *ecdh.PublicKey) {
	t.Helper()
	for _, raw := range rawKeys(t, jwks) {
		var k struct{ Kty, Crv, Kid, X, Use string }
		if err := json.Unmarshal(raw, &k); err != nil {
			t.Fatal(err)
		}
		if k.Kty != "OKP" || k.Crv != "X25519" || k.Use != "enc" {
			continue
		}
		x, err := base64.RawURLEncoding.DecodeString(k.X)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := ecdh.X25519().NewPublicKey(x)
		if err != nil {
			t.Fatal(err)
		}
		return k.Kid, pub
	}
	t.Fatal("no X25519 encryption key in the JWKS")
	return "", nil
}

// goJoseSigner signs as p with go-jose, from p's private key file parsed by
// go-jose, with exactly the documented header members.
func goJoseSigner(t *testing.T, p *party, typ string) jose.Signer {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(p.KeyDir, "signing.jwk"))
	if err != nil {
		t.Fatal(err)
	}
	var k jose.JSONWebKey
	if err := k.UnmarshalJSON(raw); err != nil {
		t.Fatalf("go-jose reads %s's signing key: %v", p.ID, err)
	}
	opts := (&jose.SignerOptions{}).WithType(jose.ContentType(typ)).WithHeader(jose.HeaderKey("kid"), k.KeyID)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: k.Key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return signer
}

// protectedMembers lists the member names of a compact JOSE object's
// protected header.
func protectedMembers(t *testing.T, compact string) []string {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.SplitN(compact, ".", 2)[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	return reflect.DeepEqual(x, y)
}

func TestInteropWithGoJOSE(t *testing.T) {
	ctx := context.Background()

	t.Run("a referral built with go-jose and a standard-library JWE is accepted and opened by the recipient", func(t *testing.T) {
		w := newWorld(t)
		dir := fetchDirectory(t, w)
		encKID, encPub := x25519EncryptionKey(t, dir.jwks(t, w.ml.ID))
		body, err := sealtest.EncryptECDHES([]byte(referralBody), encPub, sealtest.JWEOptions{Kid: encKID})
		if err != nil {
			t.Fatal(err)
		}
		id := uuid.Must(uuid.NewV7()).String()
		now := time.Now().UTC().Truncate(time.Second)
		envelope := map[string]any{
			"v": 1, "id": id, "kind": "referral.request", "from": w.ci.ID, "to": w.ml.ID,
			"case": "CI-ABJ-2026-0200", "transfer": id, "sent_at": now.Format(time.RFC3339),
			"purpose": "protection_referral", "data_categories": referralCategories,
			"consent": map[string]any{
				"ref": "CI-ABJ-CONS-0200", "basis": "consent", "given_by": "child", "child_assent": true,
				"age_band": "12-14", "recipients": []string{"ml"}, "purposes": []string{"protection_referral"},
				"data_categories": referralCategories, "obtained_at": now.Add(-time.Hour).Format(time.RFC3339),
			},
			"body": body,
		}
		payload, _ := json.Marshal(envelope)
		signed, err := goJoseSigner(t, w.ci, "relais-envelope+jws").Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		jws, err := signed.CompactSerialize()
		if err != nil {
			t.Fatal(err)
		}
		if got := protectedMembers(t, jws); !reflect.DeepEqual(got, []string{"alg", "kid", "typ"}) {
			t.Fatalf("go-jose header members %v, want exactly alg, kid, typ", got)
		}

		r := w.submit(t, []byte(jws), joseType, "")
		if r.Status != http.StatusAccepted {
			t.Fatalf("hub refused the go-jose message: %d %s", r.Status, r.Body)
		}
		if r.Doc["id"] != id {
			t.Fatalf("accepted id %v, want %s", r.Doc["id"], id)
		}
		verifyHubReceipt(t, dir, r.Doc["receipt"].(string), id, []byte(jws))

		w.delivered(t, w.ml.ID, id)
		items, _, err := w.ml.Client.Inbox(ctx, "", 0)
		if err != nil || len(items) != 1 {
			t.Fatalf("ml inbox: %d items, %v", len(items), err)
		}
		if items[0].JWS != jws {
			t.Fatal("the inbox does not hold the exact bytes submitted")
		}
		o, err := w.ml.Client.Open(ctx, []byte(items[0].JWS))
		if err != nil {
			t.Fatalf("recipient cannot open the go-jose message: %v", err)
		}
		if o.Envelope.From != w.ci.ID || o.Envelope.Case != "CI-ABJ-2026-0200" || !jsonEqual(t, o.Plaintext, []byte(referralBody)) {
			t.Fatalf("opened message differs: from %s case %s", o.Envelope.From, o.Envelope.Case)
		}
		if _, err := w.ml.Client.Receipt(ctx, o); err != nil {
			t.Fatalf("receipt: %v", err)
		}
	})

	t.Run("a referral sealed by our client is pulled, verified, decrypted and receipted with go-jose", func(t *testing.T) {
		w := newWorld(t)
		env, sub, err := w.ci.Client.Send(ctx, referral(w.ml.ID))
		if err != nil {
			t.Fatal(err)
		}
		dir := fetchDirectory(t, w)

		// Pull with a token made by go-jose.
		inbox := w.do(t, http.MethodGet, "/v1/inbox?wait=5s", nil, bearer(goJoseToken(t, w.ml, dir.Hub.ID)))
		if inbox.Status != http.StatusOK {
			t.Fatalf("inbox with a go-jose token: %d %s", inbox.Status, inbox.Body)
		}
		var page struct {
			Messages []struct{ ID, JWS string } `json:"messages"`
		}
		if err := json.Unmarshal(inbox.Body, &page); err != nil || len(page.Messages) != 1 || page.Messages[0].ID != env.ID {
			t.Fatalf("inbox page: %s (%v)", inbox.Body, err)
		}
		raw := page.Messages[0].JWS
		if raw != string(sub.JWS) {
			t.Fatal("the inbox does not hold the exact bytes submitted")
		}

		// Verify with go-jose against the sender's key in the directory.
		obj, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.EdDSA})
		if err != nil {
			t.Fatalf("go-jose cannot parse our JWS: %v", err)
		}
		if got := protectedMembers(t, raw); !reflect.DeepEqual(got, []string{"alg", "kid", "typ"}) {
			t.Fatalf("our header members %v, want exactly alg, kid, typ", got)
		}
		hdr := obj.Signatures[0].Protected
		if hdr.ExtraHeaders["typ"] != "relais-envelope+jws" {
			t.Fatalf("typ %v", hdr.ExtraHeaders["typ"])
		}
		key, ok := goJoseSigningKey(t, dir.jwks(t, w.ci.ID), hdr.KeyID)
		if !ok {
			t.Fatalf("kid %s is not a signing key of %s in the directory", hdr.KeyID, w.ci.ID)
		}
		payload, err := obj.Verify(key.Key)
		if err != nil {
			t.Fatalf("go-jose does not verify our signature: %v", err)
		}
		var got struct {
			ID, From, To, Case, Transfer string
			Body                         string
		}
		if err := json.Unmarshal(payload, &got); err != nil {
			t.Fatalf("envelope: %v", err)
		}
		if got.ID != env.ID || got.From != w.ci.ID || got.To != w.ml.ID {
			t.Fatalf("envelope %+v", got)
		}

		// The body: header read by go-jose, decrypted by the standard
		// library implementation with ml's key.
		jwe, err := jose.ParseEncryptedCompact(got.Body, []jose.KeyAlgorithm{jose.ECDH_ES_A256KW}, []jose.ContentEncryption{jose.A256GCM})
		if err != nil {
			t.Fatalf("go-jose cannot parse our JWE: %v", err)
		}
		if jwe.Header.KeyID != w.ml.EncKID || jwe.Header.ExtraHeaders["enc"] != "A256GCM" {
			t.Fatalf("JWE header %+v", jwe.Header)
		}
		if got := protectedMembers(t, got.Body); !reflect.DeepEqual(got, []string{"alg", "enc", "epk", "kid"}) {
			t.Fatalf("JWE header members %v", got)
		}
		plaintext, err := sealtest.DecryptECDHES(got.Body, w.ml.EncPriv)
		if err != nil {
			t.Fatalf("independent decryption failed: %v", err)
		}
		if !jsonEqual(t, plaintext, []byte(referralBody)) {
			t.Fatalf("decrypted body differs: %s", plaintext)
		}

		// Receipt, built and signed with go-jose: the message leaves the inbox.
		receiptID := uuid.Must(uuid.NewV7()).String()
		receipt, _ := json.Marshal(map[string]any{
			"v": 1, "id": receiptID, "kind": "receipt", "from": w.ml.ID, "to": w.ci.ID, "case": got.Case,
			"transfer": got.Transfer, "in_reply_to": got.ID, "sent_at": time.Now().UTC().Format(time.RFC3339Nano),
			"body": map[string]string{"sha256": sha256Hex([]byte(raw))},
		})
		signed, err := goJoseSigner(t, w.ml, "relais-envelope+jws").Sign(receipt)
		if err != nil {
			t.Fatal(err)
		}
		compact, _ := signed.CompactSerialize()
		if r := w.submit(t, []byte(compact), joseType, ""); r.Status != http.StatusAccepted {
			t.Fatalf("go-jose receipt refused: %d %s", r.Status, r.Body)
		}
		if items, _ := w.store.Inbox(ctx, w.ml.ID, 0, 10); len(items) != 0 {
			t.Fatalf("receipted message still in the inbox: %d items", len(items))
		}
		if m, err := w.store.Message(ctx, env.ID); err != nil || m.ReceiptedBy != receiptID {
			t.Fatalf("message %s receipted by %q, want %s (%v)", env.ID, m.ReceiptedBy, receiptID, err)
		}
	})
}

// goJoseToken is an agency access token made with go-jose's JWT builder.
func goJoseToken(t *testing.T, p *party, hubID string) string {
	t.Helper()
	jti := make([]byte, 16)
	_, _ = rand.Read(jti)
	now := time.Now()
	tok, err := josejwt.Signed(goJoseSigner(t, p, "JWT")).Claims(josejwt.Claims{
		Issuer: p.ID, Audience: josejwt.Audience{hubID}, IssuedAt: josejwt.NewNumericDate(now),
		Expiry: josejwt.NewNumericDate(now.Add(2 * time.Minute)), ID: hex.EncodeToString(jti),
	}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// verifyHubReceipt checks the hub's acceptance receipt with go-jose and
// the hub key from the directory: it names the message and the SHA-256 of
// the exact bytes submitted.
func verifyHubReceipt(t *testing.T, dir directoryDoc, receipt, id string, submitted []byte) {
	t.Helper()
	obj, err := jose.ParseSignedCompact(receipt, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		t.Fatalf("go-jose cannot parse the hub receipt: %v", err)
	}
	key, ok := goJoseSigningKey(t, dir.Hub.JWKS, obj.Signatures[0].Protected.KeyID)
	if !ok {
		t.Fatal("the hub receipt's kid is not the hub's key")
	}
	payload, err := obj.Verify(key.Key)
	if err != nil {
		t.Fatalf("hub receipt does not verify: %v", err)
	}
	var r struct {
		Hub, ID, SHA256 string
	}
	if err := json.Unmarshal(payload, &r); err != nil {
		t.Fatal(err)
	}
	if r.Hub != dir.Hub.ID || r.ID != id || r.SHA256 != sha256Hex(submitted) {
		t.Fatalf("hub receipt %+v does not name %s and the digest of the bytes submitted", r, id)
	}
}
