package amqp

import "errors"

// Why a Publish failed. Every one of them means "not published": the caller
// (the outbox relay) keeps the delivery and retries. A batch that fails may
// have been partly published; the retry then duplicates those messages,
// which the idempotent consumers absorb (at-least-once).
var (
	ErrClosed             = errors.New("amqp: publisher closed")
	ErrNotConnected       = errors.New("amqp: not connected to the broker")
	ErrBlocked            = errors.New("amqp: broker blocks publishing (resource alarm)")
	ErrNacked             = errors.New("amqp: broker refused the message (nack)")
	ErrUnroutable         = errors.New("amqp: message unroutable, returned by the broker")
	ErrConfirmTimeout     = errors.New("amqp: no broker confirm in time")
	ErrNotConfirmed       = errors.New("amqp: channel closed before the broker confirmed")
	ErrMetadataNotAllowed = errors.New("amqp: metadata key not allowed on the wire")
)
