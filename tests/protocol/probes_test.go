package protocol

// Store probes: what the hub committed, queued, delivered and audited,
// read straight from its store.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/tests/internal/relaistest"
)

// rejectedEvent is one "rejected" row of the audit log.
type rejectedEvent struct {
	Code, MessageID, Transfer, Actor, Detail, JWSDigest string
}

// rejected reads the audit log's refusals with the given code, oldest
// first, straight from the events table.
func (w *world) rejected(t *testing.T, code contracts.Code) []rejectedEvent {
	t.Helper()
	rows, err := w.store.DB().QueryContext(context.Background(),
		`SELECT code, message_id, transfer, actor, detail, jws_digest FROM events WHERE type = 'rejected' AND code = ? ORDER BY idx`, string(code))
	if err != nil {
		t.Fatalf("read audit log: %v", err)
	}
	defer rows.Close()
	var out []rejectedEvent
	for rows.Next() {
		var e rejectedEvent
		if err := rows.Scan(&e.Code, &e.MessageID, &e.Transfer, &e.Actor, &e.Detail, &e.JWSDigest); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// queueState is everything that would show a message was taken: the
// message rows, the outbox, and every agency's inbox.
type queueState struct {
	Messages int
	Outbox   int
	Inboxes  map[string][]string
}

func (w *world) queueState(t *testing.T) queueState {
	t.Helper()
	ctx := context.Background()
	s := queueState{Inboxes: map[string][]string{}}
	if err := w.store.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM messages`).Scan(&s.Messages); err != nil {
		t.Fatal(err)
	}
	pending, err := w.store.PendingOutbox(ctx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	s.Outbox = len(pending)
	for _, p := range []*party{w.ci, w.ml, w.bf} {
		items, err := w.store.Inbox(ctx, p.ID, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		ids := []string{}
		for _, it := range items {
			ids = append(ids, it.ID)
		}
		s.Inboxes[p.ID] = ids
	}
	return s
}
func (s queueState) String() string {
	b, _ := json.Marshal(s)
	return string(b)
}

// settled waits until the relay has delivered everything committed, so a
// later snapshot cannot race a delivery in flight.
func (w *world) settled(t *testing.T) queueState {
	t.Helper()
	var s queueState
	relaistest.Eventually(t, 5*time.Second, 10*time.Millisecond, func() error {
		s = w.queueState(t)
		if s.Outbox != 0 {
			return fmt.Errorf("%d deliveries still in the outbox", s.Outbox)
		}
		return nil
	})
	return s
}

// delivered waits until message id sits in agency's inbox.
func (w *world) delivered(t *testing.T, agencyID, id string) {
	t.Helper()
	relaistest.Eventually(t, 5*time.Second, 10*time.Millisecond, func() error {
		m, err := w.store.Message(context.Background(), id)
		if err != nil {
			return err
		}
		if m.DeliveredAt.IsZero() || m.To != agencyID {
			return fmt.Errorf("message %s not yet delivered to %s", id, agencyID)
		}
		return nil
	})
}

// isNotFound reports whether err is the store's not-found.
func isNotFound(err error) bool { return errors.Is(err, hub.ErrNotFound) }
