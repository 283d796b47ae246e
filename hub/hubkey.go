package hub

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
	"github.com/relais-hub/relais/hub/audit"
)

// The hub's own signing key (acceptance receipts, audit checkpoints) and
// its rotation with overlap: a new key signs from the rotation on, the keys
// it replaced stay trusted for what they signed before, and every
// rotation is an audit event.

// HubSigner is the hub's private signing key: in memory, read from
// hub.jwk, or held by a PKCS#11 token that signs without ever handing the
// key out. Public returns an ed25519.PublicKey; Sign is pure Ed25519
// (crypto.Hash(0)).
type HubSigner interface {
	crypto.Signer
	KeyID() string
}

// NewHubSigner wraps a private Ed25519 JWK of the profile.
func NewHubSigner(k jwk.Key) (HubSigner, error) {
	if k == nil {
		return nil, errors.New("hub key: no key")
	}
	var priv ed25519.PrivateKey
	if err := jwk.Export(k, &priv); err != nil {
		return nil, fmt.Errorf("hub key: not an Ed25519 private key: %w", err)
	}
	kid, _ := k.KeyID()
	if kid == "" {
		return nil, errors.New("hub key: the key has no kid")
	}
	return &jwkHubSigner{PrivateKey: priv, kid: kid, key: k}, nil
}

// jwkHubSigner is a hub key held in memory, as hub.jwk keeps it.
type jwkHubSigner struct {
	ed25519.PrivateKey
	kid string
	key jwk.Key
}

func (s *jwkHubSigner) KeyID() string { return s.kid }

// HubKeySet is the hub's keys as they are kept at rest: the current
// private key and the public keys it replaced, oldest first.
type HubKeySet struct {
	Current HubSigner
	Retired []RetiredHubKey
}

// RetiredHubKey is a public key the hub signed with before a rotation.
type RetiredHubKey struct {
	Key       jwk.Key // public
	RetiredAt time.Time
}

// HubKeyStore keeps the hub's key set: files in the data directory, or a
// PKCS#11 token. Every hub process sharing a store (the token, or copies of
// the files) finds a rotation there and takes the new key.
type HubKeyStore interface {
	// NewHubKey makes a key for a rotation where the store keeps keys (in
	// memory for files, on the token for PKCS#11). It signs nothing until
	// a saved set makes it current.
	NewHubKey(ctx context.Context) (HubSigner, error)
	// SaveHubKeys must leave either the old set or the new one, never a
	// mix, and never a private key readable by others.
	SaveHubKeys(ctx context.Context, set HubKeySet) error
	// LoadHubKeys reads the set as it is now.
	LoadHubKeys(ctx context.Context) (HubKeySet, error)
}

// HubKeyStatus says whether a hub key signs now.
type HubKeyStatus string

const (
	HubKeyCurrent HubKeyStatus = "current"
	HubKeyRetired HubKeyStatus = "retired"
)

// HubKeyInfo is one hub key as published to auditors and agencies.
type HubKeyInfo struct {
	KID       string
	Status    HubKeyStatus
	Public    ed25519.PublicKey
	JWK       jwk.Key // public
	RetiredAt time.Time
}

// hubKeys is the hub's key state, shared by the receipt signer, the key
// listing, rotations and reloads.
type hubKeys struct {
	mu      sync.RWMutex
	current HubSigner
	public  jwk.Key
	retired []RetiredHubKey
	store   HubKeyStore
	// rotating serialises rotations and reloads.
	rotating sync.Mutex
}

func newHubKeys(current HubSigner) (*hubKeys, error) {
	pub, err := hubPublicKey(current)
	if err != nil {
		return nil, err
	}
	return &hubKeys{current: current, public: pub}, nil
}

// hubPublicKey is the public JWK of a hub signer.
func hubPublicKey(s HubSigner) (jwk.Key, error) {
	p, ok := s.Public().(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("hub key: %s is a %T, not an Ed25519 key", s.KeyID(), s.Public())
	}
	return seal.SigningPublicKey(p, s.KeyID())
}

func (k *hubKeys) signing() HubSigner {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.current
}

func (k *hubKeys) publicKey() jwk.Key {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.public
}

// UseHubKeyStore gives the hub where its key set is kept, and the keys it
// retired before this start, which it keeps trusting (the audit log's
// checkpoints they signed verify). Call it before Run; without a store the
// hub cannot rotate its key.
func (h *Hub) UseHubKeyStore(store HubKeyStore, retired []RetiredHubKey) error {
	pubs := make([]ed25519.PublicKey, 0, len(retired))
	for i, r := range retired {
		p, err := ed25519Public(r.Key)
		if err != nil {
			return fmt.Errorf("hub key: retired key %d: %w", i, err)
		}
		pubs = append(pubs, p)
	}
	if err := h.cfg.Audit.TrustRetired(pubs...); err != nil {
		return err
	}
	h.hubKeys.mu.Lock()
	defer h.hubKeys.mu.Unlock()
	h.hubKeys.store = store
	h.hubKeys.retired = append([]RetiredHubKey(nil), retired...)
	return nil
}

// HubKeys lists the hub's keys: the current one first, then the retired
// ones, newest first.
func (h *Hub) HubKeys() []HubKeyInfo {
	h.hubKeys.mu.RLock()
	defer h.hubKeys.mu.RUnlock()
	out := []HubKeyInfo{keyInfo(h.hubKeys.public, HubKeyCurrent, time.Time{})}
	for i := len(h.hubKeys.retired) - 1; i >= 0; i-- {
		r := h.hubKeys.retired[i]
		out = append(out, keyInfo(r.Key, HubKeyRetired, r.RetiredAt))
	}
	return out
}

func keyInfo(pub jwk.Key, status HubKeyStatus, retiredAt time.Time) HubKeyInfo {
	kid, _ := pub.KeyID()
	p, _ := ed25519Public(pub)
	return HubKeyInfo{KID: kid, Status: status, Public: p, JWK: pub, RetiredAt: retiredAt}
}

// AuditHubKeys lists the hub's keys for an auditor, logging the query.
func (h *Hub) AuditHubKeys(ctx context.Context, actor string) ([]HubKeyInfo, error) {
	if _, err := h.logAuditorQuery(ctx, actor, "keys", nil); err != nil {
		return nil, err
	}
	return h.HubKeys(), nil
}

// RotateHubKey replaces the hub's signing key with a fresh one, in order:
//
//  1. the new key set (new private key, old public key retired) is saved,
//     so a crash from here on restarts on the new key and still trusts the
//     old one;
//  2. the audit log starts signing with both keys;
//  3. the rotation is appended to the audit log (hub_key_rotated, naming
//     both public keys);
//  4. a checkpoint covering that event is signed by both keys and stored:
//     auditors who trust only the old key verify it and learn the new one;
//  5. the old private key is dropped; receipts and checkpoints are signed
//     with the new key alone.
//
// actor is who asked ("admin"). Other hub processes sharing the key store
// take the new key at their next reload (ReloadHubKeys); until then they
// sign with the old one, whose signatures stay valid.
func (h *Hub) RotateHubKey(ctx context.Context, actor string) (HubKeyInfo, error) {
	k := h.hubKeys
	k.rotating.Lock()
	defer k.rotating.Unlock()
	k.mu.RLock()
	store, old, oldPub, retired := k.store, k.current, k.public, append([]RetiredHubKey(nil), k.retired...)
	k.mu.RUnlock()
	if store == nil {
		return HubKeyInfo{}, contracts.Refuse(contracts.CodeUnavailable, "this hub was started without a key store: it cannot rotate its key")
	}
	next, err := store.NewHubKey(ctx)
	if err != nil {
		return HubKeyInfo{}, fmt.Errorf("hub key: making the new key: %w", err)
	}
	nextPub, err := hubPublicKey(next)
	if err != nil {
		return HubKeyInfo{}, err
	}
	now := h.now()
	newSet := HubKeySet{Current: next, Retired: append(append([]RetiredHubKey(nil), retired...), RetiredHubKey{Key: oldPub, RetiredAt: now})}
	if err := store.SaveHubKeys(ctx, newSet); err != nil {
		return HubKeyInfo{}, fmt.Errorf("hub key: saving the new key: %w", err)
	}
	restore := func(cause error) error {
		// Put the old set back; if that fails too, the saved new key is
		// still trusted-compatible: the next start uses it, trusting the
		// old one.
		if err := store.SaveHubKeys(context.WithoutCancel(ctx), HubKeySet{Current: old, Retired: retired}); err != nil {
			return errors.Join(cause, fmt.Errorf("hub key: restoring the old key set: %w", err))
		}
		return cause
	}
	log := h.cfg.Audit
	if err := log.BeginRotation(next); err != nil {
		return HubKeyInfo{}, restore(err)
	}
	newKID := next.KeyID()
	oldKID, _ := oldPub.KeyID()
	newX, oldX := publicX(nextPub), publicX(oldPub)
	err = h.store.Update(ctx, func(tx Tx) error {
		_, err := tx.AppendAuditEvent(ctx, audit.Event{Type: audit.TypeHubKeyRotated, At: now, Actor: actor,
			Extra: map[string]string{"kid": newKID, "key": newX, "previous_kid": oldKID, "previous_key": oldX}})
		return err
	})
	if err != nil {
		log.AbortRotation()
		return HubKeyInfo{}, restore(fmt.Errorf("hub key: logging the rotation: %w", err))
	}
	// The handover checkpoint. Should it fail, the event is logged and the
	// next checkpoint the publisher signs covers it, with the new key.
	if _, err := log.Checkpoint(ctx, h.store.AuditDB()); err != nil {
		h.log.Error("hub key rotation: handover checkpoint", "err", err)
	}
	log.EndRotation()
	k.mu.Lock()
	k.current, k.public, k.retired = next, nextPub, newSet.Retired
	k.mu.Unlock()
	h.log.Info("hub key rotated", "kid", newKID, "previous_kid", oldKID)
	return keyInfo(nextPub, HubKeyCurrent, time.Time{}), nil
}

// publicX is the base64url Ed25519 public key of a JWK.
func publicX(k jwk.Key) string {
	p, err := ed25519Public(k)
	if err != nil {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(p)
}

func ed25519Public(k jwk.Key) (ed25519.PublicKey, error) {
	if k == nil {
		return nil, errors.New("no key")
	}
	var raw any
	if err := jwk.Export(k, &raw); err != nil {
		return nil, err
	}
	switch v := raw.(type) {
	case ed25519.PublicKey:
		return v, nil
	case ed25519.PrivateKey:
		return v.Public().(ed25519.PublicKey), nil
	}
	return nil, fmt.Errorf("not an Ed25519 key (%T)", raw)
}
