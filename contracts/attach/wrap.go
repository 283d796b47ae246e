package attach

import (
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/relais-hub/relais/contracts/seal"
)

// wrappedKey is the plaintext of a wrapped content key: JSON rather than
// raw bytes, so that a JWE of the right shape but the wrong content (a
// message body) is told apart, and the attachment id is bound to the key.
type wrappedKey struct {
	ID  string `json:"att"`
	Key string `json:"k"`
}

// WrapKey wraps the content key of attachment id for the recipient's public
// encryption key: a compact JWE under the profile of sealed bodies, for
// contracts.AttachmentRef.Key.
func WrapKey(key []byte, id string, recipient jwk.Key) (string, error) {
	if len(key) != KeySize {
		return "", fmt.Errorf("attach: content key is %d bytes, want %d", len(key), KeySize)
	}
	plain, err := json.Marshal(wrappedKey{ID: id, Key: base64.RawURLEncoding.EncodeToString(key)})
	if err != nil {
		return "", err
	}
	jwe, err := seal.Encrypt(plain, recipient)
	if err != nil {
		return "", fmt.Errorf("attach: wrapping the content key: %w", err)
	}
	return jwe, nil
}

// UnwrapKey opens a wrapped content key with the recipient's private
// encryption keys and checks that it belongs to attachment id.
func UnwrapKey(jwe, id string, keys []jwk.Key) ([]byte, error) {
	plain, err := seal.Decrypt(jwe, keys)
	if err != nil {
		return nil, fmt.Errorf("attach: unwrapping the content key: %w", err)
	}
	var w wrappedKey
	if err := json.Unmarshal(plain, &w); err != nil {
		return nil, fmt.Errorf("attach: wrapped key: %w", err)
	}
	if w.ID != id {
		return nil, fmt.Errorf("attach: the wrapped key belongs to another attachment")
	}
	key, err := base64.RawURLEncoding.DecodeString(w.Key)
	if err != nil || len(key) != KeySize {
		return nil, fmt.Errorf("attach: wrapped key is not a %d-byte key", KeySize)
	}
	return key, nil
}
