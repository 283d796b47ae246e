package stats

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/relais-hub/relais/contracts"
)

// Dimension is what a table breaks counts down by.
type Dimension string

const (
	// ByCorridor: the ordered pair of countries, sender's first ("ml-ci").
	ByCorridor Dimension = "corridor"
	// ByPurpose: the purpose declared on the opening message.
	ByPurpose Dimension = "purpose"
	// ByOutcome: the best-interests decision taken so far (return, local
	// integration, third country), or none yet.
	ByOutcome Dimension = "outcome"
	// ByAgeBand: the child's age band recorded with the consent of the
	// opening message.
	ByAgeBand Dimension = "age_band"
	// ByQuarter: the calendar quarter in which the counted step happened.
	ByQuarter Dimension = "quarter"
)

var dimensionLabels = map[Dimension]contracts.Label{
	ByCorridor: {FR: "Corridor (pays d'envoi → pays de destination)", EN: "Corridor (sending country → receiving country)"},
	ByPurpose:  {FR: "Finalité", EN: "Purpose"},
	ByOutcome:  {FR: "Décision d'intérêt supérieur", EN: "Best-interests decision"},
	ByAgeBand:  {FR: "Tranche d'âge", EN: "Age band"},
	ByQuarter:  {FR: "Trimestre", EN: "Quarter"},
}

// Dimensions lists every dimension, in documentation order.
func Dimensions() []Dimension {
	return []Dimension{ByCorridor, ByPurpose, ByOutcome, ByAgeBand, ByQuarter}
}

// Label names the dimension in French and English.
func (d Dimension) Label() contracts.Label { return dimensionLabels[d] }

func (d Dimension) valid() bool { _, ok := dimensionLabels[d]; return ok }

// Measure is what a table counts. Each transfer is counted at most once
// per measure, in the quarter its step happened, so that every table adds
// up to its totals.
type Measure string

const (
	// Opened: transfers opened (a referral, or a forwarding to a third
	// country), dated by the hub's acceptance of the opening message.
	Opened Measure = "opened"
	// Accepted: referrals accepted by the receiving agency.
	Accepted Measure = "accepted"
	// Declined: referrals declined by the receiving agency.
	Declined Measure = "declined"
	// Closed: cases closed by the agency holding them.
	Closed Measure = "closed"
	// Overdue: transfers that missed an agreed deadline, dated by the
	// first reminder the hub sent.
	Overdue Measure = "overdue"
)

var measureLabels = map[Measure]contracts.Label{
	Opened:   {FR: "Transferts ouverts", EN: "Transfers opened"},
	Accepted: {FR: "Référencements acceptés", EN: "Referrals accepted"},
	Declined: {FR: "Référencements refusés", EN: "Referrals declined"},
	Closed:   {FR: "Cas clôturés", EN: "Cases closed"},
	Overdue:  {FR: "Transferts ayant dépassé un délai convenu", EN: "Transfers that missed an agreed deadline"},
}

// Measures lists every measure, in documentation order.
func Measures() []Measure { return []Measure{Opened, Accepted, Declined, Closed, Overdue} }

// Label names the measure in French and English.
func (m Measure) Label() contracts.Label { return measureLabels[m] }

func (m Measure) valid() bool { _, ok := measureLabels[m]; return ok }

// when is the time of the step m counts in f (zero: f has not taken it).
func (m Measure) when(f Fact) time.Time {
	switch m {
	case Opened:
		return f.Opened
	case Accepted:
		return f.Accepted
	case Declined:
		return f.Declined
	case Closed:
		return f.Closed
	case Overdue:
		return f.FirstOverdue
	}
	return time.Time{}
}

// Stage is one step of the procedure whose duration is measured, from the
// step before it.
type Stage string

const (
	StageReceipt    Stage = "referral_to_receipt"
	StageAcceptance Stage = "receipt_to_acceptance"
	StageAssessment Stage = "acceptance_to_assessment"
	StageDecision   Stage = "assessment_to_decision"
	StageHandover   Stage = "decision_to_handover"
)

// stageSpec says where a stage starts and ends in a fact.
type stageSpec struct {
	Stage      Stage
	Label      contracts.Label
	Start, End func(Fact) time.Time
}

var stages = []stageSpec{
	{StageReceipt, contracts.Label{FR: "Du référencement à l'accusé de réception", EN: "Referral to receipt"},
		func(f Fact) time.Time { return f.Opened }, func(f Fact) time.Time { return f.Received }},
	{StageAcceptance, contracts.Label{FR: "De la réception à l'acceptation", EN: "Receipt to acceptance"},
		func(f Fact) time.Time { return f.Received }, func(f Fact) time.Time { return f.Accepted }},
	{StageAssessment, contracts.Label{FR: "De l'acceptation à l'évaluation de la famille", EN: "Acceptance to family assessment"},
		func(f Fact) time.Time { return f.Accepted }, func(f Fact) time.Time { return f.Assessed }},
	{StageDecision, contracts.Label{FR: "De l'évaluation à la décision d'intérêt supérieur", EN: "Family assessment to best-interests decision"},
		func(f Fact) time.Time { return f.Assessed }, func(f Fact) time.Time { return f.Decided }},
	{StageHandover, contracts.Label{FR: "De la décision à la remise de l'enfant", EN: "Decision to the child's handover"},
		func(f Fact) time.Time { return f.Decided }, func(f Fact) time.Time { return f.HandedOver }},
}

// Stages lists the measured stages in procedure order.
func Stages() []Stage {
	out := make([]Stage, len(stages))
	for i, s := range stages {
		out[i] = s.Stage
	}
	return out
}

// Key is one row or column of a table: a code and its labels.
type Key struct {
	Code  string          `json:"code"`
	Label contracts.Label `json:"label"`
}

// Codes of the rows that gather what a dimension cannot place.
const (
	// UnknownCode: the purpose or age band is not known because the
	// transfer was erased before the hub indexed its opening envelope.
	UnknownCode = "unknown"
	// NoDecisionCode: no best-interests decision was taken (yet).
	NoDecisionCode = "none"
)

var (
	unknownKey    = Key{UnknownCode, contracts.Label{FR: "Non connue (effacée avant indexation)", EN: "Not known (erased before indexing)"}}
	noDecisionKey = Key{NoDecisionCode, contracts.Label{FR: "Pas de décision", EN: "No decision"}}
)

// CorridorCode names the corridor from one country to another.
func CorridorCode(from, to string) string { return strings.ToLower(from) + "-" + strings.ToLower(to) }

func corridorKey(from, to string) Key {
	l := strings.ToUpper(from) + " → " + strings.ToUpper(to)
	return Key{CorridorCode(from, to), contracts.Label{FR: l, EN: l}}
}

// corridorKeys are every ordered pair of distinct countries: the rows do
// not depend on the data, so a row's presence reveals nothing.
func corridorKeys(countries []string) []Key {
	var out []Key
	for _, from := range countries {
		for _, to := range countries {
			if from != to {
				out = append(out, corridorKey(from, to))
			}
		}
	}
	return out
}

func vocabularyKeys(v contracts.Vocabulary) []Key {
	var out []Key
	for _, t := range v.Terms() {
		out = append(out, Key{t.Code, t.Label})
	}
	return out
}

// QuarterCode names the calendar quarter of t, in UTC ("2026-Q1").
func QuarterCode(t time.Time) string {
	t = t.UTC()
	return fmt.Sprintf("%04d-Q%d", t.Year(), (int(t.Month())-1)/3+1)
}

// quarterStart is the first instant of t's quarter.
func quarterStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), time.Month((int(t.Month())-1)/3*3+1), 1, 0, 0, 0, 0, time.UTC)
}

func quarterKey(start time.Time) Key {
	q := (int(start.Month())-1)/3 + 1
	return Key{QuarterCode(start), contracts.Label{
		FR: fmt.Sprintf("T%d %d", q, start.Year()),
		EN: fmt.Sprintf("Q%d %d", q, start.Year()),
	}}
}

// quarterKeys lists the quarters the window [from, to) touches.
func quarterKeys(from, to time.Time) []Key {
	var out []Key
	for q := quarterStart(from); q.Before(to); q = q.AddDate(0, 3, 0) {
		out = append(out, quarterKey(q))
	}
	return out
}

// axisKeys lists the keys of d for a release over the window [from, to):
// fixed lists (vocabularies, country pairs, quarters), plus "unknown" when
// some transfer's purpose or age band was lost to an erasure.
func axisKeys(d Dimension, countries []string, from, to time.Time, withUnknown bool) []Key {
	var keys []Key
	switch d {
	case ByCorridor:
		keys = corridorKeys(countries)
	case ByPurpose:
		keys = vocabularyKeys(contracts.Purposes)
	case ByAgeBand:
		keys = vocabularyKeys(contracts.AgeBands)
	case ByOutcome:
		keys = append(vocabularyKeys(contracts.BIDDecisions), noDecisionKey)
	case ByQuarter:
		keys = quarterKeys(from, to)
	}
	if withUnknown && (d == ByPurpose || d == ByAgeBand) {
		keys = append(keys, unknownKey)
	}
	return keys
}

// valueOf is f's code along d when counted for measure m.
func valueOf(d Dimension, f Fact, m Measure) string {
	switch d {
	case ByCorridor:
		return CorridorCode(contracts.AgencyCountry(f.Sender), contracts.AgencyCountry(f.Recipient))
	case ByPurpose:
		return orUnknown(f.Purpose, contracts.Purposes)
	case ByAgeBand:
		return orUnknown(f.AgeBand, contracts.AgeBands)
	case ByOutcome:
		if contracts.BIDDecisions.Has(f.Outcome) {
			return f.Outcome
		}
		return NoDecisionCode
	case ByQuarter:
		return QuarterCode(m.when(f))
	}
	return ""
}

func orUnknown(code string, v contracts.Vocabulary) string {
	if v.Has(code) {
		return code
	}
	return UnknownCode
}

// countriesOf adds to countries those of the facts' parties, sorted.
func countriesOf(countries []string, facts []Fact) []string {
	set := map[string]bool{}
	for _, c := range countries {
		set[strings.ToLower(c)] = true
	}
	for _, f := range facts {
		for _, a := range []string{f.Sender, f.Recipient} {
			if c := contracts.AgencyCountry(a); c != "" {
				set[c] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for c := range set {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}
