package amqp

import (
	"context"
	"fmt"

	"github.com/ThreeDotsLabs/watermill"
	wamqp "github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	"github.com/ThreeDotsLabs/watermill/message"
	amqp091 "github.com/rabbitmq/amqp091-go"
)

// DeadLetterTopic is the one topic a dead-letter subscriber serves: it
// stands for Config.DeadLetterQueue.
const DeadLetterTopic = "dead-letter"

// deadLetterPrefetch keeps few dead letters in flight: they are rare, and
// each one costs the watcher a store transaction.
const deadLetterPrefetch = 16

// DeadLetters reports that this transport's broker dead-letters a delivery
// its consumers returned DeliveryLimit times. The hub's delivery handler
// then returns (nacks) what it cannot process, instead of acking it, so the
// broker parks it in the dead-letter queue where the hub's dead-letter
// watcher records it.
func (s *Subscriber) DeadLetters() bool { return true }

// NewDeadLetterSubscriber consumes the dead-letter queue, for the hub's
// dead-letter watcher (hub.StartDeadLetterWatcher), on DeadLetterTopic.
//
// NewSubscriber cannot serve it: it maps a topic to QueuePrefix+topic and
// declares that queue as a topic queue, with a dead-letter exchange and a
// delivery limit, which the dead-letter queue is not (the broker would close
// the channel with PRECONDITION_FAILED). This subscriber declares only the
// dead-letter side (exchange, queue, binding) and consumes the queue itself,
// keeping the library's reconnection and this package's marshaler, which
// flattens the newest x-death entry into metadata (MetadataDeathReason...).
//
// A dead letter the watcher nacks (it could not record it) is requeued: the
// dead-letter queue has no delivery limit, so nothing leaves it unrecorded.
func NewDeadLetterSubscriber(cfg Config, logger watermill.LoggerAdapter) (message.Subscriber, error) {
	cfg, err := cfg.prepared()
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	lib := cfg.libraryConfig()
	lib.Exchange.GenerateName = wamqp.GenerateExchangeNameConstant(cfg.DeadLetterExchange)
	lib.Exchange.Type = amqp091.ExchangeFanout
	lib.Queue.GenerateName = func(string) string { return cfg.DeadLetterQueue }
	lib.QueueBind.GenerateRoutingKey = func(string) string { return "" }
	lib.Consume.Qos.PrefetchCount = min(cfg.Prefetch, deadLetterPrefetch)
	lib.TopologyBuilder = deadLetterTopologyBuilder{cfg: cfg}
	sub, err := wamqp.NewSubscriber(lib, logger)
	if err != nil {
		return nil, fmt.Errorf("connect dead-letter subscriber to RabbitMQ: %w", err)
	}
	return &deadLetterSubscriber{Subscriber: sub}, nil
}

type deadLetterSubscriber struct {
	*wamqp.Subscriber
}

// Subscribe consumes the dead-letter queue; topic must be DeadLetterTopic.
func (s *deadLetterSubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	if topic != DeadLetterTopic {
		return nil, fmt.Errorf("dead-letter subscriber serves topic %q only, not %q", DeadLetterTopic, topic)
	}
	return s.Subscriber.Subscribe(ctx, topic)
}

// deadLetterTopologyBuilder declares the dead-letter exchange, queue and
// binding, as the topic queues' TopologyBuilder does before them, so both
// declare them identically.
type deadLetterTopologyBuilder struct {
	cfg Config
}

var _ wamqp.TopologyBuilder = deadLetterTopologyBuilder{}

func (b deadLetterTopologyBuilder) BuildTopology(ch *amqp091.Channel, _ wamqp.BuildTopologyParams, _ wamqp.Config, _ watermill.LoggerAdapter) error {
	return b.cfg.deadLetterTopology().declare(ch)
}

func (b deadLetterTopologyBuilder) ExchangeDeclare(ch *amqp091.Channel, name string, _ wamqp.Config) error {
	if name != b.cfg.DeadLetterExchange {
		return fmt.Errorf("exchange %s is not the dead-letter exchange", name)
	}
	return Topology{Exchanges: b.cfg.deadLetterTopology().Exchanges}.declare(ch)
}
