package sealtest

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/relais-hub/relais/contracts"
)

// Attack is one hostile input and the refusal it must get.
type Attack struct {
	Name  string
	Input []byte
	Want  contracts.Code
}

// JWSFixture describes the verifier's world for JWSAttacks: a sender with
// a registered Ed25519 key and a registered P-256 key, and nothing else
// registered. A verifier under test must look kids up in exactly this
// registry (unknown kids → unknown_key).
type JWSFixture struct {
	Typ     string // the expected typ, e.g. relais-envelope+jws
	Payload []byte // a payload the sender could legitimately sign

	Ed25519    ed25519.PrivateKey // sender's registered EdDSA key
	Ed25519KID string
	P256       *ecdsa.PrivateKey // sender's registered ES256 key
	P256KID    string

	// URL is where jku and x5u headers point. A correct verifier never
	// fetches it; the test behind it counts requests.
	URL string
}

// JWSAttacks lists every JWS attack class of the profile with the code
// Verify must return. Each input is built so that only the targeted rule
// refuses it: where possible the signature is genuine (made with the
// sender's registered key), so removing the rule would let it through.
func JWSAttacks(f JWSFixture) []Attack {
	attackerEd := mustEd25519()
	attackerP256 := mustP256()
	pubEd := f.Ed25519.Public().(ed25519.PublicKey)
	kid, typ, payload := f.Ed25519KID, f.Typ, f.Payload

	good := func(extra ...any) string {
		return Header(append([]any{"alg", "EdDSA", "kid", kid, "typ", typ}, extra...)...)
	}
	bySender := func(h string) []byte { return SignEd25519(h, payload, f.Ed25519) }
	valid := bySender(good())
	parts := Parts(valid)
	var out []Attack
	add := func(name string, in []byte, want contracts.Code) {
		out = append(out, Attack{Name: name, Input: in, Want: want})
	}

	// alg none, in the spellings parsers have been fooled by.
	for _, none := range []string{"none", "None", "NONE", "nOnE"} {
		h := Header("alg", none, "kid", kid, "typ", typ)
		add("alg "+none+" with an empty signature", Compact(h, payload, nil), contracts.CodeAlgNotAllowed)
		add("alg "+none+" with a junk signature", Compact(h, payload, []byte("junk-signature")), contracts.CodeAlgNotAllowed)
	}
	// HMAC keyed with public key material: the verifier must never treat
	// a registered public key as an HMAC secret.
	jwkJSON := Header("kty", "OKP", "crv", "Ed25519", "x", B64(pubEd), "kid", kid, "alg", "EdDSA")
	for _, hm := range []struct {
		alg    string
		secret []byte
		what   string
	}{
		{"HS256", pubEd, "the raw public key bytes"},
		{"HS256", []byte(jwkJSON), "the public JWK JSON"},
		{"HS256", []byte(B64(pubEd)), "the base64url public key"},
		{"HS384", pubEd, "the raw public key bytes"},
		{"HS512", []byte(jwkJSON), "the public JWK JSON"},
	} {
		h := Header("alg", hm.alg, "kid", kid, "typ", typ)
		var mac []byte
		switch hm.alg {
		case "HS256":
			mac = SignHMAC(h, payload, hm.secret, sha256.New)
		case "HS384":
			mac = SignHMAC(h, payload, hm.secret, sha512.New384)
		default:
			mac = SignHMAC(h, payload, hm.secret, sha512.New)
		}
		add(hm.alg+" keyed with "+hm.what, mac, contracts.CodeAlgNotAllowed)
	}
	for _, alg := range []string{"RS256", "RS512", "PS256", "ES384", "ES512", "ES256K", "Ed25519", "EdDSA ", "eddsa", ""} {
		h := Header("alg", alg, "kid", kid, "typ", typ)
		add(fmt.Sprintf("alg %q", alg), Compact(h, payload, make([]byte, 64)), contracts.CodeAlgNotAllowed)
	}
	add("alg missing", bySender(Header("kid", kid, "typ", typ)), contracts.CodeAlgNotAllowed)

	// Algorithm confusion between the sender's own registered keys.
	add("ES256 header with the Ed25519 key's kid, signed by an attacker P-256 key",
		SignES256(Header("alg", "ES256", "kid", kid, "typ", typ), payload, attackerP256), contracts.CodeAlgKeyMismatch)
	add("EdDSA header with the P-256 key's kid, signed by an attacker Ed25519 key",
		SignEd25519(Header("alg", "EdDSA", "kid", f.P256KID, "typ", typ), payload, attackerEd), contracts.CodeAlgKeyMismatch)
	add("EdDSA header with the P-256 key's kid, signed by the sender's Ed25519 key",
		SignEd25519(Header("alg", "EdDSA", "kid", f.P256KID, "typ", typ), payload, f.Ed25519), contracts.CodeAlgKeyMismatch)

	// Keys smuggled in headers: the verifier must use only registered keys.
	attackerJWK := json.RawMessage(Header("kty", "OKP", "crv", "Ed25519", "x", B64(attackerEd.Public().(ed25519.PublicKey))))
	add("embedded jwk of the attacker, signed by the attacker",
		SignEd25519(good("jwk", attackerJWK), payload, attackerEd), contracts.CodeHeaderNotAllowed)
	add("embedded jwk of the attacker without a kid",
		SignEd25519(Header("alg", "EdDSA", "typ", typ, "jwk", attackerJWK), payload, attackerEd), contracts.CodeHeaderNotAllowed)
	add("jku pointing at an attacker server", SignEd25519(good("jku", f.URL+"/jwks.json"), payload, attackerEd), contracts.CodeHeaderNotAllowed)
	add("x5u pointing at an attacker server", SignEd25519(good("x5u", f.URL+"/cert.pem"), payload, attackerEd), contracts.CodeHeaderNotAllowed)
	add("x5c with the attacker's self-signed certificate",
		SignEd25519(good("x5c", []string{base64.StdEncoding.EncodeToString(selfSigned(attackerEd))}), payload, attackerEd), contracts.CodeHeaderNotAllowed)
	add("x5t thumbprint", bySender(good("x5t", B64(make([]byte, 20)))), contracts.CodeHeaderNotAllowed)
	add("x5t#S256 thumbprint", bySender(good("x5t#S256", B64(make([]byte, 32)))), contracts.CodeHeaderNotAllowed)

	// Extensions and processing switches.
	add("crit naming an unknown extension", bySender(good("crit", []string{"urn:relais:unknown"}, "urn:relais:unknown", true)), contracts.CodeHeaderNotAllowed)
	add("crit listing the same extension twice", bySender(good("crit", []string{"exp", "exp"}, "exp", 1)), contracts.CodeHeaderNotAllowed)
	add("crit member present twice", bySender(`{"alg":"EdDSA","kid":"`+kid+`","typ":"`+typ+`","crit":["exp"],"crit":["exp"],"exp":1}`), contracts.CodeMalformedJWS)
	b64false := good("b64", false, "crit", []string{"b64"})
	unencoded := []byte(B64([]byte(b64false)) + "." + string(payload))
	add("b64 false with crit, signed over the unencoded payload",
		Compact(b64false, payload, ed25519.Sign(f.Ed25519, unencoded)), contracts.CodeHeaderNotAllowed)
	add("b64 true", bySender(good("b64", true)), contracts.CodeHeaderNotAllowed)
	add("zip in a JWS header", bySender(good("zip", "DEF")), contracts.CodeHeaderNotAllowed)
	add("cty naming a nested JWT", bySender(good("cty", "JWT")), contracts.CodeHeaderNotAllowed)
	add("JWE members in a JWS header", bySender(good("enc", "A256GCM")), contracts.CodeHeaderNotAllowed)
	add("header member differing only in case", bySender(good("Alg", "none")), contracts.CodeHeaderNotAllowed)

	// Duplicate members: parsers disagree on which wins.
	add("duplicate alg member, none then EdDSA", bySender(`{"alg":"none","alg":"EdDSA","kid":"`+kid+`","typ":"`+typ+`"}`), contracts.CodeMalformedJWS)
	add("duplicate alg member, EdDSA then HS256", bySender(`{"alg":"EdDSA","kid":"`+kid+`","typ":"`+typ+`","alg":"HS256"}`), contracts.CodeMalformedJWS)
	add("duplicate kid member", bySender(`{"alg":"EdDSA","kid":"other","kid":"`+kid+`","typ":"`+typ+`"}`), contracts.CodeMalformedJWS)
	add("duplicate alg hidden by a unicode escape", bySender(`{"alg":"EdDSA","\u0061lg":"none","kid":"`+kid+`","typ":"`+typ+`"}`), contracts.CodeMalformedJWS)

	// Serializations and encodings.
	flat := fmt.Sprintf(`{"protected":%q,"payload":%q,"signature":%q}`, parts[0], parts[1], parts[2])
	general := fmt.Sprintf(`{"payload":%q,"signatures":[{"protected":%q,"signature":%q}]}`, parts[1], parts[0], parts[2])
	add("flattened JSON serialization", []byte(flat), contracts.CodeMalformedJWS)
	add("general JSON serialization", []byte(general), contracts.CodeMalformedJWS)
	add("2 parts", Join(parts[0], parts[1]), contracts.CodeMalformedJWS)
	add("4 parts", Join(parts[0], parts[1], parts[2], parts[2]), contracts.CodeMalformedJWS)
	add("5 parts", Join(parts[0], "", parts[1], parts[2], parts[2]), contracts.CodeMalformedJWS)
	add("padding on the signature", Join(parts[0], parts[1], base64.URLEncoding.EncodeToString(mustDecode(parts[2]))), contracts.CodeMalformedJWS)
	add("padding on the header", paddedHeader(f), contracts.CodeMalformedJWS)
	add("standard base64 alphabet", stdAlphabet(f), contracts.CodeMalformedJWS)
	add("non-base64 character in the payload", Join(parts[0], parts[1][:1]+"*"+parts[1][1:], parts[2]), contracts.CodeMalformedJWS)
	add("space inside the signature", Join(parts[0], parts[1], parts[2][:10]+" "+parts[2][10:]), contracts.CodeMalformedJWS)
	add("trailing newline", append(append([]byte(nil), valid...), '\n'), contracts.CodeMalformedJWS)
	add("leading whitespace", append([]byte(" "), valid...), contracts.CodeMalformedJWS)
	add("non-canonical final base64 character of the signature", nonCanonical(valid), contracts.CodeMalformedJWS)
	add("empty header", Join("", parts[1], parts[2]), contracts.CodeMalformedJWS)
	add("empty payload", Join(parts[0], "", B64(ed25519.Sign(f.Ed25519, []byte(parts[0]+".")))), contracts.CodeMalformedJWS)
	add("empty signature", Join(parts[0], parts[1], ""), contracts.CodeMalformedJWS)
	add("empty input", []byte{}, contracts.CodeMalformedJWS)
	add("only dots", []byte(".."), contracts.CodeMalformedJWS)
	add("oversized header", bySender(good("x", strings.Repeat("a", 5000))), contracts.CodeMalformedJWS)

	// Header JSON that is not a strict JSON object.
	for _, bad := range []struct{ name, header string }{
		{"header is a JSON array", `["alg","EdDSA"]`},
		{"header is a JSON string", `"EdDSA"`},
		{"header is not JSON", `alg=EdDSA`},
		{"header has trailing data", good() + `{}`},
		{"header is truncated", good()[:20]},
		{"header has invalid UTF-8", `{"alg":"EdDSA","kid":"` + kid + "\xff" + `","typ":"` + typ + `"}`},
		{"alg is a number", `{"alg":1,"kid":"` + kid + `","typ":"` + typ + `"}`},
		{"alg is an array", `{"alg":["EdDSA"],"kid":"` + kid + `","typ":"` + typ + `"}`},
		{"kid is a number", `{"alg":"EdDSA","kid":7,"typ":"` + typ + `"}`},
		{"typ is null", `{"alg":"EdDSA","kid":"` + kid + `","typ":null}`},
	} {
		add(bad.name, bySender(bad.header), contracts.CodeMalformedJWS)
	}

	// typ and kid.
	add("typ missing", bySender(Header("alg", "EdDSA", "kid", kid)), contracts.CodeTypInvalid)
	add("typ of an access token", bySender(Header("alg", "EdDSA", "kid", kid, "typ", "JWT")), contracts.CodeTypInvalid)
	add("typ in another case", bySender(Header("alg", "EdDSA", "kid", kid, "typ", strings.ToUpper(typ))), contracts.CodeTypInvalid)
	add("kid missing", bySender(Header("alg", "EdDSA", "typ", typ)), contracts.CodeUnknownKey)
	add("kid empty", bySender(Header("alg", "EdDSA", "kid", "", "typ", typ)), contracts.CodeUnknownKey)
	add("unknown kid, signed by the attacker", SignEd25519(Header("alg", "EdDSA", "kid", "attacker#sig-1", "typ", typ), payload, attackerEd), contracts.CodeUnknownKey)

	// Signatures that do not verify.
	add("payload tampered by one byte", FlipPartByte(valid, 1, 0), contracts.CodeSignatureInvalid)
	add("payload tampered in its last byte", FlipPartByte(valid, 1, -1), contracts.CodeSignatureInvalid)
	add("signature tampered by one byte", FlipPartByte(valid, 2, 5), contracts.CodeSignatureInvalid)
	add("signature from another key with the same kid", SignEd25519(good(), payload, attackerEd), contracts.CodeSignatureInvalid)
	add("signature truncated", ReplacePart(valid, 2, mustDecode(parts[2])[:32]), contracts.CodeSignatureInvalid)
	add("signature of another header", Join(B64([]byte(good()+" ")), parts[1], parts[2]), contracts.CodeSignatureInvalid)
	esHeader := Header("alg", "ES256", "kid", f.P256KID, "typ", typ)
	esValid := SignES256(esHeader, payload, f.P256)
	add("ES256 signature in DER form", ReplacePart(esValid, 2, ES256DER(mustDecode(Parts(esValid)[2]))), contracts.CodeSignatureInvalid)
	add("ES256 signature from another P-256 key", SignES256(esHeader, payload, attackerP256), contracts.CodeSignatureInvalid)
	add("ES256 payload tampered", FlipPartByte(esValid, 1, 0), contracts.CodeSignatureInvalid)
	return out
}

// stdAlphabet makes a genuine message whose encoding needs '-' or '_',
// then writes it with '+' and '/', the standard alphabet.
func stdAlphabet(f JWSFixture) []byte {
	// 0xfb 0xff encodes to "-_" in base64url and "+/" in standard base64.
	payload := append(append([]byte(nil), f.Payload...), 0xfb, 0xff, 0xbf)
	h := Header("alg", "EdDSA", "kid", f.Ed25519KID, "typ", f.Typ)
	msg := SignEd25519(h, payload, f.Ed25519)
	p := Parts(msg)
	p[1] = strings.NewReplacer("-", "+", "_", "/").Replace(p[1])
	return Join(p...)
}

// nonCanonical changes the last character of the signature so that its
// unused low bits are set: the same bytes under another spelling, which
// would defeat deduplication by hash if it were accepted.
func nonCanonical(valid []byte) []byte {
	p := Parts(valid)
	sig := []byte(p[2])
	// A 64-byte signature is 86 characters carrying 516 bits: the last
	// character has 4 unused bits. Setting one keeps the decoded bytes.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, sig[len(sig)-1])
	sig[len(sig)-1] = alphabet[i|1]
	p[2] = string(sig)
	return Join(p...)
}

// paddedHeader makes a genuine message whose header is written with
// base64url padding.
func paddedHeader(f JWSFixture) []byte {
	h := Header("alg", "EdDSA", "kid", f.Ed25519KID, "typ", f.Typ)
	for len(h)%3 == 0 { // make sure the encoding needs padding
		h += " "
	}
	p := Parts(SignEd25519(h, f.Payload, f.Ed25519))
	p[0] = base64.URLEncoding.EncodeToString([]byte(h))
	return Join(p...)
}

func mustDecode(s string) []byte {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func mustEd25519() ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

func mustP256() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

// selfSigned makes a throwaway certificate for the attacker's key.
func selfSigned(k ed25519.PrivateKey) []byte {
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "attacker"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		panic(err)
	}
	return der
}
