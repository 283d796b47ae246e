package hub

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/hub/policy"
)

// PolicyNote records which corridor rule allowed a message, for the trail.
type PolicyNote struct {
	Corridor string
	Rule     string
	Override bool
}

// CorridorPolicy applies the corridor agreements (hub/policy) to every
// message: nothing crosses a border without a lawful basis.
type CorridorPolicy struct {
	agreements *policy.Watcher
	directory  *Directory
	store      Store
	now        func() time.Time
}

// Decide implements Policy.
func (p *CorridorPolicy) Decide(ctx context.Context, in *Intake) error {
	env := in.Envelope
	_, signerKey, err := p.directory.SigningKey(ctx, in.KID)
	if err != nil {
		return err
	}
	input := policy.Input{
		Envelope:    env,
		Sender:      env.From,
		Recipient:   env.To,
		SignerKID:   in.KID,
		SignerKey:   signerKey,
		Now:         p.now(),
		Supervisors: p.directory,
		Withdrawals: policy.WithdrawalFunc(p.store.ConsentWithdrawn),
	}
	if !in.Spec.OpensTransfer {
		// Later messages of a transfer stay under the consent it was opened
		// with: a withdrawal blocks them too.
		opener, err := p.store.Message(ctx, env.Transfer)
		switch {
		case err == nil:
			input.TransferConsent = policy.ConsentRef{Agency: opener.From, Ref: opener.ConsentRef}
		case !errors.Is(err, ErrNotFound):
			return err
		}
	}
	d := p.agreements.Decide(ctx, input)
	if !d.Allowed {
		return d.Err()
	}
	in.Policy = PolicyNote{Corridor: d.Corridor, Rule: d.Rule, Override: d.Override}
	return nil
}

// consentRefOf is the consent reference a message is sent under: its
// consent's, or for a withdrawal the reference withdrawn.
func consentRefOf(env contracts.Envelope) string {
	if env.Consent != nil {
		return env.Consent.Ref
	}
	if env.Kind == "consent.withdrawn" {
		var body contracts.ConsentWithdrawn
		if json.Unmarshal(env.Body, &body) == nil {
			return body.ConsentRef
		}
	}
	return ""
}

// recordConsentEffects writes what the consent side of a message changes:
// a withdrawal blocks its reference from now on, and an approved override
// is a policy decision of its own in the trail.
func (h *Hub) recordConsentEffects(ctx context.Context, tx Tx, in *Intake, now time.Time) error {
	env := in.Envelope
	if env.Kind == "consent.withdrawn" {
		if err := tx.RecordWithdrawal(ctx, env.From, consentRefOf(env), env.ID, now); err != nil {
			return err
		}
		if _, err := tx.AppendEvent(ctx, Event{Type: EventConsentWithdrawn, At: now, MessageID: env.ID, Transfer: env.Transfer,
			Kind: env.Kind, From: env.From, To: env.To, Actor: env.From}); err != nil {
			return err
		}
	}
	if in.Policy.Override {
		reason := ""
		if env.Consent != nil && env.Consent.Override != nil {
			reason = env.Consent.Override.Reason
		}
		if _, err := tx.AppendEvent(ctx, Event{Type: EventPolicyDecision, At: now, MessageID: env.ID, Transfer: env.Transfer,
			Kind: env.Kind, From: env.From, To: env.To, Actor: "hub", Code: reason,
			Detail: truncate("best_interests_override approved; corridor="+in.Policy.Corridor+" rule="+in.Policy.Rule, 200)}); err != nil {
			return err
		}
	}
	return nil
}

// CorridorTimers takes each transfer's deadlines from its corridor
// agreement's SLA, falling back to DefaultTimers for what the agreement
// leaves unset or when no agreement covers the pair.
type CorridorTimers struct {
	Agreements *policy.Watcher
	Fallback   TimerPolicy
}

// Deadline implements TimerPolicy.
func (c CorridorTimers) Deadline(t Transfer, kind TimerKind) (Deadline, bool) {
	fallback := c.Fallback
	if fallback == nil {
		fallback = DefaultTimers{}
	}
	d, ok := fallback.Deadline(t, kind)
	set := c.Agreements.Current()
	if set == nil {
		return d, ok
	}
	corridor, found := set.Find(t.Sender, t.Recipient, "referral.request", t.OpenedAt)
	if !found {
		return d, ok
	}
	sla := corridor.SLA
	due := map[TimerKind]time.Duration{
		TimerReceipt:  sla.TimeToReceipt,
		TimerAnswer:   sla.TimeToAnswer,
		TimerErasure:  sla.TimeToAnswer,
		TimerFollowup: sla.FollowUpInterval,
	}[kind]
	if due > 0 {
		d.Due, ok = due, true
	}
	if sla.EscalationAfter > 0 && ok {
		d.Escalate = sla.EscalationAfter
	}
	return d, ok
}
