package audit

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// Watcher follows a log's checkpoints for an auditor or witness. It holds
// the last checkpoint it verified, persisted to a file, and accepts a new one
// only if it is signed by the hub key and provably extends the last one. A
// hub that rewrote history cannot produce both, however it signs.
type Watcher struct {
	mu     sync.Mutex
	path   string
	origin string
	// pubs are the trusted hub keys: the current one and those retired by
	// rotations (keyring.go).
	pubs []ed25519.PublicKey
	last *SignedCheckpoint
}

// NewWatcher returns a Watcher whose state lives in statePath. An existing
// state file must hold a checkpoint correctly signed by pub for origin; a
// missing file means nothing was seen yet, and the first checkpoint observed
// is trusted as the starting point.
func NewWatcher(statePath, origin string, pub ed25519.PublicKey) (*Watcher, error) {
	return NewWatcherWithKeys(statePath, origin, []ed25519.PublicKey{pub})
}

// NewWatcherWithKeys is NewWatcher trusting a set of hub keys (GET
// /v1/audit/keys): a checkpoint signed by any of them is accepted, so the
// watch goes on across a hub key rotation.
func NewWatcherWithKeys(statePath, origin string, pubs []ed25519.PublicKey) (*Watcher, error) {
	w := &Watcher{path: statePath, origin: origin, pubs: pubs}
	data, err := os.ReadFile(statePath)
	if errors.Is(err, fs.ErrNotExist) {
		return w, nil
	}
	if err != nil {
		return nil, fmt.Errorf("audit: watcher state: %w", err)
	}
	cp, err := ParseCheckpointWithKeys(data, origin, pubs)
	if err != nil {
		return nil, fmt.Errorf("audit: watcher state %s: %w", statePath, err)
	}
	w.last = &SignedCheckpoint{Checkpoint: cp, Note: data}
	return w, nil
}

// Last returns the last verified checkpoint, if any.
func (w *Watcher) Last() (SignedCheckpoint, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.last == nil {
		return SignedCheckpoint{}, false
	}
	return *w.last, true
}

// Observe verifies newCP and, if it is acceptable, makes it the last
// checkpoint (persisting it before returning). consistency is the proof from
// the last checkpoint's size to newCP's size. Errors are distinct: a bad
// signature (ErrBadSignature), a fork (ErrFork), a shrunk log (ErrShrunk), a
// missing proof (ErrMissingProof) or an inconsistent one (ErrInconsistent).
// On error the state is unchanged.
func (w *Watcher) Observe(newCP []byte, consistency [][]byte) error {
	cp, err := ParseCheckpointWithKeys(newCP, w.origin, w.pubs)
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.last != nil {
		if err := VerifyConsistency(w.last.Checkpoint, cp, consistency); err != nil {
			return err
		}
		if cp.Size == w.last.Size {
			return nil
		}
	}
	if err := writeFileAtomic(w.path, newCP); err != nil {
		return fmt.Errorf("audit: watcher: persist checkpoint: %w", err)
	}
	w.last = &SignedCheckpoint{Checkpoint: cp, Note: append([]byte(nil), newCP...)}
	return nil
}

// writeFileAtomic replaces path with data so that a crash leaves either the
// old or the new content, never a mix: write a temporary file in the same
// directory, sync it, rename it over path, sync the directory.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // no-op once renamed
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmpName, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
