package hub

import (
	"context"
	"errors"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
)

const relayBatch = 256

// relayLease is how long a relay holds the deliveries it claimed; a hub that
// dies holding a lease delays them by at most this much.
const relayLease = 30 * time.Second

// relayMaxBackoff caps the relay's wait after a failure. The broker
// connection itself is retried at least every 5 s (adapters/amqp), and a
// retry costs one claim query, so a longer wait would only delay the
// backlog after the broker is back (up to half a minute).
const relayMaxBackoff = 5 * time.Second

func (h *Hub) wakeRelay() {
	select {
	case h.relayWake <- struct{}{}:
	default:
	}
}

// relay hands committed deliveries from the outbox to the transport. It is
// at-least-once: a row leaves the outbox only after the transport took it,
// and a crash in between republishes it, which the delivery handler absorbs.
//
// The relay is ours rather than Watermill's forwarder because the forwarder
// needs a Watermill SQL subscriber on the store, and watermill-sql has no
// SQLite adapter; one relay serves both engines and the same tests.
func (h *Hub) relay(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for {
		n, err := h.relayOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		wait := h.cfg.RelayInterval
		switch {
		case err != nil:
			h.log.Warn("outbox relay", "err", err, "retry_in", backoff)
			wait, backoff = backoff, min(backoff*2, relayMaxBackoff)
		case n == relayBatch:
			continue
		default:
			backoff = 100 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return
		case <-h.relayWake:
		case <-time.After(wait):
		}
	}
}

func (h *Hub) relayOnce(ctx context.Context) (int, error) {
	items, err := h.store.ClaimOutbox(ctx, h.instance, relayBatch, relayLease)
	if err != nil {
		return 0, err
	}
	for _, it := range items {
		// The transport carries the message id only: the delivery handler
		// reads everything else from the store.
		msg := message.NewMessage(it.MessageID, []byte(it.MessageID))
		if err := h.transport.Publisher.Publish(DeliveriesTopic, msg); err != nil {
			return 0, err
		}
		if err := h.store.Update(ctx, func(tx Tx) error { return tx.Dequeue(ctx, it.Seq) }); err != nil {
			return 0, err
		}
	}
	h.metrics.setOutbox(len(items))
	return len(items), nil
}

func (h *Hub) addDelivery(r *message.Router) {
	handler := r.AddConsumerHandler("deliver", DeliveriesTopic, h.transport.Subscriber, h.deliverHandler)
	handler.AddMiddleware(middleware.Recoverer, middleware.Retry{
		MaxRetries:      5,
		InitialInterval: 100 * time.Millisecond,
		MaxInterval:     5 * time.Second,
		Multiplier:      2,
		ShouldRetry:     func(p middleware.RetryParams) bool { return !permanentDeliveryError(p.Err) },
	}.Middleware)
}

// deliverHandler puts a message in its recipient's inbox. It is idempotent:
// the transport may bring the same delivery twice, the inbox gets it once.
func (h *Hub) deliverHandler(msg *message.Message) error {
	ctx := msg.Context()
	id := string(msg.Payload)
	if !validDelivery(msg) {
		return h.undeliverable(ctx, msg)
	}
	var recipient string
	err := h.store.Update(ctx, func(tx Tx) error {
		m, err := tx.Message(ctx, id)
		if errors.Is(err, ErrNotFound) {
			// Retrying cannot help: it becomes a dead letter (deadletter.go).
			return errUnknownMessage
		}
		if err != nil {
			return err
		}
		// Locks are taken in the order acceptance takes them (transfer,
		// then audit head), so concurrent hubs on PostgreSQL never deadlock.
		t, err := tx.TransferForUpdate(ctx, m.Transfer)
		if err != nil {
			return err
		}
		now := h.now()
		fresh, err := tx.MarkDelivered(ctx, id, now)
		if err != nil || !fresh {
			return err
		}
		recipient = m.To
		if _, err := tx.AppendEvent(ctx, Event{Type: EventDelivered, At: now, MessageID: m.ID, Transfer: m.Transfer,
			Kind: m.Kind, From: m.From, To: m.To, Actor: "hub", CaseDigest: m.CaseDigest}); err != nil {
			return err
		}
		if t.State == StateRequested && m.ID == t.ID {
			if t.State, err = Next(t.State, StepDelivered, RoleHub); err != nil {
				return err
			}
			t.UpdatedAt = now
			return tx.SaveTransfer(ctx, t)
		}
		return nil
	})
	if errors.Is(err, errUnknownMessage) {
		return h.undeliverable(ctx, msg)
	}
	if err != nil {
		return err
	}
	if recipient != "" {
		h.metrics.delivered()
		h.inboxes.notify(recipient)
	}
	return nil
}
