package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/contracts"
)

// eventLabels say what each trail event means, in French and English.
var eventLabels = map[string]contracts.Label{
	"accepted":          {FR: "message accepté par le hub", EN: "message accepted by the hub"},
	"rejected":          {FR: "message refusé par le hub", EN: "message refused by the hub"},
	"delivered":         {FR: "déposé dans la boîte du destinataire", EN: "placed in the recipient's inbox"},
	"receipted":         {FR: "réception confirmée par le destinataire", EN: "receipt confirmed by the recipient"},
	"transfer_accepted": {FR: "transfert accepté : le destinataire prend le cas en charge", EN: "transfer accepted: the recipient takes the case"},
	"transfer_declined": {FR: "transfert refusé", EN: "transfer declined"},
}

var stateLabels = map[string]contracts.Label{
	"requested": {FR: "demandé", EN: "requested"},
	"delivered": {FR: "remis", EN: "delivered"},
	"receipted": {FR: "reçu", EN: "received"},
	"accepted":  {FR: "accepté", EN: "accepted"},
	"declined":  {FR: "refusé", EN: "declined"},
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

// renderTrail prints a trail as a timeline a case worker can read.
func renderTrail(t agency.Trail, lang string) string {
	var b strings.Builder
	en := strings.HasPrefix(lang, "en")
	if en {
		fmt.Fprintf(&b, "Transfer %s — %s → %s\nState: %s · case held by %s\n", t.Transfer, t.Sender, t.Recipient, label(stateLabels, t.State, lang), t.Holder)
	} else {
		fmt.Fprintf(&b, "Transfert %s — %s → %s\nÉtat : %s · cas détenu par %s\n", t.Transfer, t.Sender, t.Recipient, label(stateLabels, t.State, lang), t.Holder)
	}
	for _, e := range t.Events {
		at := e.At.In(time.UTC).Format("2006-01-02 15:04:05.000")
		line := label(eventLabels, e.Type, lang)
		var parts []string
		if e.Kind != "" {
			parts = append(parts, kindLabel(e.Kind, lang))
		}
		if e.From != "" && e.To != "" {
			parts = append(parts, e.From+" → "+e.To)
		}
		if e.Code != "" {
			if reason, ok := contracts.DeclineReasons.Label(e.Code); ok {
				parts = append(parts, reason.In(lang))
			} else {
				parts = append(parts, contracts.Code(e.Code).Title(lang)+" ("+e.Code+")")
			}
		}
		fmt.Fprintf(&b, "  #%-4d %s UTC  %s", e.Index, at, line)
		if len(parts) > 0 {
			fmt.Fprintf(&b, " — %s", strings.Join(parts, " · "))
		}
		b.WriteString("\n")
	}
	return b.String()
}
