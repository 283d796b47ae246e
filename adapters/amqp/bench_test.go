package amqp

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wamqp "github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	"github.com/ThreeDotsLabs/watermill/message"
	amqp091 "github.com/rabbitmq/amqp091-go"
)

// Both benchmarks move b.N persistent, confirmed messages through one
// quorum queue (the hub's queue arguments) and report end-to-end msgs/s:
// the clock runs from the first publish to the last ack.
//
//	go test ./adapters/amqp -run '^$' -bench . -benchtime 3s

var benchBodies = []struct {
	name string
	size int
}{{"2KiB", 2 << 10}, {"64KiB", 64 << 10}}

const (
	benchPublishers = 4  // concurrent publishing goroutines (relay workers)
	benchBatch      = 32 // messages per Publish call
	rawWindow       = 256
)

func benchBody(size int) []byte {
	body := make([]byte, size)
	_, _ = rand.Read(body)
	return body
}

// BenchmarkRawAMQP is the baseline: amqp091-go alone, one confirm-mode
// channel pipelining rawWindow messages per confirm wait, one consumer
// with the same prefetch as the hub.
func BenchmarkRawAMQP(b *testing.B) {
	for _, body := range benchBodies {
		b.Run(body.name, func(b *testing.B) {
			cfg := testConfig(b, func(c *Config) { c.Topics = []string{"bench-" + randomSuffix()} })
			topic := cfg.Topics[0]
			builder, err := NewTopologyBuilder(cfg)
			if err != nil {
				b.Fatal(err)
			}
			pubConn, err := amqp091.Dial(cfg.URL)
			if err != nil {
				b.Fatal(err)
			}
			defer pubConn.Close()
			if err := builder.Declare(pubConn); err != nil {
				b.Fatal(err)
			}
			pubCh, err := pubConn.Channel()
			if err != nil {
				b.Fatal(err)
			}
			if err := pubCh.Confirm(false); err != nil {
				b.Fatal(err)
			}
			subConn, err := amqp091.Dial(cfg.URL)
			if err != nil {
				b.Fatal(err)
			}
			defer subConn.Close()
			subCh, err := subConn.Channel()
			if err != nil {
				b.Fatal(err)
			}
			if err := subCh.Qos(cfg.Prefetch, 0, false); err != nil {
				b.Fatal(err)
			}
			deliveries, err := subCh.Consume(cfg.QueueName(topic), "", false, false, false, false, nil)
			if err != nil {
				b.Fatal(err)
			}
			payload := benchBody(body.size)
			b.SetBytes(int64(body.size))

			b.ResetTimer()
			start := time.Now()
			consumed := make(chan struct{})
			go func() {
				defer close(consumed)
				for i := 0; i < b.N; i++ {
					select {
					case d := <-deliveries:
						_ = d.Ack(false)
					case <-time.After(time.Minute):
						b.Errorf("consumed %d of %d, then nothing for a minute", i, b.N)
						return
					}
				}
			}()
			for sent := 0; sent < b.N; {
				n := min(rawWindow, b.N-sent)
				confirms := make([]*amqp091.DeferredConfirmation, n)
				for i := range n {
					confirms[i], err = pubCh.PublishWithDeferredConfirmWithContext(context.Background(),
						cfg.ExchangeName, topic, true, false,
						amqp091.Publishing{DeliveryMode: amqp091.Persistent, MessageId: fmt.Sprint(sent + i), Body: payload})
					if err != nil {
						b.Fatal(err)
					}
				}
				for _, c := range confirms {
					if !c.Wait() {
						b.Fatal("nack")
					}
				}
				sent += n
			}
			<-consumed
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}

// benchVariant is one publisher/subscriber pairing on the same queue.
type benchVariant struct {
	name string
	// newPublisher builds the publisher from the relais Config.
	newPublisher func(cfg Config) (message.Publisher, error)
	prefetch     int
}

func libraryPublisher(pool int) func(Config) (message.Publisher, error) {
	return func(cfg Config) (message.Publisher, error) {
		lib := cfg.libraryConfig()
		lib.Publish.ChannelPoolSize = pool
		return wamqp.NewPublisher(lib, watermill.NopLogger{})
	}
}

func relaisPublisher(concurrency int) func(Config) (message.Publisher, error) {
	return func(cfg Config) (message.Publisher, error) {
		cfg.PublishConcurrency = concurrency
		return NewPublisher(cfg, nil)
	}
}

// BenchmarkWatermillAMQP goes through Watermill: benchPublishers goroutines
// publish batches of benchBatch, one subscription acks. The variants show
// what the channel pool, prefetch and publish concurrency are worth:
//   - library-defaults: watermill-amqp as it comes (a new channel per
//     Publish, prefetch 1, one confirm awaited at a time);
//   - library-pool8-prefetch64: the library with a channel pool and prefetch;
//   - relais-concurrency1: this package's publisher, confirms pipelined on
//     one channel per batch;
//   - relais: the production defaults (batch spread over 4 channels).
func BenchmarkWatermillAMQP(b *testing.B) {
	variants := []benchVariant{
		{"library-defaults", libraryPublisher(0), 1},
		{"library-pool8-prefetch64", libraryPublisher(DefaultPublisherChannelPool), DefaultPrefetch},
		{"relais-concurrency1", relaisPublisher(1), DefaultPrefetch},
		{"relais", relaisPublisher(DefaultPublishConcurrency), DefaultPrefetch},
	}
	for _, body := range benchBodies {
		for _, v := range variants {
			b.Run(body.name+"/"+v.name, func(b *testing.B) { benchWatermill(b, v, body.size) })
		}
	}
}

func benchWatermill(b *testing.B, v benchVariant, size int) {
	cfg := testConfig(b, func(c *Config) {
		c.Topics = []string{"bench-" + randomSuffix()}
		c.Prefetch = v.prefetch
	})
	topic := cfg.Topics[0]
	pub, err := v.newPublisher(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	sub, err := NewSubscriber(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	if err := sub.(message.SubscribeInitializer).SubscribeInitialize(topic); err != nil {
		b.Fatal(err)
	}
	msgs, err := sub.Subscribe(context.Background(), topic)
	if err != nil {
		b.Fatal(err)
	}
	payload := benchBody(size)
	b.SetBytes(int64(size))

	b.ResetTimer()
	start := time.Now()
	consumed := make(chan struct{})
	go func() {
		defer close(consumed)
		for i := 0; i < b.N; i++ {
			select {
			case msg := <-msgs:
				msg.Ack()
			case <-time.After(time.Minute):
				b.Errorf("consumed %d of %d, then nothing for a minute", i, b.N)
				return
			}
		}
	}()
	work := make(chan int)
	go func() {
		for sent := 0; sent < b.N; sent += benchBatch {
			work <- min(benchBatch, b.N-sent)
		}
		close(work)
	}()
	var wg sync.WaitGroup
	for range benchPublishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range work {
				batch := make([]*message.Message, n)
				for i := range batch {
					batch[i] = message.NewMessage(watermill.NewULID(), payload)
				}
				if err := pub.Publish(topic, batch...); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	<-consumed
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
	b.StopTimer()
}
