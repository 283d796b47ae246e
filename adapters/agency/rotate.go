package agency

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/relais-hub/relais/contracts/seal"
)

// A rotation writes the new private key beside the current one under
// pendingSuffix, registers its public half with the hub, and only then
// commits: the current key file is kept as <base>-<kid>.jwk (old
// encryption keys keep decrypting what was sent to them) and the pending
// one takes its place. A failed registration leaves the keys as they were.
const pendingSuffix = ".pending.jwk"

// Rotation is a new key waiting to be registered and committed.
type Rotation struct {
	Dir string
	Use string // "sig" or "enc"
	// New is the new private key; Public its public JWK, to register.
	New    jwk.Key
	Public []byte
}

func keyFileFor(use string) (string, error) {
	switch use {
	case "sig":
		return signingKeyFile, nil
	case "enc":
		return encryptionKeyFile, nil
	}
	return "", fmt.Errorf("key use %q: must be sig or enc", use)
}

// PrepareRotation generates a new key of use for the agency whose keys are
// in dir and writes it as a pending key file (mode 0600).
func PrepareRotation(dir, use string) (Rotation, error) {
	file, err := keyFileFor(use)
	if err != nil {
		return Rotation{}, err
	}
	keys, err := Load(dir)
	if err != nil {
		return Rotation{}, err
	}
	var k jwk.Key
	if use == "sig" {
		k, err = seal.GenerateSigningKey(seal.NewKID(keys.ID + "#sig"))
	} else {
		k, err = seal.GenerateEncryptionKey(seal.NewKID(keys.ID + "#enc"))
	}
	if err != nil {
		return Rotation{}, err
	}
	pub, err := seal.PublicKey(k)
	if err != nil {
		return Rotation{}, err
	}
	pubJSON, err := json.Marshal(pub)
	if err != nil {
		return Rotation{}, fmt.Errorf("encode public key: %w", err)
	}
	if err := seal.WriteKeyFile(filepath.Join(dir, strings.TrimSuffix(file, ".jwk")+pendingSuffix), k); err != nil {
		return Rotation{}, err
	}
	return Rotation{Dir: dir, Use: use, New: k, Public: pubJSON}, nil
}

// Abandon removes the pending key file of a rotation that was not
// registered.
func (r Rotation) Abandon() error {
	file, err := keyFileFor(r.Use)
	if err != nil {
		return err
	}
	err = os.Remove(filepath.Join(r.Dir, strings.TrimSuffix(file, ".jwk")+pendingSuffix))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// Commit makes the registered new key the agency's current key: the old
// key file is kept as <base>-<kid>.jwk and public.jwks is rewritten.
func (r Rotation) Commit() (Keys, error) {
	file, err := keyFileFor(r.Use)
	if err != nil {
		return Keys{}, err
	}
	base := strings.TrimSuffix(file, ".jwk")
	current := filepath.Join(r.Dir, file)
	old, err := seal.ReadKeyFile(current)
	if err != nil {
		return Keys{}, err
	}
	oldKID, _ := old.KeyID()
	if err := os.Rename(current, filepath.Join(r.Dir, archivedName(base, oldKID))); err != nil {
		return Keys{}, fmt.Errorf("keep the old key: %w", err)
	}
	if err := os.Rename(filepath.Join(r.Dir, base+pendingSuffix), current); err != nil {
		return Keys{}, fmt.Errorf("install the new key: %w", err)
	}
	keys, err := Load(r.Dir)
	if err != nil {
		return Keys{}, err
	}
	pub, err := keys.PublicJWKS()
	if err != nil {
		return Keys{}, err
	}
	if err := os.WriteFile(filepath.Join(r.Dir, publicJWKSFile), pub, 0o644); err != nil {
		return Keys{}, err
	}
	return keys, nil
}

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9._-]`)

// archivedName is the file an old key is kept in, e.g.
// encryption-bf.dpe-bobo_enc-2026-11-21-9f86d081.jwk.
func archivedName(base, kid string) string {
	return base + "-" + unsafeFileChars.ReplaceAllString(kid, "_") + ".jwk"
}

// loadOldEncryptionKeys reads the encryption keys kept by rotations, newest
// first (by file time: a kept file keeps the time its key was written).
func loadOldEncryptionKeys(dir string) ([]jwk.Key, error) {
	base := strings.TrimSuffix(encryptionKeyFile, ".jwk")
	paths, err := filepath.Glob(filepath.Join(dir, base+"-*.jwk"))
	if err != nil {
		return nil, err
	}
	type aged struct {
		path string
		mod  int64
	}
	files := make([]aged, 0, len(paths))
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		files = append(files, aged{p, st.ModTime().UnixNano()})
	}
	sort.Slice(files, func(i, j int) bool {
		if files[i].mod != files[j].mod {
			return files[i].mod > files[j].mod
		}
		return files[i].path > files[j].path
	})
	keys := make([]jwk.Key, 0, len(files))
	for _, f := range files {
		k, err := seal.ReadKeyFile(f.path)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}
