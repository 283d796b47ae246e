package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/relais-hub/relais/contracts"
)

func TestBenchBodiesHaveTheirSizeAndAreValidReferrals(t *testing.T) {
	for _, size := range benchSizes {
		body, err := benchBody(size.Bytes)
		if err != nil {
			t.Fatalf("%s: %v", size.Name, err)
		}
		if got := len(body); got < size.Bytes*95/100 || got > size.Bytes*105/100 {
			t.Errorf("%s body is %d bytes", size.Name, got)
		}
		if _, err := contracts.ValidateBody("referral.request", body); err != nil {
			t.Errorf("%s body: %v", size.Name, err)
		}
	}
}

func TestPercentilesAreNearestRank(t *testing.T) {
	var d []time.Duration
	for i := 100; i >= 1; i-- {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {0, time.Millisecond}} {
		if got := pct(d, tc.p); got != tc.want {
			t.Errorf("p%v = %s, want %s", tc.p, got, tc.want)
		}
	}
	if pct(nil, 99) != 0 {
		t.Error("the percentile of nothing is not 0")
	}
}

func TestBenchRunsTheEmbeddedHubPathAndPrintsItsFigures(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a hub")
	}
	var out bytes.Buffer
	err := runBench(context.Background(), &out, benchOptions{Messages: 20, BigMessages: 10, Concurrency: 4, Rate: 20, RateFor: time.Second})
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, out.String())
	}
	for _, want := range []string{"machine: ", "Signature operations alone", "hub, embedded (SQLite)", "Steady run: 20 msg/s", "Targets"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestBenchRefusesHalfAScaledOutConfiguration(t *testing.T) {
	err := runBench(context.Background(), &bytes.Buffer{}, benchOptions{Broker: "amqp://127.0.0.1:1/", Messages: 20, BigMessages: 10, Concurrency: 1, Rate: 1, RateFor: time.Second})
	if err == nil || !strings.Contains(err.Error(), "both --broker and --store") {
		t.Fatalf("err = %v, want a refusal naming both flags", err)
	}
}
