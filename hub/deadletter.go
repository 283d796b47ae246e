package hub

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/hub/audit"
)

// Dead letters are deliveries the transport gave up on. On RabbitMQ the
// delivery handler returns (nacks) what it cannot process, the topic queue
// dead-letters it once it was delivered more often than its delivery limit,
// and a DeadLetterWatcher records each one from the dead-letter queue. On
// the in-process transport nothing would ever dead-letter a message (a nack
// redelivers it at once, forever), so the handler records it itself.
//
// A dead letter is recorded as a dead_lettered audit event (actor "hub"):
// the message id, the transfer, parties and kind when the store holds the
// message, the reason and the dead-letter queue, never the payload. Known
// messages' dead letters thus show in their transfer's trail too. Operators
// list them (DeadLetters) and replay the undelivered ones (ReplayDeadLetter).

// ReasonUnknownMessage is the reason of a delivery that names no message
// the store holds (or no message id at all): retrying cannot help it.
const ReasonUnknownMessage = "unknown_message"

// reasonUnstated is recorded for a dead letter that came with no reason.
const reasonUnstated = "unstated"

// Metadata a dead-lettering transport sets on a dead letter (adapters/amqp
// flattens RabbitMQ's x-death headers into these keys).
const (
	MetadataFirstDeathReason = "x-first-death-reason"
	MetadataDeathReason      = "x-death-reason"
	MetadataDeathQueue       = "x-death-queue"
	MetadataDeathCount       = "x-death-count"
)

// DeadLetter states, read from the store when the list is read.
const (
	DeadLetterUndelivered = "undelivered"
	DeadLetterDelivered   = "delivered"
	DeadLetterUnknown     = "unknown_message"
)

// DeadLetter is one recorded dead letter, as operators see it.
type DeadLetter struct {
	// Index is the leaf index of the dead_lettered event.
	Index     uint64
	At        time.Time
	MessageID string // empty when the delivery carried no valid message id
	Transfer  string
	Kind      string
	From      string
	To        string
	// Reason is the broker's (delivery_limit, rejected, expired, maxlen) or
	// ReasonUnknownMessage.
	Reason string
	Queue  string
	// Deaths is how many times the broker dead-lettered it (0: unknown).
	Deaths string
	// State is DeadLetterUndelivered (ReplayDeadLetter can deliver it),
	// DeadLetterDelivered (a later delivery or a replay succeeded) or
	// DeadLetterUnknown.
	State string
}

// DeadLetterPage is one page of the dead-letter list. The list is a scan of
// the hub's audit events: a page may hold fewer than asked for while More
// is set; Next is where the following page starts.
type DeadLetterPage struct {
	Items []DeadLetter
	Next  uint64
	More  bool
}

// MaxDeadLetterPage bounds one page of the dead-letter list.
const MaxDeadLetterPage = 500

const (
	deadLetterScanBatch = 500
	// deadLetterScanMax bounds the events one list request reads, so a
	// request over a long log returns in bounded time with a cursor.
	deadLetterScanMax = 20 * deadLetterScanBatch
)

var (
	errUnknownMessage = errors.New("delivery for a message the store does not hold")

	// knownReasons are RabbitMQ's dead-letter reasons and the hub's own;
	// anything else is recorded as "other", so the audit detail and the
	// metric label stay a small, fixed set whatever a publisher wrote in
	// its headers.
	knownReasons = map[string]bool{"delivery_limit": true, "rejected": true, "expired": true, "maxlen": true,
		ReasonUnknownMessage: true, reasonUnstated: true}
	queuePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$`)
	countPattern = regexp.MustCompile(`^[0-9]{1,9}$`)
)

// deadLettering is implemented by transports whose broker dead-letters a
// message its consumers returned too often (adapters/amqp's Subscriber).
type deadLettering interface{ DeadLetters() bool }

func (h *Hub) brokerDeadLetters() bool {
	dl, ok := h.transport.Subscriber.(deadLettering)
	return ok && dl.DeadLetters()
}

// validDelivery reports whether a delivery carries a message id at all; one
// that does not is undeliverable without asking the store.
func validDelivery(msg *message.Message) bool {
	return contracts.ValidMessageID(string(msg.Payload))
}

// permanentDeliveryError tells the delivery handler's retry middleware not
// to retry: the store will not start holding the message.
func permanentDeliveryError(err error) bool { return errors.Is(err, errUnknownMessage) }

// undeliverable handles a delivery the hub can never process. A broker that
// dead-letters gets it back (nack) until its delivery limit parks it in the
// dead-letter queue, where the watcher records it; on the in-process
// transport the hub records it here and acks it.
func (h *Hub) undeliverable(ctx context.Context, msg *message.Message) error {
	h.metrics.poison()
	rec := h.deadLetterOf(msg, ReasonUnknownMessage)
	if h.brokerDeadLetters() {
		h.log.WarnContext(ctx, "undeliverable delivery returned to the broker, which dead-letters it at its delivery limit",
			"message_id", rec.MessageID, "payload_digest", rec.PayloadDigest)
		return errUnknownMessage
	}
	rec.Reason, rec.Queue = ReasonUnknownMessage, ""
	if _, err := h.recordDeadLetter(ctx, rec); err != nil {
		return fmt.Errorf("record undeliverable delivery: %w", err)
	}
	return nil
}

// deadLetterRecord is what a dead letter tells: ids, reason and queue as
// the transport gave them, each checked against a strict pattern, so that
// nothing else can reach the audit log.
type deadLetterRecord struct {
	MessageID string
	// PayloadDigest is set instead of MessageID when the payload is not a
	// message id: an HMAC keyed with the hub's case key, so that a payload
	// that happened to be personal data cannot be confirmed by guessing.
	PayloadDigest string
	Reason        string
	Queue         string
	Deaths        string
}

func (h *Hub) deadLetterOf(msg *message.Message, defaultReason string) deadLetterRecord {
	var r deadLetterRecord
	if validDelivery(msg) {
		r.MessageID = string(msg.Payload)
	} else {
		mac := hmac.New(sha256.New, h.cfg.CaseKey)
		mac.Write([]byte("relais dead-letter payload\x00"))
		mac.Write(msg.Payload)
		r.PayloadDigest = hex.EncodeToString(mac.Sum(nil))
	}
	r.Reason = msg.Metadata.Get(MetadataFirstDeathReason)
	if r.Reason == "" {
		r.Reason = msg.Metadata.Get(MetadataDeathReason)
	}
	switch {
	case r.Reason == "":
		r.Reason = defaultReason
	case !knownReasons[r.Reason]:
		r.Reason = "other"
	}
	if q := msg.Metadata.Get(MetadataDeathQueue); queuePattern.MatchString(q) {
		r.Queue = q
	}
	if n := msg.Metadata.Get(MetadataDeathCount); countPattern.MatchString(n) {
		r.Deaths = n
	}
	return r
}

// recordDeadLetter appends the dead_lettered event of r and returns its
// leaf index.
func (h *Hub) recordDeadLetter(ctx context.Context, r deadLetterRecord) (uint64, error) {
	ev := audit.Event{Type: audit.TypeDeadLettered, At: h.now(), MessageID: r.MessageID, Actor: audit.ActorHub,
		Detail: r.Reason, Extra: map[string]string{}}
	for key, value := range map[string]string{"queue": r.Queue, "deaths": r.Deaths, "payload_digest": r.PayloadDigest} {
		if value != "" {
			ev.Extra[key] = value
		}
	}
	if r.MessageID != "" {
		m, err := h.store.Message(ctx, r.MessageID)
		switch {
		case err == nil:
			ev.Transfer, ev.Kind, ev.From, ev.To = m.Transfer, m.Kind, m.From, m.To
			ev.CaseDigest, ev.BodyDigest = m.CaseDigest, m.SHA256
			if t, err := h.store.Transfer(ctx, m.Transfer); err == nil {
				ev.Extra["holder"] = t.Holder
			} else if !errors.Is(err, ErrNotFound) {
				return 0, err
			}
		case !errors.Is(err, ErrNotFound):
			return 0, err
		}
	}
	var idx uint64
	err := h.store.Update(ctx, func(tx Tx) error {
		var err error
		idx, err = tx.AppendAuditEvent(ctx, ev)
		return err
	})
	if err != nil {
		return 0, err
	}
	h.metrics.deadLettered(r.Reason)
	h.log.WarnContext(ctx, "dead letter recorded", "message_id", r.MessageID, "payload_digest", r.PayloadDigest,
		"reason", r.Reason, "queue", r.Queue, "leaf_index", idx)
	return idx, nil
}

// DeadLetterWatcher records what the transport dead-lettered.
type DeadLetterWatcher struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// StartDeadLetterWatcher consumes topic of sub (adapters/amqp's
// NewDeadLetterSubscriber on amqp.DeadLetterTopic) until Close, recording
// each dead letter before acking it. One that cannot be recorded (store
// unreachable) is nacked, so the broker keeps it, and retried after a
// back-off. Several hubs may watch the same queue: each dead letter goes to
// one of them.
func (h *Hub) StartDeadLetterWatcher(ctx context.Context, sub message.Subscriber, topic string) (*DeadLetterWatcher, error) {
	ctx, cancel := context.WithCancel(ctx)
	msgs, err := sub.Subscribe(ctx, topic)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("watch dead letters: %w", err)
	}
	w := &DeadLetterWatcher{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		h.watchDeadLetters(ctx, sub, topic, msgs)
	}()
	return w, nil
}

// Close stops the watcher; a dead letter it was recording is nacked and
// stays in the queue. Close the subscriber afterwards.
func (w *DeadLetterWatcher) Close() {
	w.cancel()
	<-w.done
}

func (h *Hub) watchDeadLetters(ctx context.Context, sub message.Subscriber, topic string, msgs <-chan *message.Message) {
	const firstBackoff, maxBackoff = 100 * time.Millisecond, 30 * time.Second
	backoff := firstBackoff
	pause := func() bool {
		t := time.NewTimer(backoff)
		defer t.Stop()
		backoff = min(2*backoff, maxBackoff)
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		}
	}
	for {
		for msgs == nil {
			var err error
			if msgs, err = sub.Subscribe(ctx, topic); err != nil {
				h.log.WarnContext(ctx, "dead-letter watcher: subscribe", "err", err, "retry_in", backoff)
				if !pause() {
					return
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case msg, open := <-msgs:
			if !open {
				// The subscriber ended the subscription: take a new one
				// unless the watcher is stopping.
				msgs = nil
				if ctx.Err() != nil || !pause() {
					return
				}
				continue
			}
			if _, err := h.recordDeadLetter(msg.Context(), h.deadLetterOf(msg, reasonUnstated)); err != nil {
				h.log.ErrorContext(ctx, "dead-letter watcher: record", "err", err, "retry_in", backoff)
				msg.Nack()
				if !pause() {
					return
				}
				continue
			}
			msg.Ack()
			backoff = firstBackoff
		}
	}
}

// DeadLetters lists recorded dead letters from the audit event at index
// cursor on, at most limit (1..MaxDeadLetterPage) of them.
func (h *Hub) DeadLetters(ctx context.Context, cursor uint64, limit int) (DeadLetterPage, error) {
	if limit < 1 || limit > MaxDeadLetterPage {
		return DeadLetterPage{}, contracts.Refuse(contracts.CodeBadRequest, "limit must be between 1 and %d", MaxDeadLetterPage)
	}
	page := DeadLetterPage{Next: cursor}
	for scanned := 0; ; {
		entries, err := h.store.AuditEvents(ctx, AuditQuery{Agency: audit.ActorHub, Start: page.Next, Limit: deadLetterScanBatch})
		if err != nil {
			return DeadLetterPage{}, err
		}
		for _, e := range entries {
			page.Next = e.Index + 1
			ev := decodeEntry(e)
			if ev.Damaged || ev.Event.Type != audit.TypeDeadLettered {
				continue
			}
			dl, err := h.deadLetterOfEvent(ctx, ev)
			if err != nil {
				return DeadLetterPage{}, err
			}
			page.Items = append(page.Items, dl)
			if len(page.Items) == limit {
				page.More = true
				return page, nil
			}
		}
		scanned += len(entries)
		if len(entries) < deadLetterScanBatch {
			return page, nil
		}
		if scanned >= deadLetterScanMax {
			page.More = true
			return page, nil
		}
	}
}

func (h *Hub) deadLetterOfEvent(ctx context.Context, ev AuditedEvent) (DeadLetter, error) {
	e := ev.Event
	dl := DeadLetter{Index: ev.Index, At: e.At, MessageID: e.MessageID, Transfer: e.Transfer, Kind: e.Kind,
		From: e.From, To: e.To, Reason: e.Detail, Queue: e.Extra["queue"], Deaths: e.Extra["deaths"], State: DeadLetterUnknown}
	if dl.MessageID == "" {
		return dl, nil
	}
	m, err := h.store.Message(ctx, dl.MessageID)
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return DeadLetter{}, err
	case m.DeliveredAt.IsZero():
		dl.State = DeadLetterUndelivered
	default:
		dl.State = DeadLetterDelivered
	}
	return dl, nil
}

// ReplayDeadLetter hands an undelivered message to the transport again:
// it enqueues a new delivery in the outbox and logs the replay as an
// admin_action by actor, in one transaction, and wakes the relay. Delivery
// stays idempotent, so a replay racing a late delivery delivers once.
// It returns the leaf index of the admin_action event.
func (h *Hub) ReplayDeadLetter(ctx context.Context, id, actor string) (uint64, error) {
	if !contracts.ValidMessageID(id) {
		return 0, contracts.Refuse(contracts.CodeBadRequest, "id must be a message id (UUIDv7 or ULID)")
	}
	m, err := h.store.Message(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return 0, contracts.Refuse(contracts.CodeNotFound, "the hub holds no message %s: there is nothing to deliver", id)
	}
	if err != nil {
		return 0, err
	}
	if !m.DeliveredAt.IsZero() {
		return 0, contracts.Refuse(contracts.CodeNotFound, "message %s is already in its recipient's inbox: there is nothing to replay", id)
	}
	now := h.now()
	var idx uint64
	err = h.store.Update(ctx, func(tx Tx) error {
		if err := tx.Enqueue(ctx, OutboxItem{MessageID: m.ID, Recipient: m.To, CreatedAt: now}); err != nil {
			return err
		}
		var err error
		idx, err = tx.AppendAuditEvent(ctx, audit.Event{Type: audit.TypeAdminAction, At: now, Actor: actor,
			MessageID: m.ID, Transfer: m.Transfer, Kind: m.Kind, From: m.From, To: m.To,
			Detail: "dead_letter_replayed", Extra: map[string]string{"action": "replay_dead_letter"}})
		return err
	})
	if err != nil {
		return 0, err
	}
	h.wakeRelay()
	h.log.InfoContext(ctx, "dead letter replayed", "message_id", m.ID, "actor", actor, "leaf_index", idx)
	return idx, nil
}

// newDeadLetterCounter is relais_dead_letters_total, by reason (one of
// knownReasons or "other").
func newDeadLetterCounter() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "relais_dead_letters_total", Help: "Deliveries the transport gave up on and the hub recorded as dead letters, by reason.",
	}, []string{"reason"})
}

func (m *Metrics) deadLettered(reason string) { m.deadLetters.WithLabelValues(reason).Inc() }
