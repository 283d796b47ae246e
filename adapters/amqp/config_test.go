package amqp

import (
	"strings"
	"testing"
	"time"
)

func TestAConfigWithOnlyAURLGetsTheProductionDefaults(t *testing.T) {
	cfg, err := Config{URL: "amqp://relais:pw@rabbitmq:5672/relais"}.prepared()
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"ExchangeName", cfg.ExchangeName, "relais.deliver"},
		{"DeadLetterExchange", cfg.DeadLetterExchange, "relais.dlx"},
		{"DeadLetterQueue", cfg.DeadLetterQueue, "relais.dead-letter"},
		{"queue of deliveries", cfg.QueueName(TopicDeliveries), "relais.deliveries"},
		{"Prefetch", cfg.Prefetch, 64},
		{"PublisherChannelPool", cfg.PublisherChannelPool, 8},
		{"PublishConcurrency", cfg.PublishConcurrency, 4},
		{"ConfirmTimeout", cfg.ConfirmTimeout, 5 * time.Second},
		{"DeliveryLimit", cfg.DeliveryLimit, 10},
		{"Topics", strings.Join(cfg.Topics, ","), TopicDeliveries},
		{"MetadataKeys", strings.Join(cfg.MetadataKeys, ","), MetadataMessageID},
		{"Reconnect max interval", cfg.Reconnect.BackoffMaxInterval, 5 * time.Second},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestValidateRefusesUnusableConfigurations(t *testing.T) {
	cases := []struct {
		name    string
		edit    func(*Config)
		wantErr string
	}{
		{"an empty URL", func(c *Config) { c.URL = "" }, "URL is empty"},
		{"a URL that is not AMQP, without repeating it", func(c *Config) { c.URL = "http://relais:s3cret@host/" }, "not a valid amqp"},
		{"an exchange name with spaces", func(c *Config) { c.ExchangeName = "relais deliver" }, "ExchangeName"},
		{"the same exchange for delivery and dead letters", func(c *Config) { c.DeadLetterExchange = c.ExchangeName }, "must differ"},
		{"a topic that looks like data", func(c *Config) { c.Topics = []string{"Awa Diallo"} }, "topics are fixed names"},
		{"a topic listed twice", func(c *Config) { c.Topics = []string{"deliveries", "deliveries"} }, "listed twice"},
		{"a topic whose queue is the dead-letter queue", func(c *Config) { c.Topics = []string{"dead-letter"} }, "dead-letter queue"},
		{"more publish concurrency than channels", func(c *Config) { c.PublisherChannelPool = 2; c.PublishConcurrency = 3 }, "PublishConcurrency"},
		{"a negative prefetch", func(c *Config) { c.Prefetch = -1 }, "Prefetch"},
		{"a negative confirm timeout", func(c *Config) { c.ConfirmTimeout = -time.Second }, "ConfirmTimeout"},
		{"a negative delivery limit", func(c *Config) { c.DeliveryLimit = -1 }, "DeliveryLimit"},
		{"a negative queue length", func(c *Config) { c.MaxQueueLength = -1 }, "MaxQueueLength"},
		{"no metadata key at all", func(c *Config) { c.MetadataKeys = []string{} }, "MetadataKeys"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{URL: "amqp://relais:s3cret@rabbitmq/relais"}
			cfg.setDefaults()
			tc.edit(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Validate = %v, want an error about %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error repeats the password: %v", err)
			}
		})
	}
}

func TestTopicQueuesAreQuorumQueuesWithAnAtLeastOnceDeadLetterSide(t *testing.T) {
	cfg, err := Config{URL: "amqp://x/", MaxQueueLength: 5000}.prepared()
	if err != nil {
		t.Fatal(err)
	}
	q, b := cfg.topicQueue("deliveries")
	want := map[string]any{
		"x-queue-type":           "quorum",
		"x-dead-letter-exchange": "relais.dlx",
		"x-dead-letter-strategy": "at-least-once",
		"x-overflow":             "reject-publish",
		"x-delivery-limit":       int64(10),
		"x-max-length":           int64(5000),
	}
	for k, v := range want {
		if q.Arguments[k] != v {
			t.Errorf("%s = %v, want %v", k, q.Arguments[k], v)
		}
	}
	if len(q.Arguments) != len(want) {
		t.Errorf("arguments %v, want exactly %v", q.Arguments, want)
	}
	if b != (Binding{Exchange: "relais.deliver", Queue: "relais.deliveries", RoutingKey: "deliveries"}) {
		t.Errorf("binding = %+v", b)
	}
}
