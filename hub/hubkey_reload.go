package hub

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"time"
)

// Several hub processes share one hub key: copies of the key files, or one
// PKCS#11 token. The process that rotates logs the rotation and co-signs
// its checkpoint (RotateHubKey); the others find the new key in their key
// store and take it, still trusting the old one.

// ReloadHubKeys reads the key store again. It takes a new current key only
// if that key follows this process's key, which must be among the set's
// retired keys: a set that dropped the current key, or an older set, is
// not followed. It reports whether the signing key changed.
func (h *Hub) ReloadHubKeys(ctx context.Context) (bool, error) {
	k := h.hubKeys
	k.rotating.Lock()
	defer k.rotating.Unlock()
	k.mu.RLock()
	store, cur := k.store, k.current
	k.mu.RUnlock()
	if store == nil {
		return false, nil
	}
	set, err := store.LoadHubKeys(ctx)
	if err != nil {
		return false, fmt.Errorf("hub key reload: %w", err)
	}
	retired := make([]ed25519.PublicKey, 0, len(set.Retired))
	for i, r := range set.Retired {
		p, err := ed25519Public(r.Key)
		if err != nil {
			return false, fmt.Errorf("hub key reload: retired key %d: %w", i, err)
		}
		retired = append(retired, p)
	}
	if set.Current.KeyID() == cur.KeyID() {
		if err := h.cfg.Audit.TrustRetired(retired...); err != nil {
			return false, err
		}
		k.mu.Lock()
		if len(set.Retired) > len(k.retired) {
			k.retired = set.Retired
		}
		k.mu.Unlock()
		return false, nil
	}
	curPub, _ := cur.Public().(ed25519.PublicKey)
	follows := false
	for _, p := range retired {
		follows = follows || p.Equal(curPub)
	}
	if !follows {
		return false, fmt.Errorf("hub key reload: the store's key %s does not follow %s (it does not list it as retired): kept %s", set.Current.KeyID(), cur.KeyID(), cur.KeyID())
	}
	pub, err := hubPublicKey(set.Current)
	if err != nil {
		return false, err
	}
	if err := h.cfg.Audit.TrustRetired(retired...); err != nil {
		return false, err
	}
	if err := h.cfg.Audit.Adopt(set.Current); err != nil {
		return false, fmt.Errorf("hub key reload: %w", err)
	}
	k.mu.Lock()
	k.current, k.public, k.retired = set.Current, pub, set.Retired
	k.mu.Unlock()
	h.log.Info("hub key taken from the key store: another hub process rotated it", "kid", set.Current.KeyID(), "previous_kid", cur.KeyID())
	return true, nil
}

// reloadHubKeys calls ReloadHubKeys every interval until ctx ends, logging
// a failure once until it changes.
func (h *Hub) reloadHubKeys(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var last string
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		_, err := h.ReloadHubKeys(ctx)
		switch {
		case err != nil && err.Error() != last:
			h.log.Error("hub key reload", "err", err)
			last = err.Error()
		case err == nil:
			last = ""
		}
	}
}
