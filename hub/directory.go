package hub

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
	"github.com/relais-hub/relais/hub/policy"
)

// registeredKey is an agency's public key as the directory knows it.
type registeredKey struct {
	Agency string
	Key    jwk.Key
}

// Directory answers "whose key is this kid" and "is this agency
// registered". It caches the store's agencies and reloads on a miss, so a
// registration made through another hub instance is seen on first use.
type Directory struct {
	store Store

	mu       sync.RWMutex
	agencies map[string]Agency
	keys     map[string]registeredKey // by kid
	encKeys  map[string][]jwk.Key     // by agency
	// supervisors holds each agency's supervisor keys by kid.
	supervisors map[string]map[string]jwk.Key
	// meta and revoked come from the store's key records (keys.go).
	meta     map[string]keyMeta
	revoked  map[string]Revocation
	loadedAt time.Time
}

// maxDirectoryAge bounds how long a cached directory is trusted, so that a
// revocation made through another hub instance takes effect here soon.
const maxDirectoryAge = 15 * time.Second

func NewDirectory(store Store) *Directory {
	return &Directory{store: store}
}

// Reload replaces the cache from the store.
func (d *Directory) Reload(ctx context.Context) error {
	list, err := d.store.Agencies(ctx)
	if err != nil {
		return fmt.Errorf("load directory: %w", err)
	}
	agencies := make(map[string]Agency, len(list))
	keys := map[string]registeredKey{}
	enc := map[string][]jwk.Key{}
	sup := map[string]map[string]jwk.Key{}
	meta := map[string]keyMeta{}
	revoked := map[string]Revocation{}
	records, err := loadKeyRecords(ctx, d.store)
	if err != nil {
		return fmt.Errorf("load directory: %w", err)
	}
	added := map[string]time.Time{}
	for _, r := range records {
		if r.RevokedAt.IsZero() {
			added[r.KID] = r.AddedAt
		} else {
			revoked[r.KID] = Revocation{Agency: r.Agency, KID: r.KID, Use: r.Use, RevokedAt: r.RevokedAt}
		}
	}
	for _, a := range list {
		if len(a.SupervisorJWKS) > 0 {
			set, err := seal.ParseSet(a.SupervisorJWKS)
			if err != nil {
				return fmt.Errorf("load directory: agency %s supervisors: %w", a.ID, err)
			}
			sup[a.ID] = map[string]jwk.Key{}
			for i := 0; i < set.Len(); i++ {
				k, _ := set.Key(i)
				kid, _ := k.KeyID()
				sup[a.ID][kid] = k
			}
		}
		set, err := seal.ParseSet(a.JWKS)
		if err != nil {
			return fmt.Errorf("load directory: agency %s: %w", a.ID, err)
		}
		agencies[a.ID] = a
		for i := 0; i < set.Len(); i++ {
			k, _ := set.Key(i)
			kid, _ := k.KeyID()
			keys[kid] = registeredKey{Agency: a.ID, Key: k}
			at, ok := added[kid]
			if !ok {
				at = a.RegisteredAt
			}
			meta[kid] = keyMeta{addedAt: at, order: i}
			if use, _ := k.KeyUsage(); use == "enc" {
				enc[a.ID] = append(enc[a.ID], k)
			}
		}
	}
	d.mu.Lock()
	d.agencies, d.keys, d.encKeys, d.supervisors = agencies, keys, enc, sup
	d.meta, d.revoked, d.loadedAt = meta, revoked, time.Now()
	d.mu.Unlock()
	return nil
}

func (d *Directory) cached(fn func() bool) bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.agencies != nil && time.Since(d.loadedAt) < maxDirectoryAge && fn()
}

// lookupOrReload runs fn on the cache, reloading once if fn misses.
func (d *Directory) lookupOrReload(ctx context.Context, fn func() bool) (bool, error) {
	if d.cached(fn) {
		return true, nil
	}
	if err := d.Reload(ctx); err != nil {
		return false, err
	}
	return d.cached(fn), nil
}

// SigningKey resolves a kid to its agency and public key. An unknown kid is
// refused with unknown_key, a revoked one with key_revoked.
func (d *Directory) SigningKey(ctx context.Context, kid string) (string, jwk.Key, error) {
	var rk registeredKey
	var revoked bool
	ok, err := d.lookupOrReload(ctx, func() bool {
		var found bool
		rk, found = d.keys[kid]
		_, revoked = d.revoked[kid]
		return found || revoked
	})
	if err != nil {
		return "", nil, err
	}
	if revoked {
		return "", nil, contracts.Refuse(contracts.CodeKeyRevoked, "the key with this kid was revoked")
	}
	if !ok {
		return "", nil, contracts.Refuse(contracts.CodeUnknownKey, "no registered key has this kid")
	}
	if use, _ := rk.Key.KeyUsage(); use != "sig" {
		return "", nil, contracts.Refuse(contracts.CodeUnknownKey, "the key with this kid is not a signing key")
	}
	return rk.Agency, rk.Key, nil
}

// Agency returns a registered agency, or ErrNotFound.
func (d *Directory) Agency(ctx context.Context, id string) (Agency, error) {
	var a Agency
	ok, err := d.lookupOrReload(ctx, func() bool {
		var found bool
		a, found = d.agencies[id]
		return found
	})
	if err != nil {
		return a, err
	}
	if !ok {
		return a, ErrNotFound
	}
	return a, nil
}

// EncryptionKIDs lists the kids of an agency's encryption keys.
func (d *Directory) EncryptionKIDs(id string) map[string]bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := map[string]bool{}
	for _, k := range d.encKeys[id] {
		kid, _ := k.KeyID()
		out[kid] = true
	}
	return out
}

// IsRegistered reports whether an agency exists.
func (d *Directory) IsRegistered(ctx context.Context, id string) (bool, error) {
	_, err := d.Agency(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// kidTaken reports whether any registered key, signing or encryption, has
// this kid.
func (d *Directory) kidTaken(kid string) bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if _, ok := d.keys[kid]; ok {
		return true
	}
	if _, ok := d.revoked[kid]; ok {
		return true
	}
	for _, keys := range d.supervisors {
		if _, ok := keys[kid]; ok {
			return true
		}
	}
	return false
}

// SupervisorKey returns the key kid if it is registered as a supervisor key
// of agency; it satisfies policy.SupervisorKeys.
func (d *Directory) SupervisorKey(ctx context.Context, agency, kid string) (jwk.Key, error) {
	var k jwk.Key
	ok, err := d.lookupOrReload(ctx, func() bool {
		var found bool
		k, found = d.supervisors[agency][kid]
		return found
	})
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, policy.ErrNotSupervisor
	}
	return k, nil
}
