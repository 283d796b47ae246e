package seal

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
)

// The algorithms of the profile, as they appear on the wire.
const (
	AlgEdDSA       = "EdDSA"
	AlgES256       = "ES256"
	AlgKeyWrap     = "ECDH-ES+A256KW"
	EncA256GCM     = "A256GCM"
	curveEd25519   = "Ed25519"
	curveX25519    = "X25519"
	curveP256      = "P-256"
	maxKIDLen      = 128
	ktyOKP         = "OKP"
	ktyEC          = "EC"
	randomKIDBytes = 4
)

// GenerateSigningKey makes a fresh Ed25519 private signing key (OKP, alg
// EdDSA, use sig) named kid.
func GenerateSigningKey(kid string) (jwk.Key, error) {
	if err := checkKID(kid); err != nil {
		return nil, err
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("seal: generating Ed25519 key: %w", err)
	}
	return importKey(priv, kid, jwa.EdDSA(), jwk.ForSignature)
}

// GenerateEncryptionKey makes a fresh X25519 private key for receiving
// bodies (OKP, alg ECDH-ES+A256KW, use enc) named kid.
func GenerateEncryptionKey(kid string) (jwk.Key, error) {
	if err := checkKID(kid); err != nil {
		return nil, err
	}
	priv, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("seal: generating X25519 key: %w", err)
	}
	return importKey(priv, kid, jwa.ECDH_ES_A256KW(), jwk.ForEncryption)
}

// NewKID names a new key: prefix, today's UTC date and 32 random bits, e.g.
// NewKID("bf.dpe-bobo#sig") = "bf.dpe-bobo#sig-2026-11-21-9f86d081". The
// date tells operators at a glance which key of a rotation is which.
func NewKID(prefix string) string {
	var r [randomKIDBytes]byte
	if _, err := rand.Read(r[:]); err != nil {
		// crypto/rand.Read never fails on supported platforms (Go ≥ 1.24
		// crashes the program instead), so this is unreachable.
		panic(fmt.Sprintf("seal: crypto/rand failed: %v", err))
	}
	return prefix + "-" + time.Now().UTC().Format(time.DateOnly) + "-" + hex.EncodeToString(r[:])
}

// PublicKey returns the public half of k as a minimal JWK: the key material
// plus kid, alg and use, nothing else (no key_ops, no x5c, never d). k must
// be a key of the profile.
func PublicKey(k jwk.Key) (jwk.Key, error) {
	if k == nil {
		return nil, errors.New("seal: nil key")
	}
	p, err := profileOf(k)
	if err != nil {
		return nil, err
	}
	raw, err := jwk.PublicRawKeyOf(k)
	if err != nil {
		return nil, fmt.Errorf("seal: extracting public key: %w", err)
	}
	kid, _ := k.KeyID()
	return importKey(raw, kid, p.alg, p.use)
}

// PublicSet builds the public JWKS of keys (for the directory and for
// `agency init`). Key ids must be distinct.
func PublicSet(keys ...jwk.Key) (jwk.Set, error) {
	set := jwk.NewSet()
	seen := make(map[string]bool, len(keys))
	for i, k := range keys {
		pub, err := PublicKey(k)
		if err != nil {
			return nil, fmt.Errorf("seal: key %d: %w", i, err)
		}
		kid, _ := pub.KeyID()
		if seen[kid] {
			return nil, fmt.Errorf("seal: duplicate kid %s", quoteName(kid))
		}
		seen[kid] = true
		if err := set.AddKey(pub); err != nil {
			return nil, fmt.Errorf("seal: adding key %s: %w", quoteName(kid), err)
		}
	}
	return set, nil
}

// keyProfile is what the profile knows about an admitted key.
type keyProfile struct {
	alg     jwa.KeyAlgorithm
	use     jwk.KeyUsageType
	curve   string
	private bool
}

// profileOf checks that k is one of the three key kinds of the profile
// (Ed25519/EdDSA and P-256/ES256 for signing, X25519/ECDH-ES+A256KW for
// encryption, and P-256/ECDH-ES+A256KW which CheckJWE tolerates for
// interoperability), with a well-formed kid, an alg consistent with its
// type and curve, and a use consistent with its alg.
func profileOf(k jwk.Key) (keyProfile, error) {
	kid, _ := k.KeyID()
	if err := checkKID(kid); err != nil {
		return keyProfile{}, err
	}
	algv, ok := k.Algorithm()
	if !ok {
		return keyProfile{}, fmt.Errorf("seal: key %s has no alg", quoteName(kid))
	}
	alg := algv.String()
	kty := k.KeyType().String()
	crv := curveOf(k)
	var p keyProfile
	switch {
	case alg == AlgEdDSA && kty == ktyOKP && crv == curveEd25519:
		p = keyProfile{alg: jwa.EdDSA(), use: jwk.ForSignature}
	case alg == AlgES256 && kty == ktyEC && crv == curveP256:
		p = keyProfile{alg: jwa.ES256(), use: jwk.ForSignature}
	case alg == AlgKeyWrap && kty == ktyOKP && crv == curveX25519,
		alg == AlgKeyWrap && kty == ktyEC && crv == curveP256:
		p = keyProfile{alg: jwa.ECDH_ES_A256KW(), use: jwk.ForEncryption}
	default:
		return keyProfile{}, fmt.Errorf("seal: key %s: alg %s with kty %s and crv %s is not in the profile",
			quoteName(kid), quoteName(alg), quoteName(kty), quoteName(crv))
	}
	p.curve = crv
	if use, ok := k.KeyUsage(); ok && use != string(p.use) {
		return keyProfile{}, fmt.Errorf("seal: key %s has use %s but alg %s needs use %q", quoteName(kid), quoteName(use), alg, p.use)
	}
	priv, err := jwk.IsPrivateKey(k)
	if err != nil {
		return keyProfile{}, fmt.Errorf("seal: key %s: %w", quoteName(kid), err)
	}
	p.private = priv
	if err := k.Validate(); err != nil {
		return keyProfile{}, fmt.Errorf("seal: key %s is invalid: %w", quoteName(kid), err)
	}
	return p, nil
}

// signingProfile is profileOf restricted to signing keys.
func signingProfile(k jwk.Key) (keyProfile, error) {
	p, err := profileOf(k)
	if err != nil {
		return p, err
	}
	if p.use != jwk.ForSignature {
		return p, fmt.Errorf("seal: key is an encryption key, not a signing key")
	}
	return p, nil
}

// encryptionProfile is profileOf restricted to encryption keys.
func encryptionProfile(k jwk.Key) (keyProfile, error) {
	p, err := profileOf(k)
	if err != nil {
		return p, err
	}
	if p.use != jwk.ForEncryption {
		return p, fmt.Errorf("seal: key is a signing key, not an encryption key")
	}
	return p, nil
}

// curveOf returns the "crv" of an OKP or EC key, or "".
func curveOf(k jwk.Key) string {
	var crv jwa.EllipticCurveAlgorithm
	if err := k.Get("crv", &crv); err != nil {
		return ""
	}
	return crv.String()
}

// checkKID keeps key ids to a short, printable, unambiguous alphabet: they
// travel in headers, file names and log lines.
func checkKID(kid string) error {
	if kid == "" {
		return errors.New("seal: empty kid")
	}
	if len(kid) > maxKIDLen {
		return fmt.Errorf("seal: kid longer than %d characters", maxKIDLen)
	}
	for i := 0; i < len(kid); i++ {
		c := kid[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.', c == '-', c == '_', c == '#', c == ':', c == '@', c == '+':
		default:
			return fmt.Errorf("seal: kid %s has a character outside [A-Za-z0-9._#:@+-]", quoteName(kid))
		}
	}
	return nil
}

// importKey wraps a raw crypto key as a JWK carrying exactly kid, alg, use.
func importKey(raw any, kid string, alg jwa.KeyAlgorithm, use jwk.KeyUsageType) (jwk.Key, error) {
	k, err := jwk.Import(raw)
	if err != nil {
		return nil, fmt.Errorf("seal: importing %T as JWK: %w", raw, err)
	}
	for name, v := range map[string]any{jwk.KeyIDKey: kid, jwk.AlgorithmKey: alg, jwk.KeyUsageKey: use} {
		if err := k.Set(name, v); err != nil {
			return nil, fmt.Errorf("seal: setting %s: %w", name, err)
		}
	}
	return k, nil
}
