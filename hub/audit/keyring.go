package audit

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/note"

	"github.com/relais-hub/relais/contracts"
)

// Hub key rotation with overlap. The log signs new checkpoints with its
// current key and keeps trusting the keys it replaced, so checkpoints
// signed before a rotation still verify: a key is retired, never revoked,
// by a rotation (a compromised hub key needs more than a rotation: see
// SECURITY.md).
//
// During a rotation both keys sign: the checkpoint that covers the
// rotation's own audit event carries the old key's signature and the new
// one's, so an auditor who trusts only the old key verifies it, finds the
// event naming the new key inside it, and can move on to the new key.

// TypeHubKeyRotated is the audit event of a hub key rotation. Its Extra
// names the new key (kid, key: base64url Ed25519 public key) and the one it
// replaced (previous_kid, previous_key).
const TypeHubKeyRotated EventType = "hub_key_rotated"

// ErrRotating is returned by BeginRotation while another rotation runs.
var ErrRotating = errors.New("audit: a hub key rotation is already under way")

// TrustRetired adds public keys of earlier hub keys: checkpoints they
// signed verify, and nothing is signed with them.
func (l *Log) TrustRetired(pubs ...ed25519.PublicKey) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range pubs {
		if len(p) != ed25519.PublicKeySize {
			return fmt.Errorf("audit: retired hub key is %d bytes, want %d", len(p), ed25519.PublicKeySize)
		}
		if !l.trustsLocked(p) {
			l.retired = append(l.retired, bytes.Clone(p))
		}
	}
	return nil
}

func (l *Log) trustsLocked(p ed25519.PublicKey) bool {
	if l.pub.Equal(p) {
		return true
	}
	for _, r := range l.retired {
		if r.Equal(p) {
			return true
		}
	}
	return false
}

// PublicKeys lists every key whose checkpoints verify: the current one
// first, then the retired ones, oldest first.
func (l *Log) PublicKeys() []ed25519.PublicKey {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := []ed25519.PublicKey{l.pub}
	return append(out, l.retired...)
}

// BeginRotation makes next the signing key. Until EndRotation the previous
// key signs too, so every checkpoint of the handover carries both
// signatures; AbortRotation undoes it.
func (l *Log) BeginRotation(next crypto.Signer) error {
	pub, err := ed25519PublicOf(next)
	if err != nil {
		return fmt.Errorf("audit: the new hub key: %w", err)
	}
	vkey, err := VerifierKey(l.origin, pub)
	if err != nil {
		return err
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return fmt.Errorf("audit: verifier: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.handover != nil {
		return ErrRotating
	}
	if l.trustsLocked(pub) {
		return errors.New("audit: the new hub key is already one of the log's keys")
	}
	l.handover = &rotation{signer: l.signer, pub: l.pub, verifierKey: l.verifierKey}
	l.retired = append(l.retired, l.pub)
	l.pub, l.verifierKey = pub, vkey
	l.signer = &noteSigner{name: l.origin, hash: v.KeyHash(), key: next}
	return nil
}

// Adopt makes next the signing key at once, the current key becoming a
// retired one: for a hub process that finds that another process rotated
// the shared key, whose handover checkpoint that process already signed.
func (l *Log) Adopt(next crypto.Signer) error {
	pub, err := ed25519PublicOf(next)
	if err != nil {
		return fmt.Errorf("audit: the new hub key: %w", err)
	}
	vkey, err := VerifierKey(l.origin, pub)
	if err != nil {
		return err
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return fmt.Errorf("audit: verifier: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.handover != nil {
		return ErrRotating
	}
	if l.pub.Equal(pub) {
		return nil
	}
	kept := l.retired[:0]
	for _, r := range l.retired {
		if !r.Equal(pub) {
			kept = append(kept, r)
		}
	}
	l.retired = append(kept, l.pub)
	l.pub, l.verifierKey = pub, vkey
	l.signer = &noteSigner{name: l.origin, hash: v.KeyHash(), key: next}
	return nil
}

// EndRotation stops signing with the previous key and forgets it: only
// its public half stays, trusted.
func (l *Log) EndRotation() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.handover = nil
}

// AbortRotation restores the previous key as the only signing key.
func (l *Log) AbortRotation() {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.handover
	if h == nil {
		return
	}
	l.signer, l.pub, l.verifierKey = h.signer, h.pub, h.verifierKey
	l.retired = l.retired[:len(l.retired)-1]
	l.handover = nil
}

// rotation is the key being replaced, kept signing during the handover.
type rotation struct {
	signer      note.Signer
	pub         ed25519.PublicKey
	verifierKey string
}

// signers are the keys that sign a checkpoint now: the current one, and
// the previous one during a rotation.
func (l *Log) signers() []note.Signer {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.handover != nil {
		return []note.Signer{l.handover.signer, l.signer}
	}
	return []note.Signer{l.signer}
}

// ParseCheckpoint verifies a signed checkpoint of this log with any of its
// keys, current or retired.
func (l *Log) ParseCheckpoint(text []byte) (Checkpoint, error) {
	return ParseCheckpointWithKeys(text, l.origin, l.PublicKeys())
}

// SignerOf returns the first of the log's keys (current first) whose
// signature on the checkpoint verifies.
func (l *Log) SignerOf(text []byte) (ed25519.PublicKey, error) {
	for _, p := range l.PublicKeys() {
		if _, err := ParseCheckpoint(text, l.origin, p); err == nil {
			return p, nil
		}
	}
	return nil, failure(contracts.CodeAuditCheckpointInvalid, ErrBadSignature,
		"the checkpoint is not signed by any of the hub's keys", "le point de contrôle n'est signé par aucune des clés du hub")
}

// ParseCheckpointWithKeys is ParseCheckpoint for a set of trusted hub keys
// (the current key and the retired ones): a checkpoint signed by any of
// them verifies. Every refusal is the one ParseCheckpoint gives for the
// first key; a bad signature by one trusted key is never excused by
// another's good one, because note.Open refuses a note carrying an invalid
// signature from any key it knows.
func ParseCheckpointWithKeys(text []byte, origin string, pubs []ed25519.PublicKey) (Checkpoint, error) {
	if len(pubs) == 0 {
		return Checkpoint{}, errors.New("audit: no trusted hub key")
	}
	verifiers := make([]note.Verifier, 0, len(pubs))
	for _, p := range pubs {
		vkey, err := VerifierKey(origin, p)
		if err != nil {
			return ParseCheckpoint(text, origin, p)
		}
		v, err := note.NewVerifier(vkey)
		if err != nil {
			return Checkpoint{}, fmt.Errorf("audit: verifier: %w", err)
		}
		verifiers = append(verifiers, v)
	}
	n, err := note.Open(text, note.VerifierList(verifiers...))
	var invalid *note.InvalidSignatureError
	switch {
	case errors.As(err, &invalid):
		return Checkpoint{}, failure(contracts.CodeAuditCheckpointInvalid, ErrBadSignature,
			"the checkpoint signature does not verify with the hub key: the checkpoint was altered or forged",
			"la signature du point de contrôle ne se vérifie pas avec la clé du hub : il a été modifié ou contrefait")
	case err != nil || len(n.Sigs) == 0:
		// Unsigned by any trusted key, or not a note: report as the
		// single-key parser does, against the first key.
		return ParseCheckpoint(text, origin, pubs[0])
	}
	// Which key signed does not matter; checking the body does. Parse it
	// again with the key of a verified signature, which also runs every
	// body check.
	for _, p := range pubs {
		vkey, _ := VerifierKey(origin, p)
		v, _ := note.NewVerifier(vkey)
		if v.KeyHash() == n.Sigs[0].Hash {
			return ParseCheckpoint(text, origin, p)
		}
	}
	return ParseCheckpoint(text, origin, pubs[0])
}
