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

// Auditor key rotation and revocation, on the model of agency keys
// (keys.go): an admin adds a new public signing key, both keys verify the
// auditor's tokens during the overlap, then the old key is revoked. A key
// revoked on compromise stops verifying at once. Auditors' keys are not in
// the public directory (which does not say which auditors exist); their
// revocations are in the audit log and in the auditor's key list.

// AuditorKeyRecord is what the store keeps of an auditor key beyond the
// auditor's JWKS: when it was added and, once revoked, since when. Keys
// registered with the auditor and never revoked have no record (they date
// from the registration). JWK is the public key's JSON, kept after
// revocation so that its kid stays taken.
type AuditorKeyRecord struct {
	Auditor   string
	KID       string
	JWK       []byte
	AddedAt   time.Time
	RevokedAt time.Time // zero while the key is valid
}

// AuditorKey is one valid auditor key as listed: the newest is current,
// the others are previous keys kept for the overlap.
type AuditorKey struct {
	KID     string
	Use     string // always "sig": auditors only sign access tokens
	AddedAt time.Time
	Status  KeyStatus
}

// AuditorRevocation is one revoked auditor key.
type AuditorRevocation struct {
	Auditor   string
	KID       string
	AddedAt   time.Time
	RevokedAt time.Time
}

// AuditorKeyList is an auditor's valid keys, newest first, and its revoked
// keys, oldest revocation first.
type AuditorKeyList struct {
	Auditor string
	Keys    []AuditorKey
	Revoked []AuditorRevocation
}

// AuditorKeyStore is implemented by stores that keep auditor key records.
type AuditorKeyStore interface {
	// Auditors lists every registered auditor.
	Auditors(ctx context.Context) ([]Auditor, error)
	// AuditorKeyRecords lists the key records of auditor, or of every
	// auditor when auditor is "", oldest first.
	AuditorKeyRecords(ctx context.Context, auditor string) ([]AuditorKeyRecord, error)
}

// AuditorKeyTx is what adding and revoking an auditor key write in one
// transaction.
type AuditorKeyTx interface {
	// AuditorForUpdate reads an auditor and locks it until the end of the
	// transaction, so that two key changes of one auditor cannot both
	// start from the same set of keys; ErrNotFound if it is unknown.
	AuditorForUpdate(ctx context.Context, id string) (Auditor, error)
	// AuditorKeyRecords lists the auditor's key records as the
	// transaction sees them, oldest first.
	AuditorKeyRecords(ctx context.Context, auditor string) ([]AuditorKeyRecord, error)
	// SetAuditorJWKS replaces the auditor's set of valid public keys.
	SetAuditorJWKS(ctx context.Context, id string, jwks []byte) error
	// InsertAuditorKeyRecord records a new key; a kid already recorded
	// fails, so a kid is never recorded twice.
	InsertAuditorKeyRecord(ctx context.Context, r AuditorKeyRecord) error
	// SaveAuditorKeyRecord inserts r or replaces the record with its kid
	// (a revocation).
	SaveAuditorKeyRecord(ctx context.Context, r AuditorKeyRecord) error
}

// AddAuditorKey registers a new public signing key for an auditor: the key
// becomes the auditor's current key and the older ones stay valid until
// revoked. publicJWK is one public Ed25519 JWK (alg EdDSA, use sig) whose
// kid no agency and no auditor uses or used. The change is logged as
// key_rotated, in the same transaction.
func (h *Hub) AddAuditorKey(ctx context.Context, id string, publicJWK []byte, actor string) (AuditorKey, error) {
	key, err := parseAuditorKey(publicJWK)
	if err != nil {
		return AuditorKey{}, err
	}
	if !ValidAuditorID(id) {
		return AuditorKey{}, contracts.Refuse(contracts.CodeNotFound, "no such auditor")
	}
	kid, _ := key.KeyID()
	taken, err := h.kidsTaken(ctx)
	if err != nil {
		return AuditorKey{}, err
	}
	if taken(kid) {
		return AuditorKey{}, contracts.Refuse(contracts.CodeAuditorInvalid, "kid %q is already registered", kid)
	}
	now := h.now()
	err = h.updateAuditorKeys(ctx, func(ktx AuditorKeyTx, tx Tx) error {
		a, err := lockAuditor(ctx, ktx, id)
		if err != nil {
			return err
		}
		set, err := seal.ParseSet(a.JWKS)
		if err != nil {
			return fmt.Errorf("auditor %s keys: %w", id, err)
		}
		if _, dup := set.LookupKeyID(kid); dup {
			return contracts.Refuse(contracts.CodeAuditorInvalid, "kid %q is already registered", kid)
		}
		records, err := txAuditorKeyRecords(ctx, ktx, id)
		if err != nil {
			return err
		}
		previous := ""
		if keys, err := validAuditorKeys(a, records); err != nil {
			return err
		} else if len(keys) > 0 {
			previous = keys[0].KID
		}
		if err := set.AddKey(key); err != nil {
			return fmt.Errorf("add key: %w", err)
		}
		jwks, err := json.Marshal(set)
		if err != nil {
			return fmt.Errorf("encode jwks: %w", err)
		}
		// The set must still be one that registration admits (it bounds
		// its size).
		if _, err := seal.ParseSet(jwks); err != nil {
			return contracts.Refuse(contracts.CodeAuditorInvalid, "auditor %s has too many valid keys: revoke an old one first", id)
		}
		if err := ktx.SetAuditorJWKS(ctx, id, jwks); err != nil {
			return err
		}
		if err := ktx.InsertAuditorKeyRecord(ctx, AuditorKeyRecord{Auditor: id, KID: kid, JWK: publicJWK, AddedAt: now}); err != nil {
			return err
		}
		extra := map[string]string{"kid": kid, "use": string(jwk.ForSignature)}
		if previous != "" {
			extra["previous_kid"] = previous
		}
		_, err = tx.AppendAuditEvent(ctx, audit.Event{Type: audit.TypeKeyRotated, At: now, Actor: actor, To: id, Extra: extra})
		return err
	})
	if err != nil {
		return AuditorKey{}, err
	}
	return AuditorKey{KID: kid, Use: string(jwk.ForSignature), AddedAt: now, Status: KeyCurrent}, nil
}

// RevokeAuditorKey revokes one of an auditor's keys, on compromise or at
// the end of a rotation's overlap. From then on a token signed with it is
// refused as token_invalid, like any token whose key the hub does not
// hold: a signature carries no trusted time, so what counts is when the
// token is presented. at is when the key is deemed compromised (zero means
// now; it cannot lie in the future); it is recorded for the people who
// review the auditor's queries since then. The auditor's last valid key
// cannot be revoked (last_valid_key): add its replacement first. The
// revocation is logged as key_revoked, in the same transaction.
func (h *Hub) RevokeAuditorKey(ctx context.Context, id, kid string, at time.Time, actor string) (AuditorRevocation, error) {
	now := h.now()
	if at.IsZero() {
		at = now
	}
	if at.After(now) {
		return AuditorRevocation{}, contracts.Refuse(contracts.CodeBadRequest, "revoked_at cannot be in the future")
	}
	at = at.UTC().Truncate(time.Millisecond)
	if !ValidAuditorID(id) {
		return AuditorRevocation{}, contracts.Refuse(contracts.CodeNotFound, "no such auditor")
	}
	var rev AuditorRevocation
	err := h.updateAuditorKeys(ctx, func(ktx AuditorKeyTx, tx Tx) error {
		a, err := lockAuditor(ctx, ktx, id)
		if err != nil {
			return err
		}
		records, err := txAuditorKeyRecords(ctx, ktx, id)
		if err != nil {
			return err
		}
		if r, ok := records[kid]; ok && !r.RevokedAt.IsZero() {
			return contracts.Refuse(contracts.CodeKeyRevoked, "key %q is already revoked", kid)
		}
		set, err := seal.ParseSet(a.JWKS)
		if err != nil {
			return fmt.Errorf("auditor %s keys: %w", id, err)
		}
		key, ok := set.LookupKeyID(kid)
		if !ok {
			// The kid comes from the request: it is not echoed.
			return contracts.Refuse(contracts.CodeNotFound, "auditor %s has no such valid key", id)
		}
		if set.Len() == 1 {
			return contracts.Refuse(contracts.CodeLastValidKey, "key %q is the auditor's only valid key: add its replacement first", kid)
		}
		if err := set.RemoveKey(key); err != nil {
			return fmt.Errorf("remove key %q: %w", kid, err)
		}
		jwks, err := json.Marshal(set)
		if err != nil {
			return fmt.Errorf("encode jwks: %w", err)
		}
		pub, err := json.Marshal(key)
		if err != nil {
			return fmt.Errorf("encode key: %w", err)
		}
		added := a.RegisteredAt
		if r, ok := records[kid]; ok {
			added = r.AddedAt
		}
		if err := ktx.SetAuditorJWKS(ctx, id, jwks); err != nil {
			return err
		}
		if err := ktx.SaveAuditorKeyRecord(ctx, AuditorKeyRecord{Auditor: id, KID: kid, JWK: pub, AddedAt: added, RevokedAt: at}); err != nil {
			return err
		}
		_, err = tx.AppendAuditEvent(ctx, audit.Event{Type: audit.TypeKeyRevoked, At: now, Actor: actor, To: id,
			Extra: map[string]string{"kid": kid, "use": string(jwk.ForSignature), "revoked_at": at.Format(time.RFC3339Nano)}})
		rev = AuditorRevocation{Auditor: id, KID: kid, AddedAt: added, RevokedAt: at}
		return err
	})
	if err != nil {
		return AuditorRevocation{}, err
	}
	return rev, nil
}

// AuditorKeys lists an auditor's valid keys, newest first (the first is
// current), and its revoked keys, oldest revocation first.
func (h *Hub) AuditorKeys(ctx context.Context, id string) (AuditorKeyList, error) {
	if !ValidAuditorID(id) {
		return AuditorKeyList{}, contracts.Refuse(contracts.CodeNotFound, "no such auditor")
	}
	a, err := h.store.Auditor(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return AuditorKeyList{}, contracts.Refuse(contracts.CodeNotFound, "no auditor %s", id)
	} else if err != nil {
		return AuditorKeyList{}, err
	}
	records, err := h.auditorKeyRecords(ctx, id)
	if err != nil {
		return AuditorKeyList{}, err
	}
	keys, err := validAuditorKeys(a, records)
	if err != nil {
		return AuditorKeyList{}, err
	}
	list := AuditorKeyList{Auditor: id, Keys: keys, Revoked: []AuditorRevocation{}}
	for _, r := range records {
		if !r.RevokedAt.IsZero() {
			list.Revoked = append(list.Revoked, AuditorRevocation{Auditor: id, KID: r.KID, AddedAt: r.AddedAt, RevokedAt: r.RevokedAt})
		}
	}
	sort.Slice(list.Revoked, func(i, j int) bool {
		ri, rj := list.Revoked[i], list.Revoked[j]
		if !ri.RevokedAt.Equal(rj.RevokedAt) {
			return ri.RevokedAt.Before(rj.RevokedAt)
		}
		return ri.KID < rj.KID
	})
	return list, nil
}

// validAuditorKeys lists the keys of a's JWKS newest first: by the time
// they were added (a key without a record dates from the registration),
// then by their place in the set, where later keys were added later.
func validAuditorKeys(a Auditor, records map[string]AuditorKeyRecord) ([]AuditorKey, error) {
	set, err := seal.ParseSet(a.JWKS)
	if err != nil {
		return nil, fmt.Errorf("auditor %s keys: %w", a.ID, err)
	}
	type placed struct {
		key   AuditorKey
		order int
	}
	all := make([]placed, 0, set.Len())
	for i := 0; i < set.Len(); i++ {
		k, _ := set.Key(i)
		kid, _ := k.KeyID()
		added := a.RegisteredAt
		if r, ok := records[kid]; ok {
			added = r.AddedAt
		}
		all = append(all, placed{AuditorKey{KID: kid, Use: string(jwk.ForSignature), AddedAt: added, Status: KeyPrevious}, i})
	}
	sort.Slice(all, func(i, j int) bool {
		if !all[i].key.AddedAt.Equal(all[j].key.AddedAt) {
			return all[i].key.AddedAt.After(all[j].key.AddedAt)
		}
		return all[i].order > all[j].order
	})
	out := make([]AuditorKey, len(all))
	for i, p := range all {
		out[i] = p.key
	}
	if len(out) > 0 {
		out[0].Status = KeyCurrent
	}
	return out, nil
}

// parseAuditorKey admits one public Ed25519 signing JWK, as registration
// admits a JWKS of them (checkAuditorKeys).
func parseAuditorKey(publicJWK []byte) (jwk.Key, error) {
	set, err := seal.ParseSet([]byte(`{"keys":[` + string(publicJWK) + `]}`))
	if err != nil {
		return nil, contracts.Refuse(contracts.CodeAuditorInvalid, "jwk: %s", contracts.AsProblem(err).Detail)
	}
	if set.Len() != 1 {
		return nil, contracts.Refuse(contracts.CodeAuditorInvalid, "jwk: give exactly one key")
	}
	key, _ := set.Key(0)
	if err := checkAuditorKey(key); err != nil {
		return nil, err
	}
	return key, nil
}

// checkAuditorKey admits Ed25519 signing keys only: auditors sign access
// tokens and never receive encrypted bodies.
func checkAuditorKey(k jwk.Key) error {
	kid, _ := k.KeyID()
	alg, _ := k.Algorithm()
	use, _ := k.KeyUsage()
	if use != string(jwk.ForSignature) || alg.String() != seal.AlgEdDSA {
		return contracts.Refuse(contracts.CodeAuditorInvalid, "key %q must be an Ed25519 signing key (alg EdDSA, use sig)", kid)
	}
	return nil
}

// kidsTaken returns a test of whether a kid names, or named, a key of an
// agency (signing, encryption or supervisor) or of an auditor, as the store
// stands now: a kid names one key of one party, forever.
func (h *Hub) kidsTaken(ctx context.Context) (func(kid string) bool, error) {
	if err := h.directory.Reload(ctx); err != nil {
		return nil, err
	}
	auditorKIDs, err := h.auditorKIDs(ctx)
	if err != nil {
		return nil, err
	}
	return func(kid string) bool { return auditorKIDs[kid] || h.directory.kidTaken(kid) }, nil
}

// auditorKIDs are the kids of every key an auditor holds or held. Stores
// without auditor key records do not list auditors: none are known.
func (h *Hub) auditorKIDs(ctx context.Context) (map[string]bool, error) {
	ks, ok := h.store.(AuditorKeyStore)
	if !ok {
		return map[string]bool{}, nil
	}
	auditors, err := ks.Auditors(ctx)
	if err != nil {
		return nil, fmt.Errorf("list auditors: %w", err)
	}
	kids := map[string]bool{}
	for _, a := range auditors {
		set, err := seal.ParseSet(a.JWKS)
		if err != nil {
			return nil, fmt.Errorf("auditor %s keys: %w", a.ID, err)
		}
		for i := 0; i < set.Len(); i++ {
			k, _ := set.Key(i)
			kid, _ := k.KeyID()
			kids[kid] = true
		}
	}
	records, err := ks.AuditorKeyRecords(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("auditor key records: %w", err)
	}
	for _, r := range records {
		kids[r.KID] = true
	}
	return kids, nil
}

// auditorKeyRecords reads an auditor's key records by kid.
func (h *Hub) auditorKeyRecords(ctx context.Context, id string) (map[string]AuditorKeyRecord, error) {
	ks, ok := h.store.(AuditorKeyStore)
	if !ok {
		return map[string]AuditorKeyRecord{}, nil
	}
	list, err := ks.AuditorKeyRecords(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("auditor key records of %s: %w", id, err)
	}
	return recordsByKID(list), nil
}

// txAuditorKeyRecords reads an auditor's key records by kid inside a
// transaction.
func txAuditorKeyRecords(ctx context.Context, ktx AuditorKeyTx, id string) (map[string]AuditorKeyRecord, error) {
	list, err := ktx.AuditorKeyRecords(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("auditor key records of %s: %w", id, err)
	}
	return recordsByKID(list), nil
}

func recordsByKID(list []AuditorKeyRecord) map[string]AuditorKeyRecord {
	out := make(map[string]AuditorKeyRecord, len(list))
	for _, r := range list {
		out[r.KID] = r
	}
	return out
}

// lockAuditor reads and locks an auditor in the transaction; an unknown
// one is not_found (only the admin changes keys, and may know that).
func lockAuditor(ctx context.Context, ktx AuditorKeyTx, id string) (Auditor, error) {
	a, err := ktx.AuditorForUpdate(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return Auditor{}, contracts.Refuse(contracts.CodeNotFound, "no auditor %s", id)
	}
	return a, err
}

// updateAuditorKeys runs fn in one store transaction, refusing stores that
// do not keep auditor key records.
func (h *Hub) updateAuditorKeys(ctx context.Context, fn func(AuditorKeyTx, Tx) error) error {
	return h.store.Update(ctx, func(tx Tx) error {
		ktx, ok := tx.(AuditorKeyTx)
		if !ok {
			return errors.New("auditor keys: this store does not support auditor key rotation")
		}
		return fn(ktx, tx)
	})
}
