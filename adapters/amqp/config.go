package amqp

import (
	"crypto/tls"
	"errors"
	"fmt"
	"regexp"
	"time"

	wamqp "github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	amqp091 "github.com/rabbitmq/amqp091-go"
)

// Names and limits used when a Config leaves them empty.
const (
	// TopicDeliveries is the hub's delivery topic: the outbox relay publishes
	// one message per accepted delivery, carrying only the message id.
	TopicDeliveries = "deliveries"

	DefaultExchangeName         = "relais.deliver"
	DefaultDeadLetterExchange   = "relais.dlx"
	DefaultDeadLetterQueue      = "relais.dead-letter"
	DefaultQueuePrefix          = "relais."
	DefaultConnectionName       = "relais-hub"
	DefaultPrefetch             = 64
	DefaultPublisherChannelPool = 8
	DefaultPublishConcurrency   = 4
	DefaultConfirmWindow        = 256
	DefaultConfirmTimeout       = 5 * time.Second
	DefaultDeliveryLimit        = 10
	// DefaultConsumers is how many delivery handlers a hub runs on the
	// deliveries queue: each waits for the store's group commit, so several
	// keep the commits full (hub.Transport.Consumers).
	DefaultConsumers = 16

	// MetadataMessageID is the one metadata key the hub puts on a message by
	// default: the id of the stored message the delivery refers to.
	MetadataMessageID = "message_id"
)

// Config configures the hub's RabbitMQ transport. The zero value plus a URL
// is a working production configuration: NewPublisher and NewSubscriber fill
// in the defaults above.
type Config struct {
	// URL is the broker address, amqp://user:pass@host:5672/vhost. It holds a
	// password, so no error of this package repeats it.
	URL string
	// TLS, when set, is used for amqps:// URLs.
	TLS *tls.Config
	// ConnectionName is shown in the broker's connection list, so operators
	// can tell hub connections apart.
	ConnectionName string

	// ExchangeName is the durable direct exchange every topic is published
	// to, with the topic as routing key.
	ExchangeName string
	// DeadLetterExchange receives what a topic queue gives up on (delivery
	// limit reached); DeadLetterQueue is bound to it.
	DeadLetterExchange string
	DeadLetterQueue    string
	// QueuePrefix + topic names a topic's queue. Every hub instance uses the
	// same name, so all consumers of a topic share one queue and work spreads.
	QueuePrefix string
	// Topics are declared when a publisher starts, before any publish. Other
	// topics are declared on their first publish or subscribe.
	Topics []string

	// Prefetch is the consumer's Qos prefetch count.
	Prefetch int
	// PublisherChannelPool is the number of confirm-mode channels a publisher
	// keeps open; concurrent Publish calls share them.
	PublisherChannelPool int
	// PublishConcurrency is how many pool channels one Publish call spreads
	// a batch over.
	PublishConcurrency int
	// ConfirmWindow bounds the messages awaiting a broker confirm on one
	// channel: a larger batch is published window by window.
	ConfirmWindow int
	// ConfirmTimeout bounds the wait for the broker's confirms of a window.
	// Past it Publish fails, and the caller (the outbox relay) retries.
	ConfirmTimeout time.Duration

	// DeliveryLimit is x-delivery-limit on topic queues: a message returned
	// more often than this is dead-lettered instead of redelivered forever.
	DeliveryLimit int
	// MaxQueueLength, when > 0, is x-max-length on topic queues. With the
	// reject-publish overflow the broker then nacks publishes to a full
	// queue, so a backlog stays in the store's outbox instead.
	MaxQueueLength int

	// MetadataKeys lists the only message metadata keys that may leave the
	// process as AMQP headers. Anything else is refused before publishing:
	// headers are visible to every broker operator, and the hub routes on ids
	// only. Defaults to MetadataMessageID.
	MetadataKeys []string

	// Reconnect tunes the library's reconnection back-off. The default
	// (DefaultReconnect) retries at least every 5 s: the library's own
	// default backs off to 60 s, too slow to come back within seconds of a
	// broker that returns after a long outage.
	Reconnect *wamqp.ReconnectConfig
}

// DefaultReconnect is the back-off used when Config.Reconnect is nil:
// 250 ms doubling to 5 s, ±50 % jitter so hub instances do not reconnect
// in lockstep.
func DefaultReconnect() *wamqp.ReconnectConfig {
	return &wamqp.ReconnectConfig{
		BackoffInitialInterval:     250 * time.Millisecond,
		BackoffRandomizationFactor: 0.5,
		BackoffMultiplier:          2,
		BackoffMaxInterval:         5 * time.Second,
	}
}

// Names on the broker (exchanges, queues, topics) are fixed code constants:
// a strict alphabet keeps anything that looks like data out of them.
var brokerName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$`)

func (c *Config) setDefaults() {
	if c.ConnectionName == "" {
		c.ConnectionName = DefaultConnectionName
	}
	if c.ExchangeName == "" {
		c.ExchangeName = DefaultExchangeName
	}
	if c.DeadLetterExchange == "" {
		c.DeadLetterExchange = DefaultDeadLetterExchange
	}
	if c.DeadLetterQueue == "" {
		c.DeadLetterQueue = DefaultDeadLetterQueue
	}
	if c.QueuePrefix == "" {
		c.QueuePrefix = DefaultQueuePrefix
	}
	if c.Topics == nil {
		c.Topics = []string{TopicDeliveries}
	}
	if c.Prefetch == 0 {
		c.Prefetch = DefaultPrefetch
	}
	if c.PublisherChannelPool == 0 {
		c.PublisherChannelPool = DefaultPublisherChannelPool
	}
	if c.PublishConcurrency == 0 {
		c.PublishConcurrency = min(DefaultPublishConcurrency, c.PublisherChannelPool)
	}
	if c.ConfirmWindow == 0 {
		c.ConfirmWindow = DefaultConfirmWindow
	}
	if c.ConfirmTimeout == 0 {
		c.ConfirmTimeout = DefaultConfirmTimeout
	}
	if c.DeliveryLimit == 0 {
		c.DeliveryLimit = DefaultDeliveryLimit
	}
	if c.MetadataKeys == nil {
		c.MetadataKeys = []string{MetadataMessageID}
	}
	if c.Reconnect == nil {
		c.Reconnect = DefaultReconnect()
	}
}

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if c.URL == "" {
		bad("URL is empty")
	} else if _, err := amqp091.ParseURI(c.URL); err != nil {
		// The parser's message can quote the URL, password included.
		bad("URL is not a valid amqp:// or amqps:// address")
	}
	for field, name := range map[string]string{
		"ExchangeName":       c.ExchangeName,
		"DeadLetterExchange": c.DeadLetterExchange,
		"DeadLetterQueue":    c.DeadLetterQueue,
	} {
		if !brokerName.MatchString(name) {
			bad("%s %q: use letters, digits, '.', '_' or '-'", field, name)
		}
	}
	if c.ExchangeName == c.DeadLetterExchange {
		bad("ExchangeName and DeadLetterExchange must differ")
	}
	if !brokerName.MatchString(c.QueuePrefix + "x") {
		bad("QueuePrefix %q: use letters, digits, '.', '_' or '-'", c.QueuePrefix)
	}
	seen := map[string]bool{}
	for _, topic := range c.Topics {
		if err := validTopic(topic); err != nil {
			errs = append(errs, err)
		}
		if seen[topic] {
			bad("topic %q listed twice", topic)
		}
		seen[topic] = true
		if c.QueueName(topic) == c.DeadLetterQueue {
			bad("topic %q would share the dead-letter queue", topic)
		}
	}
	if c.Prefetch < 1 || c.Prefetch > 65535 {
		bad("Prefetch %d: want 1..65535", c.Prefetch)
	}
	if c.PublisherChannelPool < 1 || c.PublisherChannelPool > 1024 {
		bad("PublisherChannelPool %d: want 1..1024", c.PublisherChannelPool)
	}
	if c.PublishConcurrency < 1 || c.PublishConcurrency > c.PublisherChannelPool {
		bad("PublishConcurrency %d: want 1..PublisherChannelPool (%d)", c.PublishConcurrency, c.PublisherChannelPool)
	}
	if c.ConfirmWindow < 1 || c.ConfirmWindow > 65535 {
		bad("ConfirmWindow %d: want 1..65535", c.ConfirmWindow)
	}
	if c.ConfirmTimeout <= 0 {
		bad("ConfirmTimeout %s: want > 0", c.ConfirmTimeout)
	}
	if c.DeliveryLimit < 1 {
		bad("DeliveryLimit %d: want >= 1", c.DeliveryLimit)
	}
	if c.MaxQueueLength < 0 {
		bad("MaxQueueLength %d: want >= 0 (0 = unbounded)", c.MaxQueueLength)
	}
	if len(c.MetadataKeys) == 0 {
		bad("MetadataKeys is empty: the hub needs at least %q", MetadataMessageID)
	}
	if c.Reconnect == nil {
		bad("Reconnect is nil")
	}
	if len(errs) > 0 {
		return fmt.Errorf("amqp config: %w", errors.Join(errs...))
	}
	return nil
}

// QueueName is the queue shared by every consumer of topic.
func (c Config) QueueName(topic string) string { return c.QueuePrefix + topic }

func validTopic(topic string) error {
	if !brokerName.MatchString(topic) {
		return fmt.Errorf("topic %q: use letters, digits, '.', '_' or '-' (topics are fixed names, never data)", topic)
	}
	return nil
}

// prepared returns the config with defaults filled in, or why it is unusable.
func (c Config) prepared() (Config, error) {
	c.Topics = append([]string(nil), c.Topics...)
	c.MetadataKeys = append([]string(nil), c.MetadataKeys...)
	c.setDefaults()
	return c, c.Validate()
}

// libraryConfig maps the Config onto watermill-amqp's: one direct exchange,
// the topic as routing key, a shared durable queue per topic, persistent
// messages, manual acks with requeue on nack (so the quorum queue counts
// deliveries towards DeliveryLimit).
func (c Config) libraryConfig() wamqp.Config {
	routeByTopic := func(topic string) string { return topic }
	amqpConfig := amqp091.Config{
		Properties:      amqp091.Table{"connection_name": c.ConnectionName},
		TLSClientConfig: c.TLS,
		Heartbeat:       10 * time.Second,
		Locale:          "en_US",
	}
	return wamqp.Config{
		Connection: wamqp.ConnectionConfig{
			AmqpURI:    c.URL,
			AmqpConfig: &amqpConfig,
			Reconnect:  c.Reconnect,
		},
		Marshaler: newMarshaler(c.MetadataKeys),
		Exchange: wamqp.ExchangeConfig{
			GenerateName: wamqp.GenerateExchangeNameConstant(c.ExchangeName),
			Type:         amqp091.ExchangeDirect,
			Durable:      true,
		},
		Queue: wamqp.QueueConfig{
			GenerateName: c.QueueName,
			Durable:      true,
		},
		QueueBind: wamqp.QueueBindConfig{GenerateRoutingKey: routeByTopic},
		Publish: wamqp.PublishConfig{
			GenerateRoutingKey: routeByTopic,
			Mandatory:          true,
			ConfirmDelivery:    true,
			ChannelPoolSize:    c.PublisherChannelPool,
		},
		Consume: wamqp.ConsumeConfig{
			NoRequeueOnNack: false,
			Qos:             wamqp.QosConfig{PrefetchCount: c.Prefetch},
		},
		TopologyBuilder: &TopologyBuilder{cfg: c},
	}
}
