package stats_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/hub"
)

// The dataset: a plan of synthetic transfers, each a script of steps at
// planned times, generated from a seed. The plan is what the test counts
// from; the hub only ever sees the messages the agencies send.

var (
	// simStart and simEnd bound the simulated clock; transfers open in
	// the first five quarters and steps stop at simEnd.
	simStart  = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	lastOpen  = time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	simEnd    = time.Date(2026, 6, 28, 0, 0, 0, 0, time.UTC)
	windowEnd = time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
)

// step kinds of a transfer's script.
const (
	stepReferral          = "referral"
	stepReceipt           = "receipt"
	stepAccept            = "accept"
	stepDecline           = "decline"
	stepAssess            = "assess"
	stepDecide            = "decide"
	stepReturnPlan        = "return_plan"
	stepHandoverSender    = "handover_sender"
	stepHandoverRecipient = "handover_recipient"
	stepReintegration     = "reintegration"
	stepFollowup          = "followup"
	stepClose             = "close"
)

type step struct {
	at   time.Time
	kind string
}

// planned is one synthetic transfer: who, why, for which age band, and its
// script. Everything the test expects of the statistics derives from it.
type planned struct {
	n                int
	sender           string
	recipient        string
	purpose, ageBand string
	outcome          string // bid.decision code, "" when none is planned
	steps            []step

	// Filled while the script runs.
	transfer, referralID, handoverID string
}

func (p *planned) country(agency string) string { return contracts.AgencyCountry(agency) }

// corridor is the test's own corridor code.
func (p *planned) corridor() string {
	return p.country(p.sender) + "-" + p.country(p.recipient)
}

// at is when the script takes a step ("" zero when it does not).
func (p *planned) at(kind string) time.Time {
	for _, s := range p.steps {
		if s.kind == kind {
			return s.at
		}
	}
	return time.Time{}
}

// threshold is the disclosure threshold the test expects for the
// transfer: the Côte d'Ivoire–Mali agreement asks for 10, the rest get 5.
func (p *planned) threshold() int {
	if c := p.corridor(); c == "ml-ci" || c == "ci-ml" {
		return 10
	}
	return 5
}

// stateSpan is a state that waits for a party, from when to when (zero
// until: never left).
type stateSpan struct {
	from, until time.Time
}

// waiting lists the spans of the script in states that expect a party to
// act, which the hub chases after answerDue.
func (p *planned) waiting() []stateSpan {
	var spans []stateSpan
	var open *stateSpan
	enter := func(at time.Time, waits bool) {
		if open != nil {
			open.until = at
			spans = append(spans, *open)
			open = nil
		}
		if waits {
			open = &stateSpan{from: at}
		}
	}
	for _, s := range p.steps {
		switch s.kind {
		case stepReceipt, stepAccept, stepAssess, stepReturnPlan, stepHandoverRecipient:
			// receipted, accepted, assessed, return_planned, handed_over
			enter(s.at, true)
		case stepDecide:
			// return_decided and third_country wait; local integration
			// only awaits follow-ups, which are not chased here.
			enter(s.at, p.outcome != "local_integration")
		case stepDecline, stepReintegration, stepFollowup, stepClose:
			enter(s.at, false)
		}
	}
	if open != nil {
		spans = append(spans, *open)
	}
	return spans
}

// firstOverdue is when the hub first reminds a party of this transfer:
// at the first checkpoint at least answerDue into a waiting state that
// the state has not left.
func (p *planned) firstOverdue(checkpoints []time.Time) time.Time {
	var first time.Time
	for _, span := range p.waiting() {
		for _, cp := range checkpoints {
			if cp.Before(span.from.Add(answerDue)) || (!span.until.IsZero() && !cp.Before(span.until)) {
				continue
			}
			if first.IsZero() || cp.Before(first) {
				first = cp
			}
			break
		}
	}
	return first
}

// checkpoints are when the test fires the hub's due timers: the 15th of
// every month at noon (no step is ever planned at that instant).
func checkpoints() []time.Time {
	var out []time.Time
	for t := time.Date(2025, 1, 15, 12, 0, 0, 0, time.UTC); t.Before(simEnd); t = t.AddDate(0, 1, 0) {
		out = append(out, t)
	}
	return out
}

// weighted picks a key by weight.
func weighted(r *rand.Rand, choices map[string]float64) string {
	keys := make([]string, 0, len(choices))
	total := 0.0
	for k, w := range choices {
		keys = append(keys, k)
		total += w
	}
	slices.Sort(keys)
	x := r.Float64() * total
	for _, k := range keys {
		if x < choices[k] {
			return k
		}
		x -= choices[k]
	}
	return keys[len(keys)-1]
}

// Corridors by weight: a few busy ones, many rare ones, as along the
// region's real routes.
var corridorWeights = map[string]float64{
	"ml-ci": 20, "ci-ml": 15, "bf-ci": 10, "ci-bf": 8, "sn-ml": 7, "ml-sn": 5, "gn-ml": 6, "ml-gn": 4,
	"bf-ml": 6, "ml-bf": 5, "gn-sn": 3, "sn-gn": 3, "ci-sn": 1, "sn-ci": 0.6, "ci-gn": 1, "gn-ci": 0.6,
	"bf-sn": 0.5, "sn-bf": 0.4, "bf-gn": 0.3, "gn-bf": 0.3,
}

var purposeWeights = map[string]float64{
	"protection_referral": 40, "family_tracing": 25, "social_enquiry": 10, "best_interests": 10, "return_reintegration": 13, "follow_up": 2,
}

var ageWeights = map[string]float64{"0-5": 8, "6-11": 25, "12-14": 32, "15-17": 33, "18+": 2}

var agenciesOf = map[string][]string{
	"ml": {"ml.dnpef", "ml.drpef-sikasso"}, "ci": {"ci.dpe-abidjan"}, "bf": {"bf.dpe-bobo"}, "sn": {"sn.dpe-dakar"}, "gn": {"gn.dnpe-conakry"},
}

// plan generates n transfers from seed.
func plan(seed uint64, n int) []*planned {
	r := rand.New(rand.NewPCG(seed, seed^0x5eed))
	span := lastOpen.Sub(simStart)
	var out []*planned
	for i := 0; i < n; i++ {
		from, to, _ := strings.Cut(weighted(r, corridorWeights), "-")
		p := &planned{
			n:       i,
			sender:  agenciesOf[from][r.IntN(len(agenciesOf[from]))],
			purpose: weighted(r, purposeWeights), ageBand: weighted(r, ageWeights),
		}
		p.recipient = agenciesOf[to][r.IntN(len(agenciesOf[to]))]
		// Times fall on a whole second plus 123 ms: never on a checkpoint.
		opened := simStart.Add(time.Duration(r.Int64N(int64(span/time.Second))) * time.Second).Add(123 * time.Millisecond)
		p.script(r, opened)
		out = append(out, p)
	}
	return out
}

// script draws the transfer's fate and the times of its steps. Most steps
// follow within two weeks; some come late (past answerDue) and some never
// come, which is what the overdue counts measure.
func (p *planned) script(r *rand.Rand, opened time.Time) {
	t := opened
	gap := func() time.Duration {
		if r.IntN(100) < 7 {
			return time.Duration(21+r.IntN(40))*24*time.Hour + time.Duration(r.IntN(24*3600))*time.Second
		}
		return time.Duration(1+r.IntN(14))*24*time.Hour + time.Duration(r.IntN(24*3600))*time.Second
	}
	add := func(kind string, d time.Duration) bool {
		t = t.Add(d)
		if !t.Before(simEnd) {
			return false
		}
		p.steps = append(p.steps, step{at: t, kind: kind})
		return true
	}
	roll := func(percent int) bool { return r.IntN(100) < percent }
	add(stepReferral, 0)
	if roll(6) || !add(stepReceipt, time.Duration(1+r.IntN(72))*time.Hour) {
		return
	}
	switch {
	case roll(6):
		return
	case roll(17):
		add(stepDecline, gap())
		return
	}
	if !add(stepAccept, gap()) || roll(10) {
		return
	}
	if roll(8) {
		add(stepClose, gap())
		return
	}
	if !add(stepAssess, gap()) || roll(8) {
		return
	}
	p.outcome = weighted(r, map[string]float64{"return": 55, "local_integration": 30, "third_country": 15})
	if !add(stepDecide, gap()) {
		p.outcome = ""
		return
	}
	switch p.outcome {
	case "local_integration":
		if add(stepFollowup, gap()) && roll(50) {
			add(stepClose, gap())
		}
	case "return":
		if roll(10) || !add(stepReturnPlan, gap()) || roll(8) || !add(stepHandoverSender, gap()) ||
			!add(stepHandoverRecipient, time.Duration(1+r.IntN(48))*time.Hour) || roll(10) ||
			!add(stepReintegration, gap()) || !add(stepFollowup, gap()) || !roll(60) {
			return
		}
		add(stepClose, gap())
	}
}

// action is one thing the test does at one time: a step of a transfer, or
// firing the hub's due timers.
type action struct {
	at   time.Time
	p    *planned
	step string
}

// run drives every script through the hub in time order, setting the
// hub's clock to each step's time and firing due timers at the
// checkpoints.
func (w *world) run(t *testing.T, transfers []*planned) {
	t.Helper()
	var actions []action
	for _, p := range transfers {
		for _, s := range p.steps {
			actions = append(actions, action{at: s.at, p: p, step: s.kind})
		}
	}
	for _, cp := range checkpoints() {
		actions = append(actions, action{at: cp})
	}
	slices.SortStableFunc(actions, func(a, b action) int { return a.at.Compare(b.at) })
	ctx := context.Background()
	for _, a := range actions {
		w.clock.Set(a.at)
		if a.p == nil {
			if _, err := w.hub.FireDueTimers(ctx); err != nil {
				t.Fatalf("fire timers at %s: %v", a.at, err)
			}
			continue
		}
		w.take(t, a.p, a.step)
	}
}

// syntheticReferral is a referral body of invented data only.
func syntheticReferral(n int) []byte {
	age := 6 + n%11
	body, _ := json.Marshal(contracts.ReferralRequest{
		Child:     contracts.Child{GivenNames: fmt.Sprintf("Enfant-%04d", n), Sex: "f", EstimatedAge: &age},
		Narrative: "Données synthétiques de test.",
		Urgency:   "normal",
	})
	return body
}

// take sends the message of one step, from the party that takes it.
func (w *world) take(t *testing.T, p *planned, kind string) {
	t.Helper()
	ctx := context.Background()
	s, r := p.sender, p.recipient
	d := func(from, to, msgKind, purpose string, body []byte) agency.Draft {
		return agency.Draft{Kind: msgKind, To: to, Case: fmt.Sprintf("CASE-%04d", p.n), Transfer: p.transfer, Purpose: purpose, Body: body}
	}
	var from string
	var draft agency.Draft
	switch kind {
	case stepReferral:
		from, draft = s, d(s, r, "referral.request", p.purpose, syntheticReferral(p.n))
	case stepReceipt:
		eventually(t, "delivery of "+p.referralID, func() bool {
			m, err := w.store.Message(ctx, p.referralID)
			return err == nil && !m.DeliveredAt.IsZero()
		})
		m, err := w.store.Message(ctx, p.referralID)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := json.Marshal(contracts.DeliveryReceipt{SHA256: m.SHA256})
		from, draft = r, d(r, s, "receipt", "", body)
		draft.InReplyTo = p.referralID
	case stepAccept:
		from, draft = r, d(r, s, "referral.accepted", "", []byte(`{}`))
	case stepDecline:
		from, draft = r, d(r, s, "referral.declined", "", []byte(`{"reason":"capacity"}`))
	case stepAssess:
		from, draft = r, d(r, s, "family.assessment", "social_enquiry",
			[]byte(`{"outcome":"found_suitable","assessed_on":"2025-06-01","findings":"Famille synthétique."}`))
	case stepDecide:
		body := fmt.Sprintf(`{"decision":%q,"decided_on":"2025-06-02"}`, p.outcome)
		if p.outcome == "third_country" {
			body = `{"decision":"third_country","decided_on":"2025-06-02","country":"fr"}`
		}
		from, draft = s, d(s, r, "bid.decision", "", []byte(body))
	case stepReturnPlan:
		from, draft = s, d(s, r, "return.plan", "return_reintegration", []byte(`{"travel_on":"2025-07-01","reception":"Accueil synthétique."}`))
	case stepHandoverSender, stepHandoverRecipient:
		handed := fmt.Sprintf(`{"handed_over_at":%q}`, p.at(stepHandoverSender).UTC().Format(time.RFC3339))
		from, draft = s, d(s, r, "handover.confirmation", "", []byte(handed))
		if kind == stepHandoverRecipient {
			from, draft = r, d(r, s, "handover.confirmation", "", []byte(handed))
			draft.InReplyTo = p.handoverID
		}
	case stepReintegration:
		from, draft = r, d(r, s, "reintegration.plan", "return_reintegration",
			[]byte(`{"living_with":"mother","services":["education"],"objectives":"Objectifs synthétiques."}`))
	case stepFollowup:
		holder, other := r, s
		if p.outcome == "local_integration" {
			holder, other = s, r
		}
		from, draft = holder, d(holder, other, "followup.report", "follow_up",
			[]byte(`{"visited_on":"2025-08-01","situation":"stable","observations":"Observations synthétiques."}`))
	case stepClose:
		holder, other, reason := r, s, "lost_contact"
		switch p.outcome {
		case "local_integration":
			holder, other, reason = s, r, "integrated_locally"
		case "return":
			reason = "reintegrated"
		}
		from, draft = holder, d(holder, other, "case.closed", "", []byte(`{"reason":"`+reason+`"}`))
	default:
		t.Fatalf("unknown step %s", kind)
	}
	if spec, _ := contracts.Kind(draft.Kind); spec.PersonalData {
		cats, err := contracts.BodyCategories(draft.Kind, draft.Body)
		if err != nil {
			t.Fatalf("%s body: %v", draft.Kind, err)
		}
		draft.DataCategories = cats
		draft.Consent = &contracts.Consent{Ref: fmt.Sprintf("CONS-%04d", p.n), Basis: "consent", GivenBy: "parent", ChildAssent: true,
			AgeBand: p.ageBand, Recipients: []string{contracts.AgencyCountry(draft.To)}, Purposes: contracts.Purposes.Codes(),
			DataCategories: contracts.DataCategories.Codes(), ObtainedAt: time.Now().UTC().Truncate(time.Second).Add(-time.Hour)}
	}
	env, _, err := w.agencies[from].Send(ctx, draft)
	if err != nil {
		t.Fatalf("transfer %d, step %s (%s by %s): %v", p.n, kind, draft.Kind, from, err)
	}
	switch kind {
	case stepReferral:
		p.transfer, p.referralID = env.Transfer, env.ID
	case stepHandoverSender:
		p.handoverID = env.ID
	}
}

// expectState is the state the test expects the transfer in after its
// script, to check that the hub followed it.
func (p *planned) expectState() hub.State {
	last := p.steps[len(p.steps)-1].kind
	switch last {
	case stepReferral:
		return hub.StateDelivered
	case stepReceipt:
		return hub.StateReceipted
	case stepAccept:
		return hub.StateAccepted
	case stepDecline:
		return hub.StateDeclined
	case stepAssess:
		return hub.StateAssessed
	case stepDecide:
		return map[string]hub.State{"return": hub.StateReturnDecided, "local_integration": hub.StateLocalIntegration, "third_country": hub.StateThirdCountry}[p.outcome]
	case stepReturnPlan, stepHandoverSender:
		return hub.StateReturnPlanned
	case stepHandoverRecipient:
		return hub.StateHandedOver
	case stepReintegration:
		return hub.StateReintegrating
	case stepFollowup:
		return hub.StateFollowingUp
	case stepClose:
		return hub.StateClosed
	}
	return ""
}
