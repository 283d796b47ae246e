package seal

import (
	"encoding/json"
	"fmt"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/relais-hub/relais/contracts"
)

// maxSetKeys bounds a registered JWKS: an agency has one signing and one
// encryption key, plus their successors while a rotation overlaps.
const maxSetKeys = 16

// publicJWKMembers are the only members a registered public JWK may have.
// Everything else is refused rather than ignored: a "d" means private key
// material was published by mistake, and x5u/x5c/jku would invite someone,
// some day, to fetch or trust them.
var publicJWKMembers = []string{"kty", "crv", "x", "y", "kid", "alg", "use"}

// privateJWKMembers name private key material, to say so plainly.
var privateJWKMembers = map[string]bool{"d": true, "p": true, "q": true, "dp": true, "dq": true, "qi": true, "oth": true, "k": true}

// ParseSet parses an agency's public JWKS for registration. It admits only
// public keys of the profile, each with a kid (unique in the set) and an
// alg: Ed25519/EdDSA (sig), P-256/ES256 (sig) and X25519/ECDH-ES+A256KW
// (enc). Refusals are agency_invalid problems naming the key and the reason.
func ParseSet(b []byte) (jwk.Set, error) {
	top, err := decodeObject(b)
	if err != nil {
		return nil, contracts.Refuse(contracts.CodeAgencyInvalid, "jwks: %v", err)
	}
	if name, bad := top.firstOutside("keys"); bad {
		return nil, contracts.Refuse(contracts.CodeAgencyInvalid, "jwks: member %s not allowed, only \"keys\"", quoteName(name))
	}
	rawKeys, ok := top.get("keys")
	if !ok {
		return nil, contracts.Refuse(contracts.CodeAgencyInvalid, "jwks: \"keys\" is missing")
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(rawKeys, &elems); err != nil || rawKeys[0] != '[' {
		return nil, contracts.Refuse(contracts.CodeAgencyInvalid, "jwks: \"keys\" is not an array")
	}
	if len(elems) == 0 || len(elems) > maxSetKeys {
		return nil, contracts.Refuse(contracts.CodeAgencyInvalid, "jwks: %d keys, expected 1 to %d", len(elems), maxSetKeys)
	}
	set := jwk.NewSet()
	seen := make(map[string]bool, len(elems))
	for i, raw := range elems {
		k, err := parsePublicJWK(raw)
		if err != nil {
			return nil, contracts.Refuse(contracts.CodeAgencyInvalid, "jwks: key %d: %v", i, err)
		}
		kid, _ := k.KeyID()
		if seen[kid] {
			return nil, contracts.Refuse(contracts.CodeAgencyInvalid, "jwks: kid %s appears twice", quoteName(kid))
		}
		seen[kid] = true
		if err := set.AddKey(k); err != nil {
			return nil, contracts.Refuse(contracts.CodeAgencyInvalid, "jwks: key %d: %v", i, err)
		}
	}
	return set, nil
}

// parsePublicJWK admits one registered public key.
func parsePublicJWK(raw json.RawMessage) (jwk.Key, error) {
	obj, err := decodeObject(raw)
	if err != nil {
		return nil, err
	}
	if name, bad := obj.firstOutside(publicJWKMembers...); bad {
		if privateJWKMembers[name] {
			return nil, fmt.Errorf("contains private key material (%s): publish public keys only", quoteName(name))
		}
		return nil, fmt.Errorf("member %s not allowed", quoteName(name))
	}
	k, err := jwk.ParseKey(raw)
	if err != nil {
		return nil, fmt.Errorf("not a valid JWK: %w", err)
	}
	// The member whitelist above already keeps private material out.
	p, err := profileOf(k)
	if err != nil {
		return nil, err
	}
	// P-256 is tolerated as an ephemeral curve in bodies for
	// interoperability, but a registered encryption key is X25519.
	if p.use == jwk.ForEncryption && p.curve != curveX25519 {
		return nil, fmt.Errorf("encryption keys must be X25519, not %s", quoteName(p.curve))
	}
	if p.curve == curveX25519 {
		x, err := okpX(k)
		if err != nil {
			return nil, err
		}
		if err := checkX25519Point(x); err != nil {
			return nil, err
		}
	}
	return k, nil
}
