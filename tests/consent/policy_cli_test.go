package consent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/hub/policy"
)

// TestPolicyCheck runs `relais policy check` on the shipped agreements and
// on broken copies.
func TestPolicyCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	copyShippedPolicies(t, good)
	broken := filepath.Join(dir, "broken")
	copyShippedPolicies(t, broken)
	file := filepath.Join(broken, "bf-ci-ml.yaml")
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(raw), "time_to_answer: 5d", "time_to_answer: 5 jours", 1)
	text = strings.Replace(text, "  - referral.declined\n", "  - referral.declined\n  - referral.refused\n", 1)
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	slaLine, kindLine := lineOf(t, text, "time_to_answer: 5 jours"), lineOf(t, text, "referral.refused")

	for _, tc := range []struct {
		name     string
		args     []string
		wantExit int
		want     []string
	}{
		{"the shipped agreements are valid, said in French", []string{"policy", "check", good}, 0, []string{
			"✔ " + filepath.Join(good, "bf-ci-ml.yaml") + " : accord bf-ci-ml, version 1",
			"accord ma-sn-gn, version 1", "parties : bf, ci, ml", "2 accord(s) valide(s) ; empreinte ",
		}},
		{"the shipped agreements are valid, said in English", []string{"policy", "check", "--lang", "en", good}, 0, []string{
			"agreement bf-ci-ml, version 1", "in force from 2025-01-01 to 2027-12-31", "2 valid agreement(s); digest ",
		}},
		{"one file can be checked alone", []string{"policy", "check", filepath.Join(good, "ma-sn-gn.yaml")}, 0, []string{
			"accord ma-sn-gn, version 1", "1 accord(s) valide(s)",
		}},
		{"every mistake is named with its file, line and field, in French", []string{"policy", "check", broken}, 1, []string{
			"✘ 2 erreur(s) dans les accords :",
			fmt.Sprintf("%s:%d:", file, slaLine), "champ sla.time_to_answer : must be a duration",
			fmt.Sprintf("%s:%d:", file, kindLine), "champ kinds[",
		}},
		{"every mistake is named with its file, line and field, in English", []string{"policy", "check", "--lang", "en", broken}, 1, []string{
			"✘ 2 mistake(s) in the agreements:", "field sla.time_to_answer: must be a duration",
		}},
		{"a missing directory is an error", []string{"policy", "check", filepath.Join(dir, "absent")}, 1, []string{"relais:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := relais(t, tc.args...)
			if r.Code != tc.wantExit {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.Code, tc.wantExit, r.Stdout, r.Stderr)
			}
			mustContain(t, r.Stdout+r.Stderr, tc.want...)
		})
	}
}

func lineOf(t *testing.T, text, needle string) int {
	t.Helper()
	for i, line := range strings.Split(text, "\n") {
		if strings.Contains(line, needle) {
			return i + 1
		}
	}
	t.Fatalf("%q not in the file", needle)
	return 0
}

// TestPolicyExplain runs `relais policy explain` on messages sealed by a
// registered agency: allowed, denied, and under an override approved by
// the agency's supervisor or by the case worker alone; offline and
// against the hub.
func TestPolicyExplain(t *testing.T) {
	w := newWorld(t, []string{ciID, mlID}, ciID)
	ctx := context.Background()
	ci := w.party(ciID)
	dir := t.TempDir()
	write := func(name string, jws []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, jws, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	seal := func(d agency.Draft) []byte {
		_, jws, err := ci.Client.Seal(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		return jws
	}

	allowed := write("allowed.jws", seal(referral(mlID, "CI-EXP-0001", "CI-EXP-CONS-1")))
	tracing := referral(mlID, "CI-EXP-0002", "CI-EXP-CONS-2")
	tracing.Purpose, tracing.DataCategories = "family_tracing", []string{"identity", "family", "location", "narrative"}
	denied := write("denied.jws", seal(tracing))
	override := overrideDraft(mlID)
	approval, err := ci.Supervisor.Approve(override.ID, "caregiver_unreachable", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	override.Consent.Override.Approval = approval
	approved := write("override.jws", seal(override))
	alone := overrideDraft(mlID)
	selfApproval, err := policy.SignOverrideApproval(ci.Keys.Signing, alone.ID, "caregiver_unreachable", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	alone.Consent.Override.Approval = selfApproval
	selfApproved := write("alone.jws", seal(alone))
	tampered := seal(referral(mlID, "CI-EXP-0003", "CI-EXP-CONS-3"))
	// One character of the payload changed, as a faulty relay would.
	at := strings.IndexByte(string(tampered), '.') + 20
	tampered[at] = map[bool]byte{true: 'B', false: 'A'}[tampered[at] == 'A']
	tamperedFile := write("tampered.jws", tampered)
	masOnly := filepath.Join(dir, "ma-sn-gn-only")
	copyShippedPolicies(t, masOnly)
	if err := os.Remove(filepath.Join(masOnly, "bf-ci-ml.yaml")); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name     string
		args     []string
		wantExit int
		want     []string
	}{
		{"an allowed referral is explained in French, saying the signature was not verified", []string{"policy", "explain", allowed}, 0, []string{
			"Décision : AUTORISÉ", "Accord : bf-ci-ml, version 1 « Protection transfrontalière", "Fichier : policies/corridors/bf-ci-ml.yaml",
			"Règle : consent.valid", "Signature : NON VÉRIFIÉE", "Retraits de consentement : non consultés",
		}},
		{"an allowed referral is explained in English", []string{"policy", "explain", "--lang", "en", allowed}, 0, []string{
			"Decision: ALLOWED", "Agreement: bf-ci-ml, version 1", "Rule: consent.valid — The consent is valid", "Signature: NOT VERIFIED",
		}},
		{"with --hub the signature is verified against the directory", []string{"policy", "explain", "--hub", w.srv.URL, allowed}, 0, []string{
			"Décision : AUTORISÉ", "Signature : vérifiée auprès du hub " + w.srv.URL + " (clé " + ci.Keys.ID + "#sig-",
		}},
		{"a denial by minimisation names the rule and the extra category, in French", []string{"policy", "explain", denied}, 0, []string{
			"Décision : REFUSÉ (category_not_allowed)", "Règle : corridor.minimisation", "Catégories en trop :", "(narrative)", "Que faire :",
		}},
		{"a denial by minimisation names the rule and the extra category, in English", []string{"policy", "explain", "--lang", "en", denied}, 0, []string{
			"Decision: DENIED (category_not_allowed)", "Rule: corridor.minimisation", "Extra categories:", "(narrative)", "What to do:",
		}},
		{"an override approved by the supervisor is allowed when checked against the hub", []string{"policy", "explain", "--hub", w.srv.URL, approved}, 0, []string{
			"Décision : AUTORISÉ, sous dérogation dans l'intérêt supérieur de l'enfant", "Règle : override.approved",
			"Validation de la dérogation : vérifiée avec les clés de responsables enregistrées au hub", ci.Supervisor.KID(),
		}},
		{"an override approved by the supervisor, explained in English", []string{"policy", "explain", "--hub", w.srv.URL, "--lang", "en", approved}, 0, []string{
			"Decision: ALLOWED, under a best-interests override", "Rule: override.approved", "Override approval: checked against the supervisor keys registered with the hub",
		}},
		{"offline, an override cannot be shown approved and the output says why", []string{"policy", "explain", approved}, 0, []string{
			"Décision : REFUSÉ (override_unapproved)", "Validation de la dérogation : NON VÉRIFIÉE — aucune clé de responsable disponible",
		}},
		{"offline with the supervisor's public key, the override is allowed", []string{"policy", "explain", "--supervisors", ci.SupervisorDir, approved}, 0, []string{
			"Décision : AUTORISÉ, sous dérogation", "clés de responsables fournies (--supervisors)",
		}},
		{"an override approved with the case worker's own key breaks the two-person rule", []string{"policy", "explain", "--hub", w.srv.URL, selfApproved}, 0, []string{
			"Décision : REFUSÉ (override_unapproved)", "Règle : override.two_person", "il faut une deuxième personne",
		}},
		{"under agreements that do not cover the countries, no agreement applies", []string{"policy", "explain", "--policies", masOnly, allowed}, 0, []string{
			"Décision : REFUSÉ (corridor_not_agreed)", "Accord : aucun", "Règle : corridor.parties",
		}},
		{"--at decides as of another time", []string{"policy", "explain", "--at", "2026-01-01T00:00:00Z", "--lang", "en", approved}, 0, []string{
			"decided as of 2026-01-01 00:00 UTC",
		}},
		{"a tampered message fails verification against the hub", []string{"policy", "explain", "--hub", w.srv.URL, tamperedFile}, 1, []string{
			"signature_invalid",
		}},
		{"a file that is not a message is refused", []string{"policy", "explain", filepath.Join(masOnly, "ma-sn-gn.yaml")}, 1, []string{
			"not a Relais message",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := relais(t, tc.args...)
			if r.Code != tc.wantExit {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.Code, tc.wantExit, r.Stdout, r.Stderr)
			}
			mustContain(t, r.Stdout+r.Stderr, tc.want...)
		})
	}

	t.Run("a message stored by relais inbox can be explained", func(t *testing.T) {
		env, _, err := ci.Client.Send(ctx, referral(mlID, "CI-EXP-0004", "CI-EXP-CONS-4"))
		if err != nil {
			t.Fatal(err)
		}
		w.pullUntilEmpty(t, mlID, 1)
		stored := filepath.Join(w.party(mlID).KeyDir, "inbox", env.ID+".json")
		mustContain(t, mustRelais(t, "policy", "explain", "--hub", w.srv.URL, stored).Stdout, "Message "+env.ID, "Décision : AUTORISÉ", "Signature : vérifiée")
	})
}

// overrideDraft is an urgent referral under a best-interests override,
// its id preset for the supervisor's approval.
func overrideDraft(to string) agency.Draft {
	d := referral(to, "CI-URG-0001", "CI-URG-DEROG-1")
	d.ID = contracts.NewMessageID()
	d.Consent.Basis, d.Consent.GivenBy, d.Consent.AgeBand = "best_interests_override", "legal_representative", "12-14"
	d.Consent.ExpiresAt = time.Now().UTC().Truncate(time.Second).Add(7 * 24 * time.Hour)
	d.Consent.Override = &contracts.Override{Reason: "caregiver_unreachable"}
	return d
}

// TestOverrideWithTheCLI: a case worker drafts an urgent referral under an
// override, the supervisor approves it with `relais approve --draft`, and
// `relais send` submits it; a draft whose id changed after the approval is
// refused and the refusal explained.
func TestOverrideWithTheCLI(t *testing.T) {
	w := newWorld(t, []string{ciID, bfID}, ciID)
	ci := w.party(ciID)
	dir := t.TempDir()
	d := overrideDraft(bfID)
	d.ID, d.Consent.Override = "", nil
	d.Consent.Recipients = []string{"bf"}
	draftFile := filepath.Join(dir, "draft.json")
	writeDraft(t, draftFile, d)

	r := mustRelais(t, "approve", "--keys", ci.SupervisorDir, "--draft", draftFile, "--reason", "imminent_harm")
	approval := strings.TrimSpace(r.Stdout)
	if strings.Count(approval, ".") != 2 || strings.ContainsAny(approval, " \n") {
		t.Fatalf("relais approve printed %q, want the approval JWS alone", r.Stdout)
	}
	mustContain(t, r.Stderr, "dérogation (imminent_harm) validée par "+ci.Supervisor.KID())
	approved := readDraft(t, draftFile)
	if !contracts.ValidMessageID(approved.ID) || approved.Consent.Override == nil || approved.Consent.Override.Approval != approval {
		t.Fatalf("the draft was not completed with an id and the approval: %+v", approved)
	}

	mustContain(t, mustRelais(t, w.cli(ciID, "send", "--file", draftFile)...).Stdout, approved.ID)
	trail, err := ci.Client.Trail(context.Background(), approved.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !containsEvent(trail, "policy_decision", approved.ID) {
		t.Errorf("the trail does not record the approved override: %+v", trail.Events)
	}

	// The same approval on another message is refused, and explained.
	approved.ID = contracts.NewMessageID()
	writeDraft(t, draftFile, approved)
	refused := relais(t, w.cli(ciID, "send", "--file", draftFile)...)
	if refused.Code == 0 {
		t.Fatalf("a draft whose id changed after the approval was accepted:\n%s", refused.Stdout)
	}
	mustContain(t, refused.Stderr, "Décision : REFUSÉ (override_unapproved)", "Règle : override.approval",
		"La validation porte sur un autre message", "Que faire :")

	// --message-id prints an approval for a known id.
	id := contracts.NewMessageID()
	out := mustRelais(t, "approve", "--keys", ci.SupervisorDir, "--message-id", id, "--reason", "caregiver_is_risk", "--lang", "en")
	mustContain(t, out.Stderr, "override (caregiver_is_risk) approved by "+ci.Supervisor.KID()+" for message "+id)
	if bad := relais(t, "approve", "--keys", ci.SupervisorDir, "--message-id", id, "--reason", "convenience"); bad.Code == 0 {
		t.Errorf("an approval with a reason outside the list was signed: %s", bad.Stdout)
	}
}

func writeDraft(t *testing.T, path string, d agency.Draft) {
	t.Helper()
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func readDraft(t *testing.T, path string) agency.Draft {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d agency.Draft
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

func containsEvent(trail agency.Trail, typ, messageID string) bool {
	for _, e := range trail.Events {
		if e.Type == typ && e.MessageID == messageID {
			return true
		}
	}
	return false
}

// TestDemoShowsADenialAndAnApprovedOverride runs `relais demo` in both
// languages.
func TestDemoShowsADenialAndAnApprovedOverride(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"in French", []string{"demo"}, []string{
			"Décision : REFUSÉ (category_not_allowed)", "Règle : corridor.minimisation",
			"Validée avec la clé de l'agent lui-même : refusée (override_unapproved)",
			"Décision : AUTORISÉ, sous dérogation dans l'intérêt supérieur de l'enfant", "Règle : override.approved",
			"bf.dpe-bobo reçoit le dossier et voit qu'il est envoyé sous dérogation", "✔ Démonstration terminée.",
		}},
		{"in English", []string{"demo", "--lang", "en"}, []string{
			"Decision: DENIED (category_not_allowed)", "Approved with the case worker's own key: refused (override_unapproved)",
			"Decision: ALLOWED, under a best-interests override", "✔ Demo complete.",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mustContain(t, mustRelais(t, tc.args...).Stdout, tc.want...)
		})
	}
}
