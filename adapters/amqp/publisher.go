package amqp

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/ThreeDotsLabs/watermill"
	wamqp "github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	"github.com/ThreeDotsLabs/watermill/message"
	amqp091 "github.com/rabbitmq/amqp091-go"
)

// Publisher publishes Watermill messages on the relais topology: persistent,
// mandatory, and counted as published only once the broker confirmed them.
//
// It keeps the library's ConnectionWrapper (dial, reconnection with
// back-off), its Marshaler and the TopologyBuilder, and replaces only the
// library's publish path. That path (watermill-amqp v3.1.0, publisher.go and
// channelprovider.go, unexported types that cannot be extended) falls short
// here:
//   - it sets the mandatory flag but never listens for basic.return, so the
//     broker's return of an unroutable message is dropped and, the confirm
//     being an ack, Publish returns nil: a silent loss;
//   - it waits for a confirm with no timeout;
//   - it awaits one confirm at a time per channel (confirm buffer of 1), so a
//     batch costs one broker round trip and fsync per message;
//   - before publishing it declares only the exchange, not the topic's queue
//     and binding, so what is published before a consumer subscribed is
//     unroutable; and it remembers that declaration forever, so it is not
//     redone after a reconnection.
type Publisher struct {
	cfg    Config
	logger watermill.LoggerAdapter
	conn   *wamqp.ConnectionWrapper
	codec  marshaler
	pool   *channelPool

	// Publish holds lifecycle shared for its whole run and Close takes it
	// exclusively: Close waits until every in-flight publish is confirmed
	// or failed before it closes the channels.
	lifecycle sync.RWMutex
	closed    bool

	mu       sync.Mutex
	declared map[string]*amqp091.Connection // topic -> connection it was declared on
	watched  *amqp091.Connection            // connection whose blocked state is tracked
	blocked  *atomic.Bool
}

var _ message.Publisher = (*Publisher)(nil)

// NewPublisher connects to the broker and declares the configured topics'
// topology before returning, so nothing is ever published to a missing
// queue. A wrong URL or an unreachable broker is reported here.
func NewPublisher(cfg Config, logger watermill.LoggerAdapter) (message.Publisher, error) {
	cfg, err := cfg.prepared()
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	lib := cfg.libraryConfig()
	conn, err := wamqp.NewConnection(lib.Connection, logger)
	if err != nil {
		return nil, fmt.Errorf("connect publisher to RabbitMQ: %w", err)
	}
	p := &Publisher{
		cfg:      cfg,
		logger:   logger,
		conn:     conn,
		codec:    lib.Marshaler.(marshaler),
		pool:     newChannelPool(cfg.PublisherChannelPool, cfg.ConfirmWindow),
		declared: map[string]*amqp091.Connection{},
	}
	current, _, err := p.currentConnection()
	if err == nil {
		err = (&TopologyBuilder{cfg: cfg}).Declare(current)
	}
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("declare RabbitMQ topology: %w", err)
	}
	p.mu.Lock()
	for _, topic := range cfg.Topics {
		p.declared[topic] = current
	}
	p.mu.Unlock()
	return p, nil
}

// Publish returns nil only when the broker confirmed every message and
// returned none. A batch is spread over up to PublishConcurrency channels
// and each channel pipelines its messages, ConfirmWindow at a time.
func (p *Publisher) Publish(topic string, messages ...*message.Message) error {
	if err := validTopic(topic); err != nil {
		return err
	}
	p.lifecycle.RLock()
	defer p.lifecycle.RUnlock()
	if p.closed {
		return ErrClosed
	}
	if len(messages) == 0 {
		return nil
	}

	batch := make([]outgoing, len(messages))
	for i, msg := range messages {
		pub, err := p.codec.Marshal(msg)
		if err != nil {
			return fmt.Errorf("marshal message %s: %w", msg.UUID, err)
		}
		batch[i] = outgoing{id: msg.UUID, ctx: msg.Context(), pub: pub}
	}

	conn, blocked, err := p.currentConnection()
	if err != nil {
		return err
	}
	if blocked.Load() {
		// The broker stopped reading this connection: a send would hang
		// rather than fail, so fail now and let the relay retry later.
		return ErrBlocked
	}
	if err := p.declareTopic(conn, topic); err != nil {
		return err
	}

	err = p.publishSpread(conn, topic, batch)
	if err != nil {
		var amqpErr *amqp091.Error
		if errors.Is(err, ErrUnroutable) || (errors.As(err, &amqpErr) && amqpErr.Code == amqp091.NotFound) {
			// Someone removed part of the topology: redeclare on the retry.
			p.forgetTopic(topic)
		}
		return fmt.Errorf("publish %d message(s) to %s: %w", len(batch), topic, err)
	}
	return nil
}

func (p *Publisher) publishSpread(conn *amqp091.Connection, topic string, batch []outgoing) error {
	parts := min(p.cfg.PublishConcurrency, len(batch))
	if parts == 1 {
		return p.publishPart(conn, topic, batch)
	}
	errs := make([]error, parts)
	var wg sync.WaitGroup
	for i := range parts {
		lo, hi := i*len(batch)/parts, (i+1)*len(batch)/parts
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = p.publishPart(conn, topic, batch[lo:hi])
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (p *Publisher) publishPart(conn *amqp091.Connection, topic string, part []outgoing) error {
	for lo := 0; lo < len(part); lo += p.cfg.ConfirmWindow {
		hi := min(lo+p.cfg.ConfirmWindow, len(part))
		ch, err := p.pool.acquire(conn)
		if err != nil {
			return err
		}
		err = ch.publish(p.cfg.ExchangeName, topic, part[lo:hi], p.cfg.ConfirmTimeout)
		p.pool.release(ch)
		if err != nil {
			return err
		}
	}
	return nil
}

// currentConnection is the library's live connection; on a new one it also
// starts tracking the broker's connection.blocked notifications.
func (p *Publisher) currentConnection() (*amqp091.Connection, *atomic.Bool, error) {
	if !p.conn.IsConnected() {
		return nil, nil, ErrNotConnected
	}
	conn := p.conn.Connection()
	if conn == nil || conn.IsClosed() {
		return nil, nil, ErrNotConnected
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.watched != conn {
		blocked := new(atomic.Bool)
		notifications := conn.NotifyBlocked(make(chan amqp091.Blocking, 1))
		go func() {
			// Ends when the connection closes its listeners.
			for b := range notifications {
				blocked.Store(b.Active)
			}
		}()
		p.watched, p.blocked = conn, blocked
	}
	return conn, p.blocked, nil
}

// declareTopic declares the topic's topology once per connection: before
// the first publish, and again after every reconnection, since a broker
// node that lost its definitions would otherwise return every message.
func (p *Publisher) declareTopic(conn *amqp091.Connection, topic string) error {
	p.mu.Lock()
	done := p.declared[topic] == conn
	p.mu.Unlock()
	if done {
		return nil
	}
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("%w: open channel: %w", ErrNotConnected, err)
	}
	defer ch.Close()
	if err := p.cfg.topicTopology(topic).declare(ch); err != nil {
		return fmt.Errorf("declare topology of %s: %w", topic, err)
	}
	p.mu.Lock()
	p.declared[topic] = conn
	p.mu.Unlock()
	p.logger.Debug("AMQP topology declared", watermill.LogFields{"topic": topic})
	return nil
}

func (p *Publisher) forgetTopic(topic string) {
	p.mu.Lock()
	delete(p.declared, topic)
	p.mu.Unlock()
}

// Close waits for in-flight publishes to be confirmed or to fail, then
// closes the channels and the connection.
func (p *Publisher) Close() error {
	p.lifecycle.Lock()
	if p.closed {
		p.lifecycle.Unlock()
		return nil
	}
	p.closed = true
	p.lifecycle.Unlock()

	p.pool.close()
	return p.conn.Close()
}

// Connected reports whether the publisher holds a live broker connection
// (for a readiness probe); while it does not, Publish fails fast with
// ErrNotConnected and the library keeps reconnecting.
func (p *Publisher) Connected() bool { return p.conn.IsConnected() }
