package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
)

// The key directory has the layout `relais agency init` writes (so that an
// agency's existing keys can be adopted as they are), plus the locked
// variants of the private key files, named <file>.locked.
const (
	signingKeyFile    = "signing.jwk"
	encryptionKeyFile = "encryption.jwk"
	publicJWKSFile    = "public.jwks"
	identityFile      = "agency.json"
)

// createKeys makes a new agency's keys in dir. Without a passphrase the
// private keys are plain JWK files (mode 0600, as agency.Init writes them);
// with one, they are generated in memory and only their locked form ever
// reaches the disk.
func createKeys(id, dir string, passphrase []byte) (agency.Keys, error) {
	if len(passphrase) == 0 {
		return agency.Init(id, dir)
	}
	if !contracts.ValidAgencyID(id) {
		return agency.Keys{}, fmt.Errorf("agency id %q: must be <iso-3166 alpha-2>.<slug>, e.g. bf.dpe-bobo", id)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return agency.Keys{}, err
	}
	for _, f := range []string{signingKeyFile, signingKeyFile + lockedSuffix} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return agency.Keys{}, fmt.Errorf("%s already holds keys: refusing to overwrite them", dir)
		}
	}
	sig, err := seal.GenerateSigningKey(seal.NewKID(id + "#sig"))
	if err != nil {
		return agency.Keys{}, err
	}
	enc, err := seal.GenerateEncryptionKey(seal.NewKID(id + "#enc"))
	if err != nil {
		return agency.Keys{}, err
	}
	if err := writeLockedKey(filepath.Join(dir, signingKeyFile+lockedSuffix), sig, passphrase); err != nil {
		return agency.Keys{}, err
	}
	if err := writeLockedKey(filepath.Join(dir, encryptionKeyFile+lockedSuffix), enc, passphrase); err != nil {
		return agency.Keys{}, err
	}
	k := agency.Keys{ID: id, Signing: sig, Encryption: []jwk.Key{enc}}
	if err := writePublicFiles(dir, k); err != nil {
		return agency.Keys{}, err
	}
	return k, nil
}

func writePublicFiles(dir string, k agency.Keys) error {
	pub, err := k.PublicJWKS()
	if err != nil {
		return err
	}
	if err := writeFileDurably(filepath.Join(dir, publicJWKSFile), pub, 0o644); err != nil {
		return err
	}
	ident, _ := json.Marshal(map[string]string{"id": k.ID})
	return writeFileDurably(filepath.Join(dir, identityFile), ident, 0o644)
}

// isLocked reports whether dir holds passphrase-protected keys.
func isLocked(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, signingKeyFile+lockedSuffix))
	return err == nil
}

// loadKeys reads the agency's keys from dir: plain files through
// agency.Load, or locked files opened with passphrase. Either way a private
// key file that group or others can read is refused: such a key must be
// considered exposed, and the agent says so instead of starting.
func loadKeys(dir string, passphrase []byte) (agency.Keys, error) {
	if !isLocked(dir) {
		return agency.Load(dir)
	}
	if len(passphrase) == 0 {
		return agency.Keys{}, ErrPassphraseRequired
	}
	raw, err := os.ReadFile(filepath.Join(dir, identityFile))
	if err != nil {
		return agency.Keys{}, fmt.Errorf("read agency identity: %w", err)
	}
	var ident struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(raw, &ident); err != nil || !contracts.ValidAgencyID(ident.ID) {
		return agency.Keys{}, fmt.Errorf("%s: invalid agency identity file", filepath.Join(dir, identityFile))
	}
	sig, err := readLockedKey(filepath.Join(dir, signingKeyFile+lockedSuffix), "sig", passphrase)
	if err != nil {
		return agency.Keys{}, err
	}
	enc, err := readLockedKey(filepath.Join(dir, encryptionKeyFile+lockedSuffix), "enc", passphrase)
	if err != nil {
		return agency.Keys{}, err
	}
	old, err := archivedEncryptionKeys(dir, passphrase)
	if err != nil {
		return agency.Keys{}, err
	}
	return agency.Keys{ID: ident.ID, Signing: sig, Encryption: append([]jwk.Key{enc}, old...)}, nil
}

// archivedEncryptionKeys reads the encryption keys kept by rotations
// (encryption-<kid>.jwk, locked or not), newest first, so that messages
// sent to an older key still open.
func archivedEncryptionKeys(dir string, passphrase []byte) ([]jwk.Key, error) {
	base := strings.TrimSuffix(encryptionKeyFile, ".jwk")
	plain, err := filepath.Glob(filepath.Join(dir, base+"-*.jwk"))
	if err != nil {
		return nil, err
	}
	locked, err := filepath.Glob(filepath.Join(dir, base+"-*.jwk"+lockedSuffix))
	if err != nil {
		return nil, err
	}
	type aged struct {
		path string
		mod  int64
	}
	var files []aged
	for _, p := range append(plain, locked...) {
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
		var k jwk.Key
		if strings.HasSuffix(f.path, lockedSuffix) {
			k, err = readLockedKey(f.path, "enc", passphrase)
		} else {
			k, err = seal.ReadKeyFile(f.path)
		}
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// lockKeys protects the plain private key files of an existing key
// directory with passphrase: each is written locked, then the plain file is
// removed. The plain bytes may survive in the disk's free space; a site that
// fears that should create new keys with a passphrase instead.
func lockKeys(dir string, passphrase []byte) error {
	if len(passphrase) == 0 {
		return errors.New("empty passphrase")
	}
	base := strings.TrimSuffix(encryptionKeyFile, ".jwk")
	archived, err := filepath.Glob(filepath.Join(dir, base+"-*.jwk"))
	if err != nil {
		return err
	}
	uses := map[string]string{filepath.Join(dir, signingKeyFile): "sig", filepath.Join(dir, encryptionKeyFile): "enc"}
	for _, p := range archived {
		uses[p] = "enc"
	}
	for path, use := range uses {
		k, err := seal.ReadKeyFile(path)
		if err != nil {
			return err
		}
		if got, _ := k.KeyUsage(); got != use {
			return fmt.Errorf("%s holds a %q key, not %q", path, got, use)
		}
		st, err := os.Stat(path)
		if err != nil {
			return err
		}
		locked := path + lockedSuffix
		if err := writeLockedKey(locked, k, passphrase); err != nil {
			return err
		}
		// Archived keys are ordered by file time: keep it.
		if err := os.Chtimes(locked, st.ModTime(), st.ModTime()); err != nil {
			return err
		}
	}
	for path := range uses {
		if err := os.Remove(path); err != nil {
			return err
		}
	}
	return nil
}
