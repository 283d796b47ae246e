package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// benchOptions configure `relais bench`.
type benchOptions struct {
	// Broker and Store name the engines of the scaled-out configuration;
	// with both empty only the embedded hub is measured.
	Broker, Store string
	// Messages is the size of each throughput run; BigMessages of the
	// 64 KiB ones.
	Messages, BigMessages int
	// Concurrency is how many submissions are in flight at once.
	Concurrency int
	// Rate and RateFor shape the steady run.
	Rate    int
	RateFor time.Duration
	// CPUProfile, when set, receives a CPU profile of the hub-path runs.
	CPUProfile string
	// SkipEmbedded leaves out the embedded hub.
	SkipEmbedded bool
}

func benchCmd() *cobra.Command {
	o := benchOptions{}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure the hub path against a raw RabbitMQ baseline and print the figures",
		Long: `bench runs, in one process and on the same broker:
  - the cost of the hub's mandatory signature operations alone;
  - a raw amqp091-go baseline: persistent messages, publisher confirms, one consumer;
  - the full hub path: sign (ahead of time) → HTTP submit → verify → validate →
    store → relay → inbox → the recipient's signed receipt, on the embedded hub
    and, with --broker and --store, on RabbitMQ + PostgreSQL;
for 2 KiB and 64 KiB bodies, then a steady run at --rate msg/s.

It works in names of its own (a PostgreSQL schema, "relais-bench-*" exchanges
and queues) and removes them at the end: it can run next to a live hub.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBench(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Broker, "broker", envOr("RELAIS_BROKER", ""), "RabbitMQ to measure on, amqp://user:pass@host:5672/vhost (RELAIS_BROKER)")
	f.StringVar(&o.Store, "store", envOr("RELAIS_STORE", ""), "PostgreSQL to measure on, postgres://user:pass@host/db (RELAIS_STORE)")
	f.IntVar(&o.Messages, "messages", 2000, "messages per 2 KiB throughput run")
	f.IntVar(&o.BigMessages, "big-messages", 400, "messages per 64 KiB throughput run")
	f.IntVar(&o.Concurrency, "concurrency", 16, "submissions in flight at once in the throughput runs")
	f.IntVar(&o.Rate, "rate", 500, "message rate of the steady run (msg/s)")
	f.DurationVar(&o.RateFor, "rate-for", 10*time.Second, "length of the steady run")
	f.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of each hub configuration's runs to FILE.embedded and FILE.rabbitmq-postgres (go tool pprof)")
	f.BoolVar(&o.SkipEmbedded, "skip-embedded", false, "measure only the RabbitMQ + PostgreSQL hub")
	return cmd
}

// benchSizes are the body sizes measured.
var benchSizes = []struct {
	Name  string
	Bytes int
}{{"2 KiB", 2 << 10}, {"64 KiB", 64 << 10}}

func runBench(ctx context.Context, out io.Writer, o benchOptions) error {
	if o.Messages < 10 || o.BigMessages < 10 || o.Concurrency < 1 || o.Rate < 1 || o.RateFor <= 0 {
		return fmt.Errorf("bench: --messages and --big-messages >= 10, --concurrency, --rate and --rate-for > 0")
	}
	if (o.Broker == "") != (o.Store == "") {
		return fmt.Errorf("bench: give both --broker and --store (RabbitMQ + PostgreSQL), or neither (embedded only)")
	}
	if o.SkipEmbedded && o.Broker == "" {
		return fmt.Errorf("bench: --skip-embedded needs --broker and --store")
	}
	started := time.Now()
	fmt.Fprintf(out, "Relais benchmark, %s\n%s\n", started.UTC().Format(time.RFC3339), machineDescription())

	report := &benchReport{}
	sigs, err := measureSignatureOps()
	if err != nil {
		return err
	}
	report.Sigs = sigs

	if o.Broker != "" {
		version, err := brokerVersion(o.Broker)
		if err != nil {
			return fmt.Errorf("broker %s: %w", redactURL(o.Broker), err)
		}
		fmt.Fprintf(out, "broker: %s (RabbitMQ %s)\n", redactURL(o.Broker), version)
		for _, size := range benchSizes {
			raw, err := runRawAMQP(ctx, o.Broker, o.count(size.Bytes), size.Bytes)
			if err != nil {
				return fmt.Errorf("raw AMQP baseline, %s: %w", size.Name, err)
			}
			report.Raw = append(report.Raw, benchRow{Path: "raw AMQP (amqp091-go)", Size: size.Name, Result: raw})
		}
	}

	var configs []benchConfig
	if !o.SkipEmbedded {
		configs = append(configs, benchConfig{Name: "hub, embedded (SQLite)", Short: "embedded"})
	}
	if o.Broker != "" {
		configs = append(configs, benchConfig{Name: "hub, RabbitMQ + PostgreSQL", Short: "rabbitmq-postgres", Broker: o.Broker, Store: o.Store})
	}
	for _, c := range configs {
		if err := runHubConfig(ctx, out, o, c, report); err != nil {
			// What was measured before is still worth reading.
			report.print(out, o)
			return fmt.Errorf("%s: %w", c.Name, err)
		}
	}
	report.print(out, o)
	fmt.Fprintf(out, "\nfinished in %s; load average at the end: %s\n", time.Since(started).Round(time.Second), loadAverage())
	return nil
}

// count is the number of messages of a throughput run for a body size.
func (o benchOptions) count(bodyBytes int) int {
	if bodyBytes > 8<<10 {
		return o.BigMessages
	}
	return o.Messages
}

// benchConfig is one hub configuration measured.
type benchConfig struct {
	Name, Short   string
	Broker, Store string
}

// runHubConfig starts a hub of configuration c and runs the throughput
// runs and the steady run on it.
func runHubConfig(ctx context.Context, out io.Writer, o benchOptions, c benchConfig, report *benchReport) error {
	fmt.Fprintf(out, "measuring the %s ...\n", c.Name)
	w, err := startBenchWorld(ctx, c)
	if err != nil {
		return err
	}
	defer w.Close()
	// Everything is sealed first, so a profile shows the hub's work only.
	warm, err := w.seal(ctx, 50, 2<<10)
	if err != nil {
		return err
	}
	sets := make([][]benchMsg, len(benchSizes))
	for i, size := range benchSizes {
		if sets[i], err = w.seal(ctx, o.count(size.Bytes), size.Bytes); err != nil {
			return err
		}
	}
	steady, err := w.seal(ctx, int(float64(o.Rate)*o.RateFor.Seconds()), 2<<10)
	if err != nil {
		return err
	}
	if o.CPUProfile != "" {
		f, err := os.Create(o.CPUProfile + "." + c.Short)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	// A short warm-up: connections, caches, the first fsyncs.
	if _, err := w.run(ctx, warm, o.Concurrency, 0); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	for i, size := range benchSizes {
		res, err := w.run(ctx, sets[i], o.Concurrency, 0)
		if err != nil {
			return fmt.Errorf("%s run: %w", size.Name, err)
		}
		report.Hub = append(report.Hub, benchRow{Path: c.Name, Size: size.Name, Result: res, Broker: c.Broker != ""})
	}
	res, err := w.run(ctx, steady, 0, time.Second/time.Duration(o.Rate))
	if err != nil {
		return fmt.Errorf("steady run: %w", err)
	}
	report.Steady = append(report.Steady, benchRow{Path: c.Name, Size: "2 KiB", Result: res, Broker: c.Broker != ""})
	return nil
}

// loadAverage is /proc/loadavg's first three fields.
func loadAverage() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(raw))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
