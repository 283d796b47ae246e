package seal_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
	"github.com/relais-hub/relais/contracts/seal/sealtest"
)

func TestSignedMessagesVerifyAndCarryExactlyAlgKidTyp(t *testing.T) {
	a := newAgency(t, "bf.dpe-bobo")
	reg := newRegistry(a.sigPub, a.esPub)
	for _, tc := range []struct {
		name    string
		key     jwk.Key
		kid     string
		wantAlg string
	}{
		{"Ed25519 signs with EdDSA", a.sig, a.sigKID, "EdDSA"},
		{"P-256 signs with ES256", a.es, a.esKID, "ES256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			payload := envelopePayload()
			compact, err := seal.Sign(payload, tc.key, seal.EnvelopeTyp)
			if err != nil {
				t.Fatal(err)
			}
			names, raw := headerMembers(t, string(compact))
			if !sameStrings(names, []string{"alg", "kid", "typ"}) {
				t.Fatalf("header members %v, want exactly alg kid typ", names)
			}
			if string(raw["alg"]) != `"`+tc.wantAlg+`"` || string(raw["kid"]) != `"`+tc.kid+`"` || string(raw["typ"]) != `"`+seal.EnvelopeTyp+`"` {
				t.Fatalf("header %s", raw)
			}
			got, h, err := seal.Verify(compact, seal.EnvelopeTyp, reg.lookup)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(payload) {
				t.Fatalf("payload %q, want %q", got, payload)
			}
			if h != (seal.Header{Alg: tc.wantAlg, Kid: tc.kid, Typ: seal.EnvelopeTyp}) {
				t.Fatalf("header %+v", h)
			}
		})
	}
}

func TestSignRefusesWhatItCannotSignProperly(t *testing.T) {
	a := newAgency(t, "bf.dpe-bobo")
	for _, tc := range []struct {
		name    string
		payload []byte
		key     jwk.Key
		typ     string
	}{
		{"a public key", []byte("{}"), a.sigPub, seal.EnvelopeTyp},
		{"an encryption key", []byte("{}"), a.enc, seal.EnvelopeTyp},
		{"an empty payload", nil, a.sig, seal.EnvelopeTyp},
		{"an empty typ", []byte("{}"), a.sig, ""},
	} {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			if out, err := seal.Sign(tc.payload, tc.key, tc.typ); err == nil {
				t.Fatalf("signed: %s", out)
			}
		})
	}
}

func TestVerifyReturnsLookupRefusalsAsTheyAre(t *testing.T) {
	a := newAgency(t, "bf.dpe-bobo")
	compact, err := seal.Sign(envelopePayload(), a.sig, seal.EnvelopeTyp)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("a revoked key stays key_revoked", func(t *testing.T) {
		_, _, err := seal.Verify(compact, seal.EnvelopeTyp, func(string) (jwk.Key, error) {
			return nil, contracts.Refuse(contracts.CodeKeyRevoked, "revoked")
		})
		wantCode(t, err, contracts.CodeKeyRevoked)
	})
	t.Run("a key lookup that finds nothing is unknown_key", func(t *testing.T) {
		_, _, err := seal.Verify(compact, seal.EnvelopeTyp, func(string) (jwk.Key, error) { return nil, nil })
		wantCode(t, err, contracts.CodeUnknownKey)
	})
	t.Run("a failing lookup is an internal error, not a refusal of the sender", func(t *testing.T) {
		boom := errors.New("store unavailable")
		_, _, err := seal.Verify(compact, seal.EnvelopeTyp, func(string) (jwk.Key, error) { return nil, boom })
		if !errors.Is(err, boom) || contracts.CodeOf(err) != contracts.CodeInternal {
			t.Fatalf("err %v (code %s), want the lookup error as internal_error", err, contracts.CodeOf(err))
		}
	})
	t.Run("a registered key without a usable alg is alg_key_mismatch", func(t *testing.T) {
		noAlg, err := a.sigPub.Clone()
		if err != nil {
			t.Fatal(err)
		}
		if err := noAlg.Remove(jwk.AlgorithmKey); err != nil {
			t.Fatal(err)
		}
		_, _, err = seal.Verify(compact, seal.EnvelopeTyp, func(string) (jwk.Key, error) { return noAlg, nil })
		wantCode(t, err, contracts.CodeAlgKeyMismatch)
	})
	t.Run("the registered encryption key cannot verify", func(t *testing.T) {
		_, _, err := seal.Verify(compact, seal.EnvelopeTyp, func(string) (jwk.Key, error) { return a.encPub, nil })
		wantCode(t, err, contracts.CodeAlgKeyMismatch)
	})
}

// preCryptoCodes are refusals ParseHeader makes alone, before any key is
// looked up: a message refused with one of them costs no crypto.
var preCryptoCodes = map[contracts.Code]bool{
	contracts.CodeMalformedJWS:     true,
	contracts.CodeHeaderNotAllowed: true,
	contracts.CodeAlgNotAllowed:    true,
	contracts.CodeTypInvalid:       true,
}

func TestVerifyRefusesEveryJWSAttack(t *testing.T) {
	var fetches atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"keys":[]}`))
	}))
	defer srv.Close()

	a := newAgency(t, "bf.dpe-bobo")
	attacks := sealtest.JWSAttacks(sealtest.JWSFixture{
		Typ: seal.EnvelopeTyp, Payload: envelopePayload(),
		Ed25519: a.sigRaw, Ed25519KID: a.sigKID,
		P256: a.esRaw, P256KID: a.esKID,
		URL: srv.URL,
	})
	if len(attacks) < 80 {
		t.Fatalf("only %d attacks generated", len(attacks))
	}
	for _, at := range attacks {
		t.Run(at.Name, func(t *testing.T) {
			reg := newRegistry(a.sigPub, a.esPub)
			payload, _, err := seal.Verify(at.Input, seal.EnvelopeTyp, reg.lookup)
			if err == nil {
				t.Fatalf("accepted, payload %q", payload)
			}
			wantCode(t, err, at.Want)
			if preCryptoCodes[at.Want] && reg.calls != 0 {
				t.Fatalf("looked up a key %d time(s) for a message refusable without one", reg.calls)
			}
			_, perr := seal.ParseHeader(at.Input, seal.EnvelopeTyp)
			if preCryptoCodes[at.Want] {
				wantCode(t, perr, at.Want)
			} else if at.Want != contracts.CodeUnknownKey && perr != nil {
				t.Fatalf("ParseHeader refused a well-formed message: %v", perr)
			}
		})
	}
	if n := fetches.Load(); n != 0 {
		t.Fatalf("the attacker's server received %d request(s); keys must never be fetched", n)
	}
}

func TestParseHeaderNamesTheRefusedMember(t *testing.T) {
	a := newAgency(t, "bf.dpe-bobo")
	h := sealtest.Header("alg", "EdDSA", "kid", a.sigKID, "typ", seal.EnvelopeTyp, "jku", "https://attacker.example/")
	_, err := seal.ParseHeader(sealtest.SignEd25519(h, []byte("{}"), a.sigRaw), seal.EnvelopeTyp)
	p := wantCode(t, err, contracts.CodeHeaderNotAllowed)
	if len(p.Fields) != 1 || p.Fields[0] != "jku" {
		t.Fatalf("fields %v, want [jku]", p.Fields)
	}
}

func TestVerifyChecksTheTypItIsAskedFor(t *testing.T) {
	a := newAgency(t, "bf.dpe-bobo")
	reg := newRegistry(a.sigPub)
	compact, err := seal.Sign([]byte("{}"), a.sig, "relais-receipt+jws")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := seal.Verify(compact, "relais-receipt+jws", reg.lookup); err != nil {
		t.Fatalf("refused its own typ: %v", err)
	}
	_, _, err = seal.Verify(compact, seal.EnvelopeTyp, reg.lookup)
	wantCode(t, err, contracts.CodeTypInvalid)
}

func TestSHA256HexIsLowercaseHexOfTheExactBytes(t *testing.T) {
	// FIPS 180-2 test vector for "abc".
	const want = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	if got := seal.SHA256Hex([]byte("abc")); got != want {
		t.Fatalf("SHA256Hex(abc) = %s, want %s", got, want)
	}
}
