package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
)

// rangeAt loads the compact range [0, size): the roots of the perfect
// subtrees along the right edge of the tree, one per set bit of size.
func (l *Log) rangeAt(ctx context.Context, q Querier, size uint64) (*compact.Range, error) {
	ids := compact.RangeNodes(0, size, nil)
	hashes, err := l.readNodes(ctx, q, ids)
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
func (l *Log) readNodes(ctx context.Context, q Querier, ids []compact.NodeID) ([][]byte, error) {
	found := make(map[compact.NodeID][]byte, len(ids))
	for start := 0; start < len(ids); start += maxNodesPerQuery {
		batch := ids[start:min(start+maxNodesPerQuery, len(ids))]
		args := make([]any, 0, 2*len(batch))
		for _, id := range batch {
			args = append(args, int64(id.Level), int64(id.Index))
		}
		query := `SELECT level, idx, hash FROM audit_nodes WHERE (level, idx) IN (VALUES ` + tuples(l.dialect, len(batch), "::smallint", "::bigint") + `)`
		rows, err := l.stmts.query(ctx, q, query, args...)
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
	hashes, err := l.readNodes(ctx, q, nodes.IDs)
	if err != nil {
		return nil, fmt.Errorf("audit: proof: %w", err)
	}
	out, err := nodes.Rehash(hashes, hasher.HashChildren)
	if err != nil {
		return nil, fmt.Errorf("audit: proof: %w", err)
	}
	return out, nil
}
