package console

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
)

// An auditor logs in to the hub console by signing the login page's
// challenge with the same key that signs their audit API tokens:
//
//	relais auditor login --keys DIR --hub URL --challenge ABCD-EFGH-JKLM-NPQR
//
// prints a compact JWS of type LoginTyp over {iss, aud, challenge, iat,
// exp}, which the auditor pastes into the page. The private key never
// leaves the auditor's machine and never enters the browser; the answer is
// bound to this hub (aud), to this browser's pending login (the challenge,
// used once) and to a few minutes.

// LoginTyp is the JWS "typ" of an auditor's console login answer; it
// differs from every other typ of the protocol, so no message, token or
// approval can pass for a login, nor the reverse.
const LoginTyp = "relais-console-login+jws"

// loginTTL is the longest an answer may live.
const loginTTL = 5 * time.Minute

// loginClaims is what an auditor signs.
type loginClaims struct {
	Issuer    string `json:"iss"`
	Audience  string `json:"aud"`
	Challenge string `json:"challenge"`
	IssuedAt  int64  `json:"iat"`
	Expires   int64  `json:"exp"`
}

// SignAuditorLogin answers a console login challenge with the auditor's
// private signing key, for hubID, valid for two minutes from now.
func SignAuditorLogin(key jwk.Key, auditorID, hubID, challenge string, now time.Time) (string, error) {
	challenge = normaliseChallenge(challenge)
	if challenge == "" || auditorID == "" || hubID == "" {
		return "", errors.New("console login: auditor id, hub id and challenge are required")
	}
	payload, err := json.Marshal(loginClaims{Issuer: auditorID, Audience: hubID, Challenge: challenge,
		IssuedAt: now.Unix(), Expires: now.Add(2 * time.Minute).Unix()})
	if err != nil {
		return "", err
	}
	out, err := seal.Sign(payload, key, LoginTyp)
	if err != nil {
		return "", fmt.Errorf("console login: %w", err)
	}
	return string(out), nil
}

// newChallenge is 80 random bits, written to be read aloud and typed:
// four groups of four base32 letters and digits.
func newChallenge() string {
	raw := make([]byte, 10)
	if _, err := rand.Read(raw); err != nil {
		panic("console: no randomness: " + err.Error())
	}
	enc := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(raw)
	return enc[0:4] + "-" + enc[4:8] + "-" + enc[8:12] + "-" + enc[12:16]
}

// normaliseChallenge accepts a challenge typed in lower case or with
// spaces.
func normaliseChallenge(s string) string {
	return strings.ToUpper(strings.Join(strings.Fields(s), ""))
}

// verifyAuditorLogin checks an answer: the signature with the auditor's
// registered key (lookup), the hub id, the challenge this browser was
// given, and the times. It returns the auditor id.
func verifyAuditorLogin(answer, hubID, challenge string, now time.Time, lookup func(iss, kid string) (jwk.Key, error)) (string, error) {
	invalid := func(detail string) error { return contracts.Refuse(contracts.CodeTokenInvalid, "%s", detail) }
	answer = strings.TrimSpace(answer)
	if len(answer) > 4096 || strings.Count(answer, ".") != 2 {
		return "", invalid("the answer is not a signed login (paste the whole line printed by relais auditor login)")
	}
	// The issuer chooses whose keys verify; it is read before the
	// signature is checked, then checked again from the verified payload.
	unverified, err := base64.RawURLEncoding.DecodeString(strings.Split(answer, ".")[1])
	if err != nil {
		return "", invalid("the answer is not a signed login")
	}
	var claimed loginClaims
	if err := json.Unmarshal(unverified, &claimed); err != nil || claimed.Issuer == "" {
		return "", invalid("the answer is not a signed login")
	}
	payload, _, err := seal.Verify([]byte(answer), LoginTyp, func(kid string) (jwk.Key, error) { return lookup(claimed.Issuer, kid) })
	if err != nil {
		return "", err
	}
	var c loginClaims
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil || c.Issuer != claimed.Issuer {
		return "", invalid("the signed login has unexpected claims")
	}
	if c.Audience != hubID {
		return "", invalid("the answer was signed for another hub")
	}
	if challenge == "" || subtle.ConstantTimeCompare([]byte(normaliseChallenge(c.Challenge)), []byte(normaliseChallenge(challenge))) != 1 {
		return "", invalid("the answer is for another challenge: use the one shown on this page")
	}
	iat, exp := time.Unix(c.IssuedAt, 0), time.Unix(c.Expires, 0)
	switch {
	case exp.Sub(iat) > loginTTL || !exp.After(iat):
		return "", invalid("the answer's lifetime is not allowed")
	case now.Before(iat.Add(-seal.TokenSkew)):
		return "", invalid("the answer is dated in the future: check the computer's clock")
	case now.After(exp.Add(seal.TokenSkew)):
		return "", contracts.Refuse(contracts.CodeTokenExpired, "the answer has expired: sign the challenge again")
	}
	return c.Issuer, nil
}
