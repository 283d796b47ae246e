package seal

import (
	"crypto/ecdh"
	"errors"
	"fmt"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

// probeScalar is a fixed X25519 private scalar used only to test public
// points. X25519 clamps every scalar to a multiple of the cofactor 8, so
// multiplying a point of order 1, 2, 4 or 8 by it gives the all-zero output,
// which crypto/ecdh reports as an error; any other point gives a non-zero
// output. The scalar's value is irrelevant beyond being non-zero mod ℓ.
var probeScalar = func() *ecdh.PrivateKey {
	var s [32]byte
	for i := range s {
		s[i] = byte(i + 1)
	}
	k, err := ecdh.X25519().NewPrivateKey(s[:])
	if err != nil {
		panic(err) // any 32 bytes are a valid X25519 scalar
	}
	return k
}()

// checkX25519Point refuses X25519 public values that would let a sender
// force a predictable shared secret: wrong length, a non-canonical encoding
// (high bit set, or u ≥ 2^255−19), or a point of small order.
func checkX25519Point(u []byte) error {
	if len(u) != 32 {
		return fmt.Errorf("X25519 public key is %d bytes, not 32", len(u))
	}
	if u[31]&0x80 != 0 {
		return errors.New("X25519 public key has its high bit set (non-canonical)")
	}
	if isAtLeastP25519(u) {
		return errors.New("X25519 public key is not reduced modulo 2^255-19 (non-canonical)")
	}
	pub, err := ecdh.X25519().NewPublicKey(u)
	if err != nil {
		return fmt.Errorf("X25519 public key: %w", err)
	}
	if _, err := probeScalar.ECDH(pub); err != nil {
		return errors.New("X25519 public key is a low-order point")
	}
	return nil
}

// isAtLeastP25519 reports whether the little-endian u (high bit clear) is
// ≥ p = 2^255 − 19, whose encoding is ed ff … ff 7f.
func isAtLeastP25519(u []byte) bool {
	if u[31] != 0x7f {
		return false
	}
	for i := 30; i >= 1; i-- {
		if u[i] != 0xff {
			return false
		}
	}
	return u[0] >= 0xed
}

// checkP256Point refuses P-256 coordinates that are not a point on the
// curve (the invalid-curve attack) or not 32 bytes each.
func checkP256Point(x, y []byte) error {
	if len(x) != 32 || len(y) != 32 {
		return fmt.Errorf("P-256 coordinates are %d and %d bytes, not 32", len(x), len(y))
	}
	uncompressed := make([]byte, 0, 65)
	uncompressed = append(uncompressed, 4)
	uncompressed = append(uncompressed, x...)
	uncompressed = append(uncompressed, y...)
	if _, err := ecdh.P256().NewPublicKey(uncompressed); err != nil {
		return errors.New("P-256 public key is not a point on the curve")
	}
	return nil
}

// okpX returns the "x" of an OKP key.
func okpX(k jwk.Key) ([]byte, error) {
	var x []byte
	if err := k.Get("x", &x); err != nil {
		return nil, fmt.Errorf("reading x: %w", err)
	}
	return x, nil
}
