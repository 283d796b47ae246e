package main

import (
	"encoding/base64"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/hub/audit"
)

// inLang picks the French or English text (French by default).
func inLang(lang, fr, en string) string {
	if strings.HasPrefix(strings.ToLower(lang), "en") {
		return en
	}
	return fr
}

// eventTypeLabels name the logged event types for people.
var eventTypeLabels = map[audit.EventType][2]string{
	audit.TypeAccepted:         {"message accepté", "message accepted"},
	audit.TypeRejected:         {"message refusé", "message rejected"},
	audit.TypeDelivered:        {"remis dans la boîte", "delivered to the inbox"},
	audit.TypeReceipted:        {"réception accusée", "receipted"},
	audit.TypeTransferAccepted: {"transfert accepté", "transfer accepted"},
	audit.TypeTransferDeclined: {"transfert refusé", "transfer declined"},
	audit.TypeConsentWithdrawn: {"consentement retiré", "consent withdrawn"},
	audit.TypePolicyDecision:   {"décision de la politique", "policy decision"},
	audit.TypeKeyRegistered:    {"clé enregistrée", "key registered"},
	audit.TypeKeyRotated:       {"clé renouvelée", "key rotated"},
	audit.TypeKeyRevoked:       {"clé révoquée", "key revoked"},
	audit.TypeAgencyRegistered: {"service enregistré", "agency registered"},
	audit.TypeAdminAction:      {"action d'administration", "admin action"},
	audit.TypeAuditorQuery:     {"requête d'auditeur", "auditor query"},
	audit.TypeDeadLettered:     {"livraison abandonnée", "delivery abandoned"},
	audit.TypeReminder:         {"relance", "reminder"},
	audit.TypeEscalation:       {"escalade", "escalation"},
	"state_changed":            {"changement d'étape", "state changed"},
	"transfer_forwarded":       {"transmis à un pays tiers", "forwarded to a third country"},
	"transfer_linked":          {"suite d'un transfert transmis", "continues a forwarded transfer"},
	"case_erased":              {"dossier effacé", "case erased"},
	"stats_release":            {"publication de statistiques", "statistics release"},
}

func eventTypeLabel(t audit.EventType, lang string) string {
	if l, ok := eventTypeLabels[t]; ok {
		return inLang(lang, l[0], l[1])
	}
	return string(t)
}

// eventLine renders one logged event on one line: what, when, who, and the
// commitments, exactly as logged (there is nothing personal to hide).
func eventLine(index uint64, ev audit.Event, lang string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s%-6d %s  %s [%s]", inLang(lang, "n°", "#"), index, ev.At.UTC().Format("2006-01-02T15:04:05.000Z"), eventTypeLabel(ev.Type, lang), ev.Type)
	if ev.Kind != "" {
		fmt.Fprintf(&b, "  %s", ev.Kind)
	}
	if ev.From != "" || ev.To != "" {
		fmt.Fprintf(&b, "  %s → %s", orDash(ev.From), orDash(ev.To))
	}
	if ev.Actor != "" {
		fmt.Fprintf(&b, "  %s %s", inLang(lang, "par", "by"), ev.Actor)
	}
	if ev.Code != "" {
		fmt.Fprintf(&b, "  code %s", ev.Code)
	}
	if ev.Detail != "" {
		fmt.Fprintf(&b, "  (%s)", ev.Detail)
	}
	if ev.Transfer != "" {
		fmt.Fprintf(&b, "  %s %s", inLang(lang, "transfert", "transfer"), ev.Transfer)
	}
	if ev.MessageID != "" && ev.MessageID != ev.Transfer {
		fmt.Fprintf(&b, "  message %s", ev.MessageID)
	}
	if len(ev.Extra) > 0 {
		keys := make([]string, 0, len(ev.Extra))
		for k := range ev.Extra {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "  %s=%s", k, ev.Extra[k])
		}
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// countriesOf lists, in order of appearance, the countries of the agencies
// taking part in events.
func countriesOf(events []audit.VerifiedEvent) []string {
	var out []string
	for _, v := range events {
		for _, id := range []string{v.Event.From, v.Event.To} {
			if c := strings.ToUpper(contracts.AgencyCountry(id)); c != "" && !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	return out
}

// bundleCheck is everything `relais audit verify` established.
type bundleCheck struct {
	File    string
	Lang    string
	Key     string // the trusted key, as a verifier key string
	Total   int    // events in the bundle
	Report  audit.Report
	Err     error // the first failure, nil when the bundle verified
	Since   *audit.Checkpoint
	SinceOK bool
}

func (c *bundleCheck) failed() bool { return c.Err != nil }

// failureText renders a failure in lang, with its stable code.
func failureText(err error, lang string) string {
	if f, ok := audit.FailureOf(err); ok {
		return fmt.Sprintf("%s [%s]", f.Message(lang), f.Code)
	}
	return err.Error()
}

// renderBundleCheck writes the verification report.
func renderBundleCheck(w io.Writer, c *bundleCheck, lang string) {
	t := func(fr, en string) string { return inLang(lang, fr, en) }
	rep := c.Report
	fmt.Fprintf(w, "%s %s\n", t("Vérification hors ligne du dossier d'audit :", "Offline verification of the audit bundle:"), c.File)
	fmt.Fprintf(w, "  %-22s %s\n", t("Clé du hub (confiance)", "Trusted hub key"), c.Key)
	if rep.Origin != "" {
		fmt.Fprintf(w, "  %-22s %s\n", t("Journal", "Log"), rep.Origin)
	}
	if rep.Checkpoint.Root != nil {
		fmt.Fprintf(w, "  %-22s %s %d, %s %s — %s\n", t("Point de contrôle", "Checkpoint"), t("taille", "size"), rep.Checkpoint.Size,
			t("racine", "root"), base64.StdEncoding.EncodeToString(rep.Checkpoint.Root), t("signature du hub valide", "hub signature valid"))
	}
	fmt.Fprintf(w, "  %-22s %d / %d\n", t("Événements prouvés", "Events proven"), len(rep.Verified), c.Total)
	if countries := countriesOf(rep.Verified); len(countries) > 0 {
		fmt.Fprintf(w, "  %-22s %s\n", t("Pays concernés", "Countries involved"), strings.Join(countries, ", "))
	}
	if rep.ConsistentFrom != nil {
		fmt.Fprintf(w, "  %-22s %s\n", t("Cohérence", "Consistency"), fmt.Sprintf(t(
			"ce point de contrôle prolonge celui de taille %d (preuve vérifiée)",
			"this checkpoint extends the one of size %d (proof verified)"), rep.ConsistentFrom.Size))
	}
	if c.Since != nil {
		verdict := t("NON cohérent avec votre point de contrôle de taille %d", "NOT consistent with your checkpoint of size %d")
		if c.SinceOK {
			verdict = t("cohérent avec votre point de contrôle de taille %d", "consistent with your checkpoint of size %d")
		}
		fmt.Fprintf(w, "  %-22s %s\n", t("Votre référence", "Your reference"), fmt.Sprintf(verdict, c.Since.Size))
	}
	if len(rep.Verified) > 0 {
		fmt.Fprintln(w, "\n"+t("Événements (tels que signés) :", "Events (as signed):"))
		for _, v := range rep.Verified {
			fmt.Fprintln(w, "  "+eventLine(v.Index, v.Event, lang))
		}
	}
	fmt.Fprintln(w)
	if !c.failed() {
		fmt.Fprintln(w, t(
			"✔ RÉSULTAT : dossier intact. Chaque événement ci-dessus figure, tel quel et à sa place, dans le journal signé par le hub.",
			"✔ RESULT: bundle intact. Every event above is in the hub-signed log, unchanged and in its place."))
		return
	}
	failures := rep.Failures
	if len(failures) == 0 {
		fmt.Fprintf(w, "✘ %s\n", failureText(c.Err, lang))
	}
	for _, f := range failures {
		fmt.Fprintf(w, "✘ %s [%s]\n", f.Message(lang), f.Code)
	}
	fmt.Fprintf(w, t(
		"✘ RÉSULTAT : ÉCHEC — %d problème(s). Ce dossier ne prouve rien tel quel : il a été modifié, ou le journal du hub l'a été. Conservez le fichier et signalez-le au secrétariat du réseau.\n",
		"✘ RESULT: FAILED — %d problem(s). This bundle proves nothing as it is: it was altered, or the hub's log was. Keep the file and report it to the network's secretariat.\n"),
		max(len(failures), 1))
}
