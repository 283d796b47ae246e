package csvimport

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// WriteReport prints a dry run's findings in French (default) or English:
// what became of each column, every rejected row with its column, field
// and rule, and a summary. It never prints a cell's value.
func WriteReport(w io.Writer, res Result, lang string) error {
	en := strings.HasPrefix(strings.ToLower(lang), "en")
	t := func(fr, enText string) string {
		if en {
			return enText
		}
		return fr
	}
	p := &printer{w: w}
	mapped, ignored := 0, 0
	for _, c := range res.Columns {
		if c.Field != "" {
			mapped++
		} else {
			ignored++
		}
	}
	p.printf(t("Colonnes : %d dans le fichier, %d transposées vers le contrat, %d ignorées.\n",
		"Columns: %d in the file, %d mapped to the contract, %d ignored.\n"), len(res.Columns), mapped, ignored)
	for _, c := range res.Columns {
		if c.Ignore != "" {
			p.printf(t("  colonne « %s » ignorée : %s\n", "  column %q ignored: %s\n"), c.Name, c.Ignore)
		}
	}
	rejected := 0
	byRule := map[string]int{}
	for _, row := range res.Rows {
		if len(row.Rejections) == 0 {
			continue
		}
		if rejected == 0 {
			p.printf("%s\n", t("Lignes rejetées :", "Rejected rows:"))
		}
		rejected++
		for _, r := range row.Rejections {
			byRule[r.Rule]++
			line := fmt.Sprintf(t("  ligne %d", "  line %d"), r.Row)
			if r.Column != "" {
				line += fmt.Sprintf(t(" · colonne « %s »", " · column %q"), r.Column)
			}
			if r.Field != "" {
				line += fmt.Sprintf(t(" · champ %s", " · field %s"), r.Field)
			}
			line += " · " + RuleLabel(r.Rule, lang) + " [" + r.Rule + "]"
			p.printf("%s\n", line)
		}
	}
	p.printf(t("Résumé : %d ligne(s) lue(s), %d acceptée(s), %d rejetée(s).\n",
		"Summary: %d row(s) read, %d accepted, %d rejected.\n"), len(res.Rows), res.Accepted(), rejected)
	if len(byRule) > 0 {
		rules := make([]string, 0, len(byRule))
		for r := range byRule {
			rules = append(rules, r)
		}
		sort.Slice(rules, func(i, j int) bool {
			if byRule[rules[i]] != byRule[rules[j]] {
				return byRule[rules[i]] > byRule[rules[j]]
			}
			return rules[i] < rules[j]
		})
		parts := make([]string, len(rules))
		for i, r := range rules {
			parts[i] = fmt.Sprintf("%s ×%d", r, byRule[r])
		}
		p.printf(t("Règles enfreintes : %s\n", "Rules broken: %s\n"), strings.Join(parts, ", "))
	}
	return p.err
}

// printer keeps the first write error.
type printer struct {
	w   io.Writer
	err error
}

func (p *printer) printf(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, args...)
	}
}
