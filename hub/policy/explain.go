package policy

import (
	"fmt"
	"strings"

	"github.com/relais-hub/relais/contracts"
)

// Explain writes a decision for a case worker, in French (default) or
// English ("en", "en-GB", …): the outcome and its code, the agreement and
// its file, the rule and what it requires, every check made in order, and
// what to do next after a denial.
func Explain(d Decision, lang string) string {
	en := strings.HasPrefix(strings.ToLower(lang), "en")
	pick := func(l contracts.Label) string { return l.In(lang) }
	t := func(fr, enText string) string {
		if en {
			return enText
		}
		return fr
	}
	var b strings.Builder
	switch {
	case d.Allowed && d.Override:
		b.WriteString(t("Décision : AUTORISÉ, sous dérogation dans l'intérêt supérieur de l'enfant\n", "Decision: ALLOWED, under a best-interests override\n"))
	case d.Allowed:
		b.WriteString(t("Décision : AUTORISÉ\n", "Decision: ALLOWED\n"))
	default:
		fmt.Fprintf(&b, t("Décision : REFUSÉ (%s) — %s\n", "Decision: DENIED (%s) — %s\n"), d.Code, d.Code.Title(lang))
	}
	if d.Corridor != "" {
		title := pick(d.CorridorTitle)
		if title != "" {
			title = " « " + title + " »"
			if en {
				title = " “" + pick(d.CorridorTitle) + "”"
			}
		}
		fmt.Fprintf(&b, t("Accord : %s, version %d%s\n", "Agreement: %s, version %d%s\n"), d.Corridor, d.CorridorVersion, title)
		if d.File != "" {
			fmt.Fprintf(&b, t("Fichier : %s\n", "File: %s\n"), d.File)
		}
	} else {
		b.WriteString(t("Accord : aucun\n", "Agreement: none\n"))
	}
	if d.Rule != "" {
		fmt.Fprintf(&b, t("Règle : %s", "Rule: %s"), d.Rule)
		if title, ok := RuleTitle(d.Rule); ok {
			b.WriteString(" — " + pick(title))
		}
		b.WriteString("\n")
	}
	if len(d.Reasons) > 0 {
		b.WriteString(t("Vérifications :\n", "Checks:\n"))
		for _, r := range d.Reasons {
			b.WriteString("  - " + pick(r) + "\n")
		}
	}
	if !d.Allowed {
		if hint, ok := codeHints[d.Code]; ok {
			fmt.Fprintf(&b, t("Que faire : %s\n", "What to do: %s\n"), pick(hint))
		}
	}
	return b.String()
}
