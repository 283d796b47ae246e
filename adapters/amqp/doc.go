// Package amqp is the hub's transport on RabbitMQ, built on Watermill's
// AMQP Pub/Sub (github.com/ThreeDotsLabs/watermill-amqp/v3, on amqp091-go).
//
// Topology (Config.Topology, also in deploy/rabbitmq/definitions.json): one
// durable direct exchange (relais.deliver) routes each topic, by name, to one
// durable quorum queue (relais.<topic>) that every hub instance consumes, so
// work spreads over instances. Topic queues dead-letter to a fanout exchange
// (relais.dlx) bound to one quorum queue, relais.dead-letter, with
// x-dead-letter-strategy=at-least-once (which needs x-overflow=reject-publish)
// and an explicit x-delivery-limit. Names are fixed code constants; headers
// carry message ids only (Config.MetadataKeys).
//
// Guarantees, and who provides them:
//   - persistent messages: the library's marshaler (delivery mode 2);
//   - publisher confirms, a nack, a return or ConfirmTimeout failing the
//     Publish: Publisher (the library's publish path ignores returns, has no
//     timeout and awaits one confirm at a time; see Publisher);
//   - no silent loss of an unroutable message: the topology is declared
//     before the first publish (NewPublisher, and on each new connection),
//     and every message is mandatory with its return turned into
//     ErrUnroutable;
//   - dead-lettering after DeliveryLimit deliveries: the broker, from the
//     queue arguments declared by TopologyBuilder; the marshaler makes
//     redeliveries readable (x-delivery-count is an integer header);
//   - prefetch, manual acks, requeue on nack, reconnection with the topology
//     declared again, requeue of in-flight messages on Close: the library's
//     Subscriber, configured by Config.
//
// Delivery is at-least-once: a failed Publish may have published part of a
// batch, and a message may be redelivered after a reconnection. Consumers
// dedupe on the message id.
package amqp
