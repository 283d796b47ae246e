package seal_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
	"github.com/relais-hub/relais/contracts/seal/sealtest"
)

const hubID = "relais-hub"

// agencyKeys resolves (iss, kid) the way the hub must: a kid counts only
// for the agency that registered it.
func agencyKeys(agencies ...*agency) func(iss, kid string) (jwk.Key, error) {
	return func(iss, kid string) (jwk.Key, error) {
		for _, a := range agencies {
			if a.id != iss {
				continue
			}
			switch kid {
			case a.sigKID:
				return a.sigPub, nil
			case a.esKID:
				return a.esPub, nil
			}
		}
		return nil, contracts.Refuse(contracts.CodeUnknownKey, "no such key for this agency")
	}
}

func TestIssuedTokensCarryTheDocumentedHeaderAndClaims(t *testing.T) {
	a := newAgency(t, "bf.dpe-bobo")
	now := time.Now()
	for _, key := range []jwk.Key{a.sig, a.es} {
		tok, err := seal.IssueToken(key, a.id, hubID, 2*time.Minute, now)
		if err != nil {
			t.Fatal(err)
		}
		names, raw := headerMembers(t, tok)
		if !sameStrings(names, []string{"alg", "kid", "typ"}) || string(raw["typ"]) != `"JWT"` {
			t.Fatalf("header %s", raw)
		}
		payload, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
		if err != nil {
			t.Fatal(err)
		}
		var claims map[string]any
		if err := json.Unmarshal(payload, &claims); err != nil {
			t.Fatal(err)
		}
		if len(claims) != 5 || claims["iss"] != a.id || claims["iat"] != float64(now.Unix()) || claims["exp"] != float64(now.Add(2*time.Minute).Unix()) {
			t.Fatalf("claims %v", claims)
		}
		if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(claims["jti"].(string)) {
			t.Fatalf("jti %v is not 128 random bits in hex", claims["jti"])
		}
		got, err := seal.VerifyToken(tok, hubID, now.Add(time.Second), agencyKeys(a))
		if err != nil {
			t.Fatal(err)
		}
		if got.Issuer != a.id || got.JTI != claims["jti"] || !got.Expires.Equal(now.Add(2*time.Minute).Truncate(time.Second)) {
			t.Fatalf("claims %+v", got)
		}
	}
	t1, _ := seal.IssueToken(a.sig, a.id, hubID, time.Minute, now)
	t2, _ := seal.IssueToken(a.sig, a.id, hubID, time.Minute, now)
	c1, _ := seal.VerifyToken(t1, hubID, now, agencyKeys(a))
	c2, _ := seal.VerifyToken(t2, hubID, now, agencyKeys(a))
	if c1.JTI == c2.JTI {
		t.Fatal("two tokens share a jti")
	}
}

func TestIssueTokenRefusesLifetimesOutsideFiveMinutes(t *testing.T) {
	a := newAgency(t, "bf.dpe-bobo")
	for _, ttl := range []time.Duration{0, -time.Minute, 5*time.Minute + time.Second, time.Hour} {
		if _, err := seal.IssueToken(a.sig, a.id, hubID, ttl, time.Now()); err == nil {
			t.Errorf("issued a token for %s", ttl)
		}
	}
	if _, err := seal.IssueToken(a.sigPub, a.id, hubID, time.Minute, time.Now()); err == nil {
		t.Error("issued a token with a public key")
	}
}

func TestVerifyTokenAcceptsTheEdgesOfItsWindow(t *testing.T) {
	a := newAgency(t, "bf.dpe-bobo")
	now := time.Unix(1_800_000_000, 0)
	f := sealtest.TokenFixture{Hub: hubID, Now: now, Issuer: a.id, Key: a.sigRaw, KID: a.sigKID}
	for name, claims := range map[string]string{
		"exp five minutes and the skew ahead":   f.Claims("exp", now.Add(5*time.Minute+30*time.Second).Unix()),
		"exp one second ahead":                  f.Claims("exp", now.Add(time.Second).Unix()),
		"iat within the skew in the future":     f.Claims("iat", now.Add(30*time.Second).Unix()),
		"no iat":                                f.Claims("iat", nil),
		"aud as a single string":                f.Claims("aud", hubID),
		"aud as a list":                         f.Claims("aud", []string{hubID}),
		"sub and nbf, which other JWT libs add": f.Claims("sub", a.id, "nbf", now.Unix()),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := seal.VerifyToken(f.Token(claims), hubID, now, agencyKeys(a)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestEveryTokenAttackIsRefused(t *testing.T) {
	a := newAgency(t, "bf.dpe-bobo")
	b := newAgency(t, "ci.dpe-abidjan")
	now := time.Unix(1_800_000_000, 0)
	attacks := sealtest.TokenAttacks(sealtest.TokenFixture{
		Hub: hubID, Now: now,
		Issuer: a.id, Key: a.sigRaw, KID: a.sigKID,
		OtherIssuer: b.id, OtherKey: b.sigRaw, OtherKID: b.sigKID,
	})
	for _, at := range attacks {
		t.Run(at.Name, func(t *testing.T) {
			claims, err := seal.VerifyToken(string(at.Input), hubID, now, agencyKeys(a, b))
			if err == nil {
				t.Fatalf("accepted: %+v", claims)
			}
			wantCode(t, err, at.Want)
		})
	}
}

func TestVerifyTokenKeepsTheUnderlyingRefusal(t *testing.T) {
	a := newAgency(t, "bf.dpe-bobo")
	b := newAgency(t, "ci.dpe-abidjan")
	now := time.Now()
	forged := sealtest.TokenFixture{Hub: hubID, Now: now, Issuer: a.id, Key: b.sigRaw, KID: a.sigKID}
	_, err := seal.VerifyToken(forged.Token(forged.Claims()), hubID, now, agencyKeys(a, b))
	p := wantCode(t, err, contracts.CodeTokenInvalid)
	var inner *contracts.Problem
	if !errors.As(p.Err, &inner) || inner.Code != contracts.CodeSignatureInvalid {
		t.Fatalf("inner refusal %v, want signature_invalid", p.Err)
	}

	boom := errors.New("directory unavailable")
	tok, err := seal.IssueToken(a.sig, a.id, hubID, time.Minute, now)
	if err != nil {
		t.Fatal(err)
	}
	_, err = seal.VerifyToken(tok, hubID, now, func(string, string) (jwk.Key, error) { return nil, boom })
	if !errors.Is(err, boom) || contracts.CodeOf(err) != contracts.CodeInternal {
		t.Fatalf("err %v (code %s): a failing lookup is the hub's fault, not token_invalid", err, contracts.CodeOf(err))
	}
}
