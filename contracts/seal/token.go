package seal

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/relais-hub/relais/contracts"
)

// Agency access tokens.
const (
	// TokenTyp is the "typ" of an access token. It differs from
	// EnvelopeTyp, so a token can never pass for a message or the reverse.
	TokenTyp = "JWT"
	// MaxTokenTTL is the longest lifetime a token may claim.
	MaxTokenTTL = 5 * time.Minute
	// TokenSkew is the clock difference tolerated between agency and hub.
	TokenSkew = 30 * time.Second
	// maxTokenLen bounds a bearer token before it is parsed.
	maxTokenLen = 4096
	// maxJTILen bounds the jti, which the caller stores to detect replay.
	maxJTILen = 128
	jtiBytes  = 16
)

// tokenClaims are the only claims a token may carry.
var tokenClaims = []string{"iss", "sub", "aud", "iat", "nbf", "exp", "jti"}

// TokenClaims is what the hub keeps of a verified token.
type TokenClaims struct {
	Issuer, JTI string
	Expires     time.Time
}

// IssueToken makes an access token for iss (the agency id) to present to
// aud (the hub id): a JWT signed with the agency's private signing key,
// header {alg, kid, typ: JWT}, claims iss, aud, iat, exp = now+ttl and a
// random 128-bit jti. ttl must be positive and at most MaxTokenTTL.
func IssueToken(key jwk.Key, iss, aud string, ttl time.Duration, now time.Time) (string, error) {
	if iss == "" || aud == "" {
		return "", errors.New("seal: token needs an issuer and an audience")
	}
	if ttl <= 0 || ttl > MaxTokenTTL {
		return "", fmt.Errorf("seal: token lifetime %s is outside (0, %s]", ttl, MaxTokenTTL)
	}
	p, err := signingProfile(key)
	if err != nil {
		return "", err
	}
	if !p.private {
		return "", errors.New("seal: issuing a token needs a private key")
	}
	var jti [jtiBytes]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", fmt.Errorf("seal: generating jti: %w", err)
	}
	tok, err := jwt.NewBuilder().
		Issuer(iss).
		Audience([]string{aud}).
		IssuedAt(now).
		Expiration(now.Add(ttl)).
		JwtID(hex.EncodeToString(jti[:])).
		Build()
	if err != nil {
		return "", fmt.Errorf("seal: building token: %w", err)
	}
	out, err := jwt.Sign(tok, jwt.WithKey(p.alg, key))
	if err != nil {
		return "", fmt.Errorf("seal: signing token: %w", err)
	}
	if _, err := ParseHeader(out, TokenTyp); err != nil {
		return "", fmt.Errorf("seal: signed token does not meet the profile: %w", err)
	}
	return string(out), nil
}

// VerifyToken checks an access token presented to the hub aud at time now.
// lookup maps (iss, kid) to the issuer's registered public signing key. The
// header obeys the envelope rules (only alg, kid, typ; typ JWT) and the
// algorithm is pinned by the registered key. exp and jti are required; exp
// must be after now and at most MaxTokenTTL+TokenSkew ahead; iat and nbf,
// if present, may not be in the future beyond TokenSkew. A token past its
// exp is token_expired; every other refusal is token_invalid, wrapping the
// underlying problem. Replay of the jti is the caller's to track.
func VerifyToken(token string, aud string, now time.Time, lookup func(iss, kid string) (jwk.Key, error)) (TokenClaims, error) {
	if len(token) > maxTokenLen {
		return TokenClaims{}, contracts.Refuse(contracts.CodeTokenInvalid, "token longer than %d bytes", maxTokenLen)
	}
	compact := []byte(token)
	p, err := parseJWS(compact, TokenTyp)
	if err != nil {
		return TokenClaims{}, tokenInvalid(err)
	}
	// The issuer is needed to find the key, so the claims are read before
	// the signature is checked; nothing read here is trusted until then.
	claims, err := decodeObject(p.Payload)
	if err != nil {
		return TokenClaims{}, contracts.Refuse(contracts.CodeTokenInvalid, "claims: %v", err)
	}
	if name, bad := claims.firstOutside(tokenClaims...); bad {
		return TokenClaims{}, contracts.Refuse(contracts.CodeTokenInvalid, "claim %s is not allowed", quoteName(name))
	}
	if err := checkClaimTypes(claims); err != nil {
		return TokenClaims{}, contracts.Refuse(contracts.CodeTokenInvalid, "claims: %v", err)
	}
	iss, _, err := claims.stringMember("iss")
	if err != nil || iss == "" {
		return TokenClaims{}, contracts.Refuse(contracts.CodeTokenInvalid, "iss is missing or not a string")
	}
	key, err := lookupKey(func(kid string) (jwk.Key, error) { return lookup(iss, kid) }, p.Header.Kid)
	if err != nil {
		return TokenClaims{}, tokenInvalid(err)
	}
	if _, err := verifyWithKey(compact, p, key); err != nil {
		return TokenClaims{}, tokenInvalid(err)
	}
	prof, _ := signingProfile(key) // verifyWithKey succeeded, so this does too
	tok, err := jwt.Parse(compact,
		jwt.WithKey(prof.alg, key),
		jwt.WithValidate(true),
		jwt.WithClock(jwt.ClockFunc(func() time.Time { return now })),
		jwt.WithAcceptableSkew(TokenSkew),
		jwt.WithAudience(aud),
		jwt.WithRequiredClaim(jwt.ExpirationKey),
	)
	if err != nil {
		code := contracts.CodeTokenInvalid
		if errors.Is(err, jwt.TokenExpiredError()) {
			code = contracts.CodeTokenExpired
		}
		return TokenClaims{}, &contracts.Problem{Code: code, Detail: "claims do not validate: " + jwtReason(err), Err: err}
	}
	exp, _ := tok.Expiration()
	// jwx tolerates the skew on both sides of exp; a token is ours to
	// refuse from its exp on, and its lifetime is capped.
	if !exp.After(now) {
		return TokenClaims{}, contracts.Refuse(contracts.CodeTokenExpired, "token expired")
	}
	if exp.After(now.Add(MaxTokenTTL + TokenSkew)) {
		return TokenClaims{}, contracts.Refuse(contracts.CodeTokenInvalid, "exp is more than %s ahead", MaxTokenTTL)
	}
	jti, _ := tok.JwtID()
	if jti == "" || len(jti) > maxJTILen {
		return TokenClaims{}, contracts.Refuse(contracts.CodeTokenInvalid, "jti must be 1 to %d characters", maxJTILen)
	}
	return TokenClaims{Issuer: iss, JTI: jti, Expires: exp}, nil
}

// tokenInvalid turns a refusal of the token's JWS into token_invalid,
// keeping the original problem (and its code) reachable with errors.As on
// the Err field. Errors that are not refusals (the lookup failed) are
// returned as they are: they are the hub's failure, not the caller's.
func tokenInvalid(err error) error {
	var p *contracts.Problem
	if !errors.As(err, &p) {
		return err
	}
	return &contracts.Problem{Code: contracts.CodeTokenInvalid, Detail: string(p.Code) + ": " + p.Detail, Err: err}
}

// jwtReason names which validation failed without echoing claim values.
func jwtReason(err error) string {
	for _, c := range []struct {
		target error
		reason string
	}{
		{jwt.TokenExpiredError(), "expired"},
		{jwt.InvalidAudienceError(), "aud does not name this hub"},
		{jwt.InvalidIssuedAtError(), "iat is in the future"},
		{jwt.TokenNotYetValidError(), "nbf is in the future"},
		{jwt.MissingRequiredClaimError(), "a required claim (exp, jti) is missing"},
	} {
		if errors.Is(err, c.target) {
			return c.reason
		}
	}
	return "malformed claims"
}

// checkClaimTypes holds claims to their RFC 7519 types, which jwx reads
// leniently (it takes "exp":"1800000000" for a date): dates are JSON
// numbers, iss, sub and jti strings, aud a string or a list of strings.
func checkClaimTypes(claims object) error {
	for _, m := range claims {
		v := m.Value
		switch m.Name {
		case "exp", "iat", "nbf":
			var n json.Number
			if !strings.ContainsRune("-0123456789", rune(v[0])) || json.Unmarshal(v, &n) != nil {
				return fmt.Errorf("%s is not a number", m.Name)
			}
		case "iss", "sub", "jti":
			if _, _, err := claims.stringMember(m.Name); err != nil {
				return err
			}
		case "aud":
			var one string
			var many []string
			isString := v[0] == '"' && json.Unmarshal(v, &one) == nil
			isList := v[0] == '[' && json.Unmarshal(v, &many) == nil
			if !isString && !isList {
				return errors.New("aud is neither a string nor a list of strings")
			}
		}
	}
	return nil
}
