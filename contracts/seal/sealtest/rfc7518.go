package sealtest

import (
	"bytes"
	"compress/flate"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// This file is an independent implementation of JWE with ECDH-ES key
// agreement (RFC 7518 §4.6) for X25519 (RFC 8037) and P-256, written from
// the RFCs with the Go standard library only: crypto/ecdh for the key
// agreement, the Concat KDF of NIST SP 800-56A §5.8.1 as profiled by RFC
// 7518 §4.6.2, AES Key Wrap (RFC 3394) and AES-GCM (RFC 7518 §5.3). It
// exists because go-jose v4, the other JOSE implementation in go.mod, does
// not support ECDH-ES with X25519 keys, and interoperability must be shown
// against code that does not share jwx's.

// JWEOptions shape a JWE made by EncryptECDHES. The zero value makes a
// conforming Relais body: ECDH-ES+A256KW, A256GCM.
type JWEOptions struct {
	// Alg is "ECDH-ES+A256KW" (default), "ECDH-ES+A128KW" or "ECDH-ES"
	// (direct key agreement, empty encrypted key).
	Alg string
	// Enc is "A256GCM" (default), "A192GCM" or "A128GCM".
	Enc string
	// Kid of the recipient key, omitted when empty.
	Kid string
	// APU and APV are the optional party info inputs to the KDF.
	APU, APV []byte
	// Extra members appended to the protected header, in order
	// (name/value pairs as for Header).
	Extra []any
	// Deflate compresses the plaintext with raw DEFLATE before encryption
	// (pair it with Extra "zip","DEF").
	Deflate bool
	// EPK, when set, replaces the "epk" member verbatim (the key agreement
	// still uses the real ephemeral key).
	EPK json.RawMessage
	// Ephemeral fixes the sender's ephemeral key (it must be on the
	// recipient's curve); a fresh one is generated when nil.
	Ephemeral *ecdh.PrivateKey
}

// EncryptECDHES encrypts plaintext for recipient (an X25519 or P-256
// public key) and returns the compact JWE.
func EncryptECDHES(plaintext []byte, recipient *ecdh.PublicKey, o JWEOptions) (string, error) {
	if o.Alg == "" {
		o.Alg = "ECDH-ES+A256KW"
	}
	if o.Enc == "" {
		o.Enc = "A256GCM"
	}
	cekLen, err := gcmKeyLen(o.Enc)
	if err != nil {
		return "", err
	}
	eph := o.Ephemeral
	if eph == nil {
		if eph, err = recipient.Curve().GenerateKey(rand.Reader); err != nil {
			return "", fmt.Errorf("generating ephemeral key: %w", err)
		}
	}
	z, err := eph.ECDH(recipient)
	if err != nil {
		return "", fmt.Errorf("key agreement: %w", err)
	}
	epk := o.EPK
	if epk == nil {
		if epk, err = EPKJSON(eph.PublicKey()); err != nil {
			return "", err
		}
	}
	pairs := []any{"alg", o.Alg, "enc", o.Enc}
	if o.Kid != "" {
		pairs = append(pairs, "kid", o.Kid)
	}
	pairs = append(pairs, "epk", epk)
	if o.APU != nil {
		pairs = append(pairs, "apu", B64(o.APU))
	}
	if o.APV != nil {
		pairs = append(pairs, "apv", B64(o.APV))
	}
	pairs = append(pairs, o.Extra...)
	header := Header(pairs...)

	var cek, encryptedKey []byte
	switch o.Alg {
	case "ECDH-ES":
		cek = ConcatKDF(z, o.Enc, o.APU, o.APV, cekLen)
	case "ECDH-ES+A128KW", "ECDH-ES+A192KW", "ECDH-ES+A256KW":
		kekLen := map[string]int{"ECDH-ES+A128KW": 16, "ECDH-ES+A192KW": 24, "ECDH-ES+A256KW": 32}[o.Alg]
		kek := ConcatKDF(z, o.Alg, o.APU, o.APV, kekLen)
		cek = make([]byte, cekLen)
		if _, err := rand.Read(cek); err != nil {
			return "", err
		}
		if encryptedKey, err = KeyWrap(kek, cek); err != nil {
			return "", err
		}
	default:
		return "", fmt.Errorf("alg %q is not an ECDH-ES algorithm", o.Alg)
	}
	if o.Deflate {
		var buf bytes.Buffer
		w, _ := flate.NewWriter(&buf, flate.BestCompression)
		w.Write(plaintext)
		w.Close()
		plaintext = buf.Bytes()
	}
	return SealGCM(header, encryptedKey, cek, plaintext)
}

// SealGCM finishes a compact JWE: AES-GCM under cek with a random 96-bit
// IV, the AAD being the base64url of header (RFC 7516 §5.1 step 14).
func SealGCM(header string, encryptedKey, cek, plaintext []byte) (string, error) {
	block, err := aes.NewCipher(cek)
	if err != nil {
		return "", err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return "", err
	}
	iv := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(iv); err != nil {
		return "", err
	}
	protected := B64([]byte(header))
	sealed := gcm.Seal(nil, iv, plaintext, []byte(protected))
	ct, tag := sealed[:len(sealed)-gcm.Overhead()], sealed[len(sealed)-gcm.Overhead():]
	return strings.Join([]string{protected, B64(encryptedKey), B64(iv), B64(ct), B64(tag)}, "."), nil
}

// DecryptECDHES decrypts a compact JWE made with ECDH-ES (+A128/192/256KW
// or direct) and AES-GCM, with the recipient's X25519 or P-256 private
// key. It is deliberately plain: it checks what the RFCs require to
// decrypt correctly and nothing of the Relais profile.
func DecryptECDHES(compact string, priv *ecdh.PrivateKey) ([]byte, error) {
	parts := strings.Split(compact, ".")
	if len(parts) != 5 {
		return nil, fmt.Errorf("%d parts, want 5", len(parts))
	}
	dec := make([][]byte, 5)
	for i, p := range parts {
		b, err := base64.RawURLEncoding.DecodeString(p)
		if err != nil {
			return nil, fmt.Errorf("part %d: %w", i+1, err)
		}
		dec[i] = b
	}
	var h struct {
		Alg string          `json:"alg"`
		Enc string          `json:"enc"`
		EPK json.RawMessage `json:"epk"`
		APU string          `json:"apu"`
		APV string          `json:"apv"`
		Zip string          `json:"zip"`
	}
	if err := json.Unmarshal(dec[0], &h); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	if h.Zip != "" {
		return nil, errors.New("zip is not supported")
	}
	epk, err := ParseEPK(h.EPK, priv.Curve())
	if err != nil {
		return nil, err
	}
	z, err := priv.ECDH(epk)
	if err != nil {
		return nil, fmt.Errorf("key agreement: %w", err)
	}
	apu, err := base64.RawURLEncoding.DecodeString(h.APU)
	if err != nil {
		return nil, fmt.Errorf("apu: %w", err)
	}
	apv, err := base64.RawURLEncoding.DecodeString(h.APV)
	if err != nil {
		return nil, fmt.Errorf("apv: %w", err)
	}
	cekLen, err := gcmKeyLen(h.Enc)
	if err != nil {
		return nil, err
	}
	var cek []byte
	switch h.Alg {
	case "ECDH-ES":
		cek = ConcatKDF(z, h.Enc, apu, apv, cekLen)
	case "ECDH-ES+A128KW", "ECDH-ES+A192KW", "ECDH-ES+A256KW":
		kekLen := map[string]int{"ECDH-ES+A128KW": 16, "ECDH-ES+A192KW": 24, "ECDH-ES+A256KW": 32}[h.Alg]
		if cek, err = KeyUnwrap(ConcatKDF(z, h.Alg, apu, apv, kekLen), dec[1]); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("alg %q is not supported", h.Alg)
	}
	if len(cek) != cekLen {
		return nil, fmt.Errorf("CEK is %d bytes, %s needs %d", len(cek), h.Enc, cekLen)
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	if len(dec[2]) != gcm.NonceSize() || len(dec[4]) != gcm.Overhead() {
		return nil, errors.New("iv or tag has the wrong size")
	}
	return gcm.Open(nil, dec[2], append(dec[3], dec[4]...), []byte(parts[0]))
}

func gcmKeyLen(enc string) (int, error) {
	switch enc {
	case "A128GCM":
		return 16, nil
	case "A192GCM":
		return 24, nil
	case "A256GCM":
		return 32, nil
	}
	return 0, fmt.Errorf("enc %q is not supported by this implementation", enc)
}

// ConcatKDF derives keyLen bytes from the shared secret z as RFC 7518
// §4.6.2 specifies: SHA-256 rounds over counter || Z || OtherInfo, where
// OtherInfo = AlgorithmID || PartyUInfo || PartyVInfo || SuppPubInfo, each
// of the first three length-prefixed (32-bit big-endian), and SuppPubInfo
// the key length in bits. alg is the "alg" header value for key wrapping
// and the "enc" value for direct key agreement.
func ConcatKDF(z []byte, alg string, apu, apv []byte, keyLen int) []byte {
	var other []byte
	for _, field := range [][]byte{[]byte(alg), apu, apv} {
		other = binary.BigEndian.AppendUint32(other, uint32(len(field)))
		other = append(other, field...)
	}
	other = binary.BigEndian.AppendUint32(other, uint32(keyLen*8))
	var out []byte
	for counter := uint32(1); len(out) < keyLen; counter++ {
		h := sha256.New()
		h.Write(binary.BigEndian.AppendUint32(nil, counter))
		h.Write(z)
		h.Write(other)
		out = h.Sum(out)
	}
	return out[:keyLen]
}

// defaultIV is the RFC 3394 §2.2.3.1 initial value.
var defaultIV = []byte{0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6}

// KeyWrap is the AES Key Wrap of RFC 3394 §2.2.1 (index-based form).
func KeyWrap(kek, key []byte) ([]byte, error) {
	if len(key)%8 != 0 || len(key) < 16 {
		return nil, errors.New("key wrap: key must be a multiple of 8 bytes, at least 16")
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, err
	}
	n := len(key) / 8
	a := append([]byte(nil), defaultIV...)
	r := make([][]byte, n)
	for i := range r {
		r[i] = append([]byte(nil), key[i*8:(i+1)*8]...)
	}
	buf := make([]byte, 16)
	for j := 0; j < 6; j++ {
		for i := 0; i < n; i++ {
			copy(buf, a)
			copy(buf[8:], r[i])
			block.Encrypt(buf, buf)
			t := uint64(n*j + i + 1)
			binary.BigEndian.PutUint64(a, binary.BigEndian.Uint64(buf[:8])^t)
			copy(r[i], buf[8:])
		}
	}
	out := append([]byte(nil), a...)
	for _, ri := range r {
		out = append(out, ri...)
	}
	return out, nil
}

// KeyUnwrap is the AES Key Unwrap of RFC 3394 §2.2.2, checking the
// integrity value in constant time.
func KeyUnwrap(kek, wrapped []byte) ([]byte, error) {
	if len(wrapped)%8 != 0 || len(wrapped) < 24 {
		return nil, errors.New("key unwrap: wrapped key has an invalid length")
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, err
	}
	n := len(wrapped)/8 - 1
	a := append([]byte(nil), wrapped[:8]...)
	r := make([][]byte, n)
	for i := range r {
		r[i] = append([]byte(nil), wrapped[(i+1)*8:(i+2)*8]...)
	}
	buf := make([]byte, 16)
	for j := 5; j >= 0; j-- {
		for i := n - 1; i >= 0; i-- {
			t := uint64(n*j + i + 1)
			binary.BigEndian.PutUint64(buf, binary.BigEndian.Uint64(a)^t)
			copy(buf[8:], r[i])
			block.Decrypt(buf, buf)
			copy(a, buf[:8])
			copy(r[i], buf[8:])
		}
	}
	if subtle.ConstantTimeCompare(a, defaultIV) != 1 {
		return nil, errors.New("key unwrap: integrity check failed")
	}
	var out []byte
	for _, ri := range r {
		out = append(out, ri...)
	}
	return out, nil
}

// EPKJSON renders an ephemeral public key as the "epk" JWK.
func EPKJSON(pub *ecdh.PublicKey) (json.RawMessage, error) {
	b := pub.Bytes()
	switch pub.Curve() {
	case ecdh.X25519():
		return json.RawMessage(Header("kty", "OKP", "crv", "X25519", "x", B64(b))), nil
	case ecdh.P256():
		return json.RawMessage(Header("kty", "EC", "crv", "P-256", "x", B64(b[1:33]), "y", B64(b[33:]))), nil
	}
	return nil, errors.New("epk: unsupported curve")
}

// ParseEPK reads an "epk" JWK on the given curve.
func ParseEPK(raw json.RawMessage, curve ecdh.Curve) (*ecdh.PublicKey, error) {
	var k struct{ Kty, Crv, X, Y string }
	if err := json.Unmarshal(raw, &k); err != nil {
		return nil, fmt.Errorf("epk: %w", err)
	}
	x, err := base64.RawURLEncoding.DecodeString(k.X)
	if err != nil {
		return nil, fmt.Errorf("epk x: %w", err)
	}
	switch {
	case k.Kty == "OKP" && k.Crv == "X25519" && curve == ecdh.X25519():
		return curve.NewPublicKey(x)
	case k.Kty == "EC" && k.Crv == "P-256" && curve == ecdh.P256():
		y, err := base64.RawURLEncoding.DecodeString(k.Y)
		if err != nil {
			return nil, fmt.Errorf("epk y: %w", err)
		}
		return curve.NewPublicKey(append(append([]byte{4}, x...), y...))
	}
	return nil, fmt.Errorf("epk: %s/%s does not match the recipient key", k.Kty, k.Crv)
}
