package contracts

import (
	"slices"
	"testing"
)

func TestVocabulariesHoldTheProtocolCodes(t *testing.T) {
	cases := []struct {
		voc  Vocabulary
		want []string
	}{
		{Purposes, []string{"protection_referral", "family_tracing", "social_enquiry", "best_interests", "return_reintegration", "follow_up"}},
		{DataCategories, []string{"identity", "contact", "family", "location", "documents", "protection_concerns", "health", "legal_status", "photo", "narrative"}},
		{ConsentBases, []string{"consent", "best_interests_override", "legal_obligation"}},
		{ConsentGivers, []string{"child", "parent", "guardian", "legal_representative"}},
		{AgeBands, []string{"0-5", "6-11", "12-14", "15-17", "18+"}},
		{OverrideReasons, []string{"imminent_harm", "caregiver_is_risk", "caregiver_unreachable"}},
		{DeclineReasons, []string{"outside_mandate", "not_competent_area", "insufficient_information", "not_from_country", "duplicate_referral", "capacity", "other"}},
		{Urgencies, []string{"normal", "high", "urgent"}},
		{Sexes, []string{"f", "m", "x"}},
	}
	for _, tc := range cases {
		if got := tc.voc.Codes(); !slices.Equal(got, tc.want) {
			t.Errorf("%s = %v, want %v", tc.voc.Name(), got, tc.want)
		}
	}
}

func TestEveryTermHasBothLabelsAndEveryCodeIsUnique(t *testing.T) {
	names := map[string]bool{}
	for _, v := range Vocabularies() {
		if names[v.Name()] {
			t.Errorf("vocabulary %s listed twice", v.Name())
		}
		names[v.Name()] = true
		if v.Title().FR == "" || v.Title().EN == "" {
			t.Errorf("%s: missing title", v.Name())
		}
		seen := map[string]bool{}
		for _, term := range v.Terms() {
			if seen[term.Code] {
				t.Errorf("%s: code %s repeats", v.Name(), term.Code)
			}
			seen[term.Code] = true
			if term.Label.FR == "" || term.Label.EN == "" {
				t.Errorf("%s: %s lacks a label", v.Name(), term.Code)
			}
		}
	}
}

func TestVocabularyLookups(t *testing.T) {
	checks := []struct {
		fn   func(string) bool
		yes  string
		no   string
		name string
	}{
		{IsPurpose, "family_tracing", "marketing", "IsPurpose"},
		{IsDataCategory, "photo", "biometrics", "IsDataCategory"},
		{IsConsentBasis, "legal_obligation", "implied", "IsConsentBasis"},
		{IsConsentGiver, "guardian", "teacher", "IsConsentGiver"},
		{IsAgeBand, "18+", "18", "IsAgeBand"},
		{IsOverrideReason, "imminent_harm", "urgent", "IsOverrideReason"},
		{IsDeclineReason, "capacity", "busy", "IsDeclineReason"},
	}
	for _, c := range checks {
		if !c.fn(c.yes) || c.fn(c.no) || c.fn("") {
			t.Errorf("%s is wrong", c.name)
		}
	}
	label, ok := Purposes.Label("family_tracing")
	if !ok || label.In("fr") != "Recherche familiale" || label.In("en-GB") != "Family tracing" || label.In("") != "Recherche familiale" {
		t.Errorf("labels: %+v", label)
	}
}

func TestVocabulariesCannotBeAlteredThroughTheirAccessors(t *testing.T) {
	terms := Purposes.Terms()
	terms[0].Code = "changed"
	codes := Purposes.Codes()
	codes[1] = "changed"
	if Purposes.Has("changed") {
		t.Fatal("a vocabulary was altered through a returned slice")
	}
}
