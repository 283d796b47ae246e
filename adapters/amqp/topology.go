package amqp

import (
	"fmt"

	"github.com/ThreeDotsLabs/watermill"
	wamqp "github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	amqp091 "github.com/rabbitmq/amqp091-go"
)

// Topology is what the hub declares on the broker. The same description
// drives the declarations and is compared with deploy/rabbitmq/definitions.json
// by the tests, so what an operator pre-provisions cannot drift from it.
type Topology struct {
	Exchanges []Exchange
	Queues    []Queue
	Bindings  []Binding
}

// Exchange is one durable, non-auto-deleted exchange.
type Exchange struct {
	Name string
	Type string // direct or fanout
}

// Queue is one durable quorum queue.
type Queue struct {
	Name      string
	Arguments amqp091.Table
}

// Binding routes RoutingKey on Exchange to Queue.
type Binding struct {
	Exchange   string
	Queue      string
	RoutingKey string
}

// Topology describes everything declared for the configured Topics.
func (c Config) Topology() Topology {
	t := c.deadLetterTopology()
	t.Exchanges = append(t.Exchanges, Exchange{Name: c.ExchangeName, Type: amqp091.ExchangeDirect})
	for _, topic := range c.Topics {
		q, b := c.topicQueue(topic)
		t.Queues = append(t.Queues, q)
		t.Bindings = append(t.Bindings, b)
	}
	return t
}

// topicTopology is the part of the topology one topic needs. Declaration
// order puts the dead-letter side first, so a queue never names a missing DLX.
func (c Config) topicTopology(topic string) Topology {
	c.Topics = []string{topic}
	return c.Topology()
}

func (c Config) deadLetterTopology() Topology {
	return Topology{
		// Fanout: whatever a topic queue dead-letters lands in the one
		// dead-letter queue, whatever its routing key.
		Exchanges: []Exchange{{Name: c.DeadLetterExchange, Type: amqp091.ExchangeFanout}},
		Queues: []Queue{{
			Name:      c.DeadLetterQueue,
			Arguments: amqp091.Table{"x-queue-type": "quorum"},
		}},
		Bindings: []Binding{{Exchange: c.DeadLetterExchange, Queue: c.DeadLetterQueue, RoutingKey: ""}},
	}
}

func (c Config) topicQueue(topic string) (Queue, Binding) {
	args := amqp091.Table{
		"x-queue-type":           "quorum",
		"x-dead-letter-exchange": c.DeadLetterExchange,
		// at-least-once: the quorum queue keeps a dead-lettered message until
		// the dead-letter queue confirmed it (at-most-once, the default, can
		// drop it). The broker only honours it with reject-publish overflow.
		"x-dead-letter-strategy": "at-least-once",
		"x-overflow":             "reject-publish",
		"x-delivery-limit":       int64(c.DeliveryLimit),
	}
	if c.MaxQueueLength > 0 {
		args["x-max-length"] = int64(c.MaxQueueLength)
	}
	name := c.QueueName(topic)
	return Queue{Name: name, Arguments: args},
		Binding{Exchange: c.ExchangeName, Queue: name, RoutingKey: topic}
}

// declare declares t on ch. Declarations are idempotent; a queue that exists
// with other arguments makes the broker close ch with PRECONDITION_FAILED.
func (t Topology) declare(ch *amqp091.Channel) error {
	for _, e := range t.Exchanges {
		if err := ch.ExchangeDeclare(e.Name, e.Type, true, false, false, false, nil); err != nil {
			return fmt.Errorf("declare exchange %s: %w", e.Name, err)
		}
	}
	for _, q := range t.Queues {
		if _, err := ch.QueueDeclare(q.Name, true, false, false, false, q.Arguments); err != nil {
			return fmt.Errorf("declare queue %s: %w", q.Name, err)
		}
	}
	for _, b := range t.Bindings {
		if err := ch.QueueBind(b.Queue, b.RoutingKey, b.Exchange, false, nil); err != nil {
			return fmt.Errorf("bind queue %s to %s: %w", b.Queue, b.Exchange, err)
		}
	}
	return nil
}

// TopologyBuilder plugs the quorum/dead-letter topology into watermill-amqp.
// The library's DefaultTopologyBuilder declares one queue with the static
// Config.Queue.Arguments and no dead-letter side; this one declares, for each
// topic, the DLX, the dead-letter queue and the topic's quorum queue with its
// arguments. The library calls BuildTopology on every Subscribe and again
// after each reconnection, which is how consumers recover the topology.
type TopologyBuilder struct {
	cfg Config
}

var _ wamqp.TopologyBuilder = (*TopologyBuilder)(nil)

// NewTopologyBuilder returns the builder for cfg (defaults filled in).
func NewTopologyBuilder(cfg Config) (*TopologyBuilder, error) {
	cfg, err := cfg.prepared()
	if err != nil {
		return nil, err
	}
	return &TopologyBuilder{cfg: cfg}, nil
}

// BuildTopology declares everything params.Topic needs.
func (b *TopologyBuilder) BuildTopology(ch *amqp091.Channel, params wamqp.BuildTopologyParams, _ wamqp.Config, logger watermill.LoggerAdapter) error {
	if err := validTopic(params.Topic); err != nil {
		return err
	}
	if err := b.cfg.topicTopology(params.Topic).declare(ch); err != nil {
		return err
	}
	logger.Debug("AMQP topology declared", watermill.LogFields{"topic": params.Topic})
	return nil
}

// ExchangeDeclare declares the named exchange as this topology describes it.
func (b *TopologyBuilder) ExchangeDeclare(ch *amqp091.Channel, name string, _ wamqp.Config) error {
	for _, e := range b.cfg.Topology().Exchanges {
		if e.Name == name {
			return Topology{Exchanges: []Exchange{e}}.declare(ch)
		}
	}
	return fmt.Errorf("exchange %s is not part of the relais topology", name)
}

// Declare declares the whole configured topology on a fresh channel of conn.
func (b *TopologyBuilder) Declare(conn *amqp091.Connection) error {
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel for topology: %w", err)
	}
	defer ch.Close()
	return b.cfg.Topology().declare(ch)
}
