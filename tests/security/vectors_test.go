package security

// Published test vectors run through Relais's own verification path: the
// registration of a key (seal.ParseSet), the verification of a message
// (seal.Verify), the hub's shape check of a body (seal.CheckJWE) and the
// recipient's decryption (seal.Decrypt). Sources and licences:
// tests/testdata/wycheproof (Wycheproof, Apache-2.0) and
// tests/testdata/rfc7520 (RFC 7520, IETF Trust / BSD).
//
// Every vector must come out as published — invalid ones refused, valid
// ones accepted — except valid ones the strict profile refuses by design.
// Those are not skipped: each must be refused for one of the reasons
// listed in the byDesign tables below, with that reason's code, and the
// test logs how many fell under each.

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwe"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
	"github.com/relais-hub/relais/contracts/seal/sealtest"
)

// wycheproofFile is the common shape of the Wycheproof JOSE files.
type wycheproofFile struct {
	NumberOfTests int `json:"numberOfTests"`
	TestGroups    []struct {
		Comment string          `json:"comment"`
		Public  json.RawMessage `json:"public"`
		Private json.RawMessage `json:"private"`
		Tests   []struct {
			TcID    int             `json:"tcId"`
			Comment string          `json:"comment"`
			JWS     json.RawMessage `json:"jws"`
			JWE     json.RawMessage `json:"jwe"`
			PT      string          `json:"pt"`
			Result  string          `json:"result"`
			Flags   []string        `json:"flags"`
		} `json:"tests"`
	} `json:"testGroups"`
}

func loadWycheproof(t *testing.T, name string, into any) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "testdata", "wycheproof", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, into); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// compactOrJSON returns a vector's JWS or JWE as the bytes a client would
// send: the compact string itself, or the JSON serialization as is.
func compactOrJSON(raw json.RawMessage) []byte {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []byte(s)
	}
	return raw
}

// reason is why the profile refuses a class of published valid vectors.
type reason struct {
	code contracts.Code
	why  string
}

// jwsByDesign lists the refusals of valid JWS vectors the profile makes on
// purpose, by refusal code.
var jwsByDesign = map[contracts.Code]string{
	contracts.CodeAgencyInvalid:    "the key is not one the profile admits at registration: symmetric (oct) keys, RSA keys, curves other than Ed25519 and P-256",
	contracts.CodeAlgNotAllowed:    "alg outside the profile (EdDSA and ES256 only): HMAC needs a secret the hub must not share, RSA and P-521 are not in the profile",
	contracts.CodeMalformedJWS:     "only the canonical compact serialization is accepted: no JSON serialization, no character outside base64url, no whitespace",
	contracts.CodeHeaderNotAllowed: "header members outside alg, kid, typ are refused",
}

// registerAndVerify runs a JWS vector as the hub would: the key is
// registered first, then the message verified against it. typ "" stands
// for "no typ": Wycheproof headers carry none, so the production typ
// would refuse every vector before its signature is looked at.
func registerAndVerify(key json.RawMessage, jwsBytes []byte, typ string) error {
	set, err := seal.ParseSet([]byte(`{"keys":[` + string(key) + `]}`))
	if err != nil {
		return err
	}
	return verifyWithSet(set, jwsBytes, typ)
}

func verifyWithSet(set jwk.Set, jwsBytes []byte, typ string) error {
	_, _, err := seal.Verify(jwsBytes, typ, func(kid string) (jwk.Key, error) {
		k, ok := set.LookupKeyID(kid)
		if !ok {
			return nil, contracts.Refuse(contracts.CodeUnknownKey, "unknown kid")
		}
		return k, nil
	})
	return err
}

// tally counts outcomes per reason, for the log.
type tally map[string]int

func (ta tally) log(t *testing.T, what string) {
	t.Helper()
	keys := make([]string, 0, len(ta))
	for k := range ta {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t.Logf("%s: %d × %s", what, ta[k], k)
	}
}

func TestWycheproofJWSVectors(t *testing.T) {
	var f wycheproofFile
	loadWycheproof(t, "json_web_signature_test.json", &f)
	ran, accepted, inProfile := 0, 0, 0
	byDesign, messagePath := tally{}, tally{}
	for _, g := range f.TestGroups {
		key := g.Public
		if len(key) == 0 || string(key) == `""` {
			key = g.Private
		}
		for _, tc := range g.Tests {
			ran++
			name := fmt.Sprintf("tcId %d %s %s", tc.TcID, g.Comment, tc.Comment)
			msg := compactOrJSON(tc.JWS)
			if alg := headerAlg(msg); tc.Result != "invalid" && (alg == seal.AlgEdDSA || alg == seal.AlgES256) {
				inProfile++
			}
			if err := registerAndVerify(key, msg, seal.EnvelopeTyp); err == nil {
				t.Errorf("%s: accepted without the profile's typ", name)
			}
			// The message path on its own, before any key is looked up:
			// what the hub does with a message from an unregistered key.
			if perr := verifyWithSet(jwk.NewSet(), msg, ""); perr == nil {
				t.Errorf("%s: verified with no key registered", name)
			} else if why, ok := jwsByDesign[contracts.CodeOf(perr)]; ok && tc.Result != "invalid" {
				messagePath[why]++
			}
			err := registerAndVerify(key, msg, "")
			switch {
			case tc.Result == "invalid" && err == nil:
				t.Errorf("%s: an invalid vector was accepted", name)
			case tc.Result != "invalid" && err == nil:
				accepted++
			case tc.Result != "invalid":
				code := contracts.CodeOf(err)
				why, ok := jwsByDesign[code]
				if !ok {
					t.Errorf("%s: a valid vector was refused (%v) for no listed reason", name, err)
					continue
				}
				byDesign[why]++
			}
		}
	}
	if ran != f.NumberOfTests {
		t.Fatalf("ran %d vectors, the file has %d", ran, f.NumberOfTests)
	}
	// The valid vectors in the profile (ES256 on P-256) must have gone
	// through the signature check and passed: the by-design list is not
	// a blanket. (The invalid ES256 ones, refused above, are its special
	// cases: r or s zero, too large, DER-encoded, truncated, …)
	if inProfile < 2 || accepted != inProfile {
		t.Fatalf("%d valid vectors accepted, %d valid vectors use an algorithm of the profile", accepted, inProfile)
	}
	t.Logf("%d vectors, %d valid ones accepted", ran, accepted)
	byDesign.log(t, "valid but refused by design")
	messagePath.log(t, "valid, and refused by the message checks alone")
}

func TestWycheproofJWKVectors(t *testing.T) {
	var f wycheproofFile
	loadWycheproof(t, "json_web_key_test.json", &f)
	ran := 0
	byDesign := tally{}
	for _, g := range f.TestGroups {
		keyset := g.Public
		if len(keyset) == 0 {
			keyset = g.Private
		}
		for _, tc := range g.Tests {
			ran++
			name := fmt.Sprintf("tcId %d %s %s", tc.TcID, g.Comment, tc.Comment)
			set, err := seal.ParseSet(keyset)
			if err == nil {
				err = verifyWithSet(set, compactOrJSON(tc.JWS), "")
			}
			switch {
			case tc.Result == "invalid" && err == nil:
				t.Errorf("%s: an invalid keyset or message was accepted", name)
			case tc.Result != "invalid" && err != nil:
				why, ok := jwsByDesign[contracts.CodeOf(err)]
				if !ok {
					t.Errorf("%s: a valid vector was refused (%v) for no listed reason", name, err)
					continue
				}
				byDesign[why]++
			}
		}
	}
	if ran != f.NumberOfTests {
		t.Fatalf("ran %d vectors, the file has %d", ran, f.NumberOfTests)
	}
	byDesign.log(t, "valid but refused by design")
}

// jweByDesign lists, by a fragment of the refusal's detail, why the hub's
// shape check refuses valid JWE vectors.
var jweByDesign = []struct{ fragment, why string }{
	{"JSON serialization", "only the compact serialization is accepted"},
	{"alg ", "key management other than ECDH-ES+A256KW (RSA, AES key wrap, direct, ECDH-ES with other wraps)"},
	{"enc ", "content encryption other than A256GCM"},
	{"header ", "header members outside alg, enc, kid, epk, apu, apv (zip, iv and tag of AES-GCM key wrap, …)"},
	{"kid of the recipient key is missing", "the recipient's kid is required, so a body is tied to one registered key"},
}

func TestWycheproofJWEVectors(t *testing.T) {
	var f wycheproofFile
	loadWycheproof(t, "json_web_encryption_test.json", &f)
	ran := 0
	byDesign := tally{}
	for _, g := range f.TestGroups {
		for _, tc := range g.Tests {
			ran++
			name := fmt.Sprintf("tcId %d %s %s", tc.TcID, g.Comment, tc.Comment)
			_, err := seal.CheckJWE(string(compactOrJSON(tc.JWE)))
			if err == nil {
				// Nothing in the file is in the profile (none names its
				// recipient's kid); if the shape check admits one, the
				// recipient's decryption must still decide correctly.
				t.Errorf("%s: the hub admitted a body outside the profile", name)
				continue
			}
			if code := contracts.CodeOf(err); code != contracts.CodeBodyInvalid {
				t.Errorf("%s: refused with %s, want body_invalid", name, code)
			}
			if tc.Result == "invalid" {
				continue
			}
			detail := contracts.AsProblem(err).Detail
			matched := false
			for _, r := range jweByDesign {
				if strings.Contains(detail, r.fragment) {
					byDesign[r.why]++
					matched = true
					break
				}
			}
			if !matched {
				t.Errorf("%s: a valid vector was refused (%s) for no listed reason", name, detail)
			}
		}
	}
	if ran != f.NumberOfTests {
		t.Fatalf("ran %d vectors, the file has %d", ran, f.NumberOfTests)
	}
	byDesign.log(t, "valid but refused by design")
}

// TestWycheproofInvalidCurvePointIsRefusedAsEphemeralKey takes the P-256
// point of Wycheproof's invalid-curve vector (tcId 51, "the ephemeral key
// is not on the curve") and makes it the epk of an otherwise conforming
// body: the refusal must be the curve check's.
func TestWycheproofInvalidCurvePointIsRefusedAsEphemeralKey(t *testing.T) {
	var f wycheproofFile
	loadWycheproof(t, "json_web_encryption_test.json", &f)
	var epk json.RawMessage
	for _, g := range f.TestGroups {
		for _, tc := range g.Tests {
			if tc.TcID != 51 {
				continue
			}
			var hdr struct {
				EPK json.RawMessage `json:"epk"`
			}
			parts := strings.Split(string(compactOrJSON(tc.JWE)), ".")
			raw, err := b64url(parts[0])
			if err != nil || json.Unmarshal(raw, &hdr) != nil {
				t.Fatalf("tcId 51 header: %v", err)
			}
			epk = hdr.EPK
		}
	}
	if epk == nil {
		t.Fatal("tcId 51 not found")
	}
	var point struct{ Kty, Crv, X, Y string }
	if err := json.Unmarshal(epk, &point); err != nil || point.Crv != "P-256" {
		t.Fatalf("tcId 51 epk %s", epk)
	}
	recipient, err := ecdhP256()
	if err != nil {
		t.Fatal(err)
	}
	body, err := sealtest.EncryptECDHES([]byte(`{}`), recipient.PublicKey(), sealtest.JWEOptions{Kid: "ml.dnpef#enc-1",
		EPK: json.RawMessage(sealtest.Header("kty", "EC", "crv", "P-256", "x", point.X, "y", point.Y))})
	if err != nil {
		t.Fatal(err)
	}
	_, err = seal.CheckJWE(body)
	if contracts.CodeOf(err) != contracts.CodeBodyInvalid || !strings.Contains(err.Error(), "not a point on the curve") {
		t.Fatalf("refused with %v, want the curve check's refusal", err)
	}
}

// x25519Vector is one Wycheproof X25519 key agreement, JWK form.
type x25519Vector struct {
	TcID    int             `json:"tcId"`
	Comment string          `json:"comment"`
	Flags   []string        `json:"flags"`
	Public  json.RawMessage `json:"public"`
	Private json.RawMessage `json:"private"`
	Shared  string          `json:"shared"`
	Result  string          `json:"result"`
}

// x25519ByDesign are the flags under which the profile refuses points RFC
// 7748 lets implementations accept.
var x25519ByDesign = map[string]string{
	"LowOrderPublic":     "low-order points force a known shared secret whatever the recipient's key",
	"ZeroSharedSecret":   "an all-zero shared secret means a low-order point",
	"SmallPublicKey":     "small public values are low-order points",
	"NonCanonicalPublic": "non-canonical encodings (high bit set, u ≥ 2^255-19) are refused: one key, one spelling",
}

// TestWycheproofX25519VectorsThroughDecryption builds, for every vector, a
// body whose ephemeral key is the vector's public key, wrapped under the
// key derived from the vector's published shared secret, and has the
// recipient (the vector's private key) open it with seal.Decrypt. A
// vector the profile accepts must decrypt — proving the agreement computed
// the published secret — and one it refuses must not.
func TestWycheproofX25519VectorsThroughDecryption(t *testing.T) {
	var f struct {
		NumberOfTests int `json:"numberOfTests"`
		TestGroups    []struct {
			Tests []x25519Vector `json:"tests"`
		} `json:"testGroups"`
	}
	loadWycheproof(t, "x25519_jwk_test.json", &f)
	const kid = "wycheproof#enc-x25519"
	plaintext := []byte(`{"vector":"wycheproof x25519"}`)
	ran, opened := 0, 0
	byDesign := tally{}
	for _, g := range f.TestGroups {
		for _, v := range g.Tests {
			ran++
			name := fmt.Sprintf("tcId %d %s", v.TcID, v.Comment)
			recipient, err := recipientKey(v.Private, kid)
			if err != nil {
				t.Fatalf("%s: the vector's private key: %v", name, err)
			}
			body, err := bodyFromVector(v, kid, plaintext)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			got, derr := seal.Decrypt(body, []jwk.Key{recipient})
			refusedByDesign := ""
			for _, fl := range v.Flags {
				if why, ok := x25519ByDesign[fl]; ok {
					refusedByDesign = why
					break
				}
			}
			switch {
			case v.Result == "invalid" || refusedByDesign != "":
				if derr == nil {
					t.Errorf("%s: decrypted a body whose ephemeral key the profile refuses (%v)", name, v.Flags)
				} else if contracts.CodeOf(derr) != contracts.CodeBodyInvalid {
					t.Errorf("%s: refused with %v, want body_invalid", name, derr)
				}
				if v.Result != "invalid" {
					byDesign[refusedByDesign]++
				}
			case derr != nil:
				t.Errorf("%s: a %s vector did not decrypt: %v", name, v.Result, derr)
			case !bytes.Equal(got, plaintext):
				t.Errorf("%s: decrypted to %q", name, got)
			default:
				opened++
			}
		}
	}
	if ran != f.NumberOfTests {
		t.Fatalf("ran %d vectors, the file has %d", ran, f.NumberOfTests)
	}
	t.Logf("%d vectors, %d decrypted with the published shared secret", ran, opened)
	byDesign.log(t, "acceptable by RFC 7748 but refused by design")
}

// recipientKey is the vector's X25519 private key as a Relais encryption
// key (the profile needs alg, use and a kid).
func recipientKey(private json.RawMessage, kid string) (jwk.Key, error) {
	var m map[string]any
	if err := json.Unmarshal(private, &m); err != nil {
		return nil, err
	}
	m["kid"], m["alg"], m["use"] = kid, "ECDH-ES+A256KW", "enc"
	raw, _ := json.Marshal(m)
	return jwk.ParseKey(raw)
}

// bodyFromVector encrypts plaintext under the key-encryption key derived
// from the vector's shared secret, naming the vector's public key (less
// its kid, which an epk does not carry) as the ephemeral key.
func bodyFromVector(v x25519Vector, kid string, plaintext []byte) (string, error) {
	var pub map[string]json.RawMessage
	if err := json.Unmarshal(v.Public, &pub); err != nil {
		return "", err
	}
	delete(pub, "kid")
	epk, err := json.Marshal(pub)
	if err != nil {
		return "", err
	}
	z, err := hex.DecodeString(v.Shared)
	if err != nil {
		return "", fmt.Errorf("shared secret: %w", err)
	}
	kek := sealtest.ConcatKDF(z, "ECDH-ES+A256KW", nil, nil, 32)
	cek := make([]byte, 32)
	for i := range cek {
		cek[i] = byte(i * 7)
	}
	wrapped, err := sealtest.KeyWrap(kek, cek)
	if err != nil {
		return "", err
	}
	header := sealtest.Header("alg", "ECDH-ES+A256KW", "enc", "A256GCM", "kid", kid, "epk", json.RawMessage(epk))
	return sealtest.SealGCM(header, wrapped, cek, plaintext)
}

// cookbookVector is the part of an RFC 7520 example the test uses.
type cookbookVector struct {
	Input struct {
		Key json.RawMessage `json:"key"`
	} `json:"input"`
	Output struct {
		Compact  string          `json:"compact"`
		JSON     json.RawMessage `json:"json"`
		JSONFlat json.RawMessage `json:"json_flat"`
	} `json:"output"`
}

func TestRFC7520ExamplesOutsideTheProfileAreRefused(t *testing.T) {
	for _, tc := range []struct {
		file   string
		sigAlg jwa.SignatureAlgorithm
		keyAlg jwa.KeyEncryptionAlgorithm
		want   contracts.Code
		why    string
	}{
		{"4_3.ecdsa_signature.json", jwa.ES512(), jwa.KeyEncryptionAlgorithm{}, contracts.CodeAlgNotAllowed, "ES512 (P-521) is not in the profile"},
		{"4_4.hmac-sha2_integrity_protection.json", jwa.HS256(), jwa.KeyEncryptionAlgorithm{}, contracts.CodeAlgNotAllowed, "HS256 needs a shared secret"},
		{"5_4.key_agreement_with_key_wrapping_using_ecdh-es_and_aes-keywrap_with_aes-gcm.json", jwa.SignatureAlgorithm{}, jwa.ECDH_ES_A128KW(), contracts.CodeBodyInvalid, "ECDH-ES+A128KW on P-384 with A128GCM"},
		{"5_9.compressed_content.json", jwa.SignatureAlgorithm{}, jwa.A128KW(), contracts.CodeBodyInvalid, "zip DEF"},
	} {
		t.Run(tc.file+" is refused: "+tc.why, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("..", "testdata", "rfc7520", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			var v cookbookVector
			if err := json.Unmarshal(raw, &v); err != nil {
				t.Fatal(err)
			}
			key, err := jwk.ParseKey(v.Input.Key)
			if err != nil {
				t.Fatal(err)
			}
			isJWE := tc.keyAlg != (jwa.KeyEncryptionAlgorithm{})
			// The vector is genuine: jwx, with the RFC's own key, accepts
			// it. The refusal below is therefore the profile's doing.
			if isJWE {
				if _, err := jwe.Decrypt([]byte(v.Output.Compact), jwe.WithKey(tc.keyAlg, key)); err != nil {
					t.Fatalf("the vector does not decrypt with its own key: %v", err)
				}
				_, err = seal.CheckJWE(v.Output.Compact)
			} else {
				verifyKey := key
				if tc.sigAlg != jwa.HS256() {
					if verifyKey, err = key.PublicKey(); err != nil {
						t.Fatal(err)
					}
				}
				if _, err := jws.Verify([]byte(v.Output.Compact), jws.WithKey(tc.sigAlg, verifyKey)); err != nil {
					t.Fatalf("the vector does not verify with its own key: %v", err)
				}
				_, _, err = seal.Verify([]byte(v.Output.Compact), seal.EnvelopeTyp, func(string) (jwk.Key, error) { return verifyKey, nil })
			}
			if got := contracts.CodeOf(err); got != tc.want {
				t.Fatalf("refused with %v, want %s", err, tc.want)
			}
			// The JSON serializations of the same example are refused too.
			for _, j := range []json.RawMessage{v.Output.JSON, v.Output.JSONFlat} {
				if len(j) == 0 {
					continue
				}
				if isJWE {
					_, err = seal.CheckJWE(string(j))
				} else {
					_, _, err = seal.Verify(j, seal.EnvelopeTyp, func(string) (jwk.Key, error) { return key, nil })
				}
				if err == nil {
					t.Fatal("a JSON serialization was accepted")
				}
			}
		})
	}
}

// headerAlg reads the alg of a compact JWS's header, "" if there is none.
func headerAlg(compact []byte) string {
	raw, err := b64url(strings.SplitN(string(compact), ".", 2)[0])
	if err != nil {
		return ""
	}
	var h struct{ Alg string }
	_ = json.Unmarshal(raw, &h)
	return h.Alg
}

func b64url(s string) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, errors.New("not base64url")
	}
	return b, nil
}

// ecdhP256 is a throwaway P-256 recipient key.
func ecdhP256() (*ecdh.PrivateKey, error) { return ecdh.P256().GenerateKey(rand.Reader) }
