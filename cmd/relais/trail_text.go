package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/hub"
)

// eventLabels say what each trail event means, in French and English.
var eventLabels = map[string]contracts.Label{
	"accepted":          {FR: "message accepté par le hub", EN: "message accepted by the hub"},
	"rejected":          {FR: "message refusé par le hub", EN: "message refused by the hub"},
	"delivered":         {FR: "déposé dans la boîte du destinataire", EN: "placed in the recipient's inbox"},
	"receipted":         {FR: "réception confirmée par le destinataire", EN: "receipt confirmed by the recipient"},
	"transfer_accepted": {FR: "transfert accepté : le destinataire prend le cas en charge", EN: "transfer accepted: the recipient takes the case"},
	"transfer_declined": {FR: "transfert refusé", EN: "transfer declined"},

	// The case-transfer lifecycle (hub/lifecycle_events.go).
	"state_changed":      {FR: "étape franchie", EN: "step taken"},
	"transfer_forwarded": {FR: "cas transmis au pays tiers par un nouveau transfert", EN: "case forwarded to the third country by a new transfer"},
	"transfer_linked":    {FR: "suite d'un transfert transmis", EN: "continues a forwarded transfer"},
	"case_erased":        {FR: "données effacées du hub : plus aucun message chiffré conservé", EN: "data erased from the hub: no encrypted message kept"},
	"reminder":           {FR: "rappel : échéance dépassée", EN: "reminder: deadline passed"},
	"escalation":         {FR: "escalade à la direction centrale : échéance toujours dépassée", EN: "escalated to the central directorate: deadline still missed"},
}

// timerLabels say what a deadline waited for.
var timerLabels = map[string]contracts.Label{
	"receipt":  {FR: "accusé de réception", EN: "receipt"},
	"alert":    {FR: "accusé de réception de l'alerte", EN: "receipt of the alert"},
	"answer":   {FR: "réponse ou étape suivante", EN: "answer or next step"},
	"followup": {FR: "rapport de suivi", EN: "follow-up report"},
	"erasure":  {FR: "confirmation d'effacement", EN: "erasure confirmation"},
}

// codeVocabularies name the vocabulary of the coded outcome a kind
// carries in the trail's code.
var codeVocabularies = map[string]contracts.Vocabulary{
	"referral.declined":      contracts.DeclineReasons,
	"bid.decision":           contracts.BIDDecisions,
	"case.closed":            contracts.ClosureReasons,
	"transfer.revoked":       contracts.RevocationReasons,
	"case.erasure_requested": contracts.ErasureReasons,
}

func label(m map[string]contracts.Label, key, lang string) string {
	if l, ok := m[key]; ok {
		return l.In(lang)
	}
	return key
}

func kindLabel(kind, lang string) string {
	if spec, ok := contracts.Kind(kind); ok {
		return spec.Label.In(lang)
	}
	return kind
}

func stateLabel(state, lang string) string { return hub.State(state).Label(lang) }

// detailFields splits an event detail of the form "k=v k=v".
func detailFields(detail string) map[string]string {
	out := map[string]string{}
	for _, f := range strings.Fields(detail) {
		if k, v, ok := strings.Cut(f, "="); ok {
			out[k] = v
		}
	}
	return out
}

// pickLang picks the French or English text (French by default).
func pickLang(lang, fr, en string) string {
	if strings.HasPrefix(lang, "en") {
		return en
	}
	return fr
}

// renderTrail prints a trail as a timeline a case worker can read: each
// event, what it meant, and who held the case from when.
func renderTrail(t agency.Trail, lang string) string { return renderTimeline(t, lang, false) }

// renderTimeline is renderTrail; compact leaves out the acceptance and
// delivery of the receipts themselves ("receipt confirmed" stays).
func renderTimeline(t agency.Trail, lang string, compact bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s — %s → %s\n", pickLang(lang, "Transfert", "Transfer"), t.Transfer, t.Sender, t.Recipient)
	b.WriteString(stateLine(t.State, t.Holder, lang) + "\n")
	for _, e := range t.Events {
		if compact && e.Kind == "receipt" && (e.Type == "accepted" || e.Type == "delivered") {
			continue
		}
		at := e.At.In(time.UTC).Format("2006-01-02 15:04:05.000")
		fmt.Fprintf(&b, "  #%-4d %s UTC  %s", e.Index, at, label(eventLabels, e.Type, lang))
		if parts := eventParts(e, lang); len(parts) > 0 {
			fmt.Fprintf(&b, " — %s", strings.Join(parts, " · "))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// stateLine says where a transfer stands and who holds the case.
func stateLine(state, holder, lang string) string {
	return fmt.Sprintf(pickLang(lang, "État : %s · cas détenu par %s", "State: %s · case held by %s"), stateLabel(state, lang), holder)
}

func eventParts(e agency.TrailEvent, lang string) []string {
	var parts []string
	d := detailFields(e.Detail)
	switch e.Type {
	case "reminder", "escalation":
		parts = append(parts, fmt.Sprintf(pickLang(lang, "%s attendu de %s depuis le %s", "%s expected from %s since %s"),
			label(timerLabels, d["timer"], lang), d["overdue"], dueText(d["due"])))
		switch {
		case e.Type == "escalation" && e.To != "":
			parts = append(parts, pickLang(lang, "signalé à ", "reported to ")+e.To)
		case e.Type == "escalation":
			parts = append(parts, pickLang(lang, "aucune direction centrale enregistrée", "no central directorate registered"))
		}
		return parts
	case "state_changed":
		parts = append(parts, stateLabel(d["from"], lang)+" → "+stateLabel(d["to"], lang))
	case "transfer_forwarded":
		parts = append(parts, pickLang(lang, "nouveau transfert ", "new transfer ")+d["next"])
	case "transfer_linked":
		parts = append(parts, pickLang(lang, "transfert précédent ", "previous transfer ")+d["previous"])
	case "case_erased":
		parts = append(parts, fmt.Sprintf(pickLang(lang, "%s messages vidés", "%s messages emptied"), d["messages"]))
		return parts
	}
	if e.Kind != "" {
		parts = append(parts, kindLabel(e.Kind, lang))
	}
	if e.From != "" && e.To != "" {
		parts = append(parts, e.From+" → "+e.To)
	}
	if e.Code != "" {
		parts = append(parts, codeText(e.Kind, e.Code, lang))
	}
	if holder := d["holder"]; holder != "" {
		parts = append(parts, pickLang(lang, "cas désormais détenu par ", "case now held by ")+holder)
	}
	return parts
}

// codeText renders a trail code: a coded outcome in its kind's
// vocabulary, or a refusal code's title.
func codeText(kind, code, lang string) string {
	if voc, ok := codeVocabularies[kind]; ok {
		if l, ok := voc.Label(code); ok {
			return l.In(lang)
		}
	}
	return contracts.Code(code).Title(lang) + " (" + code + ")"
}

func dueText(due string) string {
	at, err := time.Parse(time.RFC3339, due)
	if err != nil {
		return due
	}
	return at.UTC().Format("2006-01-02 15:04") + " UTC"
}
