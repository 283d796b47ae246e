// Package agency is the agency-side client of the hub: it holds an agency's
// private keys, builds, encrypts and signs messages, pulls and opens the
// inbox, and sends receipts and answers. Plaintext never leaves it.
package agency

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
)

// Key files written by Init, inside the agency's key directory.
const (
	signingKeyFile    = "signing.jwk"
	encryptionKeyFile = "encryption.jwk"
	publicJWKSFile    = "public.jwks"
	identityFile      = "agency.json"
)

// Keys are an agency's identity and private keys.
type Keys struct {
	ID         string
	Signing    jwk.Key
	Encryption []jwk.Key // current first; older ones kept to decrypt
}

// Init creates an agency's keys in dir: private JWKs (mode 0600) and the
// public JWKS to register with the hub.
func Init(id, dir string) (Keys, error) {
	if !contracts.ValidAgencyID(id) {
		return Keys{}, fmt.Errorf("agency id %q: must be <iso-3166 alpha-2>.<slug>, e.g. bf.dpe-bobo", id)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Keys{}, err
	}
	if _, err := os.Stat(filepath.Join(dir, signingKeyFile)); err == nil {
		return Keys{}, fmt.Errorf("%s already holds keys: refusing to overwrite them", dir)
	}
	sig, err := seal.GenerateSigningKey(seal.NewKID(id + "#sig"))
	if err != nil {
		return Keys{}, err
	}
	enc, err := seal.GenerateEncryptionKey(seal.NewKID(id + "#enc"))
	if err != nil {
		return Keys{}, err
	}
	if err := seal.WriteKeyFile(filepath.Join(dir, signingKeyFile), sig); err != nil {
		return Keys{}, err
	}
	if err := seal.WriteKeyFile(filepath.Join(dir, encryptionKeyFile), enc); err != nil {
		return Keys{}, err
	}
	k := Keys{ID: id, Signing: sig, Encryption: []jwk.Key{enc}}
	pub, err := k.PublicJWKS()
	if err != nil {
		return Keys{}, err
	}
	if err := os.WriteFile(filepath.Join(dir, publicJWKSFile), pub, 0o644); err != nil {
		return Keys{}, err
	}
	ident, _ := json.Marshal(map[string]string{"id": id})
	if err := os.WriteFile(filepath.Join(dir, identityFile), ident, 0o644); err != nil {
		return Keys{}, err
	}
	return k, nil
}

// Load reads an agency's keys from dir.
func Load(dir string) (Keys, error) {
	raw, err := os.ReadFile(filepath.Join(dir, identityFile))
	if err != nil {
		return Keys{}, fmt.Errorf("read agency identity: %w", err)
	}
	var ident struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(raw, &ident); err != nil || !contracts.ValidAgencyID(ident.ID) {
		return Keys{}, fmt.Errorf("%s: invalid agency identity file", filepath.Join(dir, identityFile))
	}
	sig, err := seal.ReadKeyFile(filepath.Join(dir, signingKeyFile))
	if err != nil {
		return Keys{}, err
	}
	enc, err := seal.ReadKeyFile(filepath.Join(dir, encryptionKeyFile))
	if err != nil {
		return Keys{}, err
	}
	old, err := loadOldEncryptionKeys(dir)
	if err != nil {
		return Keys{}, err
	}
	return Keys{ID: ident.ID, Signing: sig, Encryption: append([]jwk.Key{enc}, old...)}, nil
}

// PublicJWKS is the JSON of the agency's public keys (the encryption keys
// kept by rotations included).
func (k Keys) PublicJWKS() ([]byte, error) {
	set, err := seal.PublicSet(append([]jwk.Key{k.Signing}, k.Encryption...)...)
	if err != nil {
		return nil, err
	}
	return json.Marshal(set)
}
