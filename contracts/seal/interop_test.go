package seal_test

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
	"github.com/relais-hub/relais/contracts/seal/sealtest"
)

// Interoperability with implementations that share no code with jwx:
// go-jose v4 for signatures (Ed25519 and P-256) and for P-256 bodies, and
// sealtest's standard-library RFC 7518 §4.6 implementation for X25519
// bodies, because go-jose v4 implements ECDH-ES only for *ecdsa keys (see
// newECDHRecipient in its asymmetric.go) and has no X25519 key agreement.

// goJoseSigner signs the way the protocol documents: alg, kid, typ, all in
// the protected header.
func goJoseSigner(t *testing.T, alg jose.SignatureAlgorithm, key any, kid string, embedJWK bool) jose.Signer {
	t.Helper()
	opts := &jose.SignerOptions{EmbedJWK: embedJWK}
	opts.WithType(seal.EnvelopeTyp)
	opts.WithHeader("kid", kid)
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestGoJoseSignedMessagesVerify(t *testing.T) {
	a := newAgency(t, "bf.dpe-bobo")
	reg := newRegistry(a.sigPub, a.esPub)
	for _, tc := range []struct {
		name string
		alg  jose.SignatureAlgorithm
		key  any
		kid  string
	}{
		{"EdDSA", jose.EdDSA, a.sigRaw, a.sigKID},
		{"ES256", jose.ES256, a.esRaw, a.esKID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obj, err := goJoseSigner(t, tc.alg, tc.key, tc.kid, false).Sign(envelopePayload())
			if err != nil {
				t.Fatal(err)
			}
			compact, err := obj.CompactSerialize()
			if err != nil {
				t.Fatal(err)
			}
			payload, h, err := seal.Verify([]byte(compact), seal.EnvelopeTyp, reg.lookup)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(payload, envelopePayload()) || h.Kid != tc.kid || h.Alg != string(tc.alg) {
				t.Fatalf("payload %q header %+v", payload, h)
			}
		})
	}
	t.Run("go-jose with an embedded jwk is refused", func(t *testing.T) {
		obj, err := goJoseSigner(t, jose.EdDSA, a.sigRaw, a.sigKID, true).Sign(envelopePayload())
		if err != nil {
			t.Fatal(err)
		}
		compact, err := obj.CompactSerialize()
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = seal.Verify([]byte(compact), seal.EnvelopeTyp, reg.lookup)
		wantCode(t, err, contracts.CodeHeaderNotAllowed)
	})
}

func TestOurMessagesVerifyWithGoJose(t *testing.T) {
	a := newAgency(t, "bf.dpe-bobo")
	for _, tc := range []struct {
		name string
		alg  jose.SignatureAlgorithm
		key  jwk.Key
		pub  any
	}{
		{"EdDSA", jose.EdDSA, a.sig, a.sigRaw.Public()},
		{"ES256", jose.ES256, a.es, &a.esRaw.PublicKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			compact, err := seal.Sign(envelopePayload(), tc.key, seal.EnvelopeTyp)
			if err != nil {
				t.Fatal(err)
			}
			obj, err := jose.ParseSignedCompact(string(compact), []jose.SignatureAlgorithm{tc.alg})
			if err != nil {
				t.Fatal(err)
			}
			payload, err := obj.Verify(tc.pub)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(payload, envelopePayload()) {
				t.Fatalf("payload %q", payload)
			}
			h := obj.Signatures[0].Protected
			if h.ExtraHeaders[jose.HeaderType] != seal.EnvelopeTyp || h.KeyID == "" {
				t.Fatalf("go-jose reads header %+v", h)
			}
		})
	}
}

func TestBodiesInteroperateWithAnIndependentX25519Implementation(t *testing.T) {
	b := newAgency(t, "ci.dpe-abidjan")
	plaintext := []byte(`{"note":"` + childName + `"}`)
	t.Run("theirs decrypts with ours", func(t *testing.T) {
		for _, o := range []sealtest.JWEOptions{
			{Kid: b.ek},
			{Kid: b.ek, APU: []byte("bf.dpe-bobo"), APV: []byte("ci.dpe-abidjan")},
		} {
			body, err := sealtest.EncryptECDHES(plaintext, b.encRaw.PublicKey(), o)
			if err != nil {
				t.Fatal(err)
			}
			got, err := seal.Decrypt(body, []jwk.Key{b.enc})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, plaintext) {
				t.Fatalf("plaintext %q", got)
			}
		}
	})
	t.Run("ours decrypts with theirs", func(t *testing.T) {
		body, err := seal.Encrypt(plaintext, b.encPub)
		if err != nil {
			t.Fatal(err)
		}
		got, err := sealtest.DecryptECDHES(body, b.encRaw)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, plaintext) {
			t.Fatalf("plaintext %q", got)
		}
	})
}

func TestP256BodiesInteroperateWithGoJose(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	const kid = "ml.dnpef#enc-p256"
	ours := mustImport(t, priv, kid, jwa.ECDH_ES_A256KW(), jwk.ForEncryption)
	oursPub := mustPublic(t, ours)
	plaintext := []byte(`{"note":"` + childName + `"}`)

	t.Run("go-jose encrypts, we decrypt", func(t *testing.T) {
		enc, err := jose.NewEncrypter(jose.A256GCM, jose.Recipient{Algorithm: jose.ECDH_ES_A256KW, Key: &priv.PublicKey, KeyID: kid}, nil)
		if err != nil {
			t.Fatal(err)
		}
		obj, err := enc.Encrypt(plaintext)
		if err != nil {
			t.Fatal(err)
		}
		body, err := obj.CompactSerialize()
		if err != nil {
			t.Fatal(err)
		}
		got, err := seal.Decrypt(body, []jwk.Key{ours})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, plaintext) {
			t.Fatalf("plaintext %q", got)
		}
	})
	t.Run("we encrypt, go-jose decrypts", func(t *testing.T) {
		body, err := seal.Encrypt(plaintext, oursPub)
		if err != nil {
			t.Fatal(err)
		}
		obj, err := jose.ParseEncryptedCompact(body, []jose.KeyAlgorithm{jose.ECDH_ES_A256KW}, []jose.ContentEncryption{jose.A256GCM})
		if err != nil {
			t.Fatal(err)
		}
		got, err := obj.Decrypt(priv)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, plaintext) {
			t.Fatalf("plaintext %q", got)
		}
	})
	t.Run("a P-256 body cannot be opened with an X25519 key", func(t *testing.T) {
		body, err := seal.Encrypt(plaintext, oursPub)
		if err != nil {
			t.Fatal(err)
		}
		x := newAgency(t, "ml.dnpef")
		renamed, _ := x.enc.Clone()
		_ = renamed.Set(jwk.KeyIDKey, kid)
		_, err = seal.Decrypt(body, []jwk.Key{renamed})
		wantCode(t, err, contracts.CodeBodyInvalid)
	})
}

// The independent implementation must itself be right, or the interop
// tests above prove nothing: check it against published vectors.
func TestIndependentJWEImplementationMatchesRFCVectors(t *testing.T) {
	// RFC 7518 Appendix C: ECDH-ES key agreement on P-256, Concat KDF
	// for A128GCM with apu "Alice" and apv "Bob".
	bobD := mustB64(t, "VEmDZpDXXK8p8N0Cndsxs924q6nS1RXFASRl6BfUqdw")
	aliceX := mustB64(t, "gI0GAILBdu7T53akrFmMyGcsF3n5dO7MmwNBHKW5SV0")
	aliceY := mustB64(t, "SLW_xSffzlPWrHEVI30DHM_4egVwt3NQqeUD7nMFpps")
	bob, err := ecdh.P256().NewPrivateKey(bobD)
	if err != nil {
		t.Fatal(err)
	}
	alice, err := ecdh.P256().NewPublicKey(append(append([]byte{4}, aliceX...), aliceY...))
	if err != nil {
		t.Fatal(err)
	}
	z, err := bob.ECDH(alice)
	if err != nil {
		t.Fatal(err)
	}
	wantZ := []byte{158, 86, 217, 29, 129, 113, 53, 211, 114, 131, 66, 131, 191, 132, 38, 156, 251, 49, 110, 163, 218, 128, 106, 72, 246, 218, 167, 121, 140, 254, 144, 196}
	if !bytes.Equal(z, wantZ) {
		t.Fatalf("Z = %v", z)
	}
	if got := sealtest.B64(sealtest.ConcatKDF(z, "A128GCM", []byte("Alice"), []byte("Bob"), 16)); got != "VqqN6vgjbSBcIijNcacQGg" {
		t.Fatalf("Concat KDF = %s, want VqqN6vgjbSBcIijNcacQGg", got)
	}

	// RFC 3394 §4.6: 256-bit key data wrapped with a 256-bit KEK.
	kek := mustHex(t, "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F")
	key := mustHex(t, "00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F")
	want := mustHex(t, "28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21")
	wrapped, err := sealtest.KeyWrap(kek, key)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(wrapped, want) {
		t.Fatalf("KeyWrap = %X", wrapped)
	}
	unwrapped, err := sealtest.KeyUnwrap(kek, wrapped)
	if err != nil || !bytes.Equal(unwrapped, key) {
		t.Fatalf("KeyUnwrap = %X, %v", unwrapped, err)
	}
	wrapped[0] ^= 1
	if _, err := sealtest.KeyUnwrap(kek, wrapped); err == nil {
		t.Fatal("KeyUnwrap accepted a tampered key")
	}
}

func mustB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
