// Package sealtest forges JOSE objects for tests: hand-made headers, raw
// signatures and a from-scratch JWE encrypter and decrypter. It uses only
// the Go standard library for cryptography, so it is an implementation
// independent of jwx (the one package seal is built on) and can produce
// exactly the malformed or hostile objects a conforming library refuses to
// make. The attack tables (JWSAttacks, JWEAttacks, TokenAttacks) are shared
// by the unit tests of package seal and by the end-to-end security suite.
//
// Never use this package outside tests.
package sealtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash"
	"math/big"
	"strings"
)

// B64 is base64url without padding, as JOSE requires.
func B64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// SigningInput is ASCII(BASE64URL(header) || '.' || BASE64URL(payload)).
func SigningInput(header string, payload []byte) []byte {
	return []byte(B64([]byte(header)) + "." + B64(payload))
}

// Compact assembles a compact JWS from a raw header (JSON text, used
// byte for byte), a payload and a signature.
func Compact(header string, payload, sig []byte) []byte {
	return []byte(B64([]byte(header)) + "." + B64(payload) + "." + B64(sig))
}

// SignEd25519 returns a compact JWS with the given raw header, signed with
// Ed25519 over the standard signing input whatever the header says.
func SignEd25519(header string, payload []byte, priv ed25519.PrivateKey) []byte {
	return Compact(header, payload, ed25519.Sign(priv, SigningInput(header, payload)))
}

// SignES256 returns a compact JWS with the given raw header, signed with
// ECDSA P-256/SHA-256, signature in the JOSE form R || S (32 bytes each).
func SignES256(header string, payload []byte, priv *ecdsa.PrivateKey) []byte {
	return Compact(header, payload, ES256Signature(SigningInput(header, payload), priv))
}

// ES256Signature signs input as JWS ES256 does: SHA-256, raw R || S.
func ES256Signature(input []byte, priv *ecdsa.PrivateKey) []byte {
	digest := crypto.SHA256.New()
	digest.Write(input)
	r, s, err := ecdsa.Sign(rand.Reader, priv, digest.Sum(nil))
	if err != nil {
		panic(fmt.Sprintf("sealtest: ECDSA signing failed: %v", err))
	}
	out := make([]byte, 64)
	r.FillBytes(out[:32])
	s.FillBytes(out[32:])
	return out
}

// SignHMAC returns a compact JWS with the given raw header, MACed with
// secret: the shape of the classic attack that keys HS256 with the
// verifier's public key.
func SignHMAC(header string, payload, secret []byte, h func() hash.Hash) []byte {
	m := hmac.New(h, secret)
	m.Write(SigningInput(header, payload))
	return Compact(header, payload, m.Sum(nil))
}

// Header renders a protected header with members in the given order, from
// name/value pairs; values are JSON-encoded. Use a raw string instead when
// the JSON itself must be malformed.
func Header(pairs ...any) string {
	if len(pairs)%2 != 0 {
		panic("sealtest: Header needs name/value pairs")
	}
	var b strings.Builder
	b.WriteByte('{')
	for i := 0; i < len(pairs); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		name, _ := json.Marshal(pairs[i])
		value, err := json.Marshal(pairs[i+1])
		if err != nil {
			panic(fmt.Sprintf("sealtest: encoding header value: %v", err))
		}
		b.Write(name)
		b.WriteByte(':')
		b.Write(value)
	}
	b.WriteByte('}')
	return b.String()
}

// Raw is a JSON value inserted verbatim by Header.
type Raw = json.RawMessage

// Parts splits a compact serialization on dots.
func Parts(compact []byte) []string { return strings.Split(string(compact), ".") }

// Join joins parts with dots.
func Join(parts ...string) []byte { return []byte(strings.Join(parts, ".")) }

// FlipPartByte decodes part i of a compact serialization, flips the low
// bit of the byte at offset at (negative counts from the end), and
// re-encodes it canonically: the object stays well-formed, only its
// content changes.
func FlipPartByte(compact []byte, i, at int) []byte {
	parts := Parts(compact)
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		panic(fmt.Sprintf("sealtest: part %d is not base64url: %v", i, err))
	}
	if at < 0 {
		at += len(b)
	}
	b[at] ^= 0x01
	parts[i] = B64(b)
	return Join(parts...)
}

// ReplacePart replaces part i with the base64url of b.
func ReplacePart(compact []byte, i int, b []byte) []byte {
	parts := Parts(compact)
	parts[i] = B64(b)
	return Join(parts...)
}

// ES256DER re-encodes a JOSE R || S signature as ASN.1 DER, the form
// crypto/ecdsa and X.509 use and JOSE does not.
func ES256DER(sig []byte) []byte {
	enc := func(b []byte) []byte {
		v := new(big.Int).SetBytes(b).Bytes()
		if len(v) == 0 || v[0]&0x80 != 0 {
			v = append([]byte{0}, v...)
		}
		return append([]byte{0x02, byte(len(v))}, v...)
	}
	body := append(enc(sig[:32]), enc(sig[32:])...)
	return append([]byte{0x30, byte(len(body))}, body...)
}
