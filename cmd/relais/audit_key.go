package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/relais-hub/relais/hub/audit"
)

// trustedKey is the hub public key an auditor trusts, obtained out of band.
// Origin is the log name the key signs for; it is empty when the key was
// given as a bare JWK, and then the bundle's own origin is used (the
// signature still has to verify with this key under that name).
type trustedKey struct {
	Origin string
	Pub    ed25519.PublicKey
	// Retired are earlier hub keys, from a key set (GET /v1/audit/keys):
	// checkpoints they signed before a rotation verify too.
	Retired []ed25519.PublicKey
}

// all lists every trusted key, the current one first.
func (k trustedKey) all() []ed25519.PublicKey {
	return append([]ed25519.PublicKey{k.Pub}, k.Retired...)
}

// noteAlgEd25519 is the signed-note algorithm byte of an Ed25519 key.
const noteAlgEd25519 = 1

// loadTrustedKey reads the hub key from a file or a string. A file may hold
// the note verifier key string (as written by `relais audit key --out`), the
// JSON answer of GET /v1/audit/key, the hub key set of GET /v1/audit/keys
// (`relais hub key list --out`), or a bare Ed25519 public JWK.
func loadTrustedKey(file, str string) (trustedKey, error) {
	switch {
	case file != "" && str != "":
		return trustedKey{}, errors.New("give --hub-key or --hub-key-string, not both")
	case str != "":
		return parseVerifierKey(strings.TrimSpace(str))
	case file != "":
		raw, err := os.ReadFile(file)
		if err != nil {
			return trustedKey{}, fmt.Errorf("hub key: %w", err)
		}
		k, err := parseHubKeyText(raw)
		if err != nil {
			return trustedKey{}, fmt.Errorf("hub key %s: %w", file, err)
		}
		return k, nil
	}
	return trustedKey{}, errors.New("the hub's public key is required: --hub-key FILE or --hub-key-string KEY")
}

func parseHubKeyText(raw []byte) (trustedKey, error) {
	text := bytes.TrimSpace(raw)
	if len(text) == 0 || text[0] != '{' {
		return parseVerifierKey(string(text))
	}
	if bytes.Contains(text, []byte(`"keys"`)) {
		return parseHubKeySet(text)
	}
	var doc struct {
		NoteVerifier string          `json:"note_verifier"`
		JWK          json.RawMessage `json:"jwk"`
		Kty          string          `json:"kty"`
		Crv          string          `json:"crv"`
		X            string          `json:"x"`
	}
	if err := json.Unmarshal(text, &doc); err != nil {
		return trustedKey{}, fmt.Errorf("not a verifier key string nor JSON: %w", err)
	}
	if doc.NoteVerifier != "" {
		return parseVerifierKey(doc.NoteVerifier)
	}
	if doc.Kty != "OKP" || doc.Crv != "Ed25519" {
		return trustedKey{}, errors.New("not an Ed25519 public key (want a note verifier key, or a JWK with kty OKP and crv Ed25519)")
	}
	pub, err := base64.RawURLEncoding.DecodeString(doc.X)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return trustedKey{}, errors.New("the JWK's x is not a 32-byte base64url Ed25519 key")
	}
	return trustedKey{Pub: pub}, nil
}

// parseVerifierKey reads a C2SP signed-note verifier key,
// "<name>+<hash>+<base64(0x01 || key)>", and checks that its hash matches.
func parseVerifierKey(vkey string) (trustedKey, error) {
	// The name cannot contain '+'; the base64 key can.
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 || parts[0] == "" {
		return trustedKey{}, fmt.Errorf("%q is not a note verifier key (<origin>+<hash>+<key>)", vkey)
	}
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 1+ed25519.PublicKeySize || raw[0] != noteAlgEd25519 {
		return trustedKey{}, fmt.Errorf("%q does not hold an Ed25519 key", vkey)
	}
	pub := ed25519.PublicKey(raw[1:])
	again, err := audit.VerifierKey(parts[0], pub)
	if err != nil || again != vkey {
		return trustedKey{}, fmt.Errorf("%q is not a well-formed verifier key (its hash does not match)", vkey)
	}
	return trustedKey{Origin: parts[0], Pub: pub}, nil
}

// verifierString names k for display: the verifier key when the origin is
// known, else the raw key.
func (k trustedKey) verifierString(origin string) string {
	if k.Origin != "" {
		origin = k.Origin
	}
	if v, err := audit.VerifierKey(origin, k.Pub); err == nil {
		return v
	}
	return base64.StdEncoding.EncodeToString(k.Pub)
}
