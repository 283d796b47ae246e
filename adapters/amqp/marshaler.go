package amqp

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	wamqp "github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	"github.com/ThreeDotsLabs/watermill/message"
	amqp091 "github.com/rabbitmq/amqp091-go"
)

// Metadata keys set on consumed messages from the broker's own headers.
const (
	// MetadataDeliveryCount is the quorum queue's x-delivery-count: how many
	// times the message was returned before this delivery.
	MetadataDeliveryCount = "x-delivery-count"
	// MetadataDeathReason, MetadataDeathQueue and MetadataDeathCount flatten
	// the newest x-death entry of a dead-lettered message (reason
	// "delivery_limit", "rejected", ...), for operators reading the
	// dead-letter queue through Watermill.
	MetadataDeathReason = "x-death-reason"
	MetadataDeathQueue  = "x-death-queue"
	MetadataDeathCount  = "x-death-count"
)

var errConsumerCancelled = errors.New("amqp: consumer cancelled by the broker")

// marshaler is the library's DefaultMarshaler (persistent delivery mode,
// message UUID in a header) with these additions:
//
//   - On publish it refuses metadata keys outside the allow-list, so nothing
//     but ids ends up in AMQP headers, and sets the AMQP message-id property
//     to the message UUID (operators see it, and returns are matched on it).
//   - On consume it turns the broker's non-string headers into strings. The
//     DefaultMarshaler refuses any non-string header ("metadata ... is not a
//     string"), and a quorum queue adds the integer x-delivery-count to every
//     redelivered message: without this, every redelivery would fail to
//     unmarshal, be nacked again and end in the dead-letter queue without the
//     handler ever seeing it.
//   - On consume it falls back to the AMQP message-id property when the UUID
//     header is missing (a message an operator moved back by hand from the
//     dead-letter queue, say): the DefaultMarshaler would give it an empty
//     UUID, and the hub's consumers dedupe on it.
//   - It refuses the empty delivery the library reads from a closed
//     deliveries channel (see Unmarshal).
type marshaler struct {
	wamqp.DefaultMarshaler
	allowed map[string]bool
}

var _ wamqp.Marshaler = marshaler{}

func newMarshaler(allowedKeys []string) marshaler {
	allowed := make(map[string]bool, len(allowedKeys))
	for _, k := range allowedKeys {
		allowed[k] = true
	}
	return marshaler{
		DefaultMarshaler: wamqp.DefaultMarshaler{
			PostprocessPublishing: func(p amqp091.Publishing) amqp091.Publishing {
				p.MessageId, _ = p.Headers[wamqp.DefaultMessageUUIDHeaderKey].(string)
				return p
			},
		},
		allowed: allowed,
	}
}

func (m marshaler) Marshal(msg *message.Message) (amqp091.Publishing, error) {
	for key := range msg.Metadata {
		if !m.allowed[key] {
			// The key is a code constant; its value is never repeated.
			return amqp091.Publishing{}, fmt.Errorf("%w: %q", ErrMetadataNotAllowed, key)
		}
	}
	return m.DefaultMarshaler.Marshal(msg)
}

func (m marshaler) Unmarshal(d amqp091.Delivery) (*message.Message, error) {
	if d.Acknowledger == nil {
		// A zero Delivery: the library read it from a deliveries channel that
		// amqp091 closed because the broker cancelled the consumer (its queue
		// was deleted). Refusing it makes the library drop the channel and
		// subscribe again, topology included, instead of handing an empty
		// message to the handler.
		return nil, errConsumerCancelled
	}
	d = brokerHeadersAsStrings(d)
	if _, ok := d.Headers[wamqp.DefaultMessageUUIDHeaderKey]; !ok {
		d.Headers[wamqp.DefaultMessageUUIDHeaderKey] = d.MessageId
	}
	return m.DefaultMarshaler.Unmarshal(d)
}

// brokerHeadersAsStrings returns d with headers the DefaultMarshaler can
// map to metadata: numbers, booleans and times become strings, the newest
// x-death entry is flattened, other tables and byte arrays are dropped.
func brokerHeadersAsStrings(d amqp091.Delivery) amqp091.Delivery {
	headers := make(amqp091.Table, len(d.Headers))
	for key, value := range d.Headers {
		if s, ok := headerString(value); ok {
			headers[key] = s
		}
	}
	if deaths, ok := d.Headers["x-death"].([]any); ok && len(deaths) > 0 {
		if newest, ok := deaths[0].(amqp091.Table); ok {
			for field, key := range map[string]string{"reason": MetadataDeathReason, "queue": MetadataDeathQueue, "count": MetadataDeathCount} {
				if s, ok := headerString(newest[field]); ok {
					headers[key] = s
				}
			}
		}
	}
	d.Headers = headers
	return d
}

func headerString(value any) (string, bool) {
	switch v := value.(type) {
	case string:
		return v, true
	case int8:
		return strconv.FormatInt(int64(v), 10), true
	case int16:
		return strconv.FormatInt(int64(v), 10), true
	case int32:
		return strconv.FormatInt(int64(v), 10), true
	case int64:
		return strconv.FormatInt(v, 10), true
	case int:
		return strconv.Itoa(v), true
	case uint8:
		return strconv.FormatUint(uint64(v), 10), true
	case uint16:
		return strconv.FormatUint(uint64(v), 10), true
	case uint32:
		return strconv.FormatUint(uint64(v), 10), true
	case uint64:
		return strconv.FormatUint(v, 10), true
	case float32:
		return strconv.FormatFloat(float64(v), 'g', -1, 32), true
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64), true
	case bool:
		return strconv.FormatBool(v), true
	case time.Time:
		return v.UTC().Format(time.RFC3339), true
	default:
		return "", false
	}
}
