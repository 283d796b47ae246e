package hub_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/relais-hub/relais/hub"
)

// fixedTimers is a corridor's agreed deadlines, as the policy engine will
// supply them.
type fixedTimers map[hub.TimerKind]hub.Deadline

func (f fixedTimers) Deadline(_ hub.Transfer, kind hub.TimerKind) (hub.Deadline, bool) {
	d, ok := f[kind]
	return d, ok
}

var corridorTimers = fixedTimers{
	hub.TimerReceipt: {Due: time.Hour, Escalate: 2 * time.Hour},
	hub.TimerAnswer:  {Due: 24 * time.Hour, Escalate: 48 * time.Hour},
}

// Two hubs share one store, with one injected clock; the Malian regional
// service receives a referral and lets it wait. It is reminded when the
// receipt is due, exactly once although both hubs race for the deadline;
// both hubs stop; a third starts after the escalation delay passed and
// escalates, once, to the national directorate the service reports to.
// The receipt then settles the receipt deadline and starts the one for the
// answer, which is reminded in turn, and settled by the answer.
func TestDeadlinesRemindThenEscalateOnceAcrossHubsAndARestart(t *testing.T) {
	for _, engine := range []struct {
		name string
		dep  func(*testing.T) *deployment
	}{
		{"sqlite", func(t *testing.T) *deployment { return newDeployment(t) }},
		{"postgres", postgresDeployment},
	} {
		t.Run(engine.name, func(t *testing.T) { testDeadlines(t, engine.dep(t)) })
	}
}

func testDeadlines(t *testing.T, d *deployment) {
	ctx := context.Background()
	t0 := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	clk := newClock(t0)
	registries := []*prometheus.Registry{prometheus.NewRegistry(), prometheus.NewRegistry(), prometheus.NewRegistry()}
	opts := func(i int) instanceOptions {
		return instanceOptions{clock: clk, timers: corridorTimers, interval: 5 * time.Millisecond, registry: registries[i]}
	}
	a, b := d.start(t, opts(0)), d.start(t, opts(1))
	ci := lifecycleParty(t, "ci.dpe-abidjan")
	dnpef := lifecycleParty(t, "ml.dnpef")
	sikasso := lifecycleParty(t, "ml.drpfef-sikasso")
	a.register(t, registration{party: ci}, registration{party: dnpef}, registration{party: sikasso, reportsTo: dnpef.ID})
	id := a.send(t, msg{kind: "referral.request", from: ci, to: sikasso})
	a.delivered(t, id)

	fireAll := func(ws ...*world) {
		t.Helper()
		var wg sync.WaitGroup
		for _, w := range ws {
			for range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := w.h.FireDueTimers(ctx); err != nil {
						t.Errorf("fire timers: %v", err)
					}
				}()
			}
		}
		wg.Wait()
	}

	clk.Set(t0.Add(time.Hour - time.Second))
	fireAll(a, b)
	if got := deadlineEvents(t, a, id); len(got) != 0 {
		t.Fatalf("deadline events before the receipt was due: %v", got)
	}

	clk.Set(t0.Add(time.Hour))
	fireAll(a, b)
	eventually(t, "the receipt reminder", func() bool { return len(deadlineEvents(t, a, id)) > 0 })
	fireAll(a, b)
	reminder := requireDeadlines(t, a, id, []string{"reminder receipt → ml.drpfef-sikasso due 09:00"})[0]
	if reminder.MessageID != id || !reminder.At.Equal(t0.Add(time.Hour)) || reminder.Actor != "hub" {
		t.Errorf("reminder event: %+v", reminder)
	}

	// Both hubs stop; the escalation falls due while no hub runs.
	a.close()
	b.close()
	clk.Set(t0.Add(3 * time.Hour))
	c := d.start(t, opts(2))
	eventually(t, "the escalation after the restart", func() bool { return len(deadlineEvents(t, c, id)) > 1 })
	fireAll(c)
	requireDeadlines(t, c, id, []string{
		"reminder receipt → ml.drpfef-sikasso due 09:00",
		"escalation receipt → ml.dnpef due 11:00 overdue=ml.drpfef-sikasso",
	})
	// A hub counts a deadline just after committing it: the count may lag
	// the trail by a moment, never exceed it.
	eventually(t, "relais_deadlines_missed_total to count the reminder and the escalation", func() bool {
		return missed(t, registries, "reminder", "receipt") == 1 && missed(t, registries, "escalation", "receipt") == 1
	})

	// The directorate sees the transfer escalated to it; the sender sees
	// it overdue.
	dir, err := c.h.Transfers(ctx, hub.TransferQuery{Agency: dnpef.ID})
	if err != nil || len(dir) != 1 || dir[0].ID != id || dir[0].RoleOf(dnpef.ID) != "directorate" || len(dir[0].Overdue) != 2 {
		t.Fatalf("the directorate's list: %+v, %v", dir, err)
	}
	if late, _ := c.h.Transfers(ctx, hub.TransferQuery{Agency: ci.ID, Overdue: true}); len(late) != 1 {
		t.Fatalf("the sender's overdue list: %+v", late)
	}

	// The receipt settles the receipt deadline and starts the answer's.
	c.receipt(t, sikasso, id)
	if late, _ := c.h.Transfers(ctx, hub.TransferQuery{Agency: ci.ID, Overdue: true}); len(late) != 0 {
		t.Fatalf("still overdue after the receipt: %+v", late)
	}
	clk.Set(t0.Add(27*time.Hour - time.Second))
	fireAll(c)
	clk.Set(t0.Add(27 * time.Hour))
	eventually(t, "the answer reminder", func() bool { return len(deadlineEvents(t, c, id)) > 2 })

	// The answer settles it: its escalation (due at 11:00 on day 4) never
	// comes; what comes is the next step's own deadline.
	clk.Set(t0.Add(28 * time.Hour))
	c.exchange(t, msg{kind: "referral.accepted", from: sikasso, to: ci, transfer: id, inReplyTo: id})
	clk.Set(t0.Add(76 * time.Hour))
	// On PostgreSQL a claim skips a timer another transaction is firing
	// (SKIP LOCKED): the hub's own loop may be the one committing it.
	eventually(t, "the next step's reminder", func() bool { return len(deadlineEvents(t, c, id)) > 3 })
	fireAll(c)
	requireDeadlines(t, c, id, []string{
		"reminder receipt → ml.drpfef-sikasso due 09:00",
		"escalation receipt → ml.dnpef due 11:00 overdue=ml.drpfef-sikasso",
		"reminder answer → ml.drpfef-sikasso due 11:00",
		"reminder answer → ml.drpfef-sikasso due 12:00",
	})
}

// deadlineEvents are the reminders and escalations of a transfer.
func deadlineEvents(tb testing.TB, w *world, transfer string) []hub.Event {
	tb.Helper()
	var out []hub.Event
	for _, e := range w.trail(tb, transfer) {
		if e.Type == hub.EventReminder || e.Type == hub.EventEscalation {
			out = append(out, e)
		}
	}
	return out
}

// requireDeadlines checks the transfer's reminders and escalations, each
// written "<type> <timer> → <to> due <hh:mm>[ overdue=<party>]".
func requireDeadlines(tb testing.TB, w *world, transfer string, want []string) []hub.Event {
	tb.Helper()
	events := deadlineEvents(tb, w, transfer)
	var got []string
	for _, e := range events {
		var timer, due, overdue string
		for _, f := range strings.Fields(e.Detail) {
			k, v, _ := strings.Cut(f, "=")
			switch k {
			case "timer":
				timer = v
			case "due":
				if at, err := time.Parse(time.RFC3339, v); err == nil {
					due = at.Format("15:04")
				}
			case "overdue":
				overdue = v
			}
		}
		line := fmt.Sprintf("%s %s → %s due %s", e.Type, timer, e.To, due)
		if e.Type == hub.EventEscalation {
			line += " overdue=" + overdue
		}
		got = append(got, line)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		tb.Fatalf("deadline events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	return events
}

// missed sums relais_deadlines_missed_total{stage, timer} over registries.
func missed(tb testing.TB, registries []*prometheus.Registry, stage, timer string) float64 {
	tb.Helper()
	total := 0.0
	for _, reg := range registries {
		families, err := reg.Gather()
		if err != nil {
			tb.Fatal(err)
		}
		for _, f := range families {
			if f.GetName() != "relais_deadlines_missed_total" {
				continue
			}
			for _, m := range f.GetMetric() {
				labels := map[string]string{}
				for _, l := range m.GetLabel() {
					labels[l.GetName()] = l.GetValue()
				}
				if labels["stage"] == stage && labels["timer"] == timer {
					total += m.GetCounter().GetValue()
				}
			}
		}
	}
	return total
}

// Timers fall due continuously while messages that settle them arrive,
// on two hubs sharing the store: firing a timer and accepting a message
// take their locks in the same order, so neither ever waits on the other
// in a cycle (PostgreSQL would abort one of them as a deadlock).
func TestDeadlinesFiringWhileMessagesArriveNeverDeadlock(t *testing.T) {
	for _, engine := range []struct {
		name string
		dep  func(*testing.T) *deployment
	}{
		{"sqlite", func(t *testing.T) *deployment { return newDeployment(t) }},
		{"postgres", postgresDeployment},
	} {
		t.Run(engine.name, func(t *testing.T) {
			d := engine.dep(t)
			eager := fixedTimers{hub.TimerReceipt: {Due: time.Millisecond, Escalate: time.Millisecond}, hub.TimerAnswer: {Due: time.Millisecond, Escalate: time.Millisecond}}
			a := d.start(t, instanceOptions{timers: eager, interval: time.Millisecond})
			b := d.start(t, instanceOptions{timers: eager, interval: time.Millisecond})
			ml := lifecycleParty(t, "ml.dnpef")
			senders := []party{lifecycleParty(t, "ci.dpe-abidjan"), lifecycleParty(t, "bf.dpe-bobo"), lifecycleParty(t, "sn.dpe-dakar"), lifecycleParty(t, "gn.dpe-conakry")}
			a.register(t, regs(append(senders, ml)...)...)
			var wg sync.WaitGroup
			for i, s := range senders {
				w := []*world{a, b}[i%2]
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range 8 {
						id := w.send(t, msg{kind: "referral.request", from: s, to: ml})
						w.receipt(t, ml, id)
						w.exchange(t, msg{kind: "referral.accepted", from: ml, to: s, transfer: id, inReplyTo: id})
					}
				}()
			}
			wg.Wait()
			if _, err := a.h.FireDueTimers(context.Background()); err != nil {
				t.Fatal(err)
			}
		})
	}
}
