package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
	"github.com/relais-hub/relais/hub/audit"
)

// KeyStatus says where a non-revoked agency key stands in a rotation.
type KeyStatus string

const (
	// KeyCurrent is the newest key of its use: senders encrypt to it and
	// the agency signs with it.
	KeyCurrent KeyStatus = "current"
	// KeyPrevious is an older key kept during the overlap: messages signed
	// with it still verify, bodies encrypted to it are still accepted.
	KeyPrevious KeyStatus = "previous"
)

// KeyRecord is what the store keeps of an agency key beyond the JWKS: when
// it was added and, once revoked, since when it is revoked. JWK is the
// public key's JSON, kept after revocation so the kid stays taken.
type KeyRecord struct {
	Agency    string
	KID       string
	Use       string // "sig" or "enc"
	JWK       []byte
	AddedAt   time.Time
	RevokedAt time.Time // zero while the key is valid
}

// KeyInfo is one valid agency key as the directory lists it.
type KeyInfo struct {
	Agency  string
	KID     string
	Use     string
	AddedAt time.Time
	Status  KeyStatus
}

// Revocation is one revoked agency key.
type Revocation struct {
	Agency    string
	KID       string
	Use       string
	RevokedAt time.Time
}

// KeyStore is implemented by stores that keep agency key records. Keys
// registered with the agency and never rotated or revoked have no record:
// their added time is the agency's registration time.
type KeyStore interface {
	AgencyKeyRecords(ctx context.Context) ([]KeyRecord, error)
}

// KeyTx is what rotation and revocation write in one transaction.
type KeyTx interface {
	// SaveKeyRecord inserts the record, or replaces the one with its kid.
	SaveKeyRecord(ctx context.Context, r KeyRecord) error
	// SetAgencyJWKS replaces the agency's set of valid public keys.
	SetAgencyJWKS(ctx context.Context, agency string, jwks []byte) error
}

// AddAgencyKey registers a new public key (signing or encryption) for an
// agency, as the first step of a rotation: the new key becomes the
// agency's current key of its use and the older ones stay valid (previous)
// until revoked. publicJWK is one public JWK of the profile, with a kid new
// to the whole directory. The change is logged as key_rotated.
func (h *Hub) AddAgencyKey(ctx context.Context, agency string, publicJWK []byte, actor string) (KeyInfo, error) {
	set, err := seal.ParseSet([]byte(`{"keys":[` + string(publicJWK) + `]}`))
	if err != nil {
		return KeyInfo{}, err
	}
	key, _ := set.Key(0)
	kid, _ := key.KeyID()
	use, _ := key.KeyUsage()
	if use != "sig" && use != "enc" {
		return KeyInfo{}, contracts.Refuse(contracts.CodeAgencyInvalid, "key %q must have use sig or enc", kid)
	}
	kidTaken, err := h.kidsTaken(ctx)
	if err != nil {
		return KeyInfo{}, err
	}
	a, err := h.directory.Agency(ctx, agency)
	if errors.Is(err, ErrNotFound) {
		return KeyInfo{}, contracts.Refuse(contracts.CodeNotFound, "agency %s is not registered", agency)
	} else if err != nil {
		return KeyInfo{}, err
	}
	if kidTaken(kid) {
		return KeyInfo{}, contracts.Refuse(contracts.CodeAgencyInvalid, "kid %q is already registered", kid)
	}
	current, err := seal.ParseSet(a.JWKS)
	if err != nil {
		return KeyInfo{}, fmt.Errorf("agency %s keys: %w", agency, err)
	}
	previous := h.directory.currentKID(agency, use)
	if err := current.AddKey(key); err != nil {
		return KeyInfo{}, fmt.Errorf("add key: %w", err)
	}
	jwks, err := json.Marshal(current)
	if err != nil {
		return KeyInfo{}, fmt.Errorf("encode jwks: %w", err)
	}
	// The set must still be one the directory accepts (it bounds its size).
	if _, err := seal.ParseSet(jwks); err != nil {
		return KeyInfo{}, contracts.Refuse(contracts.CodeAgencyInvalid, "agency %s has too many valid keys: revoke an old one first", agency)
	}
	now := h.now()
	rec := KeyRecord{Agency: agency, KID: kid, Use: use, JWK: publicJWK, AddedAt: now}
	err = h.updateKeys(ctx, func(ktx KeyTx, tx Tx) error {
		if err := ktx.SetAgencyJWKS(ctx, agency, jwks); err != nil {
			return err
		}
		if err := ktx.SaveKeyRecord(ctx, rec); err != nil {
			return err
		}
		extra := map[string]string{"kid": kid, "use": use}
		if previous != "" {
			extra["previous_kid"] = previous
		}
		_, err := tx.AppendAuditEvent(ctx, audit.Event{Type: audit.TypeKeyRotated, At: now, Actor: actor, To: agency, Extra: extra})
		return err
	})
	if err != nil {
		return KeyInfo{}, err
	}
	if err := h.directory.Reload(ctx); err != nil {
		return KeyInfo{}, err
	}
	return KeyInfo{Agency: agency, KID: kid, Use: use, AddedAt: now, Status: KeyCurrent}, nil
}

// RevokeAgencyKey revokes an agency key on compromise or at the end of a
// rotation's overlap. From then on a message or token signed with it is
// refused with key_revoked (a signature carries no trusted time, so what
// counts is when it is submitted), and bodies can no longer be encrypted
// to it. at is when the key is deemed compromised: zero means now, and it
// cannot lie in the future. The agency's last valid key of a use cannot be
// revoked: register its replacement first. The revocation is logged as
// key_revoked and listed in the directory.
func (h *Hub) RevokeAgencyKey(ctx context.Context, agency, kid string, at time.Time, actor string) (Revocation, error) {
	now := h.now()
	if at.IsZero() {
		at = now
	}
	if at.After(now) {
		return Revocation{}, contracts.Refuse(contracts.CodeBadRequest, "revoked_at cannot be in the future")
	}
	at = at.UTC().Truncate(time.Millisecond)
	if err := h.directory.Reload(ctx); err != nil {
		return Revocation{}, err
	}
	a, err := h.directory.Agency(ctx, agency)
	if errors.Is(err, ErrNotFound) {
		return Revocation{}, contracts.Refuse(contracts.CodeNotFound, "agency %s is not registered", agency)
	} else if err != nil {
		return Revocation{}, err
	}
	if r, ok := h.directory.revocation(kid); ok && r.Agency == agency {
		return Revocation{}, contracts.Refuse(contracts.CodeKeyRevoked, "key %q is already revoked", kid)
	}
	set, err := seal.ParseSet(a.JWKS)
	if err != nil {
		return Revocation{}, fmt.Errorf("agency %s keys: %w", agency, err)
	}
	key, ok := set.LookupKeyID(kid)
	if !ok {
		return Revocation{}, contracts.Refuse(contracts.CodeNotFound, "agency %s has no key %q", agency, kid)
	}
	use, _ := key.KeyUsage()
	remaining := jwk.NewSet()
	sameUse := 0
	for i := 0; i < set.Len(); i++ {
		k, _ := set.Key(i)
		if id, _ := k.KeyID(); id == kid {
			continue
		}
		if u, _ := k.KeyUsage(); u == use {
			sameUse++
		}
		_ = remaining.AddKey(k)
	}
	if sameUse == 0 {
		return Revocation{}, contracts.Refuse(contracts.CodeAgencyInvalid, "key %q is the agency's only %s key: register its replacement first", kid, use)
	}
	jwks, err := json.Marshal(remaining)
	if err != nil {
		return Revocation{}, fmt.Errorf("encode jwks: %w", err)
	}
	pub, err := json.Marshal(key)
	if err != nil {
		return Revocation{}, fmt.Errorf("encode key: %w", err)
	}
	rec := KeyRecord{Agency: agency, KID: kid, Use: use, JWK: pub, AddedAt: h.directory.addedAt(kid, a.RegisteredAt), RevokedAt: at}
	err = h.updateKeys(ctx, func(ktx KeyTx, tx Tx) error {
		if err := ktx.SetAgencyJWKS(ctx, agency, jwks); err != nil {
			return err
		}
		if err := ktx.SaveKeyRecord(ctx, rec); err != nil {
			return err
		}
		_, err := tx.AppendAuditEvent(ctx, audit.Event{Type: audit.TypeKeyRevoked, At: now, Actor: actor, To: agency,
			Extra: map[string]string{"kid": kid, "use": rec.Use, "revoked_at": at.Format(time.RFC3339Nano)}})
		return err
	})
	if err != nil {
		return Revocation{}, err
	}
	if err := h.directory.Reload(ctx); err != nil {
		return Revocation{}, err
	}
	return Revocation{Agency: agency, KID: kid, Use: rec.Use, RevokedAt: at}, nil
}

// updateKeys runs fn in one store transaction, refusing stores that do not
// keep key records.
func (h *Hub) updateKeys(ctx context.Context, fn func(KeyTx, Tx) error) error {
	return h.store.Update(ctx, func(tx Tx) error {
		ktx, ok := tx.(KeyTx)
		if !ok {
			return errors.New("keys: this store does not support key rotation")
		}
		return fn(ktx, tx)
	})
}

// keyMeta is what the directory knows of a valid key beyond the JWK.
type keyMeta struct {
	addedAt time.Time
	order   int // position in the agency's JWKS: later means added later
}

// loadKeyRecords reads the store's key records, if it keeps any.
func loadKeyRecords(ctx context.Context, store Store) ([]KeyRecord, error) {
	ks, ok := store.(KeyStore)
	if !ok {
		return nil, nil
	}
	recs, err := ks.AgencyKeyRecords(ctx)
	if err != nil {
		return nil, fmt.Errorf("load key records: %w", err)
	}
	return recs, nil
}

// AgencyKeys lists an agency's valid keys, newest first, with their status:
// the newest of each use is current, the others previous.
func (d *Directory) AgencyKeys(agency string) []KeyInfo {
	d.mu.RLock()
	defer d.mu.RUnlock()
	var out []KeyInfo
	for kid, rk := range d.keys {
		if rk.Agency != agency {
			continue
		}
		use, _ := rk.Key.KeyUsage()
		out = append(out, KeyInfo{Agency: agency, KID: kid, Use: use, AddedAt: d.meta[kid].addedAt})
	}
	sort.Slice(out, func(i, j int) bool { return d.newer(out[i].KID, out[j].KID) })
	seen := map[string]bool{}
	for i := range out {
		out[i].Status = KeyPrevious
		if !seen[out[i].Use] {
			out[i].Status = KeyCurrent
			seen[out[i].Use] = true
		}
	}
	return out
}

// newer orders kids newest first; d.mu must be held.
func (d *Directory) newer(a, b string) bool {
	ma, mb := d.meta[a], d.meta[b]
	if !ma.addedAt.Equal(mb.addedAt) {
		return ma.addedAt.After(mb.addedAt)
	}
	if ma.order != mb.order {
		return ma.order > mb.order
	}
	return a < b
}

// OrderedJWKS is the agency's public JWKS with its valid keys newest first,
// so that a client taking the first key of a use takes the current one.
func (d *Directory) OrderedJWKS(agency string) ([]byte, error) {
	infos := d.AgencyKeys(agency)
	set := jwk.NewSet()
	d.mu.RLock()
	for _, ki := range infos {
		if err := set.AddKey(d.keys[ki.KID].Key); err != nil {
			d.mu.RUnlock()
			return nil, fmt.Errorf("jwks of %s: %w", agency, err)
		}
	}
	d.mu.RUnlock()
	return json.Marshal(set)
}

// Revocations lists every revoked agency key, oldest revocation first.
func (d *Directory) Revocations() []Revocation {
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := make([]Revocation, 0, len(d.revoked))
	for _, r := range d.revoked {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].RevokedAt.Equal(out[j].RevokedAt) {
			return out[i].RevokedAt.Before(out[j].RevokedAt)
		}
		return out[i].KID < out[j].KID
	})
	return out
}

func (d *Directory) revocation(kid string) (Revocation, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	r, ok := d.revoked[kid]
	return r, ok
}

// currentKID is the agency's newest valid key of use ("" for none).
func (d *Directory) currentKID(agency, use string) string {
	for _, k := range d.AgencyKeys(agency) {
		if k.Use == use {
			return k.KID
		}
	}
	return ""
}

func (d *Directory) addedAt(kid string, fallback time.Time) time.Time {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if m, ok := d.meta[kid]; ok && !m.addedAt.IsZero() {
		return m.addedAt
	}
	return fallback
}

// IsEncryptionKey reports whether kid is a valid encryption key of agency,
// reloading once on a miss so that a key added through another hub
// instance is accepted at once.
func (d *Directory) IsEncryptionKey(ctx context.Context, agency, kid string) (bool, error) {
	return d.lookupOrReload(ctx, func() bool {
		for _, k := range d.encKeys[agency] {
			if id, _ := k.KeyID(); id == kid {
				return true
			}
		}
		return false
	})
}
