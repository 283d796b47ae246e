package agent

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"golang.org/x/crypto/argon2"

	"github.com/relais-hub/relais/contracts/seal"
)

// A passphrase-protected private key file holds the key's JWK encrypted
// with AES-256-GCM under a key derived from the passphrase with Argon2id.
//
// Why Argon2id rather than a JWE with PBES2 (which jwx v3 would give us in
// one call): the threat is a shared desktop PC stolen from a bus station or
// a border post, and the attacker then guessing the passphrase offline.
// PBES2 is PBKDF2, which GPUs and ASICs compute cheaply in parallel;
// Argon2id makes every guess cost memory as well as time. The parameters
// are the OWASP baseline (19 MiB, 2 passes), small enough to unlock in a
// fraction of a second on an old PC and to keep the agent well under its
// 64 MiB memory budget; they are stored in the file so they can be raised
// later without breaking existing files.
const (
	lockedFormat   = "relais-locked-key/1"
	lockedSuffix   = ".locked"
	argonTime      = 2
	argonMemoryKiB = 19 * 1024
	argonThreads   = 1
	// Bounds on the parameters a file may ask for, so that a tampered file
	// cannot make unlocking exhaust the machine.
	maxArgonTime      = 16
	maxArgonMemoryKiB = 256 * 1024
	maxArgonThreads   = 16
	maxLockedFileSize = 64 << 10
)

// ErrPassphraseRequired is returned when the keys are passphrase-protected
// and no passphrase was given.
var ErrPassphraseRequired = errors.New("the agency's private keys are protected by a passphrase: give it with --passphrase-file or RELAIS_AGENT_PASSPHRASE")

// ErrWrongPassphrase is returned when a locked key does not open.
var ErrWrongPassphrase = errors.New("wrong passphrase, or the key file was altered")

type lockedKeyFile struct {
	Format  string `json:"format"`
	Use     string `json:"use"`
	KDF     string `json:"kdf"`
	Time    uint32 `json:"t"`
	Memory  uint32 `json:"m"`
	Threads uint8  `json:"p"`
	Salt    []byte `json:"salt"`
	Nonce   []byte `json:"nonce"`
	Sealed  []byte `json:"ciphertext"`
}

// additionalData binds a file to its format and key use, so that the
// encryption key file cannot be swapped for the signing key file unnoticed.
func (f lockedKeyFile) additionalData() []byte { return []byte(f.Format + "\x00" + f.Use) }

func aeadFor(passphrase, salt []byte, t, m uint32, p uint8) (cipher.AEAD, error) {
	block, err := aes.NewCipher(argon2.IDKey(passphrase, salt, t, m, p, 32))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// writeLockedKey writes k to path encrypted under passphrase, mode 0600,
// atomically and durably.
func writeLockedKey(path string, k jwk.Key, passphrase []byte) error {
	if len(passphrase) == 0 {
		return errors.New("empty passphrase")
	}
	use, _ := k.KeyUsage()
	if use != "sig" && use != "enc" {
		return fmt.Errorf("key use %q: must be sig or enc", use)
	}
	plain, err := json.Marshal(k)
	if err != nil {
		return fmt.Errorf("encode key: %w", err)
	}
	f := lockedKeyFile{Format: lockedFormat, Use: use, KDF: "argon2id", Time: argonTime, Memory: argonMemoryKiB, Threads: argonThreads,
		Salt: make([]byte, 16)}
	if _, err := io.ReadFull(rand.Reader, f.Salt); err != nil {
		return err
	}
	aead, err := aeadFor(passphrase, f.Salt, f.Time, f.Memory, f.Threads)
	if err != nil {
		return err
	}
	f.Nonce = make([]byte, aead.NonceSize())
	if _, err := io.ReadFull(rand.Reader, f.Nonce); err != nil {
		return err
	}
	f.Sealed = aead.Seal(nil, f.Nonce, plain, f.additionalData())
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	return writeFileDurably(path, append(b, '\n'), 0o600)
}

// readLockedKey opens a locked key file of the given use.
func readLockedKey(path, use string, passphrase []byte) (jwk.Key, error) {
	if err := requirePrivate(path); err != nil {
		return nil, err
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	raw, err := io.ReadAll(io.LimitReader(fh, maxLockedFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(raw) > maxLockedFileSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxLockedFileSize)
	}
	var f lockedKeyFile
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("%s: not a locked key file: %w", path, err)
	}
	switch {
	case f.Format != lockedFormat || f.KDF != "argon2id":
		return nil, fmt.Errorf("%s: unsupported format %q/%q", path, f.Format, f.KDF)
	case f.Use != use:
		return nil, fmt.Errorf("%s: holds a %q key, not %q", path, f.Use, use)
	case f.Time == 0 || f.Time > maxArgonTime || f.Memory < 8*uint32(f.Threads) || f.Memory > maxArgonMemoryKiB ||
		f.Threads == 0 || f.Threads > maxArgonThreads || len(f.Salt) < 16:
		return nil, fmt.Errorf("%s: key derivation parameters out of bounds", path)
	}
	aead, err := aeadFor(passphrase, f.Salt, f.Time, f.Memory, f.Threads)
	if err != nil {
		return nil, err
	}
	if len(f.Nonce) != aead.NonceSize() {
		return nil, fmt.Errorf("%s: bad nonce", path)
	}
	plain, err := aead.Open(nil, f.Nonce, f.Sealed, f.additionalData())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, ErrWrongPassphrase)
	}
	k, err := jwk.ParseKey(plain)
	if err != nil {
		return nil, fmt.Errorf("%s: not a JWK: %w", path, err)
	}
	// PublicKey checks the key against the JOSE profile.
	if _, err := seal.PublicKey(k); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if got, _ := k.KeyUsage(); got != use {
		return nil, fmt.Errorf("%s: key use %q, want %q", path, got, use)
	}
	return k, nil
}

// writeFileDurably writes b to path through a synced temporary file renamed
// over it, then syncs the directory: a power cut leaves the old file or the
// new one, never a torn one.
func writeFileDurably(path string, b []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	name := tmp.Name()
	done := false
	defer func() {
		if !done {
			_ = tmp.Close()
			_ = os.Remove(name)
		}
	}()
	if err := tmp.Chmod(mode); err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(name, path); err != nil {
		return err
	}
	done = true
	return syncDir(dir)
}
