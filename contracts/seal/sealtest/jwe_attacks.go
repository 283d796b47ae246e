package sealtest

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
)

// JWEAttack is one hostile encrypted body. Every one must be refused with
// body_invalid; Detail is a fragment of the refusal's detail that names the
// rule doing the refusing.
type JWEAttack struct {
	Name   string
	Input  string
	Detail string
	// ShapeValid marks attacks that only decryption can detect (tampered
	// ciphertext, a body for another key): the hub's key-less shape check
	// accepts them and the recipient's decryption must refuse them.
	ShapeValid bool
}

// JWEFixture is the recipient of JWEAttacks: an X25519 public key
// registered under KID.
type JWEFixture struct {
	Recipient *ecdh.PublicKey
	KID       string
	Plaintext []byte
}

// LowOrderX25519 lists X25519 public values of small order, and
// non-canonical spellings of them, each forcing a known shared secret (or
// one of a handful) whatever the recipient's private key: little-endian
// hex, as on the wire.
var LowOrderX25519 = []struct{ Name, Hex string }{
	{"zero", "0000000000000000000000000000000000000000000000000000000000000000"},
	{"one", "0100000000000000000000000000000000000000000000000000000000000000"},
	{"order 8 point a", "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"},
	{"order 8 point b", "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"},
	{"p-1 (order 2)", "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"},
	{"p, a non-canonical zero", "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"},
	{"p+1, a non-canonical one", "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"},
	{"zero with the high bit set", "0000000000000000000000000000000000000000000000000000000000000080"},
	{"order 8 point a with the high bit set", "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b880"},
}

// JWEAttacks lists the attacks on encrypted bodies. Inputs that a
// conforming implementation can produce are produced for real (by the
// independent encrypter of this package), so that removing the rule that
// refuses them would make decryption succeed.
func JWEAttacks(f JWEFixture) ([]JWEAttack, error) {
	var out []JWEAttack
	var firstErr error
	add := func(name, detail string, in string, err error) {
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("%s: %w", name, err)
		}
		out = append(out, JWEAttack{Name: name, Input: in, Detail: detail})
	}
	addTamper := func(name string, in string, err error) {
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("%s: %w", name, err)
		}
		out = append(out, JWEAttack{Name: name, Input: in, Detail: "cannot be decrypted", ShapeValid: true})
	}
	enc := func(o JWEOptions) (string, error) {
		if o.Kid == "" {
			o.Kid = f.KID
		}
		return EncryptECDHES(f.Plaintext, f.Recipient, o)
	}
	valid, err := enc(JWEOptions{})
	if err != nil {
		return nil, fmt.Errorf("making the reference body: %w", err)
	}
	parts := strings.Split(valid, ".")
	// crafted builds a body with a hand-written header and a random CEK.
	crafted := func(header string, encryptedKey []byte) (string, error) {
		cek := make([]byte, 32)
		_, _ = rand.Read(cek)
		return SealGCM(header, encryptedKey, cek, f.Plaintext)
	}
	random := func(n int) []byte {
		b := make([]byte, n)
		_, _ = rand.Read(b)
		return b
	}

	in, err := enc(JWEOptions{Extra: []any{"zip", "DEF"}, Deflate: true})
	add("zip DEF over a deflated plaintext", `"zip"`, in, err)
	in, err = crafted(Header("alg", "dir", "enc", "A256GCM", "kid", f.KID), nil)
	add("alg dir", `"dir"`, in, err)
	in, err = crafted(Header("alg", "RSA1_5", "enc", "A256GCM", "kid", f.KID), random(256))
	add("alg RSA1_5", `"RSA1_5"`, in, err)
	in, err = crafted(Header("alg", "RSA-OAEP-256", "enc", "A256GCM", "kid", f.KID), random(256))
	add("alg RSA-OAEP-256", `"RSA-OAEP-256"`, in, err)
	kw, _ := KeyWrap(random(32), random(32))
	in, err = crafted(Header("alg", "A256KW", "enc", "A256GCM", "kid", f.KID), kw)
	add("alg A256KW", `"A256KW"`, in, err)
	in, err = enc(JWEOptions{Alg: "ECDH-ES"})
	add("alg ECDH-ES direct key agreement", `"ECDH-ES"`, in, err)
	in, err = enc(JWEOptions{Alg: "ECDH-ES+A128KW"})
	add("alg ECDH-ES+A128KW", `"ECDH-ES+A128KW"`, in, err)
	in, err = crafted(Header("alg", "PBES2-HS256+A128KW", "enc", "A256GCM", "kid", f.KID, "p2s", B64(random(16)), "p2c", 1000), kw)
	add("alg PBES2-HS256+A128KW", `"p2s"`, in, err)
	in, err = crafted(Header("alg", "none", "enc", "A256GCM", "kid", f.KID), nil)
	add("alg none", `"none"`, in, err)
	in, err = enc(JWEOptions{Enc: "A128GCM"})
	add("enc A128GCM", `"A128GCM"`, in, err)
	in, err = crafted(Header("alg", "ECDH-ES+A256KW", "enc", "A128CBC-HS256", "kid", f.KID, "epk", mustEPK()), kw)
	add("enc A128CBC-HS256", `"A128CBC-HS256"`, in, err)

	// Ephemeral keys that are not safe points.
	for _, lo := range LowOrderX25519 {
		u, _ := hex.DecodeString(lo.Hex)
		in, err = enc(JWEOptions{EPK: json.RawMessage(Header("kty", "OKP", "crv", "X25519", "x", B64(u)))})
		detail := "low-order"
		if strings.Contains(lo.Name, "non-canonical") || strings.Contains(lo.Name, "high bit") {
			detail = "non-canonical"
		}
		add("epk is the X25519 point "+lo.Name, detail, in, err)
	}
	in, err = enc(JWEOptions{EPK: json.RawMessage(Header("kty", "EC", "crv", "P-256", "x", B64(random(32)), "y", B64(random(32))))})
	add("epk is a P-256 point off the curve", "not a point on the curve", in, err)
	in, err = enc(JWEOptions{EPK: json.RawMessage(Header("kty", "OKP", "crv", "X25519", "x", B64(random(31))))})
	add("epk is 31 bytes", "not 32", in, err)
	in, err = enc(JWEOptions{EPK: json.RawMessage(Header("kty", "EC", "crv", "P-384", "x", B64(random(48)), "y", B64(random(48))))})
	add("epk on P-384", `"P-384"`, in, err)
	in, err = enc(JWEOptions{EPK: json.RawMessage(Header("kty", "OKP", "crv", "Ed25519", "x", B64(random(32))))})
	add("epk is an Ed25519 key", `"Ed25519"`, in, err)
	eph, _ := ecdh.X25519().GenerateKey(rand.Reader)
	in, err = enc(JWEOptions{Ephemeral: eph, EPK: json.RawMessage(Header("kty", "OKP", "crv", "X25519", "x", B64(eph.PublicKey().Bytes()), "d", B64(eph.Bytes())))})
	add("epk carries its private key", `"d"`, in, err)
	in, err = enc(JWEOptions{EPK: json.RawMessage(Header("kty", "OKP", "crv", "X25519", "x", B64(random(32)), "y", B64(random(32))))})
	add("epk OKP with a y", "no y", in, err)
	in, err = enc(JWEOptions{EPK: json.RawMessage(`"not a key"`)})
	add("epk is not an object", "epk", in, err)
	in, err = crafted(Header("alg", "ECDH-ES+A256KW", "enc", "A256GCM", "kid", f.KID), kw)
	add("epk missing", "epk", in, err)
	in, err = EncryptECDHES(f.Plaintext, f.Recipient, JWEOptions{})
	add("kid missing", "kid", in, err)

	// Header members the profile does not allow.
	for _, m := range []struct {
		name  string
		value any
	}{
		{"jku", "https://attacker.example/jwks.json"},
		{"jwk", json.RawMessage(Header("kty", "OKP", "crv", "X25519", "x", B64(random(32))))},
		{"x5u", "https://attacker.example/cert.pem"},
		{"x5c", []string{"MIIB"}},
		{"crit", []string{"exp"}},
		{"cty", "JWT"},
		{"typ", "JWE"},
		{"iv", B64(random(12))},
		{"tag", B64(random(16))},
	} {
		in, err = enc(JWEOptions{Extra: []any{m.name, m.value}})
		add("header "+m.name, `"`+m.name+`"`, in, err)
	}
	dup := `{"alg":"ECDH-ES+A256KW","alg":"dir","enc":"A256GCM","kid":"` + f.KID + `","epk":` + string(mustEPK()) + `}`
	in, err = crafted(dup, kw)
	add("duplicate alg member", "duplicate", in, err)

	// Shapes.
	add("flattened JSON serialization", "JSON serialization",
		fmt.Sprintf(`{"protected":%q,"encrypted_key":%q,"iv":%q,"ciphertext":%q,"tag":%q}`, parts[0], parts[1], parts[2], parts[3], parts[4]), nil)
	add("4 parts", "parts", strings.Join(parts[:4], "."), nil)
	add("6 parts", "parts", strings.Join(append(parts[:5:5], parts[4]), "."), nil)
	add("padding on the tag", "padded", strings.Join(append(parts[:4:4], parts[4]+"=="), "."), nil)
	add("iv of 16 bytes", "iv", string(ReplacePart([]byte(valid), 2, random(16))), nil)
	add("tag truncated to 12 bytes", "tag", string(ReplacePart([]byte(valid), 4, mustDecode(parts[4])[:12])), nil)
	add("tag empty", "tag", strings.Join(append(parts[:4:4], ""), "."), nil)
	add("encrypted key empty", "encrypted key", strings.Join([]string{parts[0], "", parts[2], parts[3], parts[4]}, "."), nil)
	add("encrypted key of 32 bytes", "encrypted key", string(ReplacePart([]byte(valid), 1, random(32))), nil)
	add("ciphertext empty", "ciphertext", strings.Join([]string{parts[0], parts[1], parts[2], "", parts[4]}, "."), nil)
	add("empty header", "empty", strings.Join(append([]string{""}, parts[1:]...), "."), nil)

	// Tampering only the recipient can detect.
	addTamper("tag tampered", string(FlipPartByte([]byte(valid), 4, 0)), nil)
	addTamper("ciphertext tampered", string(FlipPartByte([]byte(valid), 3, 0)), nil)
	addTamper("iv tampered", string(FlipPartByte([]byte(valid), 2, 0)), nil)
	addTamper("encrypted key tampered", string(FlipPartByte([]byte(valid), 1, 0)), nil)
	hdr := string(mustDecode(parts[0]))
	addTamper("protected header (AAD) re-serialized with a space", strings.Join(append([]string{B64([]byte(hdr + " "))}, parts[1:]...), "."), nil)
	addTamper("protected header (AAD) with another kid", strings.Join(append([]string{B64([]byte(strings.Replace(hdr, f.KID, f.KID+"x", 1)))}, parts[1:]...), "."), nil)
	other, _ := ecdh.X25519().GenerateKey(rand.Reader)
	swapped := strings.Replace(hdr, string(mustEPKOf(hdr)), string(mustEPKFor(other.PublicKey())), 1)
	addTamper("protected header (AAD) with another ephemeral key", strings.Join(append([]string{B64([]byte(swapped))}, parts[1:]...), "."), nil)
	in, err = EncryptECDHES(f.Plaintext, other.PublicKey(), JWEOptions{Kid: f.KID})
	addTamper("body encrypted for another key under the recipient's kid", in, err)
	return out, firstErr
}

func mustEPK() json.RawMessage {
	k, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return mustEPKFor(k.PublicKey())
}

func mustEPKFor(pub *ecdh.PublicKey) json.RawMessage {
	raw, err := EPKJSON(pub)
	if err != nil {
		panic(err)
	}
	return raw
}

// mustEPKOf extracts the epk member of a header written by Header.
func mustEPKOf(header string) json.RawMessage {
	var h struct {
		EPK json.RawMessage `json:"epk"`
	}
	if err := json.Unmarshal([]byte(header), &h); err != nil {
		panic(err)
	}
	return h.EPK
}
