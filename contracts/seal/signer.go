package seal

import (
	"crypto"
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// Signing with a key held outside the process: a PKCS#11 token signs but
// never hands out its private key, so it cannot be a JWK. Only Ed25519 is
// accepted, the profile's signing algorithm.

// SignWith is Sign for an Ed25519 crypto.Signer named kid: the output is
// the same compact JWS, header {alg: EdDSA, kid, typ}, as Sign gives for
// the equivalent JWK.
func SignWith(payload []byte, signer crypto.Signer, kid, typ string) ([]byte, error) {
	if len(payload) == 0 {
		return nil, errors.New("seal: refusing to sign an empty payload")
	}
	if typ == "" {
		return nil, errors.New("seal: typ is required")
	}
	if err := checkKID(kid); err != nil {
		return nil, err
	}
	if _, ok := signer.Public().(ed25519.PublicKey); !ok {
		return nil, fmt.Errorf("seal: signer holds a %T, not an Ed25519 key", signer.Public())
	}
	hdr := jws.NewHeaders()
	for name, v := range map[string]any{jws.TypeKey: typ, jws.KeyIDKey: kid} {
		if err := hdr.Set(name, v); err != nil {
			return nil, fmt.Errorf("seal: setting %s: %w", name, err)
		}
	}
	out, err := jws.Sign(payload, jws.WithKey(jwa.EdDSA(), signer, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return nil, fmt.Errorf("seal: signing: %w", err)
	}
	h, err := ParseHeader(out, typ)
	if err != nil {
		return nil, fmt.Errorf("seal: signed output does not meet the profile: %w", err)
	}
	if h.Alg != AlgEdDSA || h.Kid != kid {
		return nil, fmt.Errorf("seal: signed output announces alg %q kid %q, expected %q %q", h.Alg, h.Kid, AlgEdDSA, kid)
	}
	return out, nil
}

// SigningPublicKey is the public JWK of the profile (OKP Ed25519, alg
// EdDSA, use sig) for an Ed25519 public key named kid.
func SigningPublicKey(pub ed25519.PublicKey, kid string) (jwk.Key, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("seal: Ed25519 public key of %d bytes", len(pub))
	}
	if err := checkKID(kid); err != nil {
		return nil, err
	}
	return importKey(pub, kid, jwa.EdDSA(), jwk.ForSignature)
}
