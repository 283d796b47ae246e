package amqp

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wamqp "github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	"github.com/ThreeDotsLabs/watermill/message"
	amqp091 "github.com/rabbitmq/amqp091-go"
	"go.uber.org/goleak"
)

func newTestSubscriber(t testing.TB, cfg Config) message.Subscriber {
	t.Helper()
	sub, err := NewSubscriber(cfg, watermill.NopLogger{})
	if err != nil {
		t.Fatalf("NewSubscriber: %v", err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	return sub
}

func subscribe(t testing.TB, sub message.Subscriber, topic string) <-chan *message.Message {
	t.Helper()
	msgs, err := sub.Subscribe(context.Background(), topic)
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	return msgs
}

// receive reads one message or fails the test after timeout.
func receive(t testing.TB, msgs <-chan *message.Message, timeout time.Duration) *message.Message {
	t.Helper()
	select {
	case msg, open := <-msgs:
		if !open {
			t.Fatal("messages channel closed")
		}
		return msg
	case <-time.After(timeout):
		t.Fatalf("no message within %s", timeout)
		return nil
	}
}

// publishEventually retries like the outbox relay until the broker confirms.
func publishEventually(t testing.TB, pub message.Publisher, topic string, msg *message.Message) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := pub.Publish(topic, msg)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("publish %s: still failing after 30s: %v", msg.UUID, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// collectIDs acks messages and records their ids until want distinct ids
// arrived.
type idSet struct {
	mu  sync.Mutex
	ids map[string]int
}

func (s *idSet) add(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids == nil {
		s.ids = map[string]int{}
	}
	s.ids[id]++
}

func (s *idSet) distinct() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ids)
}

func consumeInto(msgs <-chan *message.Message, seen *idSet) {
	for msg := range msgs {
		seen.add(msg.UUID)
		msg.Ack()
	}
}

func TestARedeliveredMessageReachesTheHandlerWithItsDeliveryCount(t *testing.T) {
	cfg := testConfig(t, func(c *Config) { c.Topics = []string{"deliveries"} })
	pub := newTestPublisher(t, cfg)
	msgs := subscribe(t, newTestSubscriber(t, cfg), "deliveries")

	if err := pub.Publish("deliveries", delivery("m-1")); err != nil {
		t.Fatal(err)
	}
	first := receive(t, msgs, 10*time.Second)
	first.Nack()

	// The library's own marshaler would refuse this redelivery: the quorum
	// queue adds an integer x-delivery-count header to it.
	again := receive(t, msgs, 10*time.Second)
	again.Ack()
	if again.UUID != "m-1" {
		t.Fatalf("redelivered %q, want m-1", again.UUID)
	}
	if got := again.Metadata.Get(MetadataDeliveryCount); got != "1" {
		t.Errorf("delivery count = %q, want 1", got)
	}
	if !wamqp.IsMessageRedelivered(again) {
		t.Error("redelivery not flagged as such")
	}
}

func TestAMessageNackedPastTheDeliveryLimitEndsInTheDeadLetterQueue(t *testing.T) {
	const limit = 2
	cfg := testConfig(t, func(c *Config) {
		c.Topics = []string{"deliveries"}
		c.DeliveryLimit = limit
	})
	pub := newTestPublisher(t, cfg)
	msgs := subscribe(t, newTestSubscriber(t, cfg), "deliveries")

	if err := pub.Publish("deliveries", delivery("poison-1")); err != nil {
		t.Fatal(err)
	}
	var deliveries atomic.Int32
	go func() {
		for msg := range msgs {
			deliveries.Add(1)
			msg.Nack() // a handler that always fails
		}
	}()

	eventually(t, 20*time.Second, "the message reached the dead-letter queue", func() bool {
		return queueDepth(t, cfg, cfg.DeadLetterQueue) == 1
	})
	if got := queueDepth(t, cfg, cfg.QueueName("deliveries")); got != 0 {
		t.Errorf("topic queue still holds %d messages", got)
	}

	d, ok, err := rawChannel(t, cfg).Get(cfg.DeadLetterQueue, true)
	if err != nil || !ok {
		t.Fatalf("get dead letter: ok=%v err=%v", ok, err)
	}
	if d.MessageId != "poison-1" || string(d.Body) != `{"message_id":"poison-1"}` {
		t.Errorf("dead letter %q %q, want poison-1 intact", d.MessageId, d.Body)
	}
	deaths, _ := d.Headers["x-death"].([]any)
	if len(deaths) == 0 {
		t.Fatalf("no x-death header: %v", d.Headers)
	}
	death, _ := deaths[0].(amqp091.Table)
	if death["reason"] != "delivery_limit" || death["queue"] != cfg.QueueName("deliveries") {
		t.Errorf("x-death = %v, want reason delivery_limit from %s", death, cfg.QueueName("deliveries"))
	}
	if d.Headers["x-first-death-reason"] != "delivery_limit" {
		t.Errorf("x-first-death-reason = %v", d.Headers["x-first-death-reason"])
	}
	if _, ok := d.Headers["x-delivery-count"]; !ok {
		t.Errorf("no x-delivery-count header: %v", d.Headers)
	}
	t.Logf("dead-lettered after %d deliveries; headers: %v", deliveries.Load(), d.Headers)
}

func TestWorkSpreadsOverTheHubInstancesOfATopic(t *testing.T) {
	cfg := testConfig(t, func(c *Config) { c.Topics = []string{"deliveries"} })
	pub := newTestPublisher(t, cfg)

	// Two hub instances: two connections, one shared queue.
	var perInstance [2]idSet
	var all idSet
	for i := range perInstance {
		msgs := subscribe(t, newTestSubscriber(t, cfg), "deliveries")
		go func() {
			for msg := range msgs {
				perInstance[i].add(msg.UUID)
				all.add(msg.UUID)
				time.Sleep(time.Millisecond) // some work
				msg.Ack()
			}
		}()
	}

	const total = 200
	batch := make([]*message.Message, total)
	for i := range batch {
		batch[i] = delivery(fmt.Sprintf("m-%d", i))
	}
	if err := pub.Publish("deliveries", batch...); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "every message consumed", func() bool { return all.distinct() == total })
	for i := range perInstance {
		if perInstance[i].distinct() == 0 {
			t.Errorf("instance %d got no work", i)
		}
	}
}

func TestPublishingAndConsumingResumeAfterTheBrokerDropsTheConnections(t *testing.T) {
	needsConnectionDrops(t)
	cfg := testConfig(t, func(c *Config) { c.Topics = []string{"deliveries"} })
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	pub, err := NewPublisher(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := NewSubscriber(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	msgs := subscribe(t, sub, "deliveries")
	var seen idSet
	done := make(chan struct{})
	go func() { consumeInto(msgs, &seen); close(done) }()

	publishRange := func(from, to int) {
		for i := from; i < to; i++ {
			publishEventually(t, pub, "deliveries", delivery(fmt.Sprintf("m-%d", i)))
		}
	}
	publishRange(0, 50)
	eventually(t, 10*time.Second, "first 50 consumed", func() bool { return seen.distinct() == 50 })

	dropConnections(t)
	publishRange(50, 100)
	eventually(t, 30*time.Second, "all 100 consumed after the reconnection", func() bool { return seen.distinct() == 100 })

	if err := pub.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	<-done
}

// deleteTopicTopology removes the topic's queue and the exchange, as a
// broker node that lost its definitions would.
func deleteTopicTopology(t *testing.T, cfg Config, topic string) {
	t.Helper()
	ch := rawChannel(t, cfg)
	if _, err := ch.QueueDelete(cfg.QueueName(topic), false, false, false); err != nil {
		t.Fatal(err)
	}
	if err := ch.ExchangeDelete(cfg.ExchangeName, false, false); err != nil {
		t.Fatal(err)
	}
}

func TestAPublisherDeclaresTheTopologyAgainOnANewConnection(t *testing.T) {
	needsConnectionDrops(t)
	cfg := testConfig(t, func(c *Config) { c.Topics = []string{"deliveries"} })
	pub := newTestPublisher(t, cfg)
	if err := pub.Publish("deliveries", delivery("before")); err != nil {
		t.Fatal(err)
	}

	deleteTopicTopology(t, cfg, "deliveries")
	dropConnections(t)

	// Not connected yet is fine; a publish on the new connection that found
	// no queue or no exchange would mean the topology was not redeclared.
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := pub.Publish("deliveries", delivery("after"))
		if err == nil {
			break
		}
		var amqpErr *amqp091.Error
		if errors.Is(err, ErrUnroutable) || (errors.As(err, &amqpErr) && amqpErr.Code == amqp091.NotFound) {
			t.Fatalf("published on the new connection before redeclaring: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("still failing after 30s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := queueDepth(t, cfg, cfg.QueueName("deliveries")); got != 1 {
		t.Fatalf("queue depth = %d, want 1", got)
	}
}

func TestASubscriberDeclaresTheTopologyAgainAndResumes(t *testing.T) {
	needsConnectionDrops(t)
	cfg := testConfig(t, func(c *Config) { c.Topics = []string{"deliveries"} })
	pub := newTestPublisher(t, cfg)
	msgs := subscribe(t, newTestSubscriber(t, cfg), "deliveries")
	var seen idSet
	go consumeInto(msgs, &seen)
	publishEventually(t, pub, "deliveries", delivery("before"))
	eventually(t, 10*time.Second, "first message consumed", func() bool { return seen.distinct() == 1 })

	// The broker cancels the consumer (queue gone), then drops the
	// connection: the subscriber alone must bring its topology back.
	deleteTopicTopology(t, cfg, "deliveries")
	dropConnections(t)
	eventually(t, 30*time.Second, "the subscriber redeclared the queue", func() bool {
		ch := rawChannel(t, cfg)
		_, err := ch.QueueDeclarePassive(cfg.QueueName("deliveries"), true, false, false, false, nil)
		return err == nil
	})

	publishEventually(t, pub, "deliveries", delivery("after"))
	eventually(t, 30*time.Second, "the consumer resumed on the redeclared queue", func() bool { return seen.distinct() == 2 })
}

func TestClosingASubscriberLosesNoInFlightMessage(t *testing.T) {
	cfg := testConfig(t, func(c *Config) { c.Topics = []string{"deliveries"} })
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	pub, err := NewPublisher(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()

	const total = 20
	batch := make([]*message.Message, total)
	for i := range batch {
		batch[i] = delivery(fmt.Sprintf("m-%d", i))
	}
	if err := pub.Publish("deliveries", batch...); err != nil {
		t.Fatal(err)
	}

	first, err := NewSubscriber(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	held := receive(t, subscribe(t, first, "deliveries"), 10*time.Second)
	// The rest sit in the first subscriber's prefetch buffer. Close while
	// the handler still holds one message.
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	held.Ack() // too late: the library already gave it back

	var seen idSet
	second, err := NewSubscriber(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	go consumeInto(subscribe(t, second, "deliveries"), &seen)
	eventually(t, 20*time.Second, "all 20 messages redelivered to the next subscriber", func() bool { return seen.distinct() == total })
	seen.mu.Lock()
	_, gotHeld := seen.ids[held.UUID]
	seen.mu.Unlock()
	if !gotHeld {
		t.Errorf("the message held during Close (%s) was lost", held.UUID)
	}
	if err := second.Close(); err != nil {
		t.Fatal(err)
	}
}
