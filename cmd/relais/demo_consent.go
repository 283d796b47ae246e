package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/hub/policy"
)

// consentDemo is the demo's corridor-policy part: a message the
// agreement's minimisation denies, and a best-interests override approved
// by a supervisor (the two-person rule), each explained rule by rule.
type consentDemo struct {
	out     io.Writer
	lang    string
	hub     *runningHub
	dir     string
	ci, bf  *agency.Client
	explain explainOptions
}

// runConsentDemo tells both stories after the main exchange.
func runConsentDemo(ctx context.Context, out io.Writer, lang string, rh *runningHub, dir string, ci, bf *agency.Client) error {
	d := &consentDemo{out: out, lang: lang, hub: rh, dir: dir, ci: ci, bf: bf, explain: explainOptions{Hub: rh.URL, Lang: lang}}
	say(out, lang, "\nConsentement et accords de coopération (accord bf-ci-ml) :", "\nConsent and cooperation agreements (agreement bf-ci-ml):")
	if err := d.denial(ctx); err != nil {
		return fmt.Errorf("consent demo, denial: %w", err)
	}
	if err := d.override(ctx); err != nil {
		return fmt.Errorf("consent demo, override: %w", err)
	}
	return nil
}

// denial: a family-tracing request that also declares health data, which
// the agreement does not allow for that purpose, is refused by the hub.
func (d *consentDemo) denial(ctx context.Context) error {
	draft := demoReferral()
	draft.Case = "CI-ABJ-2026-0051"
	draft.Purpose = "family_tracing"
	draft.DataCategories = []string{"identity", "contact", "family", "location", "documents", "health", "photo"}
	draft.Consent.Ref = "CI-ABJ-CONS-0051"
	_, _, err := d.ci.Send(ctx, draft)
	decision, ok := agency.RefusalDecision(err)
	if !ok || decision.Code != contracts.CodeCategoryNotAllowed {
		return fmt.Errorf("a family-tracing request with health data was not refused by the minimisation rule: %v", err)
	}
	say(d.out, d.lang, "A. ci.dpe-abidjan demande à ml.dnpef une recherche familiale en y joignant des données de santé : le hub refuse.",
		"A. ci.dpe-abidjan asks ml.dnpef for family tracing and adds health data: the hub refuses.")
	say(d.out, d.lang, "   Explication envoyée par le hub (problem+json), telle que 'relais send' l'affiche :",
		"   Explanation sent by the hub (problem+json), as 'relais send' prints it:")
	fmt.Fprint(d.out, indent(policy.Explain(decision, d.lang), "     "))
	return nil
}

// override: an agency whose supervisor holds a key of their own refers a
// child in imminent danger without the family's consent. Approved with
// the case worker's own key, the override is refused; approved by the
// supervisor, over the very message id, it is accepted and flagged.
func (d *consentDemo) override(ctx context.Context) error {
	const id, name = "ci.dpe-bouake", "Direction régionale de la protection de l'enfant — Bouaké"
	keys, err := agency.Init(id, filepath.Join(d.dir, id))
	if err != nil {
		return err
	}
	supervisor, err := agency.InitSupervisor(id, filepath.Join(d.dir, id+"-supervisor"))
	if err != nil {
		return err
	}
	jwks, err := supervisor.PublicJWKS()
	if err != nil {
		return err
	}
	if err := registerAgencyWith(ctx, io.Discard, d.hub.URL, d.hub.AdminToken, keys, agencyProfile{Name: name, SupervisorJWKS: jwks}); err != nil {
		return err
	}
	worker := agency.New(d.hub.URL, keys)
	worker.Lang = d.lang
	say(d.out, d.lang, "B. ▶ Service %s enregistré avec la clé de sa responsable (%s), distincte de la clé de signature du service.",
		"B. ▶ Agency %s registered with its supervisor's key (%s), distinct from the agency's signing key.", id, supervisor.KID())

	draft := d.overrideDraft()
	say(d.out, d.lang, "   Une enfant en danger immédiat ; sa famille, au Burkina Faso, ne peut pas être consultée. L'agent prépare un référencement urgent vers bf.dpe-bobo sous dérogation (identifiant fixé d'avance : %s).",
		"   A child in imminent danger; her family, in Burkina Faso, cannot be asked. The case worker prepares an urgent referral to bf.dpe-bobo under an override (id set in advance: %s).", draft.ID)

	// Approved with the worker's own key: one person alone.
	selfApproved, err := policy.SignOverrideApproval(keys.Signing, draft.ID, "imminent_harm", time.Now())
	if err != nil {
		return err
	}
	draft.Consent.Override = &contracts.Override{Reason: "imminent_harm", Approval: selfApproved}
	_, _, err = worker.Send(ctx, draft)
	refusal, ok := agency.RefusalDecision(err)
	if !ok || refusal.Code != contracts.CodeOverrideUnapproved {
		return fmt.Errorf("an override approved with the sender's own key was not refused: %v", err)
	}
	say(d.out, d.lang, "   Validée avec la clé de l'agent lui-même : refusée (%s) — %s",
		"   Approved with the case worker's own key: refused (%s) — %s", refusal.Code, lastReason(refusal, d.lang))

	// Approved by the supervisor ('relais approve'), over this message id.
	approval, err := supervisor.Approve(draft.ID, "imminent_harm", time.Now())
	if err != nil {
		return err
	}
	draft.Consent.Override.Approval = approval
	_, sub, err := worker.Send(ctx, draft)
	if err != nil {
		return fmt.Errorf("the supervisor-approved override was refused: %w", err)
	}
	say(d.out, d.lang, "   Validée par la responsable ('relais approve', sur l'identifiant du message) : acceptée (202), journal d'audit n°%d.",
		"   Approved by the supervisor ('relais approve', over the message id): accepted (202), audit log entry #%d.", sub.LeafIndex)
	x, err := explainMessage(ctx, sub.JWS, d.explain)
	if err != nil {
		return err
	}
	if !x.Decision.Allowed || !x.Decision.Override {
		return fmt.Errorf("the explanation of the accepted override says %s", x.Decision.Code)
	}
	say(d.out, d.lang, "   'relais policy explain --hub' (signature et validation vérifiées auprès du hub) :",
		"   'relais policy explain --hub' (signature and approval verified against the hub):")
	fmt.Fprint(d.out, indent(policy.Explain(x.Decision, d.lang), "     "))

	opened, err := receiveOne(ctx, d.bf)
	if err != nil {
		return err
	}
	if c := opened.Envelope.Consent; c == nil || c.Override == nil || opened.Envelope.ID != draft.ID {
		return fmt.Errorf("bf.dpe-bobo did not receive the override as sent")
	}
	if _, err := d.bf.Receipt(ctx, opened); err != nil {
		return err
	}
	trail, err := worker.Trail(ctx, draft.ID)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(trail.Events, func(e agency.TrailEvent) bool { return e.Type == "policy_decision" && e.MessageID == draft.ID }) {
		return fmt.Errorf("the trail of %s does not record the override", draft.ID)
	}
	reason, _ := contracts.OverrideReasons.Label(opened.Envelope.Consent.Override.Reason)
	say(d.out, d.lang, "   bf.dpe-bobo reçoit le dossier et voit qu'il est envoyé sous dérogation (motif : %s) ; la piste du transfert le garde.",
		"   bf.dpe-bobo receives the file and sees it was sent under an override (reason: %s); the transfer's trail keeps it.", reason.In(d.lang))
	return nil
}

// overrideDraft is the urgent referral, its id preset for the approval.
func (d *consentDemo) overrideDraft() agency.Draft {
	draft := demoReferral()
	now := time.Now().UTC().Truncate(time.Second)
	draft.ID = contracts.NewMessageID()
	draft.To, draft.Case = "bf.dpe-bobo", "CI-BKE-2026-0007"
	draft.DataCategories = []string{"identity", "contact", "family", "location", "documents", "protection_concerns", "health", "legal_status", "photo", "narrative"}
	draft.Consent = &contracts.Consent{
		Ref: "CI-BKE-DEROG-0007", Basis: "best_interests_override", GivenBy: "legal_representative", AgeBand: "12-14",
		Recipients: []string{"bf"}, Purposes: []string{"protection_referral"}, DataCategories: draft.DataCategories,
		ObtainedAt: now.Add(-time.Hour), ExpiresAt: now.Add(30 * 24 * time.Hour),
	}
	return draft
}

// lastReason is why the engine decided, in lang.
func lastReason(d policy.Decision, lang string) string {
	if len(d.Reasons) == 0 {
		return d.Code.Title(lang)
	}
	return d.Reasons[len(d.Reasons)-1].In(lang)
}

// indent prefixes every line of text.
func indent(text, prefix string) string {
	lines := strings.SplitAfter(strings.TrimRight(text, "\n"), "\n")
	return prefix + strings.Join(lines, prefix) + "\n"
}
