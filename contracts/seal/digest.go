package seal

import (
	"crypto/sha256"
	"encoding/hex"
)

// SHA256Hex is the lowercase hex SHA-256 of b: the digest receipts carry
// over the exact bytes of a JWS.
func SHA256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
