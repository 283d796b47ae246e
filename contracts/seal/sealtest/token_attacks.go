package sealtest

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"strings"
	"time"

	"github.com/relais-hub/relais/contracts"
)

// TokenFixture describes the hub's world for TokenAttacks: two registered
// agencies, each with one Ed25519 signing key. A verifier under test must
// resolve (iss, kid) to a key only when that agency registered that kid.
type TokenFixture struct {
	Hub string    // the audience, the hub id
	Now time.Time // the verifier's clock

	Issuer string // the agency presenting the token
	Key    ed25519.PrivateKey
	KID    string

	OtherIssuer string // another registered agency
	OtherKey    ed25519.PrivateKey
	OtherKID    string
}

// Claims renders token claims in a fixed order (iss, aud, iat, exp, jti)
// from a fixture and overrides; an override with a nil value removes the
// claim, and names not in the base set are appended.
func (f TokenFixture) Claims(overrides ...any) string {
	base := []any{
		"iss", f.Issuer,
		"aud", f.Hub,
		"iat", f.Now.Unix(),
		"exp", f.Now.Add(2 * time.Minute).Unix(),
		"jti", "0123456789abcdef0123456789abcdef",
	}
	for i := 0; i < len(overrides); i += 2 {
		found := false
		for j := 0; j < len(base); j += 2 {
			if base[j] == overrides[i] {
				base[j+1] = overrides[i+1]
				found = true
			}
		}
		if !found {
			base = append(base, overrides[i], overrides[i+1])
		}
	}
	var kept []any
	for j := 0; j < len(base); j += 2 {
		if base[j+1] != nil {
			kept = append(kept, base[j], base[j+1])
		}
	}
	return Header(kept...)
}

// Token signs claims with the fixture's agency key under its kid.
func (f TokenFixture) Token(claims string) string {
	return string(SignEd25519(Header("alg", "EdDSA", "kid", f.KID, "typ", "JWT"), []byte(claims), f.Key))
}

// TokenAttacks lists hostile or invalid access tokens with the code
// VerifyToken must return.
func TokenAttacks(f TokenFixture) []Attack {
	var out []Attack
	add := func(name, tok string, want contracts.Code) {
		out = append(out, Attack{Name: name, Input: []byte(tok), Want: want})
	}
	hdr := Header("alg", "EdDSA", "kid", f.KID, "typ", "JWT")
	sign := func(h, claims string) string { return string(SignEd25519(h, []byte(claims), f.Key)) }
	at := func(d time.Duration) int64 { return f.Now.Add(d).Unix() }

	add("expired a second ago", f.Token(f.Claims("iat", at(-time.Minute), "exp", at(-time.Second))), contracts.CodeTokenExpired)
	add("expiring exactly now", f.Token(f.Claims("iat", at(-time.Minute), "exp", at(0))), contracts.CodeTokenExpired)
	add("expired an hour ago", f.Token(f.Claims("iat", at(-2*time.Hour), "exp", at(-time.Hour))), contracts.CodeTokenExpired)
	add("exp ten minutes ahead", f.Token(f.Claims("exp", at(10*time.Minute))), contracts.CodeTokenInvalid)
	add("exp just beyond five minutes and the skew", f.Token(f.Claims("exp", at(5*time.Minute+31*time.Second))), contracts.CodeTokenInvalid)
	add("exp missing", f.Token(f.Claims("exp", nil)), contracts.CodeTokenInvalid)
	add("exp is a string", f.Token(f.Claims("exp", fmt.Sprint(at(time.Minute)))), contracts.CodeTokenInvalid)
	add("exp is null", f.Token(f.Claims("exp", Raw("null"))), contracts.CodeTokenInvalid)
	add("exp is a boolean", f.Token(f.Claims("exp", true)), contracts.CodeTokenInvalid)
	add("aud is null", f.Token(f.Claims("aud", Raw("null"))), contracts.CodeTokenInvalid)
	add("aud is a list holding a number", f.Token(f.Claims("aud", []any{f.Hub, 7})), contracts.CodeTokenInvalid)
	add("iss is a number", f.Token(f.Claims("iss", 7)), contracts.CodeTokenInvalid)
	add("aud names another hub", f.Token(f.Claims("aud", "another-hub")), contracts.CodeTokenInvalid)
	add("aud missing", f.Token(f.Claims("aud", nil)), contracts.CodeTokenInvalid)
	add("jti missing", f.Token(f.Claims("jti", nil)), contracts.CodeTokenInvalid)
	add("jti empty", f.Token(f.Claims("jti", "")), contracts.CodeTokenInvalid)
	add("jti of 200 characters", f.Token(f.Claims("jti", strings.Repeat("j", 200))), contracts.CodeTokenInvalid)
	add("iss missing", f.Token(f.Claims("iss", nil)), contracts.CodeTokenInvalid)
	add("iat two minutes in the future", f.Token(f.Claims("iat", at(2*time.Minute), "exp", at(4*time.Minute))), contracts.CodeTokenInvalid)
	add("nbf two minutes in the future", f.Token(f.Claims("nbf", at(2*time.Minute), "exp", at(4*time.Minute))), contracts.CodeTokenInvalid)
	add("unknown claim", f.Token(f.Claims("role", "admin")), contracts.CodeTokenInvalid)
	add("duplicate aud claim", f.Token(strings.Replace(f.Claims(), `"aud":`, `"aud":"another-hub","aud":`, 1)), contracts.CodeTokenInvalid)
	add("duplicate exp claim, expired then valid", f.Token(strings.Replace(f.Claims(), `"exp":`, fmt.Sprintf(`"exp":%d,"exp":`, at(-time.Hour)), 1)), contracts.CodeTokenInvalid)
	add("claims are not JSON", f.Token("iss=me"), contracts.CodeTokenInvalid)
	add("claims tampered after signing", string(FlipPartByte([]byte(f.Token(f.Claims())), 1, 10)), contracts.CodeTokenInvalid)

	// Identity confusion between agencies.
	add("another agency's iss with this agency's kid", sign(hdr, f.Claims("iss", f.OtherIssuer)), contracts.CodeTokenInvalid)
	add("this agency's iss and kid, signed by another agency's key",
		string(SignEd25519(hdr, []byte(f.Claims()), f.OtherKey)), contracts.CodeTokenInvalid)
	add("this agency's iss with another agency's kid, signed by that agency",
		string(SignEd25519(Header("alg", "EdDSA", "kid", f.OtherKID, "typ", "JWT"), []byte(f.Claims()), f.OtherKey)), contracts.CodeTokenInvalid)

	// Header attacks, as on envelopes.
	for _, none := range []string{"none", "None", "NONE", "nOnE"} {
		add("alg "+none, string(Compact(Header("alg", none, "kid", f.KID, "typ", "JWT"), []byte(f.Claims()), nil)), contracts.CodeTokenInvalid)
	}
	pub := f.Key.Public().(ed25519.PublicKey)
	add("HS256 keyed with the public key", string(SignHMAC(Header("alg", "HS256", "kid", f.KID, "typ", "JWT"), []byte(f.Claims()), pub, sha256.New)), contracts.CodeTokenInvalid)
	add("typ of an envelope", sign(Header("alg", "EdDSA", "kid", f.KID, "typ", "relais-envelope+jws"), f.Claims()), contracts.CodeTokenInvalid)
	add("typ missing", sign(Header("alg", "EdDSA", "kid", f.KID), f.Claims()), contracts.CodeTokenInvalid)
	add("jku header", sign(Header("alg", "EdDSA", "kid", f.KID, "typ", "JWT", "jku", "https://attacker.example/jwks"), f.Claims()), contracts.CodeTokenInvalid)
	add("jwk header", sign(Header("alg", "EdDSA", "kid", f.KID, "typ", "JWT", "jwk", Raw(Header("kty", "OKP", "crv", "Ed25519", "x", B64(pub)))), f.Claims()), contracts.CodeTokenInvalid)
	add("unknown kid", sign(Header("alg", "EdDSA", "kid", "nobody#sig", "typ", "JWT"), f.Claims()), contracts.CodeTokenInvalid)
	add("JSON serialization", fmt.Sprintf(`{"payload":%q,"protected":%q,"signature":"AA"}`, B64([]byte(f.Claims())), B64([]byte(hdr))), contracts.CodeTokenInvalid)
	add("token of 5000 bytes", f.Token(f.Claims("jti", strings.Repeat("j", 5000))), contracts.CodeTokenInvalid)
	add("empty token", "", contracts.CodeTokenInvalid)
	return out
}
