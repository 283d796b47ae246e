package security

// Every JOSE attack class of the security issue, each a named subtest with
// the refusal code it must get, submitted over real HTTP to an in-process
// hub. For each refused attempt the suite checks that the hub answered
// problem+json with the code, stored no message, logged the refusal in the
// audit log under the digest of the exact bytes refused, and wrote none of
// the child's data, nor the refused payload, to its log or its answer.
//
// The inputs are built so that only the rule under test refuses them:
// where possible the signature is the sender's genuine one, so removing the
// rule would let the message through (the last subtest of each class that
// can show it submits the genuine message and sees it accepted).

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash"
	"math/big"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
	"github.com/relais-hub/relais/contracts/seal/sealtest"
)

// attack is one hostile submission and the refusal it must get.
type attack struct {
	name  string
	input []byte
	want  contracts.Code
}

// keyServer is a local server standing for an attacker's key host: jku and
// x5u headers point at it, and it counts every request it receives.
type keyServer struct {
	*httptest.Server
	hits atomic.Int32
}

func newKeyServer(t *testing.T) *keyServer {
	t.Helper()
	ks := &keyServer{}
	ks.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		ks.hits.Add(1)
		http.NotFound(rw, r)
	}))
	t.Cleanup(ks.Close)
	return ks
}

// refused submits a and checks everything a refusal must leave behind.
func (w *world) refused(t *testing.T, a attack) response {
	t.Helper()
	rowsBefore := w.messageRows(t)
	auditBefore := w.rejectedDigests(t, a.want)
	r := w.submit(t, a.input)
	wantProblem(t, r, a.want)
	if n := w.messageRows(t); n != rowsBefore {
		t.Errorf("the hub stored %d message(s) after the refusal", n-rowsBefore)
	}
	assertAudited(t, w, a, len(auditBefore))
	w.assertNoLeak(t, a.input, r.Body)
	return r
}

// assertAudited checks the refusal is in the audit log, once,
// under the SHA-256 of the refused bytes. Refusals are appended in the
// refusing transaction, before the answer, so no waiting is needed.
func assertAudited(t *testing.T, w *world, a attack, before int) {
	t.Helper()
	after := w.rejectedDigests(t, a.want)
	if len(after) != before+1 {
		t.Fatalf("%d new rejected events with code %s in the audit log, want 1", len(after)-before, a.want)
	}
	if got, want := after[len(after)-1], sha256Hex(a.input); got != want && got != "" {
		t.Errorf("the rejected event names digest %s, want the digest of the refused bytes %s", got, want)
	}
}

// genuine is a referral sealed by p for ml and its payload.
func (w *world) genuine(t *testing.T, p *party) (contracts.Envelope, []byte) {
	t.Helper()
	env, jws := p.seal(t, childReferral(w.ml.ID))
	parts := strings.Split(string(jws), ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	return env, payload
}

func TestJOSEAttacksAreRefusedWithTheirCode(t *testing.T) {
	w := newWorld(t)
	ks := newKeyServer(t)
	_, payload := w.genuine(t, w.ci)
	ci := w.ci
	header := func(extra ...any) string {
		return sealtest.Header(append([]any{"alg", "EdDSA", "kid", ci.SigKID, "typ", seal.EnvelopeTyp}, extra...)...)
	}
	byCI := func(h string) []byte { return sealtest.SignEd25519(h, payload, ci.SigPriv) }
	_, attackerEd, _ := ed25519.GenerateKey(rand.Reader)
	attackerP256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	valid := byCI(header())
	parts := sealtest.Parts(valid)

	classes := []struct {
		name    string
		attacks []attack
	}{
		{"alg none in every spelling", algNone(ci, payload)},
		{"HS256 keyed with the public key", hmacWithPublicKey(ci, payload)},
		{"algorithm mismatch with the registered key", algMismatch(t, w, attackerP256)},
		{"embedded jwk", []attack{
			{"the attacker's jwk, signed by the attacker, under the sender's kid",
				sealtest.SignEd25519(header("jwk", json.RawMessage(sealtest.Header("kty", "OKP", "crv", "Ed25519", "x", sealtest.B64(attackerEd.Public().(ed25519.PublicKey))))), payload, attackerEd),
				contracts.CodeHeaderNotAllowed},
			{"the attacker's jwk without any kid",
				sealtest.SignEd25519(sealtest.Header("alg", "EdDSA", "typ", seal.EnvelopeTyp, "jwk", json.RawMessage(sealtest.Header("kty", "OKP", "crv", "Ed25519", "x", sealtest.B64(attackerEd.Public().(ed25519.PublicKey))))), payload, attackerEd),
				contracts.CodeHeaderNotAllowed},
			{"the sender's own jwk, signed by the sender", byCI(header("jwk", json.RawMessage(sealtest.Header("kty", "OKP", "crv", "Ed25519", "x", sealtest.B64(ci.SigPriv.Public().(ed25519.PublicKey)))))), contracts.CodeHeaderNotAllowed},
		}},
		{"jku x5u and x5c", []attack{
			{"jku pointing at the attacker's key server", sealtest.SignEd25519(header("jku", ks.URL+"/jwks.json"), payload, attackerEd), contracts.CodeHeaderNotAllowed},
			{"x5u pointing at the attacker's key server", sealtest.SignEd25519(header("x5u", ks.URL+"/cert.pem"), payload, attackerEd), contracts.CodeHeaderNotAllowed},
			{"x5c with the attacker's self-signed certificate", sealtest.SignEd25519(header("x5c", []string{base64.StdEncoding.EncodeToString(selfSigned(t, attackerEd))}), payload, attackerEd), contracts.CodeHeaderNotAllowed},
			{"jku pointing at the attacker's key server, signed by the sender", byCI(header("jku", ks.URL+"/jwks.json")), contracts.CodeHeaderNotAllowed},
		}},
		{"unknown and duplicate crit", []attack{
			{"crit naming an unknown extension", byCI(header("crit", []string{"urn:relais:unknown"}, "urn:relais:unknown", true)), contracts.CodeHeaderNotAllowed},
			{"crit listing the same extension twice", byCI(header("crit", []string{"exp", "exp"}, "exp", 1)), contracts.CodeHeaderNotAllowed},
			{"crit member present twice", byCI(`{"alg":"EdDSA","kid":"` + ci.SigKID + `","typ":"` + seal.EnvelopeTyp + `","crit":["exp"],"crit":["exp"],"exp":1}`), contracts.CodeMalformedJWS},
			{"empty crit", byCI(header("crit", []string{})), contracts.CodeHeaderNotAllowed},
		}},
		{"b64 false", b64False(ci, payload)},
		{"JSON serialization", []attack{
			{"flattened JSON serialization of a genuine message", []byte(fmt.Sprintf(`{"protected":%q,"payload":%q,"signature":%q}`, parts[0], parts[1], parts[2])), contracts.CodeMalformedJWS},
			{"general JSON serialization of a genuine message", []byte(fmt.Sprintf(`{"payload":%q,"signatures":[{"protected":%q,"signature":%q}]}`, parts[1], parts[0], parts[2])), contracts.CodeMalformedJWS},
			{"general JSON serialization with a second, unprotected signature", []byte(fmt.Sprintf(`{"payload":%q,"signatures":[{"protected":%q,"signature":%q},{"header":{"alg":"none"},"signature":""}]}`, parts[1], parts[0], parts[2])), contracts.CodeMalformedJWS},
		}},
		{"malformed compact forms", malformedCompact(valid)},
		{"inner signer differs from the envelope's from", senderMismatch(t, w)},
		{"oversized header", []attack{
			{"a 5000-character header member", byCI(header("x", strings.Repeat("a", 5000))), contracts.CodeMalformedJWS},
		}},
	}
	for _, class := range classes {
		t.Run(class.name, func(t *testing.T) {
			if len(class.attacks) == 0 {
				t.Fatal("no attack in this class: the class proves nothing")
			}
			for _, a := range class.attacks {
				t.Run(a.name, func(t *testing.T) { w.refused(t, a) })
			}
		})
	}
	t.Run("the attacker's key server received no request", func(t *testing.T) {
		if n := ks.hits.Load(); n != 0 {
			t.Fatalf("the hub fetched a key URL from a header %d time(s)", n)
		}
	})
	// The refusals above are the attacks' doing: the same payload, signed
	// as the profile says, goes through.
	t.Run("the genuine message behind the attacks is accepted", func(t *testing.T) {
		w.accepted(t, valid)
	})
}

func algNone(ci *party, payload []byte) []attack {
	var out []attack
	for _, none := range []string{"none", "None", "NONE", "nOnE"} {
		h := sealtest.Header("alg", none, "kid", ci.SigKID, "typ", seal.EnvelopeTyp)
		out = append(out,
			attack{"alg " + none + " with an empty signature", sealtest.Compact(h, payload, nil), contracts.CodeAlgNotAllowed},
			attack{"alg " + none + " with a junk signature", sealtest.Compact(h, payload, []byte("junk")), contracts.CodeAlgNotAllowed},
			attack{"alg " + none + " carrying the sender's genuine Ed25519 signature", sealtest.SignEd25519(h, payload, ci.SigPriv), contracts.CodeAlgNotAllowed},
		)
	}
	return out
}

func hmacWithPublicKey(ci *party, payload []byte) []attack {
	pub := ci.SigPriv.Public().(ed25519.PublicKey)
	jwkJSON := []byte(sealtest.Header("kty", "OKP", "crv", "Ed25519", "x", sealtest.B64(pub), "kid", ci.SigKID, "alg", "EdDSA", "use", "sig"))
	var out []attack
	for _, c := range []struct {
		alg    string
		h      func() hash.Hash
		secret []byte
		what   string
	}{
		{"HS256", sha256.New, pub, "the raw public key bytes"},
		{"HS256", sha256.New, jwkJSON, "the public JWK as registered"},
		{"HS256", sha256.New, []byte(sealtest.B64(pub)), "the base64url public key"},
		{"HS384", sha512.New384, pub, "the raw public key bytes"},
		{"HS512", sha512.New, jwkJSON, "the public JWK as registered"},
	} {
		h := sealtest.Header("alg", c.alg, "kid", ci.SigKID, "typ", seal.EnvelopeTyp)
		out = append(out, attack{c.alg + " keyed with " + c.what, sealtest.SignHMAC(h, payload, c.secret, c.h), contracts.CodeAlgNotAllowed})
	}
	return out
}

// algMismatch uses sn, which registered an Ed25519 and a P-256 key: each
// attack names one of sn's keys with the other key's algorithm.
func algMismatch(t *testing.T, w *world, attackerP256 *ecdsa.PrivateKey) []attack {
	sn := w.sn
	_, payload := w.genuine(t, sn)
	es := func(kid string) string { return sealtest.Header("alg", "ES256", "kid", kid, "typ", seal.EnvelopeTyp) }
	ed := func(kid string) string { return sealtest.Header("alg", "EdDSA", "kid", kid, "typ", seal.EnvelopeTyp) }
	return []attack{
		{"ES256 under the Ed25519 key's kid, signed by an attacker's P-256 key", sealtest.SignES256(es(sn.SigKID), payload, attackerP256), contracts.CodeAlgKeyMismatch},
		{"ES256 under the Ed25519 key's kid, signed by the sender's own P-256 key", sealtest.SignES256(es(sn.SigKID), payload, sn.P256), contracts.CodeAlgKeyMismatch},
		{"EdDSA under the P-256 key's kid, signed by the sender's Ed25519 key", sealtest.SignEd25519(ed(sn.P256KID), payload, sn.SigPriv), contracts.CodeAlgKeyMismatch},
	}
}

func b64False(ci *party, payload []byte) []attack {
	h := sealtest.Header("alg", "EdDSA", "kid", ci.SigKID, "typ", seal.EnvelopeTyp, "b64", false, "crit", []string{"b64"})
	// RFC 7797: the signing input is the header, a dot and the raw payload.
	unencoded := append([]byte(sealtest.B64([]byte(h))+"."), payload...)
	detached := sealtest.B64([]byte(h)) + ".." + sealtest.B64(ed25519.Sign(ci.SigPriv, unencoded))
	withTrue := sealtest.Header("alg", "EdDSA", "kid", ci.SigKID, "typ", seal.EnvelopeTyp, "b64", true)
	return []attack{
		{"b64 false with crit, signed over the unencoded payload", sealtest.Compact(h, payload, ed25519.Sign(ci.SigPriv, unencoded)), contracts.CodeHeaderNotAllowed},
		{"b64 false with a detached payload", []byte(detached), contracts.CodeMalformedJWS},
		{"b64 true", sealtest.SignEd25519(withTrue, payload, ci.SigPriv), contracts.CodeHeaderNotAllowed},
	}
}

func malformedCompact(valid []byte) []attack {
	p := sealtest.Parts(valid)
	sig, _ := base64.RawURLEncoding.DecodeString(p[2])
	return []attack{
		{"two parts", sealtest.Join(p[0], p[1]), contracts.CodeMalformedJWS},
		{"four parts", sealtest.Join(p[0], p[1], p[2], p[2]), contracts.CodeMalformedJWS},
		{"five parts, JWE-shaped", sealtest.Join(p[0], "", p[1], p[2], p[2]), contracts.CodeMalformedJWS},
		{"padded signature", sealtest.Join(p[0], p[1], base64.URLEncoding.EncodeToString(sig)), contracts.CodeMalformedJWS},
		{"standard base64 alphabet", sealtest.Join(p[0], strings.NewReplacer("-", "+", "_", "/").Replace(p[1])+"+/", p[2]), contracts.CodeMalformedJWS},
		{"a space inside the signature", sealtest.Join(p[0], p[1], p[2][:10]+" "+p[2][10:]), contracts.CodeMalformedJWS},
		{"a trailing newline", append(append([]byte{}, valid...), '\n'), contracts.CodeMalformedJWS},
		{"leading whitespace", append([]byte("  "), valid...), contracts.CodeMalformedJWS},
		{"an empty header", sealtest.Join("", p[1], p[2]), contracts.CodeMalformedJWS},
		{"an empty payload", sealtest.Join(p[0], "", p[2]), contracts.CodeMalformedJWS},
		{"an empty signature", sealtest.Join(p[0], p[1], ""), contracts.CodeMalformedJWS},
		{"only dots", []byte(".."), contracts.CodeMalformedJWS},
		{"a header that is a JSON array", sealtest.Join(sealtest.B64([]byte(`["alg","EdDSA"]`)), p[1], p[2]), contracts.CodeMalformedJWS},
		{"a header with invalid UTF-8", sealtest.Join(sealtest.B64([]byte("{\"alg\":\"EdDSA\xff\"}")), p[1], p[2]), contracts.CodeMalformedJWS},
		{"a duplicate alg hidden by a unicode escape", sealtest.Join(sealtest.B64([]byte(`{"alg":"EdDSA","\u0061lg":"none"}`)), p[1], p[2]), contracts.CodeMalformedJWS},
	}
}

// senderMismatch signs envelopes with a registered key of an agency other
// than the one the envelope names as its sender.
func senderMismatch(t *testing.T, w *world) []attack {
	env, _ := w.ci.seal(t, childReferral(w.ml.ID))
	asML := env
	asML.From, asML.To = w.ml.ID, w.ci.ID
	asML.ID = contracts.NewMessageID()
	asML.Transfer = asML.ID
	fromCI := env
	fromCI.ID = contracts.NewMessageID()
	fromCI.Transfer = fromCI.ID
	return []attack{
		{"ci's message signed by bf's registered key", w.bf.sign(t, fromCI), contracts.CodeSenderMismatch},
		{"an envelope claiming to be from ml, signed by ci", w.ci.sign(t, asML), contracts.CodeSenderMismatch},
	}
}

// selfSigned is a throwaway certificate for the attacker's key.
func selfSigned(t *testing.T, k ed25519.PrivateKey) []byte {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "attacker"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// compactJWEWithKey is the shape the envelope requires of a sealed body
// before the hub looks inside it: anything else is body_not_encrypted.
var compactJWEWithKey = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+){4}$`)

func TestJWEAttacksAreRefusedWithTheirCode(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	ks := newKeyServer(t)
	base, _ := w.ci.seal(t, childReferral(w.ml.ID))
	table, err := sealtest.JWEAttacks(sealtest.JWEFixture{Recipient: w.ml.EncPriv.PublicKey(), KID: w.ml.EncKID, Plaintext: []byte(childFile)})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]sealtest.JWEAttack{}
	for _, a := range table {
		byName[a.Name] = a
	}
	pick := func(names ...string) []sealtest.JWEAttack {
		var out []sealtest.JWEAttack
		for _, n := range names {
			a, ok := byName[n]
			if !ok {
				t.Fatalf("the shared table has no attack %q", n)
			}
			out = append(out, a)
		}
		return out
	}
	// bodyOf wraps a hostile body in a genuine envelope from ci, genuinely
	// signed: only the body is under attack.
	bodyOf := func(t *testing.T, jwe string) (contracts.Envelope, []byte) {
		env := base
		env.ID = contracts.NewMessageID()
		env.Transfer = env.ID
		env.Body = contracts.NewSealedBody(jwe)
		return env, w.ci.sign(t, env)
	}
	var curve, kms []sealtest.JWEAttack
	for _, a := range table {
		switch {
		case strings.HasPrefix(a.Name, "epk is"):
			curve = append(curve, a)
		case strings.HasPrefix(a.Name, "alg "):
			kms = append(kms, a)
		}
	}
	// A128KW is not in the shared table: crafted here, with a genuine
	// wrap of a random content key under a random key-encryption key.
	kek, cek := make([]byte, 16), make([]byte, 32)
	_, _ = rand.Read(kek)
	_, _ = rand.Read(cek)
	wrapped, err := sealtest.KeyWrap(kek, cek)
	if err != nil {
		t.Fatal(err)
	}
	a128kw, err := sealtest.SealGCM(sealtest.Header("alg", "A128KW", "enc", "A256GCM", "kid", w.ml.EncKID), wrapped, cek, []byte(childFile))
	if err != nil {
		t.Fatal(err)
	}
	kms = append(kms, sealtest.JWEAttack{Name: "alg A128KW", Input: a128kw})
	jku, err := sealtest.EncryptECDHES([]byte(childFile), w.ml.EncPriv.PublicKey(), sealtest.JWEOptions{Kid: w.ml.EncKID, Extra: []any{"jku", ks.URL + "/jwks.json"}})
	if err != nil {
		t.Fatal(err)
	}
	x5u, err := sealtest.EncryptECDHES([]byte(childFile), w.ml.EncPriv.PublicKey(), sealtest.JWEOptions{Kid: w.ml.EncKID, Extra: []any{"x5u", ks.URL + "/cert.pem"}})
	if err != nil {
		t.Fatal(err)
	}
	classes := []struct {
		name    string
		attacks []sealtest.JWEAttack
	}{
		{"JWE with zip", pick("zip DEF over a deflated plaintext")},
		{"invalid-curve ephemeral keys", curve},
		{"disallowed key-management algorithms", kms},
		{"jku and x5u in the body header", []sealtest.JWEAttack{{Name: "jku pointing at the attacker's key server", Input: jku}, {Name: "x5u pointing at the attacker's key server", Input: x5u}}},
		{"JSON serialization of the body", pick("flattened JSON serialization")},
	}
	for _, class := range classes {
		t.Run(class.name, func(t *testing.T) {
			if len(class.attacks) < 1 {
				t.Fatal("no attack in this class")
			}
			for _, a := range class.attacks {
				t.Run(a.Name, func(t *testing.T) {
					want := contracts.CodeBodyInvalid
					if !compactJWEWithKey.MatchString(a.Input) {
						want = contracts.CodeBodyNotEncrypted
					}
					_, jws := bodyOf(t, a.Input)
					w.refused(t, attack{name: a.Name, input: jws, want: want})
				})
			}
		})
	}
	t.Run("the attacker's key server received no request", func(t *testing.T) {
		if n := ks.hits.Load(); n != 0 {
			t.Fatalf("the hub fetched a key URL from a body header %d time(s)", n)
		}
	})

	// Tampering with the tag, ciphertext, IV, wrapped key or protected
	// header (the AAD) leaves a well-formed body: the hub holds no key and
	// delivers it; the recipient must refuse to open it.
	t.Run("tampered tag ciphertext IV and AAD", func(t *testing.T) {
		for _, a := range pick("tag tampered", "ciphertext tampered", "iv tampered", "encrypted key tampered",
			"protected header (AAD) re-serialized with a space", "protected header (AAD) with another ephemeral key") {
			t.Run(a.Name, func(t *testing.T) {
				env, jws := bodyOf(t, a.Input)
				w.accepted(t, jws)
				w.delivered(t, env.ID)
				_, err := w.ml.Client.Open(ctx, jws)
				if contracts.CodeOf(err) != contracts.CodeBodyInvalid {
					t.Fatalf("the recipient opened a tampered body: %v", err)
				}
				if err != nil && bytes.Contains([]byte(err.Error()), []byte("Kadiatou")) {
					t.Fatal("the refusal quotes the plaintext")
				}
			})
		}
	})
}

func TestReplayIsHarmless(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	env, jws := w.ci.seal(t, childReferral(w.ml.ID))
	first := w.accepted(t, jws)

	t.Run("the same message resubmitted is answered as before and delivered once", func(t *testing.T) {
		for i := 0; i < 3; i++ {
			again := w.accepted(t, jws)
			if again.Doc["receipt"] != first.Doc["receipt"] || again.Doc["leaf_index"] != first.Doc["leaf_index"] {
				t.Fatalf("replay %d answered %s, want the first answer %s", i, again.Body, first.Body)
			}
		}
		w.delivered(t, env.ID)
		items, _, err := w.ml.Client.Inbox(ctx, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, it := range items {
			if it.ID == env.ID {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("the message is %d times in the recipient's inbox, want once", n)
		}
	})
	t.Run("another message under a used id is refused", func(t *testing.T) {
		other, _ := w.ci.seal(t, childReferral(w.ml.ID))
		other.ID, other.Transfer = env.ID, env.Transfer
		other.Case = "CI-ABJ-2026-0999"
		w.refused(t, attack{name: "reused id", input: w.ci.sign(t, other), want: contracts.CodeDuplicateID})
	})
	t.Run("a replayed access token is refused", func(t *testing.T) {
		tok := w.ml.token(t)
		if r := w.get(t, "/v1/inbox", tok); r.Status != http.StatusOK {
			t.Fatalf("first use: %d %s", r.Status, r.Body)
		}
		wantProblem(t, w.get(t, "/v1/inbox", tok), contracts.CodeTokenReplayed)
	})
}

func TestOversizeIsRefused(t *testing.T) {
	w := newWorld(t)
	big := bytes.Repeat([]byte("A"), 300<<10)
	t.Run("a message over the size limit with its length declared", func(t *testing.T) {
		before := w.rejections(t, contracts.CodePayloadTooLarge)
		r := w.submit(t, big)
		wantProblem(t, r, contracts.CodePayloadTooLarge)
		if w.rejections(t, contracts.CodePayloadTooLarge) != before+1 {
			t.Error("the refusal is not in the audit log")
		}
	})
	t.Run("a message over the size limit streamed without a length", func(t *testing.T) {
		r := w.do(t, http.MethodPost, "/v1/messages", struct{ *bytes.Reader }{bytes.NewReader(big)}, map[string]string{"Content-Type": joseType})
		wantProblem(t, r, contracts.CodePayloadTooLarge)
	})
	t.Run("an agency registration over the body limit", func(t *testing.T) {
		body := append([]byte(`{"id":"gh.dsw","name":"`), bytes.Repeat([]byte("x"), 2<<20)...)
		r := w.do(t, http.MethodPost, "/v1/agencies", bytes.NewReader(body), map[string]string{"Authorization": "Bearer " + secAdminToken, "Content-Type": "application/json"})
		wantProblem(t, r, contracts.CodePayloadTooLarge)
	})
	t.Run("a query string over the limit", func(t *testing.T) {
		r := w.get(t, "/v1/inbox?after="+strings.Repeat("9", 5000), w.ml.token(t))
		wantProblem(t, r, contracts.CodeBadRequest)
	})
}
