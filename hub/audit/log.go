package audit

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"golang.org/x/mod/sumdb/note"
)

// Querier is what the read methods need: *sql.DB, *sql.Tx and *sql.Conn
// all satisfy it.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Config configures a Log.
type Config struct {
	// Origin is the checkpoint origin line and the name of the signing key,
	// e.g. "relais.hub.example/log". It must not contain spaces or '+'.
	Origin string
	// Signer is the hub's Ed25519 key, in memory (an ed25519.PrivateKey)
	// or on a PKCS#11 token; it signs checkpoints.
	Signer crypto.Signer
	// Dialect is DialectSQLite or DialectPostgres.
	Dialect string
	// Now stamps events appended without a time; time.Now when nil.
	Now func() time.Time
}

// Log is the audit log over the audit_* tables. It holds no tree state of its
// own: everything lives in the database, so several hub processes sharing one
// PostgreSQL database append to one log.
type Log struct {
	origin  string
	dialect string
	// mu guards the keys, which a hub key rotation changes while the log
	// runs (keyring.go): pub, signer and verifierKey are the current key,
	// retired the earlier ones, handover the previous key while a
	// rotation's checkpoint is co-signed.
	mu          sync.RWMutex
	pub         ed25519.PublicKey
	signer      note.Signer
	verifierKey string
	retired     []ed25519.PublicKey
	handover    *rotation
	now         func() time.Time
	ranges      *compact.RangeFactory
	headQuery   string
	stmts       stmtCache
}

// ErrNotFound is returned for a leaf index or checkpoint that does not exist.
var ErrNotFound = errors.New("audit: not found")

// ErrBeyondHead is returned when a proof is asked for a size the log has not
// reached.
var ErrBeyondHead = errors.New("audit: size beyond the log head")

// New checks cfg and returns a Log.
func New(cfg Config) (*Log, error) {
	if err := checkDialect(cfg.Dialect); err != nil {
		return nil, err
	}
	pub, err := ed25519PublicOf(cfg.Signer)
	if err != nil {
		return nil, err
	}
	if cfg.Origin == "" || strings.ContainsAny(cfg.Origin, "\n") {
		return nil, fmt.Errorf("audit: origin %q must be one non-empty line", cfg.Origin)
	}
	vkey, err := VerifierKey(cfg.Origin, pub)
	if err != nil {
		return nil, err
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("audit: verifier: %w", err)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	headQuery := `SELECT size, root FROM audit_head WHERE id = 1`
	if cfg.Dialect == DialectPostgres {
		// The row lock is the sequencer: concurrent appends from any number
		// of hub processes queue here, so there is one log, not several.
		// (Under READ COMMITTED the waiter then reads the new head; under
		// REPEATABLE READ or SERIALIZABLE it gets a serialization error and
		// the caller retries.) SQLite needs nothing: a write transaction is
		// already exclusive. Begin it IMMEDIATE (DSN _txlock=immediate) so
		// that two writers wait for each other instead of the second one
		// failing with SQLITE_BUSY when it upgrades from reading to writing.
		headQuery += ` FOR UPDATE`
	}
	return &Log{
		origin:      cfg.Origin,
		dialect:     cfg.Dialect,
		pub:         pub,
		signer:      &noteSigner{name: cfg.Origin, hash: v.KeyHash(), key: cfg.Signer},
		verifierKey: vkey,
		now:         now,
		ranges:      &compact.RangeFactory{Hash: hasher.HashChildren},
		headQuery:   headQuery,
	}, nil
}

// Origin is the log's origin line.
func (l *Log) Origin() string { return l.origin }

// PublicKey is the key auditors verify checkpoints with.
func (l *Log) PublicKey() ed25519.PublicKey {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.pub
}

// VerifierKey is the note verifier key string of the log's signing key.
func (l *Log) VerifierKey() string {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.verifierKey
}

// Head returns the current size and root hash of the log.
func (l *Log) Head(ctx context.Context, q Querier) (size uint64, root []byte, err error) {
	row, err := l.stmts.queryRow(ctx, q, `SELECT size, root FROM audit_head WHERE id = 1`)
	if err == nil {
		err = row.Scan(&size, &root)
	}
	if err != nil {
		return 0, nil, fmt.Errorf("audit: read head: %w", err)
	}
	return size, root, nil
}
