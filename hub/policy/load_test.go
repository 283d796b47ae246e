package policy

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// validAgreement is a small agreement the loader tests break one line at
// a time.
const validAgreement = `version: 1
id: aa-bb
title:
  fr: "Accord de test"
  en: "Test agreement"
valid_from: 2025-01-01
valid_until: 2026-12-31
parties: [bf, ci]
kinds: [referral.request, receipt]
purposes:
  protection_referral: [identity, protection_concerns]
legal_bases: [consent, best_interests_override]
override:
  allowed: true
  approver_role: supervisor
sla:
  time_to_receipt: 24h
  time_to_answer: 5d
  follow_up_interval: 30d
  escalation_after: 48h
retention:
  delivered_ciphertext: 30d
`

// replaced returns validAgreement with one exact substring replaced.
func replaced(old, new string) string {
	if strings.Count(validAgreement, old) != 1 {
		panic("the sample does not contain exactly one " + old)
	}
	return strings.Replace(validAgreement, old, new, 1)
}

// lineOf is the 1-based line of the first line of text that contains
// marker, so expectations follow the sample when it changes.
func lineOf(text, marker string) int {
	for i, l := range strings.Split(text, "\n") {
		if strings.Contains(l, marker) {
			return i + 1
		}
	}
	panic("marker not found: " + marker)
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadNamesTheFileLineAndFieldOfEachMistake(t *testing.T) {
	cases := []struct {
		name    string
		file    string
		marker  string // the line the issue must point at ("" for line 0)
		field   string
		message string
	}{
		{name: "an unknown key is refused with a suggestion", file: replaced("retention:\n", "retension:\n"), marker: "retension", field: "retension", message: `did you mean "retention"`},
		{name: "an unknown nested key is refused", file: replaced("  time_to_answer: 5d", "  time_to_answer: 5d\n  time_to_reply: 5d"), marker: "time_to_reply", field: "sla.time_to_reply", message: "unknown key"},
		{name: "a duration in words is refused", file: replaced("time_to_answer: 5d", `time_to_answer: "5 jours"`), marker: "time_to_answer", field: "sla.time_to_answer", message: "must be a duration"},
		{name: "a duration without a unit is refused", file: replaced("time_to_receipt: 24h", "time_to_receipt: 24"), marker: "time_to_receipt", field: "sla.time_to_receipt", message: "must be a duration"},
		{name: "a zero deadline is refused", file: replaced("escalation_after: 48h", "escalation_after: 0s"), marker: "escalation_after", field: "sla.escalation_after", message: "longer than zero"},
		{name: "a receipt due after the answer is refused", file: replaced("time_to_receipt: 24h", "time_to_receipt: 6d"), marker: "time_to_receipt", field: "sla.time_to_receipt", message: "longer than sla.time_to_answer"},
		{name: "an unknown purpose is refused", file: replaced("  protection_referral:", "  education:"), marker: "education", field: "purposes.education", message: "not a purpose"},
		{name: "an unknown data category is refused", file: replaced("[identity, protection_concerns]", "[identity, religion]"), marker: "religion", field: "purposes.protection_referral[1]", message: `"religion" is not a data_category`},
		{name: "an unknown country code is refused", file: replaced("parties: [bf, ci]", "parties: [bf, ci, zz]"), marker: "parties", field: "parties[2]", message: "ISO 3166-1"},
		{name: "an agency of an unknown country is refused", file: replaced("parties: [bf, ci]", "parties: [bf, uk.children-services]"), marker: "parties", field: "parties[1]", message: `"uk", which is not an ISO 3166-1 country code`},
		{name: "an upper-case country code is refused", file: replaced("parties: [bf, ci]", "parties: [BF, ci]"), marker: "parties", field: "parties[0]", message: "lower-case"},
		{name: "an agency listed with its own country is refused", file: replaced("parties: [bf, ci]", "parties: [bf, ci, ci.dpe-abidjan]"), marker: "parties", field: "parties[2]", message: "already covered by its country"},
		{name: "a single party is refused", file: replaced("parties: [bf, ci]", "parties: [bf]"), marker: "parties", field: "parties", message: "at least two parties"},
		{name: "an unknown kind is refused with a suggestion", file: replaced("[referral.request, receipt]", "[referral.requested, receipt]"), marker: "kinds", field: "kinds[0]", message: `did you mean "referral.request"`},
		{name: "kinds without receipt are refused", file: replaced("[referral.request, receipt]", "[referral.request]"), marker: "kinds", field: "kinds", message: "must include receipt"},
		{name: "a repeated key is refused", file: replaced("id: aa-bb\n", "id: aa-bb\nid: aa-cc\n"), marker: "aa-cc", field: "id", message: "key repeated (first at line 2)"},
		{name: "an id written as a number is refused", file: replaced("id: aa-bb", "id: 2025"), marker: "id: 2025", field: "id", message: "must be text"},
		{name: "an end before the start is refused", file: replaced("valid_until: 2026-12-31", "valid_until: 2024-12-31"), marker: "valid_until", field: "valid_until", message: "before valid_from"},
		{name: "a date written day first is refused", file: replaced("valid_from: 2025-01-01", "valid_from: 01/01/2025"), marker: "valid_from", field: "valid_from", message: "YYYY-MM-DD"},
		{name: "a missing required section is reported where it belongs", file: replaced("retention:\n  delivered_ciphertext: 30d\n", ""), marker: "version", field: "retention", message: "required key is missing"},
		{name: "an override allowed without the basis is refused", file: replaced("legal_bases: [consent, best_interests_override]", "legal_bases: [consent]"), marker: "allowed: true", field: "override.allowed", message: "does not list best_interests_override"},
		{name: "an unknown approver role is refused", file: replaced("approver_role: supervisor", "approver_role: director"), marker: "approver_role", field: "override.approver_role", message: "not a registered role"},
		{name: "a legal obligation without references is refused", file: replaced("[consent, best_interests_override]", "[consent, best_interests_override, legal_obligation]"), marker: "version", field: "legal_references", message: "list the texts"},
		{name: "a retention of over a year is refused", file: replaced("delivered_ciphertext: 30d", "delivered_ciphertext: 400d"), marker: "delivered_ciphertext", field: "retention.delivered_ciphertext", message: "relay, not an archive"},
		{name: "a statistics threshold of 2 is refused", file: validAgreement + "statistics:\n  min_cell_size: 2\n", marker: "min_cell_size", field: "statistics.min_cell_size", message: "at least 3"},
		{name: "an incomplete age table is refused", file: validAgreement + "age_bands:\n  \"0-5\": {consent_by: [parent], child_assent_required: false}\n", marker: "0-5", field: "age_bands.18+", message: "band missing"},
		{name: "an age table with an unknown giver is refused", file: validAgreement + "age_bands:\n  \"0-5\": {consent_by: [teacher], child_assent_required: false}\n", marker: "teacher", field: "age_bands.0-5.consent_by[0]", message: "not a given_by"},
		{name: "an alias is refused", file: replaced("  protection_referral: [identity, protection_concerns]", "  protection_referral: &cats [identity, protection_concerns]\n  family_tracing: *cats"), marker: "*cats", field: "purposes.family_tracing", message: "aliases"},
		{name: "an unclosed list names the line where it opens", file: replaced("parties: [bf, ci]", "parties: [bf, ci"), marker: "parties", field: "", message: "YAML syntax"},
		{name: "a key out of line names its line", file: replaced("  approver_role: supervisor", "   approver_role: supervisor"), marker: "approver_role", field: "", message: "YAML syntax"},
		{name: "a key at the wrong depth names its line", file: replaced("retention:\n", " retention:\n"), marker: "retention", field: "", message: "YAML syntax"},
		{name: "a tab for indentation names its line", file: replaced("  time_to_answer: 5d", "\ttime_to_answer: 5d"), marker: "time_to_answer", field: "", message: "YAML syntax"},
		{name: "two documents in one file are refused", file: validAgreement + "---\n" + validAgreement, marker: "---", field: "", message: "one agreement per file"},
		{name: "an empty file is refused", file: "", marker: "", field: "", message: "the file is empty"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeFiles(t, map[string]string{"corridors/aa-bb.yaml": tc.file})
			_, err := Load(dir)
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("err = %v, want a *LoadError", err)
			}
			wantFile := filepath.Join(dir, "corridors", "aa-bb.yaml")
			wantLine := 0
			if tc.marker != "" {
				wantLine = lineOf(tc.file, tc.marker)
			}
			for _, is := range le.Issues {
				if is.File == wantFile && is.Line == wantLine && is.Field == tc.field && strings.Contains(is.Message, tc.message) {
					if !strings.HasPrefix(is.String(), wantFile) {
						t.Fatalf("issue renders as %q", is.String())
					}
					return
				}
			}
			t.Fatalf("no issue at %s:%d field %q containing %q; got:\n%v", wantFile, wantLine, tc.field, tc.message, err)
		})
	}
}

func TestLoadReportsEveryMistakeAtOnce(t *testing.T) {
	broken := replaced("time_to_answer: 5d", "time_to_answer: soon")
	broken = strings.Replace(broken, "parties: [bf, ci]", "parties: [bf, zz]", 1)
	_, err := Load(writeFiles(t, map[string]string{"a.yaml": broken}))
	var le *LoadError
	if !errors.As(err, &le) || len(le.Issues) != 2 {
		t.Fatalf("err = %v, want two issues", err)
	}
	if !strings.Contains(err.Error(), "2 mistakes") {
		t.Fatalf("message = %q", err.Error())
	}
}

func TestLoadRefusesOverlappingAgreements(t *testing.T) {
	other := strings.NewReplacer("id: aa-bb", "id: bf-ci-ml", "parties: [bf, ci]", "parties: [bf, ci, ml]", "valid_from: 2025-01-01", "valid_from: 2026-06-01", "valid_until: 2026-12-31", "valid_until: 2028-12-31").Replace(validAgreement)
	dir := writeFiles(t, map[string]string{"a.yaml": validAgreement, "b.yaml": other})
	_, err := Load(dir)
	var le *LoadError
	if !errors.As(err, &le) || len(le.Issues) != 1 {
		t.Fatalf("err = %v, want one overlap", err)
	}
	is := le.Issues[0]
	if is.File != filepath.Join(dir, "b.yaml") || is.Line != lineOf(other, "id:") || is.Field != "parties" ||
		!strings.Contains(is.Message, "overlaps agreement aa-bb version 1 ("+filepath.Join(dir, "a.yaml")+":2)") ||
		!strings.Contains(is.Message, "bf → ci") {
		t.Fatalf("issue = %s", is)
	}
}

func TestAgreementsThatDoNotOverlapLoadTogether(t *testing.T) {
	cases := map[string]*strings.Replacer{
		"the next version starts the day after the previous one ends": strings.NewReplacer("version: 1", "version: 2", "valid_from: 2025-01-01", "valid_from: 2027-01-01", "valid_until: 2026-12-31", "valid_until: 2029-12-31"),
		"another pair of countries":                                   strings.NewReplacer("id: aa-bb", "id: ml-sn", "parties: [bf, ci]", "parties: [ml, sn]"),
		"an agency of one party with a third country":                 strings.NewReplacer("id: aa-bb", "id: bobo-gh", "parties: [bf, ci]", "parties: [bf.dpe-bobo, gh]"),
	}
	for name, r := range cases {
		t.Run(name, func(t *testing.T) {
			s, err := Load(writeFiles(t, map[string]string{"a.yaml": validAgreement, "b.yaml": r.Replace(validAgreement)}))
			if err != nil {
				t.Fatal(err)
			}
			if s.Len() != 2 {
				t.Fatalf("loaded %d agreements", s.Len())
			}
		})
	}
}

func TestAnAgencyAgreementInsideACountryAgreementOverlaps(t *testing.T) {
	inner := strings.NewReplacer("id: aa-bb", "id: bobo-abidjan", "parties: [bf, ci]", "parties: [bf.dpe-bobo, ci.dpe-abidjan]").Replace(validAgreement)
	_, err := Load(writeFiles(t, map[string]string{"a.yaml": validAgreement, "b.yaml": inner}))
	if err == nil || !strings.Contains(err.Error(), "both cover bf.dpe-bobo → ci.dpe-abidjan") {
		t.Fatalf("err = %v", err)
	}
}

func TestLoadRefusesTheSameVersionTwice(t *testing.T) {
	again := strings.NewReplacer("valid_from: 2025-01-01", "valid_from: 2030-01-01", "valid_until: 2026-12-31", "valid_until: 2031-12-31").Replace(validAgreement)
	_, err := Load(writeFiles(t, map[string]string{"a.yaml": validAgreement, "b.yaml": again}))
	if err == nil || !strings.Contains(err.Error(), "agreement aa-bb version 1 is also defined in") {
		t.Fatalf("err = %v", err)
	}
}

func TestLoadReadsFilesAndDirectories(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"corridors/a.yaml":       validAgreement,
		"corridors/nested/b.yml": strings.NewReplacer("id: aa-bb", "id: ml-sn", "parties: [bf, ci]", "parties: [ml, sn]").Replace(validAgreement),
		"corridors/README.md":    "# not an agreement",
		"corridors/.draft.yaml":  "broken: [",
		".hidden/c.yaml":         "broken: [",
	})
	s, err := Load(filepath.Join(dir, "corridors"), filepath.Join(dir, "corridors", "a.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 2 {
		t.Fatalf("loaded %d agreements, want 2 (a file named twice counts once)", s.Len())
	}
	if _, err := Load(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("a missing path loaded")
	}
	if _, err := Load(writeFiles(t, map[string]string{"notes.txt": "x"})); err == nil || !strings.Contains(err.Error(), "no agreement") {
		t.Fatalf("a directory without agreements: %v", err)
	}
}

func TestTheShippedAgreementsLoad(t *testing.T) {
	s, err := Load("../../policies")
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, c := range s.Corridors() {
		ids[c.ID] = true
	}
	if !ids["bf-ci-ml"] || !ids["ma-sn-gn"] {
		t.Fatalf("agreements = %v", ids)
	}
	c, ok := s.Find("ml.dnpef", "ci.dpe-abidjan", "referral.request", time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	if !ok || !c.Override.Allowed || c.AgeBands.Custom {
		t.Fatalf("bf-ci-ml: %v %+v", ok, c)
	}
	c, ok = s.Find("sn.dpe-dakar", "ma.entraide-nationale", "referral.request", time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	if !ok || c.Override.Allowed || !c.AgeBands.Custom || c.Statistics.MinCellSize != 10 {
		t.Fatalf("ma-sn-gn: %v %+v", ok, c)
	}
}

func TestTheDefaultAgeTableCoversEveryBand(t *testing.T) {
	table := DefaultAgeBands()
	want := map[string]struct {
		by     string
		assent bool
	}{
		"0-5": {"parent guardian legal_representative", false}, "6-11": {"parent guardian legal_representative", true},
		"12-14": {"parent guardian legal_representative", true}, "15-17": {"child", false}, "18+": {"child", false},
	}
	if len(table.Bands) != len(want) || table.Custom {
		t.Fatalf("table = %+v", table)
	}
	for band, w := range want {
		got := table.Bands[band]
		if strings.Join(got.ConsentBy, " ") != w.by || got.ChildAssentRequired != w.assent {
			t.Errorf("%s: %+v, want %+v", band, got, w)
		}
	}
}
