package seal_test

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
	"github.com/relais-hub/relais/contracts/seal/sealtest"
)

// The fuzz targets share a fixed world: keys derived from constant seeds,
// so that the committed corpus (testdata/fuzz) stays meaningful across
// runs, and the exact set of messages, tokens and bodies that were
// legitimately produced. The central property: nothing outside that set
// is ever accepted.

var fuzzNow = time.Unix(1_800_000_000, 0)

type fuzzWorld struct {
	sigRaw   ed25519.PrivateKey
	sig      jwk.Key
	sigPub   jwk.Key
	esRaw    *ecdsa.PrivateKey
	es       jwk.Key
	esPub    jwk.Key
	encRaw   *ecdh.PrivateKey
	enc      jwk.Key
	encPub   jwk.Key
	agencyID string

	signed     map[string]bool // exact Ed25519 messages
	payloads   map[string]bool // payloads of every signed message
	tokens     map[string]bool // exact valid tokens
	plaintexts map[string]bool // plaintexts of every body
}

func seedBytes(label string) []byte {
	s := sha256.Sum256([]byte("relais/seal fuzz " + label))
	return s[:]
}

func newFuzzWorld(t testing.TB) *fuzzWorld {
	t.Helper()
	w := &fuzzWorld{
		agencyID: "bf.dpe-bobo",
		signed:   map[string]bool{}, payloads: map[string]bool{},
		tokens: map[string]bool{}, plaintexts: map[string]bool{},
	}
	var err error
	w.sigRaw = ed25519.NewKeyFromSeed(seedBytes("signing"))
	w.sig = mustImport(t, w.sigRaw, "bf.dpe-bobo#sig-fuzz", jwa.EdDSA(), jwk.ForSignature)
	if w.esRaw, err = ecdsa.ParseRawPrivateKey(elliptic.P256(), seedBytes("es256")); err != nil {
		t.Fatal(err)
	}
	w.es = mustImport(t, w.esRaw, "bf.dpe-bobo#es-fuzz", jwa.ES256(), jwk.ForSignature)
	if w.encRaw, err = ecdh.X25519().NewPrivateKey(seedBytes("encryption")); err != nil {
		t.Fatal(err)
	}
	w.enc = mustImport(t, w.encRaw, "bf.dpe-bobo#enc-fuzz", jwa.ECDH_ES_A256KW(), jwk.ForEncryption)
	w.sigPub, w.esPub, w.encPub = mustPublic(t, w.sig), mustPublic(t, w.es), mustPublic(t, w.enc)
	return w
}

func (w *fuzzWorld) lookup(kid string) (jwk.Key, error) {
	for _, k := range []jwk.Key{w.sigPub, w.esPub} {
		if id, _ := k.KeyID(); id == kid {
			return k, nil
		}
	}
	return nil, contracts.Refuse(contracts.CodeUnknownKey, "unknown kid")
}

func (w *fuzzWorld) tokenLookup(iss, kid string) (jwk.Key, error) {
	if iss != w.agencyID {
		return nil, contracts.Refuse(contracts.CodeUnknownKey, "unknown agency")
	}
	return w.lookup(kid)
}

// sign records a legitimately signed message.
func (w *fuzzWorld) sign(t testing.TB, payload []byte, key jwk.Key) []byte {
	t.Helper()
	out, err := seal.Sign(payload, key, seal.EnvelopeTyp)
	if err != nil {
		t.Fatal(err)
	}
	w.payloads[string(payload)] = true
	if key == w.sig {
		w.signed[string(out)] = true
	}
	return out
}

func (w *fuzzWorld) jwsSeeds(t testing.TB) [][]byte {
	seeds := [][]byte{
		w.sign(t, envelopePayload(), w.sig),
		w.sign(t, []byte(`{"v":1}`), w.sig),
		w.sign(t, []byte(`{"v":1,"kind":"receipt"}`), w.es),
	}
	for _, at := range sealtest.JWSAttacks(sealtest.JWSFixture{
		Typ: seal.EnvelopeTyp, Payload: []byte(`{"v":1}`),
		Ed25519: w.sigRaw, Ed25519KID: "bf.dpe-bobo#sig-fuzz",
		P256: w.esRaw, P256KID: "bf.dpe-bobo#es-fuzz",
		URL: "http://127.0.0.1:9",
	}) {
		seeds = append(seeds, at.Input)
	}
	for _, f := range []string{"4_3.ecdsa_signature.json", "4_4.hmac-sha2_integrity_protection.json"} {
		v, _ := loadVector(t, f)
		seeds = append(seeds, []byte(v.Output.Compact), v.Output.JSON)
	}
	return seeds
}

var jwsRefusals = map[contracts.Code]bool{
	contracts.CodeMalformedJWS: true, contracts.CodeHeaderNotAllowed: true, contracts.CodeAlgNotAllowed: true,
	contracts.CodeAlgKeyMismatch: true, contracts.CodeTypInvalid: true, contracts.CodeUnknownKey: true,
	contracts.CodeSignatureInvalid: true,
}

func FuzzParseHeader(f *testing.F) {
	w := newFuzzWorld(f)
	for _, s := range w.jwsSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, compact []byte) {
		h, err := seal.ParseHeader(compact, seal.EnvelopeTyp)
		if err != nil {
			var p *contracts.Problem
			if !errors.As(err, &p) || !(preCryptoCodes[p.Code] || p.Code == contracts.CodeUnknownKey) {
				t.Fatalf("unexpected refusal %v", err)
			}
			return
		}
		if h.Alg != "EdDSA" && h.Alg != "ES256" || h.Typ != seal.EnvelopeTyp || h.Kid == "" {
			t.Fatalf("accepted header %+v", h)
		}
		if bytes.Count(compact, []byte(".")) != 2 || bytes.ContainsAny(compact, " \t\r\n=+/{") {
			t.Fatalf("accepted a non-compact form %q", compact)
		}
	})
}

func FuzzVerify(f *testing.F) {
	w := newFuzzWorld(f)
	for _, s := range w.jwsSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, compact []byte) {
		payload, h, err := seal.Verify(compact, seal.EnvelopeTyp, w.lookup)
		if err != nil {
			var p *contracts.Problem
			if !errors.As(err, &p) || !jwsRefusals[p.Code] {
				t.Fatalf("unexpected refusal %v", err)
			}
			return
		}
		if !w.payloads[string(payload)] {
			t.Fatalf("accepted a payload nobody signed: %q", payload)
		}
		// Ed25519 signatures are deterministic and the encoding is
		// canonical, so an accepted EdDSA message is byte for byte one
		// that was signed: no other spelling of it passes.
		if h.Alg == "EdDSA" && !w.signed[string(compact)] {
			t.Fatalf("accepted another spelling of a signed message: %q", compact)
		}
	})
}

func FuzzCheckJWE(f *testing.F) {
	w := newFuzzWorld(f)
	for _, pt := range []string{`{"note":"` + childName + `"}`, `{}`} {
		body, err := seal.Encrypt([]byte(pt), w.encPub)
		if err != nil {
			f.Fatal(err)
		}
		w.plaintexts[pt] = true
		f.Add(body)
	}
	attacks, err := sealtest.JWEAttacks(sealtest.JWEFixture{Recipient: w.encRaw.PublicKey(), KID: "bf.dpe-bobo#enc-fuzz", Plaintext: []byte(`{}`)})
	if err != nil {
		f.Fatal(err)
	}
	for _, at := range attacks {
		f.Add(at.Input)
	}
	for _, file := range []string{"5_4.key_agreement_with_key_wrapping_using_ecdh-es_and_aes-keywrap_with_aes-gcm.json", "5_9.compressed_content.json"} {
		v, _ := loadVector(f, file)
		f.Add(v.Output.Compact)
	}
	f.Fuzz(func(t *testing.T, body string) {
		h, err := seal.CheckJWE(body)
		if err != nil {
			if contracts.CodeOf(err) != contracts.CodeBodyInvalid {
				t.Fatalf("unexpected refusal %v", err)
			}
		} else {
			if h.Alg != "ECDH-ES+A256KW" || h.Enc != "A256GCM" || h.Kid == "" || (h.Curve != "X25519" && h.Curve != "P-256") {
				t.Fatalf("accepted header %+v", h)
			}
			if strings.Count(body, ".") != 4 {
				t.Fatalf("accepted %d parts", strings.Count(body, ".")+1)
			}
		}
		plaintext, derr := seal.Decrypt(body, []jwk.Key{w.enc})
		if derr == nil {
			if err != nil {
				t.Fatalf("decrypted a body the shape check refuses: %v", err)
			}
			if !w.plaintexts[string(plaintext)] {
				t.Fatalf("decrypted a plaintext nobody encrypted: %q", plaintext)
			}
		} else if contracts.CodeOf(derr) != contracts.CodeBodyInvalid {
			t.Fatalf("unexpected decryption refusal %v", derr)
		}
	})
}

func FuzzVerifyToken(f *testing.F) {
	w := newFuzzWorld(f)
	fix := sealtest.TokenFixture{
		Hub: hubID, Now: fuzzNow,
		Issuer: w.agencyID, Key: w.sigRaw, KID: "bf.dpe-bobo#sig-fuzz",
		OtherIssuer: "ci.dpe-abidjan", OtherKey: ed25519.NewKeyFromSeed(seedBytes("other")), OtherKID: "ci.dpe-abidjan#sig-fuzz",
	}
	for _, claims := range []string{fix.Claims(), fix.Claims("aud", []string{hubID}), fix.Claims("iat", nil)} {
		tok := fix.Token(claims)
		w.tokens[tok] = true
		f.Add(tok)
	}
	for _, at := range sealtest.TokenAttacks(fix) {
		f.Add(string(at.Input))
	}
	f.Fuzz(func(t *testing.T, token string) {
		claims, err := seal.VerifyToken(token, hubID, fuzzNow, w.tokenLookup)
		if err != nil {
			if c := contracts.CodeOf(err); c != contracts.CodeTokenInvalid && c != contracts.CodeTokenExpired {
				t.Fatalf("unexpected refusal %v", err)
			}
			return
		}
		if !w.tokens[token] {
			t.Fatalf("accepted a token nobody issued: %q", token)
		}
		if claims.Issuer != w.agencyID || claims.JTI == "" || !claims.Expires.After(fuzzNow) {
			t.Fatalf("claims %+v", claims)
		}
	})
}
