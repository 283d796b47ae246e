package policy

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestExplainTellsACaseWorkerWhyInFrench(t *testing.T) {
	in := baseInput(t)
	in.Envelope.Consent.ExpiresAt = testNow.Add(-48 * time.Hour)
	got := Explain(loadSet(t, "corridors").Decide(context.Background(), in), "fr")
	for _, want := range []string{
		"Décision : REFUSÉ (consent_expired) — Le consentement a expiré",
		"Accord : bf-ci-ml, version 2 « Accord tripartite de test BF–CI–ML »",
		"Fichier : testdata/corridors/bf-ci-ml-v2.yaml",
		"Règle : consent.expiry — Le consentement (ou la décision qui en tient lieu) doit être en cours de validité.",
		"L'accord bf-ci-ml (version 2) couvre l'échange bf.dpe-bobo → ci.dpe-abidjan",
		"Le consentement a expiré le 2026-03-13 10:00 UTC",
		"Que faire : Renouvelez le consentement",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
}

func TestExplainTellsACaseWorkerWhyInEnglish(t *testing.T) {
	in := baseInput(t)
	in.Envelope.DataCategories = []string{"identity", "health"}
	got := Explain(loadSet(t, "corridors").Decide(context.Background(), in), "en-GB")
	for _, want := range []string{
		"Decision: DENIED (category_not_allowed)",
		"Agreement: bf-ci-ml, version 2 “Test tripartite agreement BF–CI–ML”",
		"File: testdata/corridors/bf-ci-ml-v2.yaml",
		"Rule: consent.data_categories — The consent must cover every data category of the message.",
		"The consent does not cover these data categories of the message: Health (health).",
		"What to do: Remove the information of the extra categories",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	if strings.Contains(got, "Décision") {
		t.Errorf("French in the English explanation:\n%s", got)
	}
}

func TestExplainShowsAnApprovedOverride(t *testing.T) {
	in := baseInput(t)
	override(&in, "caregiver_is_risk", approve(t, keysOf(t, "bf.dpe-bobo").supervisor, testMessageID, "caregiver_is_risk", testNow.Add(-time.Minute)))
	d := loadSet(t, "corridors").Decide(context.Background(), in)
	fr, en := Explain(d, ""), Explain(d, "en")
	for _, want := range []string{
		"Décision : AUTORISÉ, sous dérogation dans l'intérêt supérieur de l'enfant",
		"motif : La personne qui a la garde représente un risque (caregiver_is_risk)",
		"validée par la clé de responsable bf.dpe-bobo#supervisor-1",
	} {
		if !strings.Contains(fr, want) {
			t.Errorf("missing %q in:\n%s", want, fr)
		}
	}
	if !strings.Contains(en, "Decision: ALLOWED, under a best-interests override") || strings.Contains(en, "What to do") {
		t.Errorf("English explanation:\n%s", en)
	}
}

func TestExplainSaysWhenNoAgreementExists(t *testing.T) {
	in := baseInput(t)
	reroute(t, &in, "ci.dpe-abidjan", "gh.dsw-accra")
	got := Explain(loadSet(t, "corridors").Decide(context.Background(), in), "fr")
	if !strings.Contains(got, "Accord : aucun") || !strings.Contains(got, "Aucun accord n'est enregistré entre ci.dpe-abidjan et gh.dsw-accra") {
		t.Fatalf("explanation:\n%s", got)
	}
}

func TestEveryRefusalCodeOfThePolicyHasAHint(t *testing.T) {
	for _, tc := range decisionCases {
		if tc.code == "" {
			continue
		}
		if _, ok := codeHints[tc.code]; !ok {
			t.Errorf("no hint for %s", tc.code)
		}
	}
}
