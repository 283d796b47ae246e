package seal

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"io"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

// opaqueSigner hides its key behind crypto.Signer, as a PKCS#11 token does.
type opaqueSigner struct{ key crypto.Signer }

func (s opaqueSigner) Public() crypto.PublicKey { return s.key.Public() }
func (s opaqueSigner) Sign(r io.Reader, msg []byte, o crypto.SignerOpts) ([]byte, error) {
	return s.key.Sign(r, msg, o)
}

func TestSignWithAnOpaqueSignerGivesTheJWSOfTheEquivalentKey(t *testing.T) {
	k, err := GenerateSigningKey("hub#sig-2026-11-22-00000001")
	if err != nil {
		t.Fatal(err)
	}
	var priv ed25519.PrivateKey
	if err := jwk.Export(k, &priv); err != nil {
		t.Fatal(err)
	}
	payload := []byte(`{"receipt":1}`)
	got, err := SignWith(payload, opaqueSigner{priv}, "hub#sig-2026-11-22-00000001", "relais-receipt+jws")
	if err != nil {
		t.Fatal(err)
	}
	want, err := Sign(payload, k, "relais-receipt+jws")
	if err != nil {
		t.Fatal(err)
	}
	// Ed25519 is deterministic: the same key, header and payload give the
	// same bytes, so a verifier cannot tell which way the hub signed.
	if !bytes.Equal(got, want) {
		t.Fatalf("SignWith and Sign differ:\n%s\n%s", got, want)
	}
	pub, err := SigningPublicKey(priv.Public().(ed25519.PublicKey), "hub#sig-2026-11-22-00000001")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Verify(got, "relais-receipt+jws", func(string) (jwk.Key, error) { return pub, nil }); err != nil {
		t.Fatalf("verify with SigningPublicKey: %v", err)
	}
}

func TestSignWithRefusesWhatTheProfileForbids(t *testing.T) {
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, c := range []struct {
		name    string
		signer  crypto.Signer
		kid     string
		payload []byte
	}{
		{"an ECDSA key", opaqueSigner{ec}, "hub#sig-1", []byte("x")},
		{"an empty kid", opaqueSigner{ed}, "", []byte("x")},
		{"a kid with a space", opaqueSigner{ed}, "hub sig", []byte("x")},
		{"an empty payload", opaqueSigner{ed}, "hub#sig-1", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := SignWith(c.payload, c.signer, c.kid, "relais-receipt+jws"); err == nil {
				t.Fatal("signed")
			}
		})
	}
}
