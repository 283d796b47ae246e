package amqp

import (
	"errors"
	"strings"
	"testing"
	"time"

	wamqp "github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	"github.com/ThreeDotsLabs/watermill/message"
	amqp091 "github.com/rabbitmq/amqp091-go"
)

// acker makes a Delivery look like one read from a live channel.
type acker struct{ amqp091.Acknowledger }

func brokerDelivery(headers amqp091.Table) amqp091.Delivery {
	return amqp091.Delivery{Acknowledger: acker{}, Headers: headers, Body: []byte("{}"), MessageId: "m-1"}
}

func TestPublishedMessagesArePersistentAndNamedByTheirID(t *testing.T) {
	msg := message.NewMessage("m-1", []byte("{}"))
	msg.Metadata.Set(MetadataMessageID, "m-1")
	pub, err := newMarshaler([]string{MetadataMessageID}).Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	if pub.DeliveryMode != amqp091.Persistent || pub.MessageId != "m-1" {
		t.Fatalf("delivery mode %d, message-id %q; want persistent, m-1", pub.DeliveryMode, pub.MessageId)
	}
}

func TestMetadataOutsideTheAllowListIsRefusedWithoutItsValue(t *testing.T) {
	msg := message.NewMessage("m-1", nil)
	msg.Metadata.Set("recipient_child", "Awa Diallo, 7 ans")
	_, err := newMarshaler([]string{MetadataMessageID}).Marshal(msg)
	if !errors.Is(err, ErrMetadataNotAllowed) {
		t.Fatalf("Marshal = %v, want ErrMetadataNotAllowed", err)
	}
	if strings.Contains(err.Error(), "Awa") {
		t.Errorf("error repeats the value: %v", err)
	}
}

func TestBrokerHeadersOfARedeliveryBecomeMetadata(t *testing.T) {
	d := brokerDelivery(amqp091.Table{
		wamqp.DefaultMessageUUIDHeaderKey: "m-1",
		MetadataMessageID:                 "m-1",
		"x-delivery-count":                int64(3),
		"x-death": []any{amqp091.Table{
			"reason": "delivery_limit", "queue": "relais.deliveries", "count": int64(1),
			"time": time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), "routing-keys": []any{"deliveries"},
		}},
		"x-first-death-reason": "delivery_limit",
	})

	// What the library does alone: the redelivery cannot be read at all.
	if _, err := (wamqp.DefaultMarshaler{}).Unmarshal(d); err == nil {
		t.Fatal("the library's marshaler now accepts integer headers; the conversion can go")
	}

	msg, err := newMarshaler(nil).Unmarshal(d)
	if err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	want := map[string]string{
		MetadataMessageID:      "m-1",
		MetadataDeliveryCount:  "3",
		MetadataDeathReason:    "delivery_limit",
		MetadataDeathQueue:     "relais.deliveries",
		MetadataDeathCount:     "1",
		"x-first-death-reason": "delivery_limit",
	}
	for k, v := range want {
		if got := msg.Metadata.Get(k); got != v {
			t.Errorf("metadata %s = %q, want %q", k, got, v)
		}
	}
	if _, kept := msg.Metadata["x-death"]; kept {
		t.Error("the raw x-death table leaked into metadata")
	}
	if msg.UUID != "m-1" {
		t.Errorf("UUID = %q", msg.UUID)
	}
}

func TestAMessageWithoutHeadersIsReadByItsMessageID(t *testing.T) {
	d := brokerDelivery(nil) // e.g. moved back by hand from the dead-letter queue
	msg, err := newMarshaler(nil).Unmarshal(d)
	if err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	if msg.UUID != "m-1" {
		t.Fatalf("UUID = %q, want the message-id property m-1", msg.UUID)
	}
}

func TestTheEmptyDeliveryOfACancelledConsumerIsRefused(t *testing.T) {
	if _, err := newMarshaler(nil).Unmarshal(amqp091.Delivery{}); !errors.Is(err, errConsumerCancelled) {
		t.Fatalf("Unmarshal(zero Delivery) = %v, want errConsumerCancelled", err)
	}
}
