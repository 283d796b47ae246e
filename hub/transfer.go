package hub

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/relais-hub/relais/contracts"
)

// transferChange is what accepting a message does to its transfer, decided
// before anything is written and applied after the message row exists.
type transferChange struct {
	transfer Transfer
	isNew    bool
	// receipted is the message a receipt acknowledges.
	receipted *StoredMessage
	// repliesTo is the awaited message this one answers (info.reply).
	repliesTo string
	// seq is the envelope's seq to record as the sender's last (0: none).
	seq    uint64
	events []Event
	timers timerPlan
	// erase: every party confirmed erasure; the hub drops the ciphertext.
	erase bool
	// previous is the transfer a forwarding message ends, when it opens
	// its continuation.
	previous *linkedChange
}

// linkedChange is what a forwarding message does to the transfer it ends.
type linkedChange struct {
	transfer Transfer
	events   []Event
	timers   timerPlan
}

// advance checks the message against its transfer and the lifecycle table
// and decides what changes. It writes nothing but the cancellation of the
// timers the message settles (see timerPlan), which the transaction rolls
// back if the message is refused later.
func (h *Hub) advance(ctx context.Context, tx Tx, in *Intake, caseDigest string, now time.Time) (*transferChange, error) {
	var change *transferChange
	var before Transfer
	var err error
	if in.Spec.OpensTransfer {
		change, err = h.open(ctx, tx, in, caseDigest, now)
	} else {
		change, before, err = h.continueTransfer(ctx, tx, in, now)
	}
	if err != nil {
		return nil, err
	}
	h.planTimers(change, in, before, now)
	if err := change.timers.cancelTimers(ctx, tx, change.transfer.ID); err != nil {
		return nil, err
	}
	if p := change.previous; p != nil {
		if err := p.timers.cancelTimers(ctx, tx, p.transfer.ID); err != nil {
			return nil, err
		}
	}
	return change, nil
}

// open starts a transfer: a referral, or a forwarding to a third country
// that also ends the transfer it continues.
func (h *Hub) open(ctx context.Context, tx Tx, in *Intake, caseDigest string, now time.Time) (*transferChange, error) {
	env := in.Envelope
	if _, err := tx.TransferForUpdate(ctx, env.Transfer); err == nil {
		return nil, contracts.Refuse(contracts.CodeDuplicateID, "transfer %s already exists", env.Transfer)
	} else if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	if err := checkSeq(env, 0); err != nil {
		return nil, err
	}
	t, err := nextRow(StateNone, Step(env.Kind), []Role{RoleSender})
	if err != nil {
		return nil, err
	}
	change := &transferChange{isNew: true, seq: env.Seq, transfer: Transfer{
		ID: env.Transfer, Sender: env.From, Recipient: env.To, CaseDigest: caseDigest,
		State: t.To, Holder: env.From, OpenedAt: now, UpdatedAt: now,
	}}
	if env.Kind == "transfer.forwarded" {
		if err := h.forwardFrom(ctx, tx, in, change, now); err != nil {
			return nil, err
		}
	}
	// The row exists before the opening message is logged, so that even
	// the first event of the transfer names who holds the case.
	if err := tx.SaveTransfer(ctx, change.transfer); err != nil {
		return nil, err
	}
	return change, nil
}

// forwardFrom ends the transfer a forwarding message continues (named by
// its in_reply_to): only its sender may forward it, only after a decision
// for a third country, and only to an agency of that country.
func (h *Hub) forwardFrom(ctx context.Context, tx Tx, in *Intake, change *transferChange, now time.Time) error {
	env := in.Envelope
	prev, err := tx.TransferForUpdate(ctx, env.InReplyTo)
	if errors.Is(err, ErrNotFound) {
		return contracts.Refuse(contracts.CodeUnknownTransfer, "in_reply_to must name the transfer forwarded; %s is not known to the hub", env.InReplyTo)
	}
	if err != nil {
		return err
	}
	roles := rolesIn(prev, env.From)
	if roles == nil {
		return contracts.Refuse(contracts.CodeNotParty, "%s is not a party to transfer %s", env.From, prev.ID)
	}
	row, err := nextRow(prev.State, Step(env.Kind), roles)
	if err != nil {
		return err
	}
	decision, err := tx.LatestOfKind(ctx, prev.ID, "bid.decision")
	if err != nil {
		return fmt.Errorf("forward: best-interests decision of %s: %w", prev.ID, err)
	}
	var bid contracts.BIDDecision
	if err := plainBody(decision, &bid); err != nil {
		return err
	}
	if got := contracts.AgencyCountry(env.To); !strings.EqualFold(got, bid.Country) {
		p := contracts.Refuse(contracts.CodeInvalidTransition,
			"the best-interests decision named country %s; %s is in %s", bid.Country, env.To, got)
		p.Extra = map[string]any{"state": displayState(prev.State), "allowed": Allowed(prev.State, roles...)}
		return p
	}
	prevAfter := prev
	prevAfter.State, prevAfter.UpdatedAt = row.To, now
	link := &linkedChange{transfer: prevAfter}
	link.events = append(link.events, Event{Type: EventTransferForwarded, Detail: "next=" + change.transfer.ID})
	applyHolder(&link.transfer, row.Holder, &link.events[0])
	link.timers.cancelFor(stateSubject(prev.State), "")
	change.previous = link
	change.events = append(change.events, Event{Type: EventTransferLinked, Detail: "previous=" + prev.ID})
	return nil
}

// continueTransfer checks a message within an existing transfer.
func (h *Hub) continueTransfer(ctx context.Context, tx Tx, in *Intake, now time.Time) (*transferChange, Transfer, error) {
	env := in.Envelope
	t, err := tx.TransferForUpdate(ctx, env.Transfer)
	if errors.Is(err, ErrNotFound) {
		return nil, t, contracts.Refuse(contracts.CodeUnknownTransfer, "transfer %s is not known to the hub", env.Transfer)
	}
	if err != nil {
		return nil, t, err
	}
	roles := rolesIn(t, env.From)
	if roles == nil {
		return nil, t, contracts.Refuse(contracts.CodeNotParty, "%s is not a party to transfer %s", env.From, env.Transfer)
	}
	if counterpart := counterpartOf(t, env.From); env.To != counterpart {
		return nil, t, contracts.Refuse(contracts.CodeNotParty, "%s is not a party to transfer %s", env.To, env.Transfer)
	}
	last, err := tx.LastSeq(ctx, t.ID, env.From)
	if err != nil {
		return nil, t, err
	}
	if err := checkSeq(env, last); err != nil {
		return nil, t, err
	}
	change := &transferChange{transfer: t, seq: env.Seq}
	step, err := h.stepOf(ctx, tx, in, change)
	if err != nil {
		return nil, t, err
	}
	row, err := nextRow(t.State, step, roles)
	if err != nil {
		return nil, t, err
	}
	if err := h.guard(ctx, tx, in, t, change); err != nil {
		return nil, t, err
	}
	next := t.State
	if row.To != same {
		next = row.To
	}
	change.transfer.State, change.transfer.UpdatedAt = next, now
	h.describe(in, t, row, change)
	if err := h.completeJoint(ctx, tx, in, change); err != nil {
		return nil, t, err
	}
	return change, t, nil
}

// checkSeq enforces per-sender ordering: a message that carries a seq must
// carry the next one after the last this sender used in the transfer.
func checkSeq(env contracts.Envelope, last uint64) error {
	if env.Seq == 0 || env.Seq == last+1 {
		return nil
	}
	p := contracts.Refuse(contracts.CodeOutOfOrder, "seq %d from %s in transfer %s; expected %d", env.Seq, env.From, env.Transfer, last+1)
	p.Fields = []string{"seq"}
	p.Extra = map[string]any{"expected_seq": last + 1}
	return p
}

// stepOf is the lifecycle step a message takes: its kind, the kind of the
// message a receipt acknowledges, or the kind with its coded outcome.
func (h *Hub) stepOf(ctx context.Context, tx Tx, in *Intake, change *transferChange) (Step, error) {
	env := in.Envelope
	if env.Kind == "receipt" {
		orig, err := h.receiptTarget(ctx, tx, in)
		if err != nil {
			return "", err
		}
		change.receipted = &orig
		return ReceiptStep(orig.Kind), nil
	}
	if member, ok := outcomeKinds[env.Kind]; ok {
		var body map[string]any
		_ = json.Unmarshal(env.Body, &body) // validated by contracts
		code, _ := body[member].(string)
		return OutcomeStep(env.Kind, code), nil
	}
	return Step(env.Kind), nil
}

// guard applies the rules a row cannot express: a reply answers a request
// the replier received; a party confirms a joint step once; the second
// handover confirmation answers the first and states the same time.
func (h *Hub) guard(ctx context.Context, tx Tx, in *Intake, t Transfer, change *transferChange) error {
	env := in.Envelope
	refuse := func(format string, args ...any) error {
		p := contracts.Refuse(contracts.CodeInvalidTransition, format, args...)
		p.Extra = map[string]any{"state": displayState(t.State), "allowed": Allowed(t.State, rolesIn(t, env.From)...)}
		return p
	}
	for request, reply := range awaitedReplies {
		if env.Kind != reply {
			continue
		}
		m, err := tx.Message(ctx, env.InReplyTo)
		if errors.Is(err, ErrNotFound) || (err == nil && (m.Kind != request || m.Transfer != t.ID || m.To != env.From)) {
			return refuse("%s must answer a %s that %s received in this transfer", reply, request, env.From)
		}
		if err != nil {
			return err
		}
		change.repliesTo = m.ID
	}
	if _, ok := jointSteps[env.Kind]; !ok {
		return nil
	}
	senders, err := tx.KindSenders(ctx, t.ID, env.Kind)
	if err != nil {
		return err
	}
	if slices.Contains(senders, env.From) {
		return refuse("%s already sent its %s", env.From, env.Kind)
	}
	if env.Kind != "handover.confirmation" || len(senders) == 0 {
		return nil
	}
	first, err := tx.LatestOfKind(ctx, t.ID, env.Kind)
	if err != nil {
		return err
	}
	if env.InReplyTo != first.ID {
		return refuse("the second handover confirmation must answer the first (%s)", first.ID)
	}
	var theirs, ours contracts.HandoverConfirmation
	if err := plainBody(first, &theirs); err != nil {
		return err
	}
	_ = json.Unmarshal(env.Body, &ours) // validated by contracts
	if !theirs.HandedOverAt.Equal(ours.HandedOverAt) {
		p := contracts.Refuse(contracts.CodeBodyInvalid, "handed_over_at differs from %s's confirmation", first.From)
		p.Fields = []string{"body.handed_over_at"}
		return p
	}
	return nil
}

// completeJoint takes the hub's step once every party has sent a joint
// kind; this message is the last one missing when the other party sent it.
func (h *Hub) completeJoint(ctx context.Context, tx Tx, in *Intake, change *transferChange) error {
	env := in.Envelope
	step, ok := jointSteps[env.Kind]
	if !ok {
		return nil
	}
	senders, err := tx.KindSenders(ctx, change.transfer.ID, env.Kind)
	if err != nil {
		return err
	}
	for _, party := range partiesPlaying(change.transfer, RoleParty) {
		if party != env.From && !slices.Contains(senders, party) {
			return nil
		}
	}
	before := change.transfer.State
	next, err := Next(before, step, RoleHub)
	if err != nil {
		return err
	}
	change.transfer.State = next
	change.events = append(change.events, Event{Type: EventStateChanged, Detail: "from=" + string(before) + " to=" + string(next)})
	change.erase = step == StepErased
	return nil
}

// describe records, as trail events, what the row did: a state change
// (with the coded outcome the hub read) and a change of holder.
func (h *Hub) describe(in *Intake, t Transfer, row transition, change *transferChange) {
	env := in.Envelope
	var e Event
	switch env.Kind {
	case "referral.accepted":
		e = Event{Type: EventTransferAccepted}
	case "referral.declined":
		e = Event{Type: EventTransferDeclined, Code: plainCode(env.Body, "reason")}
	default:
		if change.transfer.State == t.State {
			return
		}
		e = Event{Type: EventStateChanged, Detail: "from=" + string(t.State) + " to=" + string(change.transfer.State)}
		for _, member := range []string{"decision", "reason"} {
			if code := plainCode(env.Body, member); code != "" && !in.Spec.PersonalData {
				e.Code = code
			}
		}
	}
	applyHolder(&change.transfer, row.Holder, &e)
	change.events = append(change.events, e)
}

// applyHolder moves the case to the party playing role (keep: no change)
// and says so in the event's detail, so the trail shows who held the case
// from when.
func applyHolder(t *Transfer, role Role, e *Event) {
	if role == keep {
		return
	}
	holder := partiesPlaying(*t, role)[0]
	if holder == t.Holder {
		return
	}
	t.Holder = holder
	if e.Detail != "" {
		e.Detail += " "
	}
	e.Detail += "holder=" + holder
}

// plainCode reads a coded member of a plain body ("" when absent).
func plainCode(body json.RawMessage, member string) string {
	var m map[string]any
	if json.Unmarshal(body, &m) != nil {
		return ""
	}
	s, _ := m[member].(string)
	return s
}

// plainBody decodes the plain body of a stored message. The hub verified
// the JWS when it accepted it; this only reads it back.
func plainBody(m StoredMessage, into any) error {
	parts := strings.Split(string(m.JWS), ".")
	if len(parts) != 3 {
		return fmt.Errorf("stored message %s: not a compact JWS (erased?)", m.ID)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return fmt.Errorf("stored message %s: %w", m.ID, err)
	}
	var env contracts.Envelope
	if err := json.Unmarshal(payload, &env); err != nil {
		return fmt.Errorf("stored message %s: %w", m.ID, err)
	}
	return json.Unmarshal(env.Body, into)
}

// receiptTarget finds and checks the message a receipt acknowledges: it
// must have been delivered to the receipt's sender, in this transfer, and
// the digest must be of the exact bytes the hub delivered.
func (h *Hub) receiptTarget(ctx context.Context, tx Tx, in *Intake) (StoredMessage, error) {
	env := in.Envelope
	orig, err := tx.Message(ctx, env.InReplyTo)
	if errors.Is(err, ErrNotFound) || (err == nil && (orig.To != env.From || orig.Transfer != env.Transfer)) {
		return orig, contracts.Refuse(contracts.CodeReceiptMismatch, "no message %s was delivered to %s in this transfer", env.InReplyTo, env.From)
	}
	if err != nil {
		return orig, err
	}
	var body struct {
		SHA256 string `json:"sha256"`
	}
	if err := json.Unmarshal(env.Body, &body); err != nil || body.SHA256 != orig.SHA256 {
		return orig, contracts.Refuse(contracts.CodeReceiptMismatch, "sha256 does not match the message delivered")
	}
	if orig.DeliveredAt.IsZero() {
		return orig, contracts.Refuse(contracts.CodeInvalidTransition, "message %s has not been delivered yet", orig.ID)
	}
	if !orig.ReceiptedAt.IsZero() {
		return orig, contracts.Refuse(contracts.CodeInvalidTransition, "message %s was already receipted", orig.ID)
	}
	return orig, nil
}

// apply writes the change decided by advance.
func (c *transferChange) apply(ctx context.Context, tx Tx, h *Hub, in *Intake, now time.Time) error {
	env := in.Envelope
	if err := tx.SaveTransfer(ctx, c.transfer); err != nil {
		return err
	}
	if c.seq != 0 {
		if err := tx.SaveSeq(ctx, c.transfer.ID, env.From, c.seq); err != nil {
			return err
		}
	}
	if c.receipted != nil {
		if _, err := tx.MarkReceipted(ctx, c.receipted.ID, env.ID, now); err != nil {
			return err
		}
		c.events = append([]Event{{Type: EventReceipted, MessageID: c.receipted.ID, Kind: c.receipted.Kind,
			From: c.receipted.From, To: c.receipted.To, Detail: "receipt=" + env.ID}}, c.events...)
	}
	if p := c.previous; p != nil {
		if err := tx.SaveTransfer(ctx, p.transfer); err != nil {
			return err
		}
		if err := tx.LinkTransfer(ctx, c.transfer.ID, p.transfer.ID); err != nil {
			return err
		}
		if err := appendEvents(ctx, tx, p.transfer, in, now, p.events); err != nil {
			return err
		}
	}
	if c.erase {
		n, err := tx.EraseTransfer(ctx, c.transfer.ID, keptOnErasure, now)
		if err != nil {
			return err
		}
		c.events = append(c.events, Event{Type: EventCaseErased, Actor: "hub", Detail: fmt.Sprintf("messages=%d", n)})
		h.erasedPending.Store(true)
	}
	if err := appendEvents(ctx, tx, c.transfer, in, now, c.events); err != nil {
		return err
	}
	if err := tx.ArmTimers(ctx, c.timers.arm); err != nil {
		return err
	}
	return nil
}

// appendEvents logs a change's events on transfer t.
func appendEvents(ctx context.Context, tx Tx, t Transfer, in *Intake, now time.Time, events []Event) error {
	env := in.Envelope
	for _, e := range events {
		e.At, e.Transfer, e.CaseDigest = now, t.ID, t.CaseDigest
		if e.Actor == "" {
			e.Actor = env.From
		}
		if e.MessageID == "" {
			e.MessageID, e.Kind, e.From, e.To = env.ID, env.Kind, env.From, env.To
		}
		if _, err := tx.AppendEvent(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

// rolesIn lists the roles agency plays in t (nil when it is no party).
func rolesIn(t Transfer, agency string) []Role {
	var roles []Role
	switch agency {
	case t.Sender:
		roles = append(roles, RoleSender)
	case t.Recipient:
		roles = append(roles, RoleRecipient)
	default:
		return nil
	}
	if agency == t.Holder {
		roles = append(roles, RoleHolder)
	}
	return roles
}

// counterpartOf is the other party of t.
func counterpartOf(t Transfer, agency string) string {
	if agency == t.Sender {
		return t.Recipient
	}
	return t.Sender
}
