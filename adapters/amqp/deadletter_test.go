package amqp

import (
	"context"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
)

func TestADeadLetterSubscriberReadsWhatTheDeliveryLimitParkedWithTheBrokersReason(t *testing.T) {
	const limit = 2
	cfg := testConfig(t, func(c *Config) {
		c.Topics = []string{"deliveries"}
		c.DeliveryLimit = limit
	})
	pub := newTestPublisher(t, cfg)
	msgs := subscribe(t, newTestSubscriber(t, cfg), "deliveries")
	go func() {
		for msg := range msgs {
			msg.Nack() // a handler that can never process it
		}
	}()

	dead, err := NewDeadLetterSubscriber(cfg, watermill.NopLogger{})
	if err != nil {
		t.Fatalf("NewDeadLetterSubscriber: %v", err)
	}
	t.Cleanup(func() { _ = dead.Close() })
	letters, err := dead.Subscribe(context.Background(), DeadLetterTopic)
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	if err := pub.Publish("deliveries", delivery("poison-1")); err != nil {
		t.Fatal(err)
	}

	letter := receive(t, letters, 30*time.Second)
	if letter.UUID != "poison-1" {
		t.Errorf("dead letter %q, want poison-1", letter.UUID)
	}
	for key, want := range map[string]string{
		MetadataDeathReason:    "delivery_limit",
		MetadataDeathQueue:     cfg.QueueName("deliveries"),
		MetadataDeathCount:     "1",
		"x-first-death-reason": "delivery_limit",
	} {
		if got := letter.Metadata.Get(key); got != want {
			t.Errorf("metadata %s = %q, want %q", key, got, want)
		}
	}

	// A dead letter the watcher could not record comes back.
	letter.Nack()
	again := receive(t, letters, 10*time.Second)
	if again.UUID != "poison-1" {
		t.Errorf("after a nack got %q, want poison-1 again", again.UUID)
	}
	again.Ack()
	eventually(t, 10*time.Second, "the acked dead letter left the queue", func() bool {
		return queueDepth(t, cfg, cfg.DeadLetterQueue) == 0
	})
}

func TestADeadLetterSubscriberServesTheDeadLetterTopicOnly(t *testing.T) {
	cfg := testConfig(t, nil)
	dead, err := NewDeadLetterSubscriber(cfg, watermill.NopLogger{})
	if err != nil {
		t.Fatalf("NewDeadLetterSubscriber: %v", err)
	}
	t.Cleanup(func() { _ = dead.Close() })
	if _, err := dead.Subscribe(context.Background(), "deliveries"); err == nil {
		t.Fatal("subscribed to a topic queue through the dead-letter subscriber")
	}
}

func TestTheRelaisSubscriberSaysItsBrokerDeadLetters(t *testing.T) {
	var sub any = &Subscriber{}
	dl, ok := sub.(interface{ DeadLetters() bool })
	if !ok || !dl.DeadLetters() {
		t.Fatal("the hub would ack undeliverable deliveries instead of letting the broker dead-letter them")
	}
}
