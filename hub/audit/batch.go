package audit

import (
	"context"
	"database/sql"
	"fmt"
)

// Batch collects the events of one transaction and appends them together
// when the transaction is about to commit: the head is read once, the leaves
// and tree nodes are written with a few multi-row statements, and the head is
// written once, however many events the transaction logs.
//
// Add returns an event's index at once (a receipt signs it), because the
// head is read — and on PostgreSQL locked — by the first Add: no other
// transaction can append before Flush.
type Batch struct {
	log    *Log
	loaded bool
	size   uint64 // head size when the batch began
	leaves [][]byte
}

// NewBatch starts an empty batch for one transaction.
func (l *Log) NewBatch() *Batch { return &Batch{log: l} }

// Add encodes ev and returns the index it will have once the batch is
// flushed. ev.At defaults to now.
func (b *Batch) Add(ctx context.Context, tx *sql.Tx, ev Event) (uint64, error) {
	if ev.At.IsZero() {
		ev.At = b.log.now()
	}
	data, err := ev.Encode()
	if err != nil {
		return 0, err
	}
	if !b.loaded {
		var root []byte
		if err := tx.QueryRowContext(ctx, b.log.headQuery).Scan(&b.size, &root); err != nil {
			return 0, fmt.Errorf("audit: append: read head (are the audit migrations applied?): %w", err)
		}
		b.loaded = true
	}
	b.leaves = append(b.leaves, data)
	return b.size + uint64(len(b.leaves)) - 1, nil
}

// Len is the number of events added so far: a savepoint remembers it, and
// Truncate goes back to it when the savepoint is rolled back.
func (b *Batch) Len() int { return len(b.leaves) }

// Truncate forgets the events added after the first n.
func (b *Batch) Truncate(n int) { b.leaves = b.leaves[:n] }

// Flush appends the collected events to the log in tx. The indexes handed out
// by Add hold: the head cannot have moved, since this transaction read it.
func (b *Batch) Flush(ctx context.Context, tx *sql.Tx) error {
	if len(b.leaves) == 0 {
		return nil
	}
	first, err := b.log.appendLeaves(ctx, tx, b.leaves)
	if err != nil {
		return err
	}
	if first != b.size {
		return fmt.Errorf("audit: append: head moved from %d to %d inside the transaction: not sequenced", b.size, first)
	}
	b.leaves = nil
	return nil
}
