package csvimport

import (
	"strings"
	"testing"
)

// minimal is the smallest valid mapping; the cases below change one thing.
const minimal = `
constants: {to: ml.dnpef, purpose: family_tracing, body.urgency: normal}
consent_defaults: {ref: "{case}:c", recipients: ["{to}"], purposes: ["{purpose}"]}
columns:
  - {column: Dossier, field: case}
  - {column: Prénom, field: body.child.given_names}
  - {column: Sexe, field: body.child.sex, values: {F: f, M: m}}
  - {column: Âge, field: body.child.estimated_age}
  - {column: Consentement, field: consent.basis, values: {Oui: consent}}
  - {column: Par, field: consent.given_by, values: {Enfant: child}}
  - {column: Le, field: consent.obtained_at, date: 02/01/2006}
  - {column: Assentiment, field: consent.child_assent, values: {Oui: "true", Non: "false"}}
`

func TestMappingFilesAreChecked(t *testing.T) {
	consentCols := "  - {column: Consentement, field: consent.basis, values: {Oui: consent}}\n" +
		"  - {column: Par, field: consent.given_by, values: {Enfant: child}}\n" +
		"  - {column: Le, field: consent.obtained_at, date: 02/01/2006}\n" +
		"  - {column: Assentiment, field: consent.child_assent, values: {Oui: \"true\", Non: \"false\"}}\n"
	noConsent := strings.Replace(strings.Replace(minimal, consentCols, "", 1), "consent_defaults: {ref: \"{case}:c\", recipients: [\"{to}\"], purposes: [\"{purpose}\"]}\n", "", 1)
	tests := []struct {
		name, yaml, want string
	}{
		{"the minimal mapping is valid", minimal, ""},
		{"a sheet without consent columns cannot make referrals", noConsent, "no consent columns"},
		{"consent defaults need consent columns", noConsent + "consent_defaults: {recipients: ['{to}']}\n", "consent_defaults: the sheet has no consent columns"},
		{"who consented must come from the sheet", strings.Replace(minimal, "  - {column: Par, field: consent.given_by, values: {Enfant: child}}\n", "", 1), "consent.given_by: needs a column"},
		{"a consent constant is refused", strings.Replace(minimal, "body.urgency: normal}", "body.urgency: normal, consent.age_band: 15-17}", 1), "never from a constant"},
		{"an override cannot come from a sheet", strings.Replace(minimal, "{Oui: consent}", "{Oui: consent, Urgence: best_interests_override}", 1), "supervisor's signed approval"},
		{"a yes/no field needs its values", strings.Replace(minimal, `values: {Oui: "true", Non: "false"}`, "", 1), "give values mapping the cells to true and false"},
		{"a code outside the vocabulary", strings.Replace(minimal, "{F: f, M: m}", "{F: female, M: m}", 1), `"female" is not a valid code`},
		{"an unknown contract field", minimal + "  - {column: Religion, field: body.child.religion}\n", "no contract field religion"},
		{"a list element needs its index", minimal + "  - {column: Mère, field: body.family.given_names}\n", "needs an index"},
		{"a column listed twice", minimal + "  - {column: Prénom, ignore: doublon}\n", "listed twice"},
		{"a column neither mapped nor ignored", minimal + "  - {column: Vide}\n", "either field or ignore"},
		{"two columns for one field", minimal + "  - {column: Prénom bis, field: body.child.given_names}\n", "already fed by column"},
		{"a column of an undeclared category", "categories: [identity]\n" + minimal + "  - {column: Lieu, field: body.location.place}\n", "location data, not in the declared categories"},
		{"a consent reference shared by every row", strings.Replace(minimal, `ref: "{case}:c"`, "ref: consentement", 1), "must contain {case}"},
		{"consent recipients need a column or a default", strings.Replace(minimal, `recipients: ["{to}"], `, "", 1), "consent.recipients: no column or default"},
		{"the urgency needs a column or a constant", strings.Replace(minimal, ", body.urgency: normal", "", 1), "body.urgency: no column or constant"},
		{"every row needs a case reference", strings.Replace(minimal, "  - {column: Dossier, field: case}\n", "", 1), "case: a column must give"},
		{"a date layout on a field that is no date", strings.Replace(minimal, "field: body.child.given_names}", "field: body.child.given_names, date: 02/01/2006}", 1), "not a date"},
		{"data categories are computed, never mapped", minimal + "  - {column: Cat, field: consent.data_categories}\n", "not taken from a sheet"},
		{"unknown keys are refused", minimal + "separator: ','\n", "separator"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadMapping(strings.NewReader(tt.yaml))
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("err = %v, want one saying %q", err, tt.want)
			}
		})
	}
}

func TestAMinimalSheetConvertsThroughItsMapping(t *testing.T) {
	m, err := LoadMapping(strings.NewReader(minimal))
	if err != nil {
		t.Fatal(err)
	}
	sheet := "Dossier;Prénom;Sexe;Âge;Consentement;Par;Le;Assentiment\n" +
		"ML-1;Awa;F;16;Oui;Enfant;01/02/2026;Oui\n" +
		"ML-2;Ali;M;douze;Oui;Enfant;01/02/2026;Oui\n" +
		"ML-3;Ali;M;12;;;;\n"
	res, err := m.Convert(strings.NewReader(sheet), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Rejection{
		{Row: 3, Column: "Âge", Field: "body.child.estimated_age", Rule: RuleInteger},
		{Row: 4, Column: "Consentement", Field: "consent", Rule: RuleConsentMissing},
	}
	if got := res.Rejections(); len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("rejections %+v, want %+v", got, want)
	}
	if res.Accepted() != 1 || res.Rows[0].Draft.Consent.AgeBand != "15-17" {
		t.Errorf("accepted %d, first row %+v", res.Accepted(), res.Rows[0])
	}
}
