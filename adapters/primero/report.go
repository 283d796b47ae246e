package primero

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/relais-hub/relais/contracts"
)

// Disposition says what became of a source field.
type Disposition string

const (
	// Mapped: the field's value went to Entry.Target.
	Mapped Disposition = "mapped"
	// Dropped: the field was not carried over, for Entry.Reason.
	Dropped Disposition = "dropped"
)

// Reason is why a field was dropped: a stable code with French and
// English text.
type Reason string

// Drop reasons.
const (
	ReasonEmpty            Reason = "empty"
	ReasonPrimeroMetadata  Reason = "primero_metadata"
	ReasonNoContractField  Reason = "no_contract_field"
	ReasonNotDeclared      Reason = "not_declared_category"
	ReasonUnmappedOption   Reason = "unmapped_option"
	ReasonInvalidValue     Reason = "invalid_value"
	ReasonDerived          Reason = "derived"
	ReasonSingleValue      Reason = "single_value"
	ReasonNotInTransition  Reason = "not_in_transition"
	ReasonInternalNote     Reason = "internal_note"
	ReasonAttachment       Reason = "attachment"
	ReasonNotSharingBasis  Reason = "not_a_sharing_basis"
	ReasonNotRead          Reason = "consent_field_not_read"
	ReasonMissingRequired  Reason = "missing_required"
	ReasonWithholdReviewed Reason = "withholding_reviewed"
	ReasonUnknownField     Reason = "unknown_field"
	ReasonRelaisMetadata   Reason = "relais_metadata"
	ReasonNoPrimeroField   Reason = "no_primero_field"
)

var reasonLabels = map[Reason]contracts.Label{
	ReasonEmpty:            {FR: "champ vide", EN: "empty field"},
	ReasonPrimeroMetadata:  {FR: "métadonnée interne de Primero", EN: "internal Primero metadata"},
	ReasonNoContractField:  {FR: "aucun champ du contrat v1 ne correspond", EN: "no contract field"},
	ReasonNotDeclared:      {FR: "catégorie de données non autorisée pour cet envoi", EN: "not allowed by the declared data categories"},
	ReasonUnmappedOption:   {FR: "option sans correspondance dans le vocabulaire du contrat", EN: "option id with no contract code"},
	ReasonInvalidValue:     {FR: "valeur contraire à la règle du contrat", EN: "value breaks the contract rule"},
	ReasonDerived:          {FR: "calculé à partir d'un autre champ transmis", EN: "derived from another field that is sent"},
	ReasonSingleValue:      {FR: "le contrat n'admet qu'une valeur", EN: "the contract holds a single value"},
	ReasonNotInTransition:  {FR: "service hors de ce référencement", EN: "service not part of this referral"},
	ReasonInternalNote:     {FR: "note interne du dossier, non partagée", EN: "internal case note, not shared"},
	ReasonAttachment:       {FR: "pièce jointe, transmise à part", EN: "attachment, sent separately"},
	ReasonNotSharingBasis:  {FR: "consentement aux statistiques anonymes, pas au partage", EN: "consent to anonymous reporting, not to sharing"},
	ReasonNotRead:          {FR: "champ de consentement non utilisé pour ce fondement", EN: "consent field not read for this basis"},
	ReasonMissingRequired:  {FR: "dépend d'un champ obligatoire absent ou non reconnu", EN: "depends on a required field that is missing or unrecognised"},
	ReasonWithholdReviewed: {FR: "consigne de non-divulgation vérifiée par l'agent, non transmise", EN: "withholding instruction reviewed by the case worker, not sent"},
	ReasonUnknownField:     {FR: "champ inconnu de l'adaptateur, non transmis", EN: "field unknown to the adapter, not sent"},
	ReasonRelaisMetadata:   {FR: "métadonnée de l'enveloppe Relais, conservée par l'agent", EN: "Relais envelope metadata, kept by the agent"},
	ReasonNoPrimeroField:   {FR: "aucun champ Primero standard ne correspond", EN: "no standard Primero field"},
}

// Label is the reason's text.
func (r Reason) Label() contracts.Label {
	if l, ok := reasonLabels[r]; ok {
		return l
	}
	return contracts.Label{FR: string(r), EN: string(r)}
}

// Entry accounts for one source field.
type Entry struct {
	// Source is the field's path on the source side ("name_first",
	// "family_details_section[0].relation", "transition.notes";
	// "body.child.sex", "envelope.consent.given_by" from a referral).
	Source      string      `json:"source"`
	Disposition Disposition `json:"disposition"`
	// Target is the field it went to, for Mapped.
	Target string `json:"target,omitempty"`
	// Reason is why it was dropped, for Dropped.
	Reason Reason `json:"reason,omitempty"`
	// Lossy: the value was transformed in a way that mapping back does not
	// undo (a band, a merge, an option shared by several ids).
	Lossy bool `json:"lossy,omitempty"`
	// Note names the rule or the lookup involved; never a value.
	Note string `json:"note,omitempty"`
}

// Report accounts for every field of the source record(s), in order.
type Report struct {
	Entries []Entry `json:"entries"`
}

// For returns the entries of one source field.
func (r Report) For(source string) []Entry {
	var out []Entry
	for _, e := range r.Entries {
		if e.Source == source {
			out = append(out, e)
		}
	}
	return out
}

// Unaccounted returns the paths that no entry accounts for, or that are
// dropped without a reason.
func (r Report) Unaccounted(paths []string) []string {
	ok := map[string]bool{}
	for _, e := range r.Entries {
		if e.Disposition == Mapped && e.Target != "" || e.Disposition == Dropped && e.Reason != "" {
			ok[e.Source] = true
		}
	}
	var missing []string
	for _, p := range paths {
		if !ok[p] {
			missing = append(missing, p)
		}
	}
	return missing
}

// Count returns how many entries have the disposition.
func (r Report) Count(d Disposition) int {
	n := 0
	for _, e := range r.Entries {
		if e.Disposition == d {
			n++
		}
	}
	return n
}

// Write prints the report as a table in French (default) or English. It
// holds field paths and reasons only, no values.
func (r Report) Write(w io.Writer, lang string) error {
	en := strings.HasPrefix(strings.ToLower(lang), "en")
	mapped, dropped, lossy := "→", "ignoré", " (avec perte)"
	if en {
		dropped, lossy = "dropped", " (lossy)"
	}
	for _, e := range r.Entries {
		var line string
		switch e.Disposition {
		case Mapped:
			line = fmt.Sprintf("%-50s %s %s", e.Source, mapped, e.Target)
			if e.Lossy {
				line += lossy
			}
		default:
			line = fmt.Sprintf("%-50s %s : %s", e.Source, dropped, e.Reason.Label().In(lang))
		}
		if e.Note != "" {
			line += " [" + e.Note + "]"
		}
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
	}
	summary := "%d champ(s) transmis, %d ignoré(s)\n"
	if en {
		summary = "%d field(s) mapped, %d dropped\n"
	}
	_, err := fmt.Fprintf(w, summary, r.Count(Mapped), r.Count(Dropped))
	return err
}

// ledger builds a Report over the leaves of one or more source records:
// every mapping or drop is recorded against leaf paths, and finish accounts
// for the leaves nobody claimed.
type ledger struct {
	order  []string
	values map[string]any
	seen   map[string]bool
	report Report
}

func newLedger() *ledger {
	return &ledger{values: map[string]any{}, seen: map[string]bool{}}
}

// add registers the leaves of a record under prefix ("" for the case,
// "transition" for its transition).
func (l *ledger) add(prefix string, record map[string]any) {
	walkLeaves(prefix, record, func(path string, v any) {
		l.order = append(l.order, path)
		l.values[path] = v
	})
}

// under returns the leaves at or below path.
func (l *ledger) under(path string) []string {
	var out []string
	for _, p := range l.order {
		if p == path || strings.HasPrefix(p, path+".") || strings.HasPrefix(p, path+"[") {
			out = append(out, p)
		}
	}
	return out
}

// mapped records that the leaves at or below src went to target.
func (l *ledger) mapped(src, target string, lossy bool, note string) {
	for _, p := range l.under(src) {
		if isEmpty(l.values[p]) {
			continue
		}
		l.seen[p] = true
		l.report.Entries = append(l.report.Entries, Entry{Source: p, Disposition: Mapped, Target: target, Lossy: lossy, Note: note})
	}
}

// dropped records the reason for the leaves at or below src that are not
// yet accounted for.
func (l *ledger) dropped(src string, reason Reason, note string) {
	for _, p := range l.under(src) {
		if l.seen[p] || isEmpty(l.values[p]) {
			continue
		}
		l.seen[p] = true
		l.report.Entries = append(l.report.Entries, Entry{Source: p, Disposition: Dropped, Reason: reason, Note: note})
	}
}

// finish accounts for every leaf nobody claimed: empty ones as empty, the
// others as unknown to the adapter (and therefore not sent).
func (l *ledger) finish() Report {
	for _, p := range l.order {
		if l.seen[p] {
			continue
		}
		reason := ReasonUnknownField
		if isEmpty(l.values[p]) {
			reason = ReasonEmpty
		}
		l.seen[p] = true
		l.report.Entries = append(l.report.Entries, Entry{Source: p, Disposition: Dropped, Reason: reason})
	}
	// Present the entries in the source's field order.
	rank := make(map[string]int, len(l.order))
	for i, p := range l.order {
		rank[p] = i
	}
	sort.SliceStable(l.report.Entries, func(i, j int) bool {
		return rank[l.report.Entries[i].Source] < rank[l.report.Entries[j].Source]
	})
	return l.report
}
