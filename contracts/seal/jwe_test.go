package seal_test

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwe"
	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
	"github.com/relais-hub/relais/contracts/seal/sealtest"
)

func TestEncryptedBodiesHaveTheProfileHeaderAndDecrypt(t *testing.T) {
	b := newAgency(t, "ci.dpe-abidjan")
	for _, size := range []int{1, 2048, 100_000} {
		plaintext := bytes.Repeat([]byte("x"), size)
		body, err := seal.Encrypt(plaintext, b.encPub)
		if err != nil {
			t.Fatal(err)
		}
		names, raw := headerMembers(t, body)
		if !sameStrings(names, []string{"alg", "enc", "epk", "kid"}) {
			t.Fatalf("header members %v, want exactly alg enc epk kid", names)
		}
		if string(raw["alg"]) != `"ECDH-ES+A256KW"` || string(raw["enc"]) != `"A256GCM"` || string(raw["kid"]) != `"`+b.ek+`"` {
			t.Fatalf("header %s", raw)
		}
		h, err := seal.CheckJWE(body)
		if err != nil {
			t.Fatal(err)
		}
		if h != (seal.JWEHeader{Alg: "ECDH-ES+A256KW", Enc: "A256GCM", Kid: b.ek, Curve: "X25519"}) {
			t.Fatalf("CheckJWE header %+v", h)
		}
		got, err := seal.Decrypt(body, []jwk.Key{b.enc})
		if err != nil {
			t.Fatalf("size %d: %v (%v)", size, err, errors.Unwrap(err))
		}
		if !bytes.Equal(got, plaintext) {
			t.Fatalf("decrypted %d bytes, want %d", len(got), len(plaintext))
		}
	}
}

func TestEncryptRefusesKeysOutsideTheProfileAndEmptyBodies(t *testing.T) {
	a := newAgency(t, "bf.dpe-bobo")
	for name, k := range map[string]jwk.Key{"a signing key": a.sigPub, "an ES256 key": a.esPub} {
		if _, err := seal.Encrypt([]byte("{}"), k); err == nil {
			t.Fatalf("encrypted for %s", name)
		}
	}
	if _, err := seal.Encrypt(nil, a.encPub); err == nil {
		t.Fatal("encrypted an empty body")
	}
}

func TestDecryptFindsTheKeyByKidAndFallsBackToTheOthers(t *testing.T) {
	b := newAgency(t, "ci.dpe-abidjan")
	old := newAgency(t, "ci.dpe-abidjan")
	body, err := seal.Encrypt([]byte(`{"n":1}`), b.encPub)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("the key named by kid is found among several", func(t *testing.T) {
		if _, err := seal.Decrypt(body, []jwk.Key{old.enc, b.sig, b.enc}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a key renamed since is still tried", func(t *testing.T) {
		renamed, err := b.enc.Clone()
		if err != nil {
			t.Fatal(err)
		}
		if err := renamed.Set(jwk.KeyIDKey, "ci.dpe-abidjan#enc-renamed"); err != nil {
			t.Fatal(err)
		}
		if _, err := seal.Decrypt(body, []jwk.Key{old.enc, renamed}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("the wrong recipient key is body_invalid", func(t *testing.T) {
		_, err := seal.Decrypt(body, []jwk.Key{old.enc})
		wantCode(t, err, contracts.CodeBodyInvalid)
	})
	t.Run("another key under the right kid is body_invalid", func(t *testing.T) {
		impostor, err := old.enc.Clone()
		if err != nil {
			t.Fatal(err)
		}
		if err := impostor.Set(jwk.KeyIDKey, b.ek); err != nil {
			t.Fatal(err)
		}
		_, err = seal.Decrypt(body, []jwk.Key{impostor})
		wantCode(t, err, contracts.CodeBodyInvalid)
	})
	t.Run("public keys alone cannot decrypt", func(t *testing.T) {
		_, err := seal.Decrypt(body, []jwk.Key{b.encPub})
		wantCode(t, err, contracts.CodeBodyInvalid)
	})
}

func TestEveryJWEAttackIsRefused(t *testing.T) {
	b := newAgency(t, "ci.dpe-abidjan")
	attacks, err := sealtest.JWEAttacks(sealtest.JWEFixture{Recipient: b.encRaw.PublicKey(), KID: b.ek, Plaintext: []byte(`{"note":"` + childName + `"}`)})
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range attacks {
		t.Run(at.Name, func(t *testing.T) {
			_, checkErr := seal.CheckJWE(at.Input)
			if at.ShapeValid {
				if checkErr != nil {
					t.Fatalf("the hub's shape check refused a well-formed body: %v", checkErr)
				}
			} else {
				p := wantCode(t, checkErr, contracts.CodeBodyInvalid)
				if !strings.Contains(p.Detail, at.Detail) {
					t.Fatalf("detail %q does not name %s", p.Detail, at.Detail)
				}
			}
			got, err := seal.Decrypt(at.Input, []jwk.Key{b.enc})
			if err == nil {
				t.Fatalf("decrypted: %q", got)
			}
			p := wantCode(t, err, contracts.CodeBodyInvalid)
			if !strings.Contains(p.Detail, at.Detail) {
				t.Fatalf("detail %q does not name %s", p.Detail, at.Detail)
			}
		})
	}
}

// The attacks below are genuine JWEs that jwx itself produces and
// decrypts: only the profile's checks stand between them and the
// recipient.
func TestJWEsThatJWXWouldDecryptAreRefused(t *testing.T) {
	b := newAgency(t, "ci.dpe-abidjan")
	plaintext := []byte(`{"note":"` + childName + `"}`)
	for _, tc := range []struct {
		name   string
		opts   []jwe.EncryptOption
		detail string
	}{
		{"enc A128CBC-HS256", []jwe.EncryptOption{jwe.WithContentEncryption(jwa.A128CBC_HS256())}, `"A128CBC-HS256"`},
		{"enc A256CBC-HS512", []jwe.EncryptOption{jwe.WithContentEncryption(jwa.A256CBC_HS512())}, `"A256CBC-HS512"`},
		{"zip DEF", []jwe.EncryptOption{jwe.WithContentEncryption(jwa.A256GCM()), jwe.WithCompress(jwa.Deflate())}, `"zip"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := append([]jwe.EncryptOption{jwe.WithKey(jwa.ECDH_ES_A256KW(), b.encPub), jwe.WithCompact()}, tc.opts...)
			body, err := jwe.Encrypt(plaintext, opts...)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := jwe.Decrypt(body, jwe.WithKey(jwa.ECDH_ES_A256KW(), b.enc)); err != nil || !bytes.Equal(got, plaintext) {
				t.Fatalf("precondition: jwx should decrypt its own output, got %v", err)
			}
			_, err = seal.Decrypt(string(body), []jwk.Key{b.enc})
			p := wantCode(t, err, contracts.CodeBodyInvalid)
			if !strings.Contains(p.Detail, tc.detail) {
				t.Fatalf("detail %q does not name %s", p.Detail, tc.detail)
			}
		})
	}
}

func TestLowOrderTableHoldsOnlyLowOrderPoints(t *testing.T) {
	// Check the attack table with the standard library alone: a random
	// private key multiplied by a low-order point gives the all-zero
	// secret, which crypto/ecdh refuses.
	for _, lo := range sealtest.LowOrderX25519 {
		u, err := hex.DecodeString(lo.Hex)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := ecdh.X25519().NewPublicKey(u)
		if err != nil {
			t.Fatal(err)
		}
		priv, err := ecdh.X25519().GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := priv.ECDH(pub); err == nil {
			t.Errorf("%s is not a low-order point", lo.Name)
		}
	}
}

func TestCheckJWEAcceptsAP256EphemeralKey(t *testing.T) {
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	body, err := sealtest.EncryptECDHES([]byte("{}"), priv.PublicKey(), sealtest.JWEOptions{Kid: "ml.dnpef#enc-p256"})
	if err != nil {
		t.Fatal(err)
	}
	h, err := seal.CheckJWE(body)
	if err != nil {
		t.Fatal(err)
	}
	if h.Curve != "P-256" {
		t.Fatalf("curve %q", h.Curve)
	}
}
