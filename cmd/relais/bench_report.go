package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// benchRow is one measured path at one body size.
type benchRow struct {
	Path, Size string
	Result     benchResult
	// Broker is set for hub rows on RabbitMQ, which compare with the raw
	// baseline.
	Broker bool
}

type benchReport struct {
	Sigs   []sigCost
	Raw    []benchRow
	Hub    []benchRow
	Steady []benchRow
}

// The targets.
const (
	targetRawShare      = 0.25 // hub msgs/s at least a quarter of raw, 2 KiB
	targetSigMultiple   = 2.0  // hub CPU per message at most twice its signature work
	targetSteadyP99     = 25 * time.Millisecond
	targetSteadyP99Size = "2 KiB"
)

func (r *benchReport) print(out io.Writer, o benchOptions) {
	fmt.Fprintf(out, "\nSignature operations alone, one core (µs per operation)\n")
	tw := tabwriter.NewWriter(out, 2, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "body\tverify message\tsign receipt\tverify receipt\thub per message¹\tsender's seal²\t")
	for _, c := range r.Sigs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", c.Size, us(c.VerifyMessage), us(c.SignReceipt), us(c.VerifyReceipt), us(c.PerMessage()), us(c.Seal))
	}
	tw.Flush()
	fmt.Fprintln(out, "¹ the message and its delivery receipt, each verified and answered with a signed acceptance receipt")
	fmt.Fprintln(out, "² encryption for the recipient and signature: the agency's work, done before the runs")

	fmt.Fprintf(out, "\nThroughput runs (%d messages at 2 KiB, %d at 64 KiB; %d submissions in flight)\n", o.Messages, o.BigMessages, o.Concurrency)
	tw = tabwriter.NewWriter(out, 2, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "path\tbody\tmsgs/s\tp50 ms\tp99 ms\taccept p50/p99\tinbox p50/p99\tCPU/msg µs\t× sig ops\thub/raw\t")
	for _, row := range append(append([]benchRow(nil), r.Raw...), r.Hub...) {
		res := row.Result
		accept, inbox, cpu, multiple, ratio := "", "", "", "", ""
		if len(res.Accept) > 0 {
			accept = ms(pct(res.Accept, 50)) + " / " + ms(pct(res.Accept, 99))
			inbox = ms(pct(res.Inbox, 50)) + " / " + ms(pct(res.Inbox, 99))
			perMsg := res.CPU / time.Duration(res.Messages)
			cpu = us(perMsg)
			if sig := r.sig(row.Size); sig > 0 {
				multiple = fmt.Sprintf("%.1f", float64(perMsg)/float64(sig))
			}
			if raw, ok := r.raw(row.Size); ok && row.Broker {
				ratio = fmt.Sprintf("%.3f", res.Rate()/raw.Rate())
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", row.Path, row.Size, res.Rate(),
			ms(pct(res.Latency, 50)), ms(pct(res.Latency, 99)), accept, inbox, cpu, multiple, ratio)
	}
	tw.Flush()
	fmt.Fprintln(out, "latency: hub, submission → the recipient's receipt accepted; raw, publish → consume. accept: submission → 202;")
	fmt.Fprintln(out, "inbox: submission → listed by the recipient's long-poll. CPU/msg: this process (hub and HTTP clients).")

	fmt.Fprintf(out, "\nSteady run: %d msg/s for %s (2 KiB), open loop\n", o.Rate, o.RateFor)
	tw = tabwriter.NewWriter(out, 2, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "path\tachieved msgs/s\taccept p50/p99 ms\tinbox p50/p99 ms\treceipt p50/p99 ms\tCPU/msg µs\t")
	for _, row := range r.Steady {
		res := row.Result
		fmt.Fprintf(tw, "%s\t%.0f\t%s / %s\t%s / %s\t%s / %s\t%s\t\n", row.Path, res.Rate(),
			ms(pct(res.Accept, 50)), ms(pct(res.Accept, 99)), ms(pct(res.Inbox, 50)), ms(pct(res.Inbox, 99)),
			ms(pct(res.Latency, 50)), ms(pct(res.Latency, 99)), us(res.CPU/time.Duration(res.Messages)))
	}
	tw.Flush()
	r.printTargets(out)
}

// printTargets compares the figures with the targets.
func (r *benchReport) printTargets(out io.Writer) {
	fmt.Fprintln(out, "\nTargets")
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}
	for _, row := range r.Hub {
		if !row.Broker || row.Size != "2 KiB" {
			continue
		}
		if raw, ok := r.raw(row.Size); ok {
			share := row.Result.Rate() / raw.Rate()
			fmt.Fprintf(out, "  hub ≥ 1/4 of raw msgs/s at 2 KiB: %.0f vs %.0f msgs/s = %.2f, %s\n", row.Result.Rate(), raw.Rate(), share, verdict(share >= targetRawShare))
		}
	}
	for _, row := range r.Hub {
		if row.Size != "2 KiB" {
			continue
		}
		perMsg := row.Result.CPU / time.Duration(row.Result.Messages)
		sig := r.sig(row.Size)
		fmt.Fprintf(out, "  CPU per message ≤ 2× its signature operations (%s): %s vs %s = %.1f×, %s\n",
			row.Path, us(perMsg)+" µs", us(sig)+" µs", float64(perMsg)/float64(sig), verdict(float64(perMsg) <= targetSigMultiple*float64(sig)))
	}
	for _, row := range r.Steady {
		p99 := pct(row.Result.Inbox, 99)
		fmt.Fprintf(out, "  p99 ≤ 25 ms at the steady rate, submission → inbox (%s): %s ms, %s\n", row.Path, ms(p99), verdict(p99 <= targetSteadyP99))
	}
}

func (r *benchReport) sig(size string) time.Duration {
	for _, c := range r.Sigs {
		if c.Size == size {
			return c.PerMessage()
		}
	}
	return 0
}

func (r *benchReport) raw(size string) (benchResult, bool) {
	for _, row := range r.Raw {
		if row.Size == size {
			return row.Result, true
		}
	}
	return benchResult{}, false
}

// pct is the p-th percentile (nearest rank).
func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64)
}

func us(d time.Duration) string { return strconv.FormatInt(d.Microseconds(), 10) }

// machineDescription says what the figures were taken on.
func machineDescription() string {
	model := "unknown CPU"
	if raw, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(raw), "\n") {
			if name, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(name), ":"))
				break
			}
		}
	}
	mem := "unknown memory"
	if raw, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(raw), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
				if kb, err := strconv.Atoi(f[1]); err == nil {
					mem = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
				}
			}
		}
	}
	kernel := "?"
	if raw, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = strings.TrimSpace(string(raw))
	}
	return fmt.Sprintf("machine: %d CPUs (nproc), %s, %s RAM, Linux %s, %s; load average at start: %s",
		runtime.NumCPU(), model, mem, kernel, runtime.Version(), loadAverage())
}
