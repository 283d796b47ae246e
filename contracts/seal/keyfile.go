package seal

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

// maxKeyFileSize bounds what ReadKeyFile will read: a JWK is a few hundred
// bytes.
const maxKeyFileSize = 64 << 10

// WriteKeyFile writes k as JSON to path with mode 0600. It writes a
// temporary file in the same directory, syncs it, renames it over path and
// syncs the directory, so a crash leaves either the old file or the new
// one, never a truncated key.
func WriteKeyFile(path string, k jwk.Key) error {
	if _, err := profileOf(k); err != nil {
		return err
	}
	b, err := json.MarshalIndent(k, "", "  ")
	if err != nil {
		return fmt.Errorf("seal: encoding key for %s: %w", path, err)
	}
	b = append(b, '\n')
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("seal: creating temporary key file in %s: %w", dir, err)
	}
	tmpName := tmp.Name()
	committed := false
	defer func() {
		if !committed {
			_ = tmp.Close()
			_ = os.Remove(tmpName)
		}
	}()
	// CreateTemp already uses 0600; Chmod makes the intent explicit and
	// independent of that implementation detail.
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("seal: restricting %s: %w", tmpName, err)
	}
	if _, err := tmp.Write(b); err != nil {
		return fmt.Errorf("seal: writing %s: %w", tmpName, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("seal: syncing %s: %w", tmpName, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("seal: closing %s: %w", tmpName, err)
	}
	if err := os.Rename(tmpName, path); err != nil {
		return fmt.Errorf("seal: moving key into %s: %w", path, err)
	}
	committed = true
	return syncDir(dir)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("seal: opening %s to sync it: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("seal: syncing directory %s: %w", dir, err)
	}
	return nil
}

// ReadKeyFile reads a JWK written by WriteKeyFile. It refuses a file that
// group or others can read or write: a private key that others could read
// must be treated as compromised, and saying so early beats a silent leak.
func ReadKeyFile(path string) (jwk.Key, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("seal: opening key file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("seal: inspecting key file %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("seal: key file %s is not a regular file", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("seal: key file %s has mode %04o and is accessible to group or others; run `chmod 600 %s` (and consider the key exposed)", path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("seal: reading key file %s: %w", path, err)
	}
	if len(b) > maxKeyFileSize {
		return nil, fmt.Errorf("seal: key file %s is larger than %d bytes", path, maxKeyFileSize)
	}
	if _, err := decodeObject(b); err != nil {
		return nil, fmt.Errorf("seal: key file %s: %w", path, err)
	}
	k, err := jwk.ParseKey(b)
	if err != nil {
		return nil, fmt.Errorf("seal: key file %s is not a JWK: %w", path, err)
	}
	if _, err := profileOf(k); err != nil {
		return nil, fmt.Errorf("seal: key file %s: %w", path, err)
	}
	return k, nil
}
