package seal

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwe"
	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/relais-hub/relais/contracts"
)

// Sizes fixed by ECDH-ES+A256KW with A256GCM.
const (
	wrappedCEKLen = 40 // RFC 3394 wrap of a 32-byte CEK
	gcmIVLen      = 12
	gcmTagLen     = 16
)

// jweHeaderMembers are the only protected header members of a body. apu and
// apv are the optional ECDH-ES party info inputs; zip, jku, jwk, x5u, crit,
// cty, typ and everything else are refused.
var jweHeaderMembers = []string{"alg", "enc", "kid", "epk", "apu", "apv"}

// epkMembers are the only members of the ephemeral public key.
var epkMembers = []string{"kty", "crv", "x", "y"}

// JWEHeader is what the hub learns from a body without decrypting it.
type JWEHeader struct {
	Alg, Enc, Kid string
	// Curve is the curve of the sender's ephemeral key: X25519 or P-256.
	Curve string
}

// Encrypt encrypts plaintext for recipient's public encryption key: compact
// JWE, alg ECDH-ES+A256KW, enc A256GCM, kid of the recipient key, no zip.
func Encrypt(plaintext []byte, recipient jwk.Key) (string, error) {
	if len(plaintext) == 0 {
		// A body is always a JSON document, and jwx cannot decrypt an
		// empty ciphertext, so CheckJWE refuses one.
		return "", errors.New("seal: refusing to encrypt an empty body")
	}
	p, err := encryptionProfile(recipient)
	if err != nil {
		return "", err
	}
	pub, err := PublicKey(recipient)
	if err != nil {
		return "", err
	}
	if p.curve == curveX25519 {
		x, err := okpX(pub)
		if err != nil {
			return "", fmt.Errorf("seal: recipient key: %w", err)
		}
		if err := checkX25519Point(x); err != nil {
			return "", fmt.Errorf("seal: recipient key: %w", err)
		}
	}
	out, err := jwe.Encrypt(plaintext,
		jwe.WithKey(jwa.ECDH_ES_A256KW(), pub),
		jwe.WithContentEncryption(jwa.A256GCM()),
		jwe.WithCompact(),
	)
	if err != nil {
		return "", fmt.Errorf("seal: encrypting: %w", err)
	}
	// Hold our output to the hub's rules, as Sign does.
	h, err := CheckJWE(string(out))
	if err != nil {
		return "", fmt.Errorf("seal: encrypted output does not meet the profile: %w", err)
	}
	kid, _ := recipient.KeyID()
	if h.Kid != kid {
		return "", fmt.Errorf("seal: encrypted output names kid %q, expected %q", h.Kid, kid)
	}
	return string(out), nil
}

// CheckJWE is the hub-side check of an encrypted body, with no key: compact
// serialization with 5 base64url parts, a strict protected header limited
// to alg, enc, kid, epk (and apu/apv), alg ECDH-ES+A256KW, enc A256GCM, a
// kid, and an ephemeral public key that is a canonical, non-low-order
// X25519 point or a P-256 point on the curve. Part sizes must be those of
// A256KW and A256GCM, and the ciphertext is not empty (a body is a JSON
// document). Every refusal is body_invalid with a detail.
func CheckJWE(compact string) (JWEHeader, error) {
	h, err := checkJWE(compact)
	if err != nil {
		return JWEHeader{}, &contracts.Problem{Code: contracts.CodeBodyInvalid, Detail: "encrypted body: " + err.Error(), Fields: []string{"body"}}
	}
	return h, nil
}

func checkJWE(compact string) (JWEHeader, error) {
	_, parts, err := splitCompact([]byte(compact), 5)
	if err != nil {
		return JWEHeader{}, err
	}
	hdrRaw, encKey, iv, ciphertext, tag := parts[0], parts[1], parts[2], parts[3], parts[4]
	if len(hdrRaw) == 0 {
		return JWEHeader{}, errors.New("protected header is empty")
	}
	obj, err := decodeObject(hdrRaw)
	if err != nil {
		return JWEHeader{}, fmt.Errorf("protected header: %w", err)
	}
	if name, bad := obj.firstOutside(jweHeaderMembers...); bad {
		return JWEHeader{}, fmt.Errorf("header %s is not allowed", quoteName(name))
	}
	var h JWEHeader
	for _, f := range []struct {
		name string
		dst  *string
	}{{"alg", &h.Alg}, {"enc", &h.Enc}, {"kid", &h.Kid}} {
		if *f.dst, _, err = obj.stringMember(f.name); err != nil {
			return JWEHeader{}, fmt.Errorf("protected header: %w", err)
		}
	}
	if h.Alg != AlgKeyWrap {
		return JWEHeader{}, fmt.Errorf("alg %s is not allowed; use %s", quoteName(h.Alg), AlgKeyWrap)
	}
	if h.Enc != EncA256GCM {
		return JWEHeader{}, fmt.Errorf("enc %s is not allowed; use %s", quoteName(h.Enc), EncA256GCM)
	}
	if h.Kid == "" {
		return JWEHeader{}, errors.New("kid of the recipient key is missing")
	}
	for _, name := range []string{"apu", "apv"} {
		v, present, err := obj.stringMember(name)
		if err != nil {
			return JWEHeader{}, fmt.Errorf("protected header: %w", err)
		}
		if _, err := b64.DecodeString(v); present && err != nil {
			return JWEHeader{}, fmt.Errorf("%s is not base64url", name)
		}
	}
	epk, ok := obj.get("epk")
	if !ok {
		return JWEHeader{}, errors.New("epk (ephemeral public key) is missing")
	}
	if h.Curve, err = checkEPK(epk); err != nil {
		return JWEHeader{}, fmt.Errorf("epk: %w", err)
	}
	if len(encKey) != wrappedCEKLen {
		return JWEHeader{}, fmt.Errorf("encrypted key is %d bytes, not %d", len(encKey), wrappedCEKLen)
	}
	if len(iv) != gcmIVLen {
		return JWEHeader{}, fmt.Errorf("iv is %d bytes, not %d", len(iv), gcmIVLen)
	}
	if len(ciphertext) == 0 {
		return JWEHeader{}, errors.New("ciphertext is empty")
	}
	if len(tag) != gcmTagLen {
		return JWEHeader{}, fmt.Errorf("tag is %d bytes, not %d", len(tag), gcmTagLen)
	}
	return h, nil
}

// checkEPK validates the ephemeral public key and returns its curve.
func checkEPK(raw json.RawMessage) (string, error) {
	obj, err := decodeObject(raw)
	if err != nil {
		return "", err
	}
	if name, bad := obj.firstOutside(epkMembers...); bad {
		return "", fmt.Errorf("member %s is not allowed", quoteName(name))
	}
	var kty, crv, x, y string
	for _, f := range []struct {
		name string
		dst  *string
	}{{"kty", &kty}, {"crv", &crv}, {"x", &x}, {"y", &y}} {
		if *f.dst, _, err = obj.stringMember(f.name); err != nil {
			return "", err
		}
	}
	xb, err := b64.DecodeString(x)
	if err != nil {
		return "", errors.New("x is not base64url")
	}
	switch {
	case kty == ktyOKP && crv == curveX25519:
		if _, hasY := obj.get("y"); hasY {
			return "", errors.New("an OKP key has no y")
		}
		return curveX25519, checkX25519Point(xb)
	case kty == ktyEC && crv == curveP256:
		yb, err := b64.DecodeString(y)
		if err != nil {
			return "", errors.New("y is not base64url")
		}
		return curveP256, checkP256Point(xb, yb)
	default:
		return "", fmt.Errorf("kty %s crv %s is not allowed; use OKP X25519 or EC P-256", quoteName(kty), quoteName(crv))
	}
}

// Decrypt decrypts a body with one of the recipient's private encryption
// keys. The body is checked with CheckJWE first. The key named by the kid
// is tried; if no key has that kid (say it was renamed), every key is
// tried. Decryption always uses ECDH-ES+A256KW, pinned, whatever the
// header says. Every failure is body_invalid.
func Decrypt(compact string, keys []jwk.Key) ([]byte, error) {
	h, err := CheckJWE(compact)
	if err != nil {
		return nil, err
	}
	var named, all []jwk.Key
	for _, k := range keys {
		p, err := encryptionProfile(k)
		if err != nil || !p.private || p.curve != h.Curve {
			continue
		}
		all = append(all, k)
		if kid, _ := k.KeyID(); kid == h.Kid {
			named = append(named, k)
		}
	}
	candidates := named
	if len(candidates) == 0 {
		candidates = all
	}
	var errs []error
	for _, k := range candidates {
		plaintext, err := jwe.Decrypt([]byte(compact), jwe.WithKey(jwa.ECDH_ES_A256KW(), k))
		if err == nil {
			return plaintext, nil
		}
		errs = append(errs, err)
	}
	return nil, &contracts.Problem{
		Code:   contracts.CodeBodyInvalid,
		Detail: fmt.Sprintf("encrypted body: cannot be decrypted with any of %d usable key(s)", len(candidates)),
		Fields: []string{"body"},
		Err:    errors.Join(errs...),
	}
}
