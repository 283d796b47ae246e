package audit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/relais-hub/relais/contracts"
	tlog "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

// Everything in this file is pure and offline: it needs no database and no
// hub, only the hub's public key. It is the code path auditors run.

var hasher = rfc6962.DefaultHasher

// Checkpoint is a verified C2SP tlog-checkpoint body: the log's origin, its
// size and the RFC 6962 root hash of its first Size leaves.
type Checkpoint struct {
	Origin string
	Size   uint64
	Root   []byte
}

// SignedCheckpoint is a checkpoint with its signed-note text, as published.
type SignedCheckpoint struct {
	Checkpoint
	Note []byte
}

// VerifierKey returns the note verifier key string ("<origin>+<hash>+<key>")
// naming pub as the signer of the log origin.
func VerifierKey(origin string, pub ed25519.PublicKey) (string, error) {
	vkey, err := note.NewEd25519VerifierKey(origin, pub)
	if err != nil {
		return "", fmt.Errorf("audit: verifier key: %w", err)
	}
	if _, err := note.NewVerifier(vkey); err != nil {
		return "", fmt.Errorf("audit: origin %q cannot name a note key: %w", origin, err)
	}
	return vkey, nil
}

// ParseCheckpoint verifies a signed checkpoint against the hub's public key
// and returns its body. The signature must be by pub under the key name
// origin (C2SP tlog-checkpoint names the key after the origin), the body must
// be exactly the three checkpoint lines of that origin, and the root must be
// a SHA-256 hash.
func ParseCheckpoint(text []byte, origin string, pub ed25519.PublicKey) (Checkpoint, error) {
	vkey, err := VerifierKey(origin, pub)
	if err != nil {
		return Checkpoint{}, failure(contracts.CodeAuditCheckpointInvalid, ErrMalformedCheckpoint,
			"cannot build a verifier for origin %q: %v", "impossible de construire un vérificateur pour l'origine %q : %v", origin, err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("audit: verifier: %w", err)
	}
	n, err := note.Open(text, note.VerifierList(v))
	if err != nil {
		var invalid *note.InvalidSignatureError
		var unverified *note.UnverifiedNoteError
		switch {
		case errors.As(err, &invalid):
			return Checkpoint{}, failure(contracts.CodeAuditCheckpointInvalid, ErrBadSignature,
				"the checkpoint signature does not verify with the hub key: the checkpoint was altered or forged",
				"la signature du point de contrôle ne se vérifie pas avec la clé du hub : il a été modifié ou contrefait")
		case errors.As(err, &unverified):
			return Checkpoint{}, failure(contracts.CodeAuditCheckpointInvalid, ErrBadSignature,
				"the checkpoint is not signed by the hub key (key %s)",
				"le point de contrôle n'est pas signé par la clé du hub (clé %s)", vkey)
		default:
			return Checkpoint{}, failure(contracts.CodeAuditCheckpointInvalid, ErrMalformedCheckpoint,
				"the checkpoint is not a signed note: %v", "le point de contrôle n'est pas une note signée : %v", err)
		}
	}
	var body tlog.Checkpoint
	rest, err := body.Unmarshal([]byte(n.Text))
	if err != nil {
		return Checkpoint{}, failure(contracts.CodeAuditCheckpointInvalid, ErrMalformedCheckpoint,
			"the checkpoint body is malformed: %v", "le corps du point de contrôle est mal formé : %v", err)
	}
	if len(rest) > 0 {
		return Checkpoint{}, failure(contracts.CodeAuditCheckpointInvalid, ErrMalformedCheckpoint,
			"the checkpoint carries unexpected extension lines", "le point de contrôle contient des lignes d'extension inattendues")
	}
	if body.Origin != origin {
		return Checkpoint{}, failure(contracts.CodeAuditCheckpointInvalid, ErrWrongOrigin,
			"the checkpoint is for log %q, not %q", "le point de contrôle est celui du journal %q, pas %q", body.Origin, origin)
	}
	if len(body.Hash) != sha256.Size {
		return Checkpoint{}, failure(contracts.CodeAuditCheckpointInvalid, ErrMalformedCheckpoint,
			"the checkpoint root is %d bytes, want %d", "la racine du point de contrôle fait %d octets au lieu de %d", len(body.Hash), sha256.Size)
	}
	return Checkpoint{Origin: body.Origin, Size: body.Size, Root: body.Hash}, nil
}

// VerifyInclusion checks that leafData is the leaf at index in the log
// committed to by cp, using the RFC 6962 inclusion proof.
func VerifyInclusion(leafData []byte, index uint64, proofHashes [][]byte, cp Checkpoint) error {
	if index >= cp.Size {
		return atIndex(failure(contracts.CodeAuditInclusionFailed, ErrNotIncluded,
			"the index is beyond the checkpoint size %d", "l'index dépasse la taille %d du point de contrôle", cp.Size), index)
	}
	leafHash := hasher.HashLeaf(leafData)
	if err := proof.VerifyInclusion(hasher, index, cp.Size, leafHash, proofHashes, cp.Root); err != nil {
		en, fr := proofReason(err)
		return atIndex(failure(contracts.CodeAuditInclusionFailed, ErrNotIncluded,
			"the leaf is not included in the checkpoint of size %[1]d (the leaf or its proof was altered): %[2]s",
			"l'événement n'est pas inclus dans le point de contrôle de taille %[1]d (l'événement ou sa preuve a été modifié) : %[3]s",
			cp.Size, en, fr), index)
	}
	return nil
}

// VerifyConsistency checks that newer extends older: the log of size
// newer.Size starts with the log of size older.Size. A shrunk log (newer is
// smaller) and a fork (same size, different roots) are reported with their
// own errors, before any proof is looked at.
func VerifyConsistency(older, newer Checkpoint, proofHashes [][]byte) error {
	switch {
	case older.Origin != newer.Origin:
		return failure(contracts.CodeAuditConsistencyFailed, ErrWrongOrigin,
			"the checkpoints are from different logs (%q and %q)", "les points de contrôle viennent de journaux différents (%q et %q)",
			older.Origin, newer.Origin)
	case newer.Size < older.Size:
		return failure(contracts.CodeAuditShrunk, ErrShrunk,
			"the log shrank from %d to %d entries", "le journal est passé de %d à %d entrées", older.Size, newer.Size)
	case newer.Size == older.Size && !bytes.Equal(newer.Root, older.Root):
		return failure(contracts.CodeAuditFork, ErrFork,
			"two signed checkpoints of size %d have different roots: the log was rewritten",
			"deux points de contrôle signés de taille %d ont des racines différentes : le journal a été réécrit", newer.Size)
	case newer.Size > older.Size && older.Size > 0 && len(proofHashes) == 0:
		return failure(contracts.CodeAuditConsistencyFailed, ErrMissingProof,
			"no consistency proof from size %d to %d", "aucune preuve de cohérence de la taille %d à %d", older.Size, newer.Size)
	}
	if err := proof.VerifyConsistency(hasher, older.Size, newer.Size, proofHashes, older.Root, newer.Root); err != nil {
		en, fr := proofReason(err)
		return failure(contracts.CodeAuditConsistencyFailed, ErrInconsistent,
			"the log of size %[1]d does not extend the log of size %[2]d (history was rewritten, or the proof is wrong): %[3]s",
			"le journal de taille %[1]d ne prolonge pas celui de taille %[2]d (l'historique a été réécrit, ou la preuve est fausse) : %[4]s",
			newer.Size, older.Size, en, fr)
	}
	return nil
}

// proofReason explains a merkle proof error in English and French without
// dumping hashes.
func proofReason(err error) (en, fr string) {
	var mismatch proof.RootMismatchError
	if errors.As(err, &mismatch) {
		return "the proof leads to a different root than the signed one",
			"la preuve aboutit à une autre racine que la racine signée"
	}
	return err.Error(), "preuve invalide (" + err.Error() + ")"
}
