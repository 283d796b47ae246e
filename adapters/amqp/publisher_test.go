package amqp

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wamqp "github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	"github.com/ThreeDotsLabs/watermill/message"
	amqp091 "github.com/rabbitmq/amqp091-go"
)

func newTestPublisher(t testing.TB, cfg Config) *Publisher {
	t.Helper()
	pub, err := NewPublisher(cfg, watermill.NopLogger{})
	if err != nil {
		t.Fatalf("NewPublisher: %v", err)
	}
	t.Cleanup(func() { _ = pub.Close() })
	return pub.(*Publisher)
}

func delivery(id string) *message.Message {
	msg := message.NewMessage(id, []byte(`{"message_id":"`+id+`"}`))
	msg.Metadata.Set(MetadataMessageID, id)
	return msg
}

func TestAPublishReturnsOnlyOnceTheBrokerHoldsAPersistentMessage(t *testing.T) {
	cfg := testConfig(t, func(c *Config) { c.Topics = []string{"deliveries"} })
	pub := newTestPublisher(t, cfg)

	if err := pub.Publish("deliveries", delivery("m-1")); err != nil {
		t.Fatalf("Publish: %v", err)
	}

	// Confirmed means enqueued: the message is there without any waiting.
	if got := queueDepth(t, cfg, cfg.QueueName("deliveries")); got != 1 {
		t.Fatalf("queue depth right after Publish = %d, want 1", got)
	}
	d, ok, err := rawChannel(t, cfg).Get(cfg.QueueName("deliveries"), true)
	if err != nil || !ok {
		t.Fatalf("get: ok=%v err=%v", ok, err)
	}
	if d.DeliveryMode != amqp091.Persistent {
		t.Errorf("delivery mode = %d, want persistent (%d)", d.DeliveryMode, amqp091.Persistent)
	}
	if d.MessageId != "m-1" || d.Exchange != cfg.ExchangeName || d.RoutingKey != "deliveries" {
		t.Errorf("message-id %q via %q/%q, want m-1 via %q/deliveries", d.MessageId, d.Exchange, d.RoutingKey, cfg.ExchangeName)
	}
	// Headers carry ids only (the x- ones are the broker's own).
	for key, value := range d.Headers {
		if strings.HasPrefix(key, "x-") {
			continue
		}
		if key != wamqp.DefaultMessageUUIDHeaderKey && key != MetadataMessageID {
			t.Errorf("unexpected header %q", key)
		}
		if value != "m-1" {
			t.Errorf("header %q = %v, want the message id", key, value)
		}
	}
}

func TestTheTopologyExistsBeforeTheFirstPublish(t *testing.T) {
	cfg := testConfig(t, func(c *Config) { c.Topics = []string{"deliveries"} })
	newTestPublisher(t, cfg)

	ch := rawChannel(t, cfg)
	for _, q := range []string{cfg.QueueName("deliveries"), cfg.DeadLetterQueue} {
		if _, err := ch.QueueDeclarePassive(q, true, false, false, false, nil); err != nil {
			t.Fatalf("queue %s not declared by NewPublisher: %v", q, err)
		}
	}
}

func TestAMessageForATopicNobodySubscribedToYetIsKept(t *testing.T) {
	cfg := testConfig(t, func(c *Config) { c.Topics = []string{"receipts"} })
	cfg.Topics = []string{} // not declared at start: the first Publish must do it
	pub := newTestPublisher(t, cfg)

	if err := pub.Publish("receipts", delivery("m-1")); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if got := queueDepth(t, cfg, cfg.QueueName("receipts")); got != 1 {
		t.Fatalf("queue depth = %d, want 1", got)
	}
}

func TestAnUnroutableMessageIsAnErrorAndTheRetryRedeclares(t *testing.T) {
	cfg := testConfig(t, func(c *Config) { c.Topics = []string{"deliveries"} })
	pub := newTestPublisher(t, cfg)
	queue := cfg.QueueName("deliveries")
	if err := pub.Publish("deliveries", delivery("m-1")); err != nil {
		t.Fatalf("Publish: %v", err)
	}

	// An operator removes the binding: nothing routes the topic any more.
	if err := rawChannel(t, cfg).QueueUnbind(queue, "deliveries", cfg.ExchangeName, nil); err != nil {
		t.Fatalf("unbind: %v", err)
	}
	err := pub.Publish("deliveries", delivery("m-2"))
	if !errors.Is(err, ErrUnroutable) {
		t.Fatalf("Publish of an unroutable message = %v, want ErrUnroutable", err)
	}
	if !strings.Contains(err.Error(), "m-2") {
		t.Errorf("error %q does not name the returned message", err)
	}
	if got := queueDepth(t, cfg, queue); got != 1 {
		t.Fatalf("queue depth = %d, want 1 (m-2 was not routed)", got)
	}

	// The relay's retry: the publisher declares the topology again.
	if err := pub.Publish("deliveries", delivery("m-2")); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if got := queueDepth(t, cfg, queue); got != 2 {
		t.Fatalf("queue depth after retry = %d, want 2", got)
	}
}

// The library's own publisher, mandatory flag and confirms on, reports an
// unroutable message as published. This is why Publisher replaces its
// publish path; if this test starts failing, the library learned to handle
// returns and that part of Publisher can go.
func TestTheLibraryPublisherCountsAnUnroutableMessageAsSent(t *testing.T) {
	cfg := testConfig(t, nil)
	lib := cfg.libraryConfig()
	lib.Publish.ChannelPoolSize = 1
	pub, err := wamqp.NewPublisher(lib, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()

	// The library declares the exchange only; no queue is bound to the topic.
	if err := pub.Publish("nobody-listens", delivery("m-1")); err != nil {
		t.Fatalf("library Publish = %v; the library now reports returns", err)
	}
	if !lib.Publish.Mandatory || !lib.Publish.ConfirmDelivery {
		t.Fatal("the library was not configured with mandatory and confirms")
	}
}

func TestABrokerNackIsAnError(t *testing.T) {
	cfg := testConfig(t, func(c *Config) {
		c.Topics = []string{"deliveries"}
		c.MaxQueueLength = 1 // with reject-publish: a full queue nacks
	})
	pub := newTestPublisher(t, cfg)

	var err error
	accepted := 0
	for i := range 20 {
		if err = pub.Publish("deliveries", delivery(fmt.Sprintf("m-%d", i))); err != nil {
			break
		}
		accepted++
	}
	if !errors.Is(err, ErrNacked) {
		t.Fatalf("publishing into a full queue = %v after %d accepted, want ErrNacked", err, accepted)
	}
	if accepted < 1 || accepted > 3 {
		t.Errorf("accepted %d messages before the nack, want about x-max-length (1)", accepted)
	}
}

func TestAMissingConfirmIsAnErrorAfterConfirmTimeout(t *testing.T) {
	cfg := testConfig(t, func(c *Config) {
		c.Topics = []string{"deliveries"}
		c.ConfirmTimeout = 300 * time.Millisecond
	})
	proxy := startProxy(t, cfg.URL)
	proxied := cfg
	proxied.URL = proxy.url
	pub := newTestPublisher(t, proxied)
	if err := pub.Publish("deliveries", delivery("m-1")); err != nil {
		t.Fatalf("Publish before the fault: %v", err)
	}

	proxy.blackholeDownstream(t) // the broker's confirms no longer arrive
	start := time.Now()
	err := pub.Publish("deliveries", delivery("m-2"))
	if !errors.Is(err, ErrConfirmTimeout) {
		t.Fatalf("Publish without a confirm = %v, want ErrConfirmTimeout", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("Publish took %s, want about ConfirmTimeout (300ms)", took)
	}
	proxy.stop() // cut the connection, so Close does not wait for the broker
}

func TestMetadataOutsideTheAllowListNeverReachesTheBroker(t *testing.T) {
	cfg := testConfig(t, func(c *Config) { c.Topics = []string{"deliveries"} })
	pub := newTestPublisher(t, cfg)

	msg := delivery("m-1")
	msg.Metadata.Set("child_name", "Awa Diallo")
	err := pub.Publish("deliveries", msg)
	if !errors.Is(err, ErrMetadataNotAllowed) {
		t.Fatalf("Publish = %v, want ErrMetadataNotAllowed", err)
	}
	if strings.Contains(err.Error(), "Awa") {
		t.Errorf("error repeats the metadata value: %q", err)
	}
	if got := queueDepth(t, cfg, cfg.QueueName("deliveries")); got != 0 {
		t.Fatalf("queue depth = %d, want 0", got)
	}
}

func TestATopicThatIsNotAFixedNameIsRefused(t *testing.T) {
	cfg := testConfig(t, nil)
	pub := newTestPublisher(t, cfg)
	if err := pub.Publish("deliveries for Awa Diallo", delivery("m-1")); err == nil {
		t.Fatal("Publish accepted a topic with spaces")
	}
}

func TestABatchIsSpreadOverChannelsAndFullyConfirmed(t *testing.T) {
	cfg := testConfig(t, func(c *Config) {
		c.Topics = []string{"deliveries"}
		c.PublishConcurrency = 4
		c.ConfirmWindow = 64
	})
	pub := newTestPublisher(t, cfg)

	batch := make([]*message.Message, 1000)
	for i := range batch {
		batch[i] = delivery(fmt.Sprintf("m-%d", i))
	}
	if err := pub.Publish("deliveries", batch...); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if got := queueDepth(t, cfg, cfg.QueueName("deliveries")); got != len(batch) {
		t.Fatalf("queue depth = %d, want %d", got, len(batch))
	}
}

func TestCloseWaitsForTheInFlightPublish(t *testing.T) {
	cfg := testConfig(t, func(c *Config) { c.Topics = []string{"deliveries"} })
	pub, err := NewPublisher(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}

	batch := make([]*message.Message, 10000)
	for i := range batch {
		batch[i] = delivery(fmt.Sprintf("m-%d", i))
	}
	published := make(chan error, 1)
	go func() { published <- pub.Publish("deliveries", batch...) }()
	eventually(t, 10*time.Second, "the batch started to arrive", func() bool {
		return queueDepth(t, cfg, cfg.QueueName("deliveries")) > 0
	})

	if err := pub.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// Had Close not waited, the connection would have closed under the
	// publish: it would fail, or leave part of the batch unconfirmed.
	select {
	case err := <-published:
		if err != nil {
			t.Fatalf("the in-flight Publish failed: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Publish did not return")
	}
	if got := queueDepth(t, cfg, cfg.QueueName("deliveries")); got != len(batch) {
		t.Fatalf("queue depth = %d, want the whole batch (%d)", got, len(batch))
	}
	if err := pub.Publish("deliveries", delivery("late")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Publish after Close = %v, want ErrClosed", err)
	}
}

func TestAnUnreachableBrokerIsAClearErrorAtStart(t *testing.T) {
	cfg := Config{URL: "amqp://relais:s3cret@127.0.0.1:1/relais"}
	_, pubErr := NewPublisher(cfg, nil)
	_, subErr := NewSubscriber(cfg, nil)
	for name, err := range map[string]error{"publisher": pubErr, "subscriber": subErr} {
		if err == nil {
			t.Fatalf("%s started without a broker", name)
		}
		if !strings.Contains(err.Error(), "RabbitMQ") || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s error %q: want it to name RabbitMQ and not the password", name, err)
		}
	}
}

func brokerHostPort(t testing.TB, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	port := u.Port()
	if port == "" {
		port = "5672"
	}
	return u.Hostname() + ":" + port
}
