package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"strconv"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	relaisamqp "github.com/relais-hub/relais/adapters/amqp"
)

// rawWindow is how many publishes the raw baseline pipelines before it
// waits for their confirms (the hub's publisher uses the same window).
const rawWindow = relaisamqp.DefaultConfirmWindow

// runRawAMQP is the broker's own ceiling on this machine: amqp091-go alone
// publishes n persistent, mandatory messages of size bytes with publisher
// confirms to a quorum queue declared as the hub declares its own, and one
// consumer with the hub's prefetch acks each. Latency runs from publish to
// consume.
func runRawAMQP(ctx context.Context, brokerURL string, n, size int) (benchResult, error) {
	prefix := "relais-bench-" + randomHex(4) + "."
	defer deleteBrokerNames(brokerURL, prefix)
	cfg := relaisamqp.Config{URL: brokerURL, ExchangeName: prefix + "deliver", DeadLetterExchange: prefix + "dlx",
		DeadLetterQueue: prefix + "dead-letter", QueuePrefix: prefix, Topics: []string{"raw"}}
	builder, err := relaisamqp.NewTopologyBuilder(cfg)
	if err != nil {
		return benchResult{}, err
	}
	pubConn, err := amqp091.Dial(brokerURL)
	if err != nil {
		return benchResult{}, err
	}
	defer pubConn.Close()
	if err := builder.Declare(pubConn); err != nil {
		return benchResult{}, err
	}
	pubCh, err := pubConn.Channel()
	if err != nil {
		return benchResult{}, err
	}
	if err := pubCh.Confirm(false); err != nil {
		return benchResult{}, err
	}
	subConn, err := amqp091.Dial(brokerURL)
	if err != nil {
		return benchResult{}, err
	}
	defer subConn.Close()
	subCh, err := subConn.Channel()
	if err != nil {
		return benchResult{}, err
	}
	if err := subCh.Qos(relaisamqp.DefaultPrefetch, 0, false); err != nil {
		return benchResult{}, err
	}
	deliveries, err := subCh.Consume(prefix+"raw", "", false, false, false, false, nil)
	if err != nil {
		return benchResult{}, err
	}

	payload := make([]byte, size)
	_, _ = rand.Read(payload)
	published := make([]time.Time, n)
	consumed := make([]time.Time, n)
	consumerDone := make(chan error, 1)
	go func() {
		for got := 0; got < n; got++ {
			select {
			case d, open := <-deliveries:
				if !open {
					consumerDone <- fmt.Errorf("consumer closed after %d of %d", got, n)
					return
				}
				now := time.Now()
				i, err := strconv.Atoi(d.MessageId)
				if err != nil || i < 0 || i >= n {
					consumerDone <- fmt.Errorf("unexpected message %q", d.MessageId)
					return
				}
				consumed[i] = now
				if err := d.Ack(false); err != nil {
					consumerDone <- err
					return
				}
			case <-time.After(time.Minute):
				consumerDone <- fmt.Errorf("consumed %d of %d, then nothing for a minute", got, n)
				return
			}
		}
		consumerDone <- nil
	}()

	cpu0 := cpuTime()
	first := time.Now()
	for sent := 0; sent < n; {
		window := min(rawWindow, n-sent)
		confirms := make([]*amqp091.DeferredConfirmation, window)
		for i := range window {
			published[sent+i] = time.Now()
			confirms[i], err = pubCh.PublishWithDeferredConfirmWithContext(ctx, cfg.ExchangeName, "raw", true, false,
				amqp091.Publishing{DeliveryMode: amqp091.Persistent, MessageId: strconv.Itoa(sent + i), Body: payload})
			if err != nil {
				return benchResult{}, err
			}
		}
		for _, c := range confirms {
			if !c.Wait() {
				return benchResult{}, fmt.Errorf("broker nacked a publish")
			}
		}
		sent += window
	}
	if err := <-consumerDone; err != nil {
		return benchResult{}, err
	}
	res := benchResult{Messages: n, CPU: cpuTime() - cpu0}
	var last time.Time
	for i := range n {
		res.Latency = append(res.Latency, consumed[i].Sub(published[i]))
		if consumed[i].After(last) {
			last = consumed[i]
		}
	}
	res.Elapsed = last.Sub(first)
	return res, nil
}

// brokerVersion is the version the broker announces.
func brokerVersion(brokerURL string) (string, error) {
	conn, err := amqp091.Dial(brokerURL)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	v, _ := conn.Properties["version"].(string)
	return v, nil
}
