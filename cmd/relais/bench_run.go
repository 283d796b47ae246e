package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// benchResult is one measured run.
type benchResult struct {
	Messages int
	// Elapsed runs from the first submission (or publish) to the last
	// completion.
	Elapsed time.Duration
	// Latency per message: for the hub, from its submission to the
	// recipient's receipt accepted; for raw AMQP, from publish to consume.
	Latency []time.Duration
	// Accept (submit → 202) and Inbox (submit → in the recipient's inbox)
	// are the hub path's intermediate latencies.
	Accept, Inbox []time.Duration
	// CPU is the bench process's CPU time over the run: the hub and the
	// HTTP clients (the agencies' cryptography was done before the run).
	CPU time.Duration
}

func (r benchResult) Rate() float64 { return float64(r.Messages) / r.Elapsed.Seconds() }

// run submits msgs to the hub and has the recipient receipt each as it
// arrives. With interval 0 it keeps concurrency submissions in flight (a
// throughput run); otherwise it submits one message every interval, each
// on its own (a steady, open-loop run: a hub that cannot keep up makes
// latency grow, not the rate drop, so its submissions wait as long as it
// takes, without a client timeout).
func (w *benchWorld) run(ctx context.Context, msgs []benchMsg, concurrency int, interval time.Duration) (benchResult, error) {
	n := len(msgs)
	index := make(map[string]int, n)
	for i, m := range msgs {
		index[m.ID] = i
	}
	start := make([]time.Time, n)
	accepted := make([]time.Time, n)
	inboxed := make([]time.Time, n)
	receipted := make([]time.Time, n)
	var done atomic.Int64
	allDone := make(chan struct{})
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	fail := func(err error) { cancel(err) }

	// The recipient long-polls its inbox and receipts what arrives.
	receipts := make(chan int, n)
	var workers sync.WaitGroup
	for range 16 {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for i := range receipts {
				if err := w.submitWith(ctx, w.patient, msgs[i].Receipt); err != nil {
					fail(fmt.Errorf("receipt: %w", err))
					return
				}
				receipted[i] = time.Now()
				if done.Add(1) == int64(n) {
					close(allDone)
				}
			}
		}()
	}
	go func() {
		defer close(receipts)
		cursor, seen := "", 0
		for seen < n && ctx.Err() == nil {
			items, next, err := w.recipient.Inbox(ctx, cursor, 2*time.Second)
			if err != nil {
				if ctx.Err() == nil {
					fail(err)
				}
				return
			}
			now := time.Now()
			for _, it := range items {
				i, ok := index[it.ID]
				if !ok || !inboxed[i].IsZero() {
					continue
				}
				inboxed[i] = now
				seen++
				receipts <- i
			}
			cursor = next
		}
	}()

	cpu0 := cpuTime()
	first := time.Now()
	if interval == 0 {
		queue := make(chan int)
		var senders sync.WaitGroup
		for range concurrency {
			senders.Add(1)
			go func() {
				defer senders.Done()
				for i := range queue {
					start[i] = time.Now()
					if err := w.submit(ctx, msgs[i].JWS); err != nil {
						fail(err)
						return
					}
					accepted[i] = time.Now()
				}
			}()
		}
		for i := range msgs {
			select {
			case queue <- i:
			case <-ctx.Done():
			}
		}
		close(queue)
		senders.Wait()
	} else {
		var senders sync.WaitGroup
		for i := range msgs {
			at := first.Add(time.Duration(i) * interval)
			time.Sleep(time.Until(at))
			if ctx.Err() != nil {
				break
			}
			senders.Add(1)
			go func() {
				defer senders.Done()
				start[i] = at
				if err := w.submitWith(ctx, w.patient, msgs[i].JWS); err != nil {
					fail(err)
					return
				}
				accepted[i] = time.Now()
			}()
		}
		senders.Wait()
	}
	timeout := time.NewTimer(2*time.Minute + time.Duration(n)*50*time.Millisecond)
	defer timeout.Stop()
	select {
	case <-allDone:
	case <-ctx.Done():
		return benchResult{}, context.Cause(ctx)
	case <-timeout.C:
		return benchResult{}, fmt.Errorf("%d of %d messages receipted before the timeout", done.Load(), n)
	}
	cpu := cpuTime() - cpu0
	cancel(nil)
	workers.Wait()

	res := benchResult{Messages: n, CPU: cpu}
	var last time.Time
	for i := range msgs {
		res.Latency = append(res.Latency, receipted[i].Sub(start[i]))
		res.Accept = append(res.Accept, accepted[i].Sub(start[i]))
		res.Inbox = append(res.Inbox, inboxed[i].Sub(start[i]))
		if receipted[i].After(last) {
			last = receipted[i]
		}
	}
	res.Elapsed = last.Sub(first)
	return res, nil
}

// submit posts a JWS and wants 202.
func (w *benchWorld) submit(ctx context.Context, jws []byte) error {
	return w.submitWith(ctx, w.http, jws)
}

func (w *benchWorld) submitWith(ctx context.Context, client *http.Client, jws []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.rh.URL+"/v1/messages", bytes.NewReader(jws))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/jose")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("submit: %d %s", resp.StatusCode, body)
	}
	return nil
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
