package audit

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	tlog "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
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
	// Signer is the hub's Ed25519 key; it signs checkpoints.
	Signer ed25519.PrivateKey
	// Dialect is DialectSQLite or DialectPostgres.
	Dialect string
	// Now stamps events appended without a time; time.Now when nil.
	Now func() time.Time
}

// Log is the audit log over the audit_* tables. It holds no tree state of its
// own: everything lives in the database, so several hub processes sharing one
// PostgreSQL database append to one log.
type Log struct {
	origin      string
	dialect     string
	pub         ed25519.PublicKey
	signer      note.Signer
	verifierKey string
	now         func() time.Time
	ranges      *compact.RangeFactory
	headQuery   string
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
	if len(cfg.Signer) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("audit: signer must be an Ed25519 private key (%d bytes), got %d bytes", ed25519.PrivateKeySize, len(cfg.Signer))
	}
	if cfg.Origin == "" || strings.ContainsAny(cfg.Origin, "\n") {
		return nil, fmt.Errorf("audit: origin %q must be one non-empty line", cfg.Origin)
	}
	pub := cfg.Signer.Public().(ed25519.PublicKey)
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
		// SQLite needs nothing: a write transaction is already exclusive
		// (begin it IMMEDIATE, e.g. DSN _txlock=immediate, so that two
		// writers wait for each other instead of failing on upgrade).
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
func (l *Log) PublicKey() ed25519.PublicKey { return l.pub }

// VerifierKey is the note verifier key string of the log's signing key.
func (l *Log) VerifierKey() string { return l.verifierKey }

// Append logs ev inside the caller's transaction and returns its leaf index.
// The leaf, its tree nodes and the new head commit or roll back with the
// caller's own writes, so a message is accepted if and only if it is logged.
// ev.At defaults to now; it is stored in UTC at millisecond precision.
func (l *Log) Append(ctx context.Context, tx *sql.Tx, ev Event) (uint64, error) {
	first, err := l.AppendBatch(ctx, tx, []Event{ev})
	if err != nil {
		return 0, err
	}
	return first, nil
}

// AppendBatch logs several events in order inside the caller's transaction
// and returns the index of the first; the others follow consecutively. The
// head is read and written once, so a batch costs little more than a single
// append.
func (l *Log) AppendBatch(ctx context.Context, tx *sql.Tx, events []Event) (uint64, error) {
	leaves := make([][]byte, len(events))
	for i, ev := range events {
		if ev.At.IsZero() {
			ev.At = l.now()
		}
		data, err := ev.Encode()
		if err != nil {
			return 0, err
		}
		leaves[i] = data
	}
	return l.appendLeaves(ctx, tx, leaves)
}

// appendLeaves sequences leaves: lock the head, extend the compact range of
// the current tree by each leaf hash, store the leaves, the perfect subtree
// nodes they complete, and the new head.
func (l *Log) appendLeaves(ctx context.Context, tx *sql.Tx, leaves [][]byte) (uint64, error) {
	if len(leaves) == 0 {
		return 0, fmt.Errorf("audit: append: no events")
	}
	var size uint64
	var root []byte
	if err := tx.QueryRowContext(ctx, l.headQuery).Scan(&size, &root); err != nil {
		return 0, fmt.Errorf("audit: append: read head (are the audit migrations applied?): %w", err)
	}
	if size > math.MaxInt64-uint64(len(leaves)) {
		return 0, fmt.Errorf("audit: append: log is full")
	}
	rng, err := l.rangeAt(ctx, tx, size)
	if err != nil {
		return 0, fmt.Errorf("audit: append: %w", err)
	}
	var nodes []nodeHash
	visit := func(id compact.NodeID, h []byte) { nodes = append(nodes, nodeHash{id, h}) }
	hashes := make([][]byte, len(leaves))
	for i, data := range leaves {
		hashes[i] = hasher.HashLeaf(data)
		if err := rng.Append(hashes[i], visit); err != nil {
			return 0, fmt.Errorf("audit: append: extend tree: %w", err)
		}
	}
	newRoot, err := rng.GetRootHash(nil)
	if err != nil {
		return 0, fmt.Errorf("audit: append: root: %w", err)
	}
	if err := insertLeaves(ctx, tx, size, hashes, leaves); err != nil {
		return 0, fmt.Errorf("audit: append: %w", err)
	}
	if err := insertNodes(ctx, tx, nodes); err != nil {
		return 0, fmt.Errorf("audit: append: %w", err)
	}
	newSize := size + uint64(len(leaves))
	res, err := tx.ExecContext(ctx,
		`UPDATE audit_head SET size = $1, root = $2 WHERE id = 1 AND size = $3`,
		int64(newSize), newRoot, int64(size))
	if err != nil {
		return 0, fmt.Errorf("audit: append: update head: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return 0, fmt.Errorf("audit: append: head moved under the transaction (rows=%d, err=%v): not sequenced", n, err)
	}
	return size, nil
}

// rowsPerInsert bounds the rows of one multi-row INSERT (3 placeholders
// each), well under SQLite's and PostgreSQL's parameter limits.
const rowsPerInsert = 200

func insertLeaves(ctx context.Context, tx *sql.Tx, first uint64, hashes, leaves [][]byte) error {
	for start := 0; start < len(leaves); start += rowsPerInsert {
		end := min(start+rowsPerInsert, len(leaves))
		args := make([]any, 0, 3*(end-start))
		for i := start; i < end; i++ {
			args = append(args, int64(first)+int64(i), hashes[i], leaves[i])
		}
		if _, err := tx.ExecContext(ctx, multiRowInsert(`INSERT INTO audit_leaves (idx, leaf_hash, data) VALUES `, end-start), args...); err != nil {
			return fmt.Errorf("store leaves %d..%d: %w", first+uint64(start), first+uint64(end)-1, err)
		}
	}
	return nil
}

func insertNodes(ctx context.Context, tx *sql.Tx, nodes []nodeHash) error {
	for start := 0; start < len(nodes); start += rowsPerInsert {
		end := min(start+rowsPerInsert, len(nodes))
		args := make([]any, 0, 3*(end-start))
		for _, n := range nodes[start:end] {
			args = append(args, int64(n.id.Level), int64(n.id.Index), n.hash)
		}
		if _, err := tx.ExecContext(ctx, multiRowInsert(`INSERT INTO audit_nodes (level, idx, hash) VALUES `, end-start), args...); err != nil {
			return fmt.Errorf("store %d tree nodes: %w", end-start, err)
		}
	}
	return nil
}

// multiRowInsert appends n "($a, $b, $c)" tuples to prefix.
func multiRowInsert(prefix string, n int) string {
	var q strings.Builder
	q.Grow(len(prefix) + n*20)
	q.WriteString(prefix)
	for i := range n {
		if i > 0 {
			q.WriteString(", ")
		}
		fmt.Fprintf(&q, "($%d, $%d, $%d)", 3*i+1, 3*i+2, 3*i+3)
	}
	return q.String()
}

type nodeHash struct {
	id   compact.NodeID
	hash []byte
}

// rangeAt loads the compact range [0, size): the roots of the perfect
// subtrees along the right edge of the tree, one per set bit of size.
func (l *Log) rangeAt(ctx context.Context, q Querier, size uint64) (*compact.Range, error) {
	ids := compact.RangeNodes(0, size, nil)
	hashes, err := readNodes(ctx, q, ids)
	if err != nil {
		return nil, err
	}
	rng, err := l.ranges.NewRange(0, size, hashes)
	if err != nil {
		return nil, fmt.Errorf("compact range of size %d: %w", size, err)
	}
	return rng, nil
}

// maxNodesPerQuery bounds the placeholders of one node lookup.
const maxNodesPerQuery = 128

// readNodes returns the stored hashes of ids, in order.
func readNodes(ctx context.Context, q Querier, ids []compact.NodeID) ([][]byte, error) {
	found := make(map[compact.NodeID][]byte, len(ids))
	for start := 0; start < len(ids); start += maxNodesPerQuery {
		batch := ids[start:min(start+maxNodesPerQuery, len(ids))]
		var sb strings.Builder
		sb.WriteString(`SELECT level, idx, hash FROM audit_nodes WHERE (level, idx) IN (VALUES `)
		args := make([]any, 0, 2*len(batch))
		for i, id := range batch {
			if i > 0 {
				sb.WriteString(", ")
			}
			fmt.Fprintf(&sb, "($%d, $%d)", 2*i+1, 2*i+2)
			args = append(args, int64(id.Level), int64(id.Index))
		}
		sb.WriteString(")")
		rows, err := q.QueryContext(ctx, sb.String(), args...)
		if err != nil {
			return nil, fmt.Errorf("read tree nodes: %w", err)
		}
		for rows.Next() {
			var level, index int64
			var h []byte
			if err := rows.Scan(&level, &index, &h); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read tree nodes: %w", err)
			}
			found[compact.NewNodeID(uint(level), uint64(index))] = h
		}
		if err := rows.Err(); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read tree nodes: %w", err)
		}
		rows.Close()
	}
	out := make([][]byte, len(ids))
	for i, id := range ids {
		h, ok := found[id]
		if !ok {
			return nil, fmt.Errorf("tree node (level %d, index %d) is missing from audit_nodes: the stored log is damaged", id.Level, id.Index)
		}
		out[i] = h
	}
	return out, nil
}

// Head returns the current size and root hash of the log.
func (l *Log) Head(ctx context.Context, q Querier) (size uint64, root []byte, err error) {
	if err := q.QueryRowContext(ctx, `SELECT size, root FROM audit_head WHERE id = 1`).Scan(&size, &root); err != nil {
		return 0, nil, fmt.Errorf("audit: read head: %w", err)
	}
	return size, root, nil
}

// Leaf returns the event logged at index and its exact leaf bytes. If the
// stored bytes do not decode, the raw bytes are still returned with the
// error, so that tools can show what is there.
func (l *Log) Leaf(ctx context.Context, q Querier, index uint64) (Event, []byte, error) {
	if index >= math.MaxInt64 {
		return Event{}, nil, fmt.Errorf("audit: leaf %d: %w", index, ErrNotFound)
	}
	var data []byte
	err := q.QueryRowContext(ctx, `SELECT data FROM audit_leaves WHERE idx = $1`, int64(index)).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return Event{}, nil, fmt.Errorf("audit: leaf %d: %w", index, ErrNotFound)
	}
	if err != nil {
		return Event{}, nil, fmt.Errorf("audit: leaf %d: %w", index, err)
	}
	ev, err := DecodeEvent(data)
	if err != nil {
		return Event{}, data, fmt.Errorf("audit: leaf %d: %w", index, err)
	}
	return ev, data, nil
}

// InclusionProof returns the RFC 6962 inclusion proof of leaf index in the
// tree of the given size (which must not exceed the head). It reads at most
// 2·log2(size) node rows.
func (l *Log) InclusionProof(ctx context.Context, q Querier, index, size uint64) ([][]byte, error) {
	if err := l.checkSize(ctx, q, size); err != nil {
		return nil, fmt.Errorf("audit: inclusion proof: %w", err)
	}
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, fmt.Errorf("audit: inclusion proof: %w", err)
	}
	return l.buildProof(ctx, q, nodes)
}

// ConsistencyProof returns the RFC 6962 consistency proof from size1 to
// size2 (size1 <= size2 <= head).
func (l *Log) ConsistencyProof(ctx context.Context, q Querier, size1, size2 uint64) ([][]byte, error) {
	if err := l.checkSize(ctx, q, size2); err != nil {
		return nil, fmt.Errorf("audit: consistency proof: %w", err)
	}
	nodes, err := proof.Consistency(size1, size2)
	if err != nil {
		return nil, fmt.Errorf("audit: consistency proof: %w", err)
	}
	return l.buildProof(ctx, q, nodes)
}

func (l *Log) checkSize(ctx context.Context, q Querier, size uint64) error {
	head, _, err := l.Head(ctx, q)
	if err != nil {
		return err
	}
	if size > head {
		return fmt.Errorf("%w: size %d > head %d", ErrBeyondHead, size, head)
	}
	return nil
}

// buildProof fetches the perfect nodes of a proof and folds the ones under
// the ephemeral node (the root of an incomplete subtree, never stored) into
// its hash.
func (l *Log) buildProof(ctx context.Context, q Querier, nodes proof.Nodes) ([][]byte, error) {
	hashes, err := readNodes(ctx, q, nodes.IDs)
	if err != nil {
		return nil, fmt.Errorf("audit: proof: %w", err)
	}
	out, err := nodes.Rehash(hashes, hasher.HashChildren)
	if err != nil {
		return nil, fmt.Errorf("audit: proof: %w", err)
	}
	return out, nil
}

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
	text, err := note.Sign(&note.Note{Text: string(body.Marshal())}, l.signer)
	if err != nil {
		return SignedCheckpoint{}, fmt.Errorf("audit: sign checkpoint: %w", err)
	}
	return SignedCheckpoint{Checkpoint: Checkpoint{Origin: l.origin, Size: size, Root: root}, Note: text}, nil
}

// LatestCheckpoint returns the largest stored checkpoint, verified with the
// log's own key (a damaged row is an error, not something to publish).
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
	cp, err := ParseCheckpoint([]byte(text), l.origin, l.pub)
	if err != nil {
		return SignedCheckpoint{}, fmt.Errorf("audit: stored checkpoint: %w", err)
	}
	return SignedCheckpoint{Checkpoint: cp, Note: []byte(text)}, nil
}

// noteSigner signs notes with an Ed25519 key under the log origin's name.
// (note.NewSigner only takes the encoded "PRIVATE+KEY+…" string; the hub
// holds its key as an ed25519.PrivateKey.)
type noteSigner struct {
	name string
	hash uint32
	key  ed25519.PrivateKey
}

func (s *noteSigner) Name() string    { return s.name }
func (s *noteSigner) KeyHash() uint32 { return s.hash }
func (s *noteSigner) Sign(msg []byte) ([]byte, error) {
	return ed25519.Sign(s.key, msg), nil
}
