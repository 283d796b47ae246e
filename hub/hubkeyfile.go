package hub

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwe"
	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/relais-hub/relais/contracts/seal"
)

// Hub key files in a data directory:
//
//   - hub.jwk, the current private key, mode 0600: a JWK, or with a
//     passphrase a compact JWE (PBES2-HS512+A256KW, A256GCM) holding it;
//   - hub-keys.json, the public keys: the current one, and those retired by
//     rotations, with when. It is all a backup or an auditor needs to check
//     checkpoints, and the only file a hub whose key is on a PKCS#11 token
//     keeps.
//
// Files that group or others can read are refused: a private key others
// could read must be treated as compromised.
const (
	HubKeyFile        = "hub.jwk"
	HubRetiredKeyFile = "hub-keys.json"
)

// Passphrase protection. PBKDF2-HMAC-SHA512 at 600,000 iterations costs
// about half a second on the target machine, once per start; files with a
// count below the floor are refused, so a tampered file cannot make the
// hub use a weak derivation, nor above the ceiling, so it cannot stall it.
const (
	hubKeyPBES2Count    = 600_000
	hubKeyMinPBES2Count = 210_000
	hubKeyMaxPBES2Count = 5_000_000
	maxHubKeyFileSize   = 64 << 10
	hubKeyContentType   = "jwk+json"
)

// HubKeyFiles keeps the hub's key set in a directory; it is a HubKeyStore.
type HubKeyFiles struct {
	dir        string
	passphrase []byte
}

// NewHubKeyFiles keeps the key set in dir. With a passphrase the private
// key is written encrypted and must be encrypted when read.
func NewHubKeyFiles(dir string, passphrase []byte) *HubKeyFiles {
	return &HubKeyFiles{dir: dir, passphrase: passphrase}
}

// LoadOrCreate reads the key set, creating a first key when there is none.
func (f *HubKeyFiles) LoadOrCreate(ctx context.Context) (HubKeySet, error) {
	set, err := f.Load()
	if !errors.Is(err, fs.ErrNotExist) {
		return set, err
	}
	k, err := f.NewHubKey(ctx)
	if err != nil {
		return HubKeySet{}, err
	}
	set = HubKeySet{Current: k}
	if err := f.SaveHubKeys(ctx, set); err != nil {
		return HubKeySet{}, err
	}
	return set, nil
}

// NewHubKey makes a fresh Ed25519 key in memory; SaveHubKeys writes it.
func (f *HubKeyFiles) NewHubKey(context.Context) (HubSigner, error) {
	k, err := seal.GenerateSigningKey(seal.NewKID("hub#sig"))
	if err != nil {
		return nil, err
	}
	return NewHubSigner(k)
}

// LoadHubKeys is Load: the files as they are now.
func (f *HubKeyFiles) LoadHubKeys(context.Context) (HubKeySet, error) { return f.Load() }

// Load reads the key set; fs.ErrNotExist when there is no hub.jwk.
func (f *HubKeyFiles) Load() (HubKeySet, error) {
	raw, err := readPrivateFile(filepath.Join(f.dir, HubKeyFile))
	if err != nil {
		return HubKeySet{}, err
	}
	key, err := ParseHubKeyFile(raw, f.passphrase)
	if err != nil {
		return HubKeySet{}, fmt.Errorf("hub key %s: %w", filepath.Join(f.dir, HubKeyFile), err)
	}
	current, err := NewHubSigner(key)
	if err != nil {
		return HubKeySet{}, err
	}
	list, err := ReadHubKeyList(f.dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return HubKeySet{}, err
	}
	retired := list.Retired
	// A crash between the two writes of SaveHubKeys can leave the current
	// key listed as retired too: it is current.
	curKID := current.KeyID()
	kept := retired[:0]
	for _, r := range retired {
		if kid, _ := r.Key.KeyID(); kid != curKID {
			kept = append(kept, r)
		}
	}
	return HubKeySet{Current: current, Retired: kept}, nil
}

// hubKeyListFile is hub-keys.json.
type hubKeyListFile struct {
	Current *currentEntry  `json:"current,omitempty"`
	Retired []retiredEntry `json:"retired"`
}

type currentEntry struct {
	JWK json.RawMessage `json:"jwk"`
}

type retiredEntry struct {
	JWK       json.RawMessage `json:"jwk"`
	RetiredAt time.Time       `json:"retired_at"`
}

// HubKeyList is hub-keys.json: the public half of a HubKeySet. Current is
// nil in files written before it was listed there.
type HubKeyList struct {
	Current jwk.Key // public
	Retired []RetiredHubKey
}

// PublicKeys is every key of the list, current first.
func (l HubKeyList) PublicKeys() []ed25519.PublicKey {
	var out []ed25519.PublicKey
	if p, err := ed25519Public(l.Current); err == nil {
		out = append(out, p)
	}
	for _, r := range l.Retired {
		if p, err := ed25519Public(r.Key); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// ReadHubKeyList reads dir's hub-keys.json; fs.ErrNotExist when there is
// none (a hub key never rotated, written by an older version).
func ReadHubKeyList(dir string) (HubKeyList, error) {
	path := filepath.Join(dir, HubRetiredKeyFile)
	raw, err := readPrivateFile(path)
	if err != nil {
		return HubKeyList{}, err
	}
	out, err := ParseHubKeyList(raw)
	if err != nil {
		return HubKeyList{}, fmt.Errorf("hub keys %s: %w", path, err)
	}
	return out, nil
}

// WriteHubKeyList replaces dir's hub-keys.json with the public half of set.
func WriteHubKeyList(dir string, set HubKeySet) error {
	raw, err := MarshalHubKeyList(set)
	if err != nil {
		return err
	}
	return writePrivateFile(filepath.Join(dir, HubRetiredKeyFile), raw)
}

// MarshalHubKeyList renders the public half of set as hub-keys.json.
func MarshalHubKeyList(set HubKeySet) ([]byte, error) {
	file := hubKeyListFile{Retired: make([]retiredEntry, 0, len(set.Retired))}
	if set.Current != nil {
		pub, err := hubPublicKey(set.Current)
		if err != nil {
			return nil, err
		}
		raw, err := json.Marshal(pub)
		if err != nil {
			return nil, err
		}
		file.Current = &currentEntry{JWK: raw}
	}
	for _, r := range set.Retired {
		pub, err := seal.PublicKey(r.Key)
		if err != nil {
			return nil, fmt.Errorf("hub key: retired key: %w", err)
		}
		raw, err := json.Marshal(pub)
		if err != nil {
			return nil, err
		}
		file.Retired = append(file.Retired, retiredEntry{JWK: raw, RetiredAt: r.RetiredAt.UTC()})
	}
	out, err := json.MarshalIndent(file, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// ParseHubKeyList decodes hub-keys.json: every key must be a public
// Ed25519 signing key of the profile.
func ParseHubKeyList(raw []byte) (HubKeyList, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var file hubKeyListFile
	if err := dec.Decode(&file); err != nil {
		return HubKeyList{}, fmt.Errorf("not a hub key list: %w", err)
	}
	if dec.More() {
		return HubKeyList{}, errors.New("data after the hub key list")
	}
	var out HubKeyList
	if file.Current != nil {
		k, err := parsePublicHubKey(file.Current.JWK)
		if err != nil {
			return HubKeyList{}, fmt.Errorf("current key: %w", err)
		}
		out.Current = k
	}
	out.Retired = make([]RetiredHubKey, 0, len(file.Retired))
	for i, e := range file.Retired {
		k, err := parsePublicHubKey(e.JWK)
		if err != nil {
			return HubKeyList{}, fmt.Errorf("retired key %d: %w", i, err)
		}
		out.Retired = append(out.Retired, RetiredHubKey{Key: k, RetiredAt: e.RetiredAt})
	}
	return out, nil
}

func parsePublicHubKey(raw json.RawMessage) (jwk.Key, error) {
	set, err := seal.ParseSet([]byte(`{"keys":[` + string(raw) + `]}`))
	if err != nil {
		return nil, err
	}
	k, _ := set.Key(0)
	if _, err := ed25519Public(k); err != nil {
		return nil, err
	}
	return k, nil
}

// ParseHubKeyFile decodes hub.jwk: a private Ed25519 signing key of the
// profile, as a JWK, or as a PBES2 JWE when passphrase is set. An encrypted
// file without a passphrase, and a plain file with one, are refused: the
// operator asked for one thing and the disk holds the other.
func ParseHubKeyFile(raw []byte, passphrase []byte) (jwk.Key, error) {
	raw = bytes.TrimSpace(raw)
	encrypted := len(raw) > 0 && raw[0] != '{'
	switch {
	case encrypted && len(passphrase) == 0:
		return nil, errors.New("the key is encrypted: give its passphrase (RELAIS_HUB_KEY_PASSPHRASE or --hub-key-passphrase-file)")
	case !encrypted && len(passphrase) > 0:
		return nil, errors.New("a passphrase is set but the key is not encrypted: encrypt it with `relais hub key encrypt`")
	case encrypted:
		plain, err := jwe.Decrypt(raw, jwe.WithKey(jwa.PBES2_HS512_A256KW(), passphrase),
			jwe.WithMinPBES2Count(hubKeyMinPBES2Count), jwe.WithMaxPBES2Count(hubKeyMaxPBES2Count))
		if err != nil {
			// Wrong passphrase and tampered file look the same to AES-KW.
			return nil, errors.New("cannot decrypt the key: wrong passphrase, or the file was altered")
		}
		raw = plain
	}
	k, err := jwk.ParseKey(raw)
	if err != nil {
		return nil, fmt.Errorf("not a JWK: %w", err)
	}
	if priv, err := jwk.IsPrivateKey(k); err != nil || !priv {
		return nil, errors.New("not a private key")
	}
	if _, err := ed25519Public(k); err != nil {
		return nil, err
	}
	if _, err := seal.PublicKey(k); err != nil {
		return nil, err
	}
	return k, nil
}

// EncryptHubKey renders a private key as the encrypted form of hub.jwk.
func EncryptHubKey(k jwk.Key, passphrase []byte) ([]byte, error) {
	if len(passphrase) == 0 {
		return nil, errors.New("hub key: empty passphrase")
	}
	plain, err := json.Marshal(k)
	if err != nil {
		return nil, fmt.Errorf("hub key: %w", err)
	}
	hdr := jwe.NewHeaders()
	if err := hdr.Set("cty", hubKeyContentType); err != nil {
		return nil, err
	}
	out, err := jwe.Encrypt(plain, jwe.WithKey(jwa.PBES2_HS512_A256KW(), passphrase),
		jwe.WithContentEncryption(jwa.A256GCM()), jwe.WithPBES2Count(hubKeyPBES2Count),
		jwe.WithProtectedHeaders(hdr), jwe.WithCompact())
	if err != nil {
		return nil, fmt.Errorf("hub key: encrypting: %w", err)
	}
	return append(out, '\n'), nil
}

// SaveHubKeys writes hub-keys.json, then the private key, each through a
// synced temporary file renamed into place. A crash between the two leaves
// the old private key with the new list, which Load reconciles: the old
// key stays current, and still trusted.
func (f *HubKeyFiles) SaveHubKeys(_ context.Context, set HubKeySet) error {
	cur, ok := set.Current.(*jwkHubSigner)
	if !ok {
		return fmt.Errorf("hub key: %s is not held in memory and cannot be written to a file", set.Current.KeyID())
	}
	if err := WriteHubKeyList(f.dir, set); err != nil {
		return err
	}
	var priv []byte
	var err error
	if len(f.passphrase) > 0 {
		priv, err = EncryptHubKey(cur.key, f.passphrase)
	} else {
		priv, err = json.MarshalIndent(cur.key, "", "  ")
		priv = append(priv, '\n')
	}
	if err != nil {
		return err
	}
	return writePrivateFile(filepath.Join(f.dir, HubKeyFile), priv)
}

// readPrivateFile reads a key file, refusing one that group or others can
// access.
func readPrivateFile(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%s has mode %04o and is accessible to group or others: run `chmod 600 %s` (and treat the key as exposed)", path, perm, path)
	}
	raw, err := io.ReadAll(io.LimitReader(fh, maxHubKeyFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(raw) > maxHubKeyFileSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxHubKeyFileSize)
	}
	return raw, nil
}

// writePrivateFile replaces path atomically with data, mode 0600.
func writePrivateFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("hub key: %w", err)
	}
	name := tmp.Name()
	done := false
	defer func() {
		if !done {
			_ = tmp.Close()
			_ = os.Remove(name)
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("hub key: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("hub key: writing %s: %w", name, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("hub key: syncing %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("hub key: %w", err)
	}
	if err := os.Rename(name, path); err != nil {
		return fmt.Errorf("hub key: %w", err)
	}
	done = true
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("hub key: %w", err)
	}
	defer d.Close()
	return d.Sync()
}
