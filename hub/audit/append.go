package audit

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/transparency-dev/merkle/compact"
)

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
	if err := l.insertLeaves(ctx, tx, size, hashes, leaves); err != nil {
		return 0, fmt.Errorf("audit: append: %w", err)
	}
	if err := l.insertNodes(ctx, tx, nodes); err != nil {
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

// nodeHash is a perfect subtree node completed by an append.
type nodeHash struct {
	id   compact.NodeID
	hash []byte
}

// rowsPerInsert bounds the rows of one multi-row INSERT (3 placeholders
// each), well under SQLite's and PostgreSQL's parameter limits.
const rowsPerInsert = 200

func (l *Log) insertLeaves(ctx context.Context, tx *sql.Tx, first uint64, hashes, leaves [][]byte) error {
	for start := 0; start < len(leaves); start += rowsPerInsert {
		end := min(start+rowsPerInsert, len(leaves))
		args := make([]any, 0, 3*(end-start))
		for i := start; i < end; i++ {
			args = append(args, int64(first)+int64(i), hashes[i], leaves[i])
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit_leaves (idx, leaf_hash, data) VALUES `+tuples(l.dialect, end-start, "", "", ""), args...); err != nil {
			return fmt.Errorf("store leaves %d..%d: %w", first+uint64(start), first+uint64(end)-1, err)
		}
	}
	return nil
}

func (l *Log) insertNodes(ctx context.Context, tx *sql.Tx, nodes []nodeHash) error {
	for start := 0; start < len(nodes); start += rowsPerInsert {
		end := min(start+rowsPerInsert, len(nodes))
		args := make([]any, 0, 3*(end-start))
		for _, n := range nodes[start:end] {
			args = append(args, int64(n.id.Level), int64(n.id.Index), n.hash)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit_nodes (level, idx, hash) VALUES `+tuples(l.dialect, end-start, "", "", ""), args...); err != nil {
			return fmt.Errorf("store %d tree nodes: %w", end-start, err)
		}
	}
	return nil
}

// tuples renders n placeholder tuples for a multi-row statement, one
// placeholder per entry of pgCasts: "(?, ?), (?, ?)" on SQLite,
// "($1::smallint, $2::bigint), …" on PostgreSQL, where the casts type the
// parameters of a VALUES list (an empty cast leaves the type to inference).
// Short fixed queries use $N on both (modernc binds $N positionally), but
// SQLite resolves each $N name by a linear search, which makes a statement
// with hundreds of them quadratic to prepare; anonymous ? are numbered in
// order for free.
func tuples(dialect string, n int, pgCasts ...string) string {
	width := len(pgCasts)
	var q strings.Builder
	q.Grow(n * width * 16)
	for i := range n {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteByte('(')
		for j, cast := range pgCasts {
			if j > 0 {
				q.WriteString(", ")
			}
			if dialect == DialectPostgres {
				q.WriteByte('$')
				q.WriteString(strconv.Itoa(i*width + j + 1))
				q.WriteString(cast)
			} else {
				q.WriteByte('?')
			}
		}
		q.WriteByte(')')
	}
	return q.String()
}
