package hub

import (
	"cmp"
	"context"
	"errors"
	"hash/fnv"
	"strconv"
	"sync"
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
	// Each topic's share goes out in one Publish (RabbitMQ pipelines its
	// confirms), the topics in parallel (the in-process transport returns
	// only once each delivery was handled).
	byTopic := map[string][]OutboxItem{}
	for _, it := range items {
		topic := h.deliveryTopic(it.MessageID)
		byTopic[topic] = append(byTopic[topic], it)
	}
	var (
		mu        sync.Mutex
		published []OutboxItem
		firstErr  error
		wg        sync.WaitGroup
	)
	for topic, share := range byTopic {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msgs := make([]*message.Message, len(share))
			for i, it := range share {
				// The transport carries the message id only: the delivery
				// handler reads everything else from the store.
				msgs[i] = message.NewMessage(it.MessageID, []byte(it.MessageID))
			}
			err := h.transport.Publisher.Publish(topic, msgs...)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				firstErr = cmp.Or(firstErr, err)
				return
			}
			published = append(published, share...)
		}()
	}
	wg.Wait()
	// What was published leaves the outbox; the rest stays claimed by this
	// relay, which takes it again on its next round.
	if len(published) > 0 {
		if err := h.store.Update(ctx, func(tx Tx) error {
			for _, it := range published {
				if err := tx.Dequeue(ctx, it.Seq); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return 0, err
		}
	}
	if firstErr != nil {
		return 0, firstErr
	}
	h.metrics.setOutbox(len(items))
	return len(items), nil
}

// deliveryTopic spreads deliveries over the transport's topics by message
// id.
func (h *Hub) deliveryTopic(messageID string) string {
	if len(h.deliveryTopics) == 1 {
		return h.deliveryTopics[0]
	}
	f := fnv.New32a()
	f.Write([]byte(messageID))
	return h.deliveryTopics[f.Sum32()%uint32(len(h.deliveryTopics))]
}

func (h *Hub) addDelivery(r *message.Router) {
	for _, topic := range h.deliveryTopics {
		for i := range h.transport.Consumers {
			handler := r.AddConsumerHandler("deliver-"+topic+"-"+strconv.Itoa(i), topic, h.transport.Subscriber, h.deliverHandler)
			handler.AddMiddleware(middleware.Recoverer, middleware.Retry{
				MaxRetries:      5,
				InitialInterval: 100 * time.Millisecond,
				MaxInterval:     5 * time.Second,
				Multiplier:      2,
				ShouldRetry:     func(p middleware.RetryParams) bool { return !permanentDeliveryError(p.Err) },
			}.Middleware)
		}
	}
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
