package hub

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// TimerKind names what a timer chases.
type TimerKind string

const (
	// TimerReceipt: a message awaits its recipient's signed receipt.
	TimerReceipt TimerKind = "receipt"
	// TimerAlert: an urgent alert awaits its receipt.
	TimerAlert TimerKind = "alert"
	// TimerAnswer: the step the procedure expects next (an answer to a
	// referral or to a request for information, an assessment, a decision,
	// a plan, a handover confirmation) awaits the party expected to take it.
	TimerAnswer TimerKind = "answer"
	// TimerFollowup: the next follow-up report is due.
	TimerFollowup TimerKind = "followup"
	// TimerErasure: a party has not yet confirmed erasure of its copy.
	TimerErasure TimerKind = "erasure"
)

// TimerStage is what firing a timer does.
type TimerStage string

const (
	// StageReminder reminds the overdue party.
	StageReminder TimerStage = "reminder"
	// StageEscalation tells the central directorate the overdue party
	// reports to.
	StageEscalation TimerStage = "escalation"
)

// Timer is one pending or fired deadline, a row in the store: it fires once,
// whichever hub instance claims it, and survives restarts.
type Timer struct {
	ID       int64
	Transfer string
	Kind     TimerKind
	// Subject is the message awaited an answer (receipt, alert, reply
	// timers), or "state:<state>" for what a state expects.
	Subject string
	// Party is the agency expected to act.
	Party     string
	Stage     TimerStage
	DueAt     time.Time
	CreatedAt time.Time
	FiredAt   time.Time
	// EscalatedTo is the directorate an escalation went to ("" when the
	// party reports to nobody).
	EscalatedTo string
	// CaseDigest is filled when a timer is claimed, for its audit event.
	CaseDigest string
}

// Deadline is an agreed delay: the expected step is due Due after it became
// expected (the party is then reminded), and is escalated Escalate after
// that if it is still missing (0: never escalated).
type Deadline struct {
	Due      time.Duration
	Escalate time.Duration
}

// TimerPolicy gives the deadlines agreed in the corridor between a
// transfer's parties. ok is false when no timer is agreed for that kind.
// The corridor files (hub/policy SLA: time to receipt, time to answer,
// follow-up interval, escalation delay) back it; DefaultTimers serves until
// they are wired.
type TimerPolicy interface {
	Deadline(t Transfer, kind TimerKind) (d Deadline, ok bool)
}

// DefaultTimers are the deadlines used when no corridor agreement sets
// them: deliberately generous, so that a hub without agreements chases
// only what has clearly stalled.
type DefaultTimers struct{}

var defaultDeadlines = map[TimerKind]Deadline{
	TimerReceipt:  {Due: 48 * time.Hour, Escalate: 72 * time.Hour},
	TimerAlert:    {Due: 2 * time.Hour, Escalate: 2 * time.Hour},
	TimerAnswer:   {Due: 14 * 24 * time.Hour, Escalate: 7 * 24 * time.Hour},
	TimerFollowup: {Due: 90 * 24 * time.Hour, Escalate: 30 * 24 * time.Hour},
	TimerErasure:  {Due: 30 * 24 * time.Hour, Escalate: 14 * 24 * time.Hour},
}

func (DefaultTimers) Deadline(_ Transfer, kind TimerKind) (Deadline, bool) {
	d, ok := defaultDeadlines[kind]
	return d, ok
}

// expectation says that in State the party playing By is expected to send
// one of Kinds, chased by a timer of kind Timer. Repeats: once it is sent,
// the next one is expected (follow-up reports).
type expectation struct {
	State   State
	By      Role
	Kinds   []string
	Timer   TimerKind
	Repeats bool
}

// expectations are what each state waits for, as data next to the
// lifecycle table.
var expectations = []expectation{
	{StateReceipted, RoleRecipient, []string{"referral.accepted", "referral.declined"}, TimerAnswer, false},
	{StateAccepted, RoleRecipient, []string{"family.assessment"}, TimerAnswer, false},
	{StateAssessed, RoleSender, []string{"bid.decision"}, TimerAnswer, false},
	{StateReturnDecided, RoleSender, []string{"return.plan"}, TimerAnswer, false},
	{StateThirdCountry, RoleSender, []string{"transfer.forwarded"}, TimerAnswer, false},
	{StateReturnPlanned, RoleParty, []string{"handover.confirmation"}, TimerAnswer, false},
	{StateHandedOver, RoleHolder, []string{"reintegration.plan"}, TimerAnswer, false},
	{StateReintegrating, RoleHolder, []string{"followup.report"}, TimerFollowup, true},
	{StateLocalIntegration, RoleHolder, []string{"followup.report"}, TimerFollowup, true},
	{StateFollowingUp, RoleHolder, []string{"followup.report"}, TimerFollowup, true},
	{StateErasureRequested, RoleParty, []string{"case.erased"}, TimerErasure, false},
}

func expectationOf(s State) (expectation, bool) {
	for _, e := range expectations {
		if e.State == s {
			return e, true
		}
	}
	return expectation{}, false
}

// stateSubject is the subject of the timers a state arms.
func stateSubject(s State) string { return "state:" + string(s) }

// partiesPlaying lists the agencies of t that play role.
func partiesPlaying(t Transfer, role Role) []string {
	switch role {
	case RoleSender:
		return []string{t.Sender}
	case RoleRecipient:
		return []string{t.Recipient}
	case RoleHolder:
		return []string{t.Holder}
	case RoleParty:
		return []string{t.Sender, t.Recipient}
	}
	return nil
}

// timerKey identifies the timers chasing one party for one subject (both
// stages); an empty Party means every party.
type timerKey struct {
	Subject string
	Party   string
}

// timerPlan is what accepting a message does to its transfer's timers.
// Cancellations run before the message is logged and new timers are
// written after: a hub firing a timer holds the timer row first and the
// audit log second, and the accepting transaction must take them in the
// same order or the two would wait on each other.
type timerPlan struct {
	cancel []timerKey
	arm    []Timer
}

func (p *timerPlan) cancelFor(subject, party string) {
	p.cancel = append(p.cancel, timerKey{Subject: subject, Party: party})
}

// armFor plans the reminder and escalation of one deadline.
func (h *Hub) armFor(p *timerPlan, t Transfer, kind TimerKind, subject, party string, from time.Time) {
	d, ok := h.cfg.Timers.Deadline(t, kind)
	if !ok || d.Due <= 0 || party == "" {
		return
	}
	// A re-armed deadline replaces the one before it.
	p.cancelFor(subject, party)
	p.arm = append(p.arm, Timer{Transfer: t.ID, Kind: kind, Subject: subject, Party: party, Stage: StageReminder,
		DueAt: from.Add(d.Due), CreatedAt: from})
	if d.Escalate > 0 {
		p.arm = append(p.arm, Timer{Transfer: t.ID, Kind: kind, Subject: subject, Party: party, Stage: StageEscalation,
			DueAt: from.Add(d.Due + d.Escalate), CreatedAt: from})
	}
}

// planTimers decides the timers a message changes: the receipt it awaits,
// the reply it awaits or answers, and what the old and new states expect.
// before is the transfer as it was, after as the message leaves it.
func (h *Hub) planTimers(c *transferChange, in *Intake, before Transfer, now time.Time) {
	env := in.Envelope
	after := c.transfer
	p := &c.timers
	switch {
	case c.receipted != nil:
		p.cancelFor(c.receipted.ID, env.From)
	case env.Kind == "alert.child_missing":
		h.armFor(p, after, TimerAlert, env.ID, env.To, now)
	default:
		h.armFor(p, after, TimerReceipt, env.ID, env.To, now)
	}
	if _, ok := awaitedReplies[env.Kind]; ok {
		h.armFor(p, after, TimerAnswer, env.ID, env.To, now)
	}
	if c.repliesTo != "" {
		p.cancelFor(c.repliesTo, env.From)
	}
	if before.State != StateNone {
		h.planStateTimers(p, in, before, after, now)
	} else {
		h.armExpected(p, after, now)
	}
	if c.erase {
		// The transfer's messages are erased: nothing awaits any more.
		p.cancel = append(p.cancel, timerKey{})
		p.arm = nil
	}
}

func (h *Hub) planStateTimers(p *timerPlan, in *Intake, before, after Transfer, now time.Time) {
	env := in.Envelope
	e, expected := expectationOf(before.State)
	satisfied := expected && slices.Contains(e.Kinds, env.Kind) && slices.Contains(partiesPlaying(before, e.By), env.From)
	if satisfied {
		p.cancelFor(stateSubject(before.State), env.From)
	}
	switch {
	case after.State != before.State:
		p.cancelFor(stateSubject(before.State), "")
		h.armExpected(p, after, now)
	case satisfied && e.Repeats:
		h.armFor(p, after, e.Timer, stateSubject(after.State), env.From, now)
	}
}

// armExpected arms what t's state expects, for each party expected.
func (h *Hub) armExpected(p *timerPlan, t Transfer, now time.Time) {
	e, ok := expectationOf(t.State)
	if !ok {
		return
	}
	for _, party := range partiesPlaying(t, e.By) {
		h.armFor(p, t, e.Timer, stateSubject(t.State), party, now)
	}
}

// cancelTimers runs the plan's cancellations (see timerPlan).
func (p timerPlan) cancelTimers(ctx context.Context, tx Tx, transfer string) error {
	for _, k := range p.cancel {
		if err := tx.CancelTimers(ctx, transfer, k.Subject, k.Party); err != nil {
			return err
		}
	}
	return nil
}

// timerBatch bounds the timers one transaction fires.
const timerBatch = 64

// FireDueTimers fires every timer due at the hub's clock: each reminder
// and escalation is claimed, logged and marked fired in one transaction,
// so it fires once even with several hubs on one store. It returns how
// many fired. The hub's timer loop calls it; tests call it directly.
func (h *Hub) FireDueTimers(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := h.fireBatch(ctx)
		total += n
		if err != nil || n < timerBatch {
			return total, err
		}
	}
}

func (h *Hub) fireBatch(ctx context.Context) (int, error) {
	now := h.now()
	var fired []Timer
	err := h.store.Update(ctx, func(tx Tx) error {
		fired = fired[:0]
		due, err := tx.ClaimDueTimers(ctx, now, timerBatch)
		if err != nil {
			return err
		}
		for _, tm := range due {
			if tm.Stage == StageEscalation {
				if tm.EscalatedTo, err = tx.ReportsTo(ctx, tm.Party); err != nil && !errors.Is(err, ErrNotFound) {
					return err
				}
			}
			if _, err := tx.AppendEvent(ctx, timerEvent(tm, now)); err != nil {
				return err
			}
			if err := tx.MarkTimerFired(ctx, tm.ID, now, tm.EscalatedTo); err != nil {
				return err
			}
			fired = append(fired, tm)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("fire timers: %w", err)
	}
	for _, tm := range fired {
		h.metrics.timerFired(tm.Stage, tm.Kind)
		h.log.InfoContext(ctx, "deadline passed", "stage", tm.Stage, "timer", tm.Kind, "transfer", tm.Transfer,
			"party", tm.Party, "escalated_to", tm.EscalatedTo)
	}
	return len(fired), nil
}

// timerEvent is the trail and audit record of a fired timer. A reminder
// is addressed to the overdue party, an escalation to its directorate.
func timerEvent(tm Timer, now time.Time) Event {
	e := Event{Type: EventReminder, At: now, Transfer: tm.Transfer, Actor: "hub", To: tm.Party, CaseDigest: tm.CaseDigest,
		Detail: fmt.Sprintf("timer=%s overdue=%s due=%s", tm.Kind, tm.Party, tm.DueAt.UTC().Format(time.RFC3339))}
	if tm.Stage == StageEscalation {
		e.Type, e.To = EventEscalation, tm.EscalatedTo
		if tm.EscalatedTo == "" {
			e.Detail += " directorate=none"
		}
	}
	if !IsStateSubject(tm.Subject) {
		e.MessageID = tm.Subject
	}
	return e
}

// IsStateSubject reports whether a timer's subject is what a state waits
// for, rather than a message awaiting its receipt or reply.
func IsStateSubject(s string) bool { return len(s) > 6 && s[:6] == "state:" }

// runTimers fires due timers every interval until ctx ends, and finishes
// the physical erasure the lifecycle asked for.
func (h *Hub) runTimers(ctx context.Context) {
	ticker := time.NewTicker(h.cfg.TimerInterval)
	defer ticker.Stop()
	for {
		if _, err := h.FireDueTimers(ctx); err != nil && ctx.Err() == nil {
			h.log.Warn("timers", "err", err)
		}
		h.reclaimErased(ctx)
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}
