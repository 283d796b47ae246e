package audit

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"
	"math"

	tlog "github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
)

// Checkpoint signs the current head as a C2SP tlog-checkpoint signed note,
// stores it in audit_checkpoints and returns it. Asking twice at the same
// size returns the same checkpoint (Ed25519 signatures are deterministic and
// checkpoints carry no timestamp), so concurrent publishers agree.
func (l *Log) Checkpoint(ctx context.Context, db *sql.DB) (SignedCheckpoint, error) {
	size, root, err := l.Head(ctx, db)
	if err != nil {
		return SignedCheckpoint{}, fmt.Errorf("audit: checkpoint: %w", err)
	}
	cp, err := l.sign(size, root)
	if err != nil {
		return SignedCheckpoint{}, err
	}
	if _, err := db.ExecContext(ctx,
		`INSERT INTO audit_checkpoints (size, root, note) VALUES ($1, $2, $3) ON CONFLICT (size) DO NOTHING`,
		int64(size), root, string(cp.Note)); err != nil {
		return SignedCheckpoint{}, fmt.Errorf("audit: checkpoint: store: %w", err)
	}
	stored, err := l.CheckpointAt(ctx, db, size)
	if err != nil {
		return SignedCheckpoint{}, fmt.Errorf("audit: checkpoint: read back: %w", err)
	}
	if string(stored.Root) != string(root) {
		return SignedCheckpoint{}, fmt.Errorf("audit: checkpoint: a checkpoint of size %d with another root is already stored: %w", size, ErrFork)
	}
	return stored, nil
}

// sign builds the signed note of (size, root).
func (l *Log) sign(size uint64, root []byte) (SignedCheckpoint, error) {
	body := tlog.Checkpoint{Origin: l.origin, Size: size, Hash: root}
	text, err := note.Sign(&note.Note{Text: string(body.Marshal())}, l.signers()...)
	if err != nil {
		return SignedCheckpoint{}, fmt.Errorf("audit: sign checkpoint: %w", err)
	}
	return SignedCheckpoint{Checkpoint: Checkpoint{Origin: l.origin, Size: size, Root: root}, Note: text}, nil
}

// LatestCheckpoint returns the largest stored checkpoint, verified with the
// log's keys, current or retired (a damaged row is an error, not something
// to publish).
func (l *Log) LatestCheckpoint(ctx context.Context, q Querier) (SignedCheckpoint, error) {
	return l.readCheckpoint(ctx, q, `SELECT note FROM audit_checkpoints ORDER BY size DESC LIMIT 1`)
}

// CheckpointAt returns the stored checkpoint of the given size.
func (l *Log) CheckpointAt(ctx context.Context, q Querier, size uint64) (SignedCheckpoint, error) {
	if size >= math.MaxInt64 {
		return SignedCheckpoint{}, fmt.Errorf("audit: checkpoint %d: %w", size, ErrNotFound)
	}
	return l.readCheckpoint(ctx, q, `SELECT note FROM audit_checkpoints WHERE size = $1`, int64(size))
}

func (l *Log) readCheckpoint(ctx context.Context, q Querier, query string, args ...any) (SignedCheckpoint, error) {
	var text string
	err := q.QueryRowContext(ctx, query, args...).Scan(&text)
	if errors.Is(err, sql.ErrNoRows) {
		return SignedCheckpoint{}, fmt.Errorf("audit: checkpoint: %w", ErrNotFound)
	}
	if err != nil {
		return SignedCheckpoint{}, fmt.Errorf("audit: checkpoint: %w", err)
	}
	cp, err := l.ParseCheckpoint([]byte(text))
	if err != nil {
		return SignedCheckpoint{}, fmt.Errorf("audit: stored checkpoint: %w", err)
	}
	return SignedCheckpoint{Checkpoint: cp, Note: []byte(text)}, nil
}

// noteSigner signs notes with an Ed25519 key under the log origin's name.
// (note.NewSigner only takes the encoded "PRIVATE+KEY+…" string; the hub
// holds its key as a crypto.Signer, which a PKCS#11 token never exports.)
type noteSigner struct {
	name string
	hash uint32
	key  crypto.Signer
}

func (s *noteSigner) Name() string    { return s.name }
func (s *noteSigner) KeyHash() uint32 { return s.hash }
func (s *noteSigner) Sign(msg []byte) ([]byte, error) {
	// crypto.Hash(0): pure Ed25519 over the message, as note verifiers
	// expect (not Ed25519ph).
	sig, err := s.key.Sign(nil, msg, crypto.Hash(0))
	if err != nil {
		return nil, fmt.Errorf("audit: signing the checkpoint: %w", err)
	}
	return sig, nil
}

// ed25519PublicOf is the public key of an Ed25519 signer, or an error for
// any other kind of key.
func ed25519PublicOf(s crypto.Signer) (ed25519.PublicKey, error) {
	if s == nil {
		return nil, errors.New("audit: no signer")
	}
	pub, ok := s.Public().(ed25519.PublicKey)
	if !ok || len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("audit: the signer must hold an Ed25519 key, not a %T", s.Public())
	}
	return pub, nil
}
