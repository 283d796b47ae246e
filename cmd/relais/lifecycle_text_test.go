package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/relais-hub/relais/adapters/agency"
)

func TestTheDemoTellsTheWholeReturnInUnderAMinute(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo runs a hub")
	}
	for _, tc := range []struct {
		lang string
		want []string
	}{
		{"fr", []string{
			"État : accepté · cas détenu par ml.dnpef",
			"invalid_transition) — étape « famille évaluée », permis :",
			"out_of_order) — n° attendu : 2",
			"étape franchie — retour planifié → enfant remis",
			"étape franchie — en suivi → clôturé",
			"Réintégration réussie",
			"données effacées du hub",
			"État : effacé · cas détenu par ml.dnpef",
			"Transferts de ml.dnpef : 1",
			"✔ Démonstration terminée.",
		}},
		{"en", []string{
			"State: accepted · case held by ml.dnpef",
			"step taken — return planned → child handed over",
			"case now held by ml.dnpef",
			"State: erased · case held by ml.dnpef",
			"✔ Demo complete.",
		}},
	} {
		t.Run(tc.lang, func(t *testing.T) {
			var out bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			start := time.Now()
			if err := runDemo(ctx, &out, demoOptions{Lang: tc.lang}); err != nil {
				t.Fatalf("demo: %v\n%s", err, out.String())
			}
			if d := time.Since(start); d > time.Minute {
				t.Errorf("the demo took %v", d)
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("the demo's output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

func TestTheTrailTellsDeadlinesAndHoldersInEitherLanguage(t *testing.T) {
	at := time.Date(2026, 1, 6, 9, 0, 0, 0, time.UTC)
	trail := agency.Trail{Transfer: "T1", State: "return_decided", Holder: "ml.dnpef", Sender: "ci.dpe-abidjan", Recipient: "ml.dnpef",
		Events: []agency.TrailEvent{
			{Index: 1, Type: "transfer_accepted", At: at, Kind: "referral.accepted", From: "ml.dnpef", To: "ci.dpe-abidjan", Detail: "holder=ml.dnpef"},
			{Index: 2, Type: "state_changed", At: at, Kind: "bid.decision", From: "ci.dpe-abidjan", To: "ml.dnpef", Code: "return", Detail: "from=assessed to=return_decided"},
			{Index: 3, Type: "reminder", At: at, To: "ml.drpfef-sikasso", Detail: "timer=answer overdue=ml.drpfef-sikasso due=2026-01-06T09:00:00Z"},
			{Index: 4, Type: "escalation", At: at, To: "ml.dnpef", Detail: "timer=answer overdue=ml.drpfef-sikasso due=2026-01-08T09:00:00Z"},
			{Index: 5, Type: "escalation", At: at, Detail: "timer=receipt overdue=ci.dpe-abidjan due=2026-01-08T09:00:00Z directorate=none"},
			{Index: 6, Type: "case_erased", At: at, Detail: "messages=7"},
		}}
	tests := []struct {
		lang string
		want []string
	}{
		{"fr", []string{
			"État : retour décidé · cas détenu par ml.dnpef",
			"cas désormais détenu par ml.dnpef",
			"famille évaluée → retour décidé",
			"Retour dans le pays d'origine et réunification familiale",
			"rappel : échéance dépassée — réponse ou étape suivante attendu de ml.drpfef-sikasso depuis le 2026-01-06 09:00 UTC",
			"signalé à ml.dnpef",
			"aucune direction centrale enregistrée",
			"7 messages vidés",
		}},
		{"en", []string{
			"State: return decided · case held by ml.dnpef",
			"case now held by ml.dnpef",
			"family assessed → return decided",
			"Return to the country of origin and family reunification",
			"reminder: deadline passed — answer or next step expected from ml.drpfef-sikasso since 2026-01-06 09:00 UTC",
			"reported to ml.dnpef",
			"no central directorate registered",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.lang, func(t *testing.T) {
			got := renderTrail(trail, tt.lang)
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("trail lacks %q:\n%s", w, got)
				}
			}
		})
	}
}

func TestTheTransferListShowsWhatIsOverdueAndWhoWasTold(t *testing.T) {
	due := time.Date(2026, 1, 6, 9, 0, 0, 0, time.UTC)
	list := []transferItem{{
		Transfer: "T1", State: "receipted", Role: "directorate", Sender: "ci.dpe-abidjan", Recipient: "ml.drpfef-sikasso", Holder: "ci.dpe-abidjan",
		UpdatedAt: due, Overdue: []deadlineItem{
			{Timer: "answer", Stage: "reminder", Party: "ml.drpfef-sikasso", DueAt: due},
			{Timer: "answer", Stage: "escalation", Party: "ml.drpfef-sikasso", DueAt: due.Add(48 * time.Hour), EscalatedTo: "ml.dnpef"},
		},
	}}
	got := renderTransfers("ml.dnpef", list, "fr")
	for _, w := range []string{
		"Transferts de ml.dnpef : 1",
		"reçu · signalé à la direction : ci.dpe-abidjan → ml.drpfef-sikasso",
		"⚠ en retard : réponse ou étape suivante attendu de ml.drpfef-sikasso depuis le 2026-01-06 09:00 UTC · signalé à ml.dnpef",
	} {
		if !strings.Contains(got, w) {
			t.Errorf("list lacks %q:\n%s", w, got)
		}
	}
}
