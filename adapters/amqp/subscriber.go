package amqp

import (
	"context"
	"fmt"

	"github.com/ThreeDotsLabs/watermill"
	wamqp "github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	"github.com/ThreeDotsLabs/watermill/message"
)

// Subscriber is watermill-amqp's Subscriber on the relais topology. The
// library already does what the hub needs on this side, so it is configured,
// not extended:
//   - every Subscribe declares the topic's topology (TopologyBuilder) and
//     consumes from the topic's shared quorum queue, so all hub instances
//     compete for the same messages;
//   - Qos prefetch = Config.Prefetch, manual acks;
//   - a nack requeues, and the quorum queue dead-letters the message once
//     it was delivered DeliveryLimit times;
//   - after a reconnection it declares the topology again and resumes;
//   - Close nacks (requeues) the message a handler still holds, and closing
//     the channel returns the prefetched ones: nothing in flight is lost.
//
// The marshaler is the one change (see marshaler.go): redelivered messages
// carry an integer x-delivery-count header the library cannot unmarshal.
type Subscriber struct {
	*wamqp.Subscriber
}

var (
	_ message.Subscriber           = (*Subscriber)(nil)
	_ message.SubscribeInitializer = (*Subscriber)(nil)
)

// NewSubscriber connects to the broker. A wrong URL or an unreachable broker
// is reported here.
func NewSubscriber(cfg Config, logger watermill.LoggerAdapter) (message.Subscriber, error) {
	cfg, err := cfg.prepared()
	if err != nil {
		return nil, err
	}
	if logger == nil {
		// The library calls methods on the logger it is given, nil included.
		logger = watermill.NopLogger{}
	}
	sub, err := wamqp.NewSubscriber(cfg.libraryConfig(), logger)
	if err != nil {
		return nil, fmt.Errorf("connect subscriber to RabbitMQ: %w", err)
	}
	return &Subscriber{Subscriber: sub}, nil
}

// Subscribe consumes topic's shared queue until ctx ends or Close.
func (s *Subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	if err := validTopic(topic); err != nil {
		return nil, err
	}
	return s.Subscriber.Subscribe(ctx, topic)
}

// SubscribeInitialize declares topic's topology without consuming.
func (s *Subscriber) SubscribeInitialize(topic string) error {
	if err := validTopic(topic); err != nil {
		return err
	}
	return s.Subscriber.SubscribeInitialize(topic)
}
