package seal

import (
	"errors"
	"fmt"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/relais-hub/relais/contracts"
)

// EnvelopeTyp is the "typ" of a Relais message.
const EnvelopeTyp = "relais-envelope+jws"

// Header is the protected header of a JWS of the profile: nothing else is
// allowed in it.
type Header struct {
	Alg, Kid, Typ string
}

// jwsHeaderMembers are the only protected header members of the profile.
var jwsHeaderMembers = []string{"alg", "kid", "typ"}

// parsedJWS is a compact JWS that passed every check that needs no key.
type parsedJWS struct {
	Header    Header
	Payload   []byte
	Signature []byte
}

// Sign signs payload with the private signing key and returns a compact JWS
// whose protected header is exactly {alg, kid, typ}, alg being the key's.
func Sign(payload []byte, key jwk.Key, typ string) ([]byte, error) {
	if len(payload) == 0 {
		return nil, errors.New("seal: refusing to sign an empty payload")
	}
	if typ == "" {
		return nil, errors.New("seal: typ is required")
	}
	p, err := signingProfile(key)
	if err != nil {
		return nil, err
	}
	if !p.private {
		return nil, errors.New("seal: signing needs a private key")
	}
	hdr := jws.NewHeaders()
	if err := hdr.Set(jws.TypeKey, typ); err != nil {
		return nil, fmt.Errorf("seal: setting typ: %w", err)
	}
	out, err := jws.Sign(payload,
		jws.WithKey(p.alg, key, jws.WithProtectedHeaders(hdr)),
		jws.WithStrictECDSA(true),
	)
	if err != nil {
		return nil, fmt.Errorf("seal: signing: %w", err)
	}
	// Check our own output with the verifier's rules: if a jwx upgrade ever
	// adds a header member, we fail here rather than emit messages every
	// peer refuses.
	h, err := ParseHeader(out, typ)
	if err != nil {
		return nil, fmt.Errorf("seal: signed output does not meet the profile: %w", err)
	}
	kid, _ := key.KeyID()
	if h.Alg != p.alg.String() || h.Kid != kid {
		return nil, fmt.Errorf("seal: signed output announces alg %q kid %q, expected %q %q", h.Alg, h.Kid, p.alg, kid)
	}
	return out, nil
}

// ParseHeader checks a compact JWS against the profile without any key and
// returns its protected header. It runs before any cryptography so that a
// hostile message costs a few string comparisons. In order:
//
//   - not exactly three base64url parts (no padding), a JSON serialization,
//     a header that is not strict JSON (invalid UTF-8, duplicate members),
//     a member that is not a string → malformed_jws;
//   - any member other than alg, kid, typ → header_not_allowed;
//   - alg other than EdDSA or ES256 (none, HS256, RS256, …) → alg_not_allowed;
//   - typ other than typ → typ_invalid;
//   - empty or missing kid → unknown_key;
//   - empty signature → malformed_jws.
func ParseHeader(compact []byte, typ string) (Header, error) {
	p, err := parseJWS(compact, typ)
	if err != nil {
		return Header{}, err
	}
	return p.Header, nil
}

func parseJWS(compact []byte, typ string) (parsedJWS, error) {
	_, parts, err := splitCompact(compact, 3)
	if err != nil {
		return parsedJWS{}, contracts.Refuse(contracts.CodeMalformedJWS, "%v", err)
	}
	if len(parts[0]) == 0 {
		return parsedJWS{}, contracts.Refuse(contracts.CodeMalformedJWS, "protected header is empty")
	}
	if len(parts[1]) == 0 {
		return parsedJWS{}, contracts.Refuse(contracts.CodeMalformedJWS, "payload is empty")
	}
	h, err := parseJWSHeader(parts[0], typ)
	if err != nil {
		return parsedJWS{}, err
	}
	if len(parts[2]) == 0 {
		return parsedJWS{}, contracts.Refuse(contracts.CodeMalformedJWS, "signature is empty")
	}
	return parsedJWS{Header: h, Payload: parts[1], Signature: parts[2]}, nil
}

// parseJWSHeader applies the header rules of ParseHeader to decoded JSON.
func parseJWSHeader(raw []byte, typ string) (Header, error) {
	obj, err := decodeObject(raw)
	if err != nil {
		return Header{}, contracts.Refuse(contracts.CodeMalformedJWS, "protected header: %v", err)
	}
	if name, bad := obj.firstOutside(jwsHeaderMembers...); bad {
		return Header{}, &contracts.Problem{
			Code:   contracts.CodeHeaderNotAllowed,
			Detail: fmt.Sprintf("header %s is not allowed; the protected header is exactly alg, kid, typ", quoteName(name)),
			Fields: []string{name},
		}
	}
	var h Header
	for _, f := range []struct {
		name string
		dst  *string
	}{{"alg", &h.Alg}, {"kid", &h.Kid}, {"typ", &h.Typ}} {
		if *f.dst, _, err = obj.stringMember(f.name); err != nil {
			return Header{}, contracts.Refuse(contracts.CodeMalformedJWS, "protected header: %v", err)
		}
	}
	if h.Alg != AlgEdDSA && h.Alg != AlgES256 {
		return Header{}, contracts.Refuse(contracts.CodeAlgNotAllowed, "alg %s is not allowed; use EdDSA or ES256", quoteName(h.Alg))
	}
	if h.Typ != typ {
		return Header{}, contracts.Refuse(contracts.CodeTypInvalid, "typ %s, expected %q", quoteName(h.Typ), typ)
	}
	if h.Kid == "" {
		return Header{}, contracts.Refuse(contracts.CodeUnknownKey, "kid is missing")
	}
	return h, nil
}

// Verify checks a compact JWS of the given typ and returns its payload and
// header. lookup maps the header's kid to the registered public key; its
// refusals (unknown_key, key_revoked, …) are returned as they are. The
// signature is verified with the algorithm registered on the key, never the
// one the message announces: a header alg that differs from the key's is
// refused as alg_key_mismatch before any verification.
func Verify(compact []byte, typ string, lookup func(kid string) (jwk.Key, error)) ([]byte, Header, error) {
	p, err := parseJWS(compact, typ)
	if err != nil {
		return nil, Header{}, err
	}
	key, err := lookupKey(lookup, p.Header.Kid)
	if err != nil {
		return nil, Header{}, err
	}
	payload, err := verifyWithKey(compact, p, key)
	if err != nil {
		return nil, Header{}, err
	}
	return payload, p.Header, nil
}

// lookupKey calls lookup, passing its problems through and turning a
// missing key into unknown_key.
func lookupKey(lookup func(kid string) (jwk.Key, error), kid string) (jwk.Key, error) {
	key, err := lookup(kid)
	if err != nil {
		var p *contracts.Problem
		if errors.As(err, &p) {
			return nil, err
		}
		return nil, fmt.Errorf("seal: looking up the signing key: %w", err)
	}
	if key == nil {
		return nil, contracts.Refuse(contracts.CodeUnknownKey, "no registered key has this kid")
	}
	return key, nil
}

// verifyWithKey verifies p (parsed from compact) with the registered key.
func verifyWithKey(compact []byte, p parsedJWS, key jwk.Key) ([]byte, error) {
	prof, err := signingProfile(key)
	if err != nil {
		return nil, contracts.Refuse(contracts.CodeAlgKeyMismatch, "the registered key cannot verify signatures: %v", err)
	}
	if p.Header.Alg != prof.alg.String() {
		return nil, contracts.Refuse(contracts.CodeAlgKeyMismatch, "header alg %s, registered key alg %s", quoteName(p.Header.Alg), prof.alg)
	}
	alg, ok := prof.alg.(jwa.SignatureAlgorithm)
	if !ok {
		return nil, contracts.Refuse(contracts.CodeAlgKeyMismatch, "registered key alg %s is not a signature algorithm", prof.alg)
	}
	// VerifyCompactFast rather than jws.Verify: jws.Verify rebuilds the
	// signing input from the header as its JSON decoder saw it, which drops
	// whitespace around the JSON object, so a header re-encoded with an
	// added space still verified. VerifyCompactFast verifies the exact
	// bytes received (RFC 7515 §5.2), with the algorithm we pass: the
	// registered key's.
	payload, err := jws.VerifyCompactFast(key, compact, alg)
	if err != nil {
		return nil, &contracts.Problem{
			Code:   contracts.CodeSignatureInvalid,
			Detail: "the signature does not verify with the registered key",
			Err:    err,
		}
	}
	return payload, nil
}
