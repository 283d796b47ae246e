package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/contracts"
)

// story is the rest of the demo after Mali accepted the referral: the
// return of the child from Côte d'Ivoire to Mali and her reintegration,
// told step by step, each message sealed by one agency, opened and
// receipted by the other.
type story struct {
	out      io.Writer
	lang     string
	ci, ml   *agency.Client
	transfer string
	step     int
}

// The two services' case references and consents: each side records the
// consent under which it shares, for the other country.
const (
	ciCase = "CI-ABJ-2026-0042"
	mlCase = "ML-BKO-2026-0117"
)

func storyConsent(ref, recipient string) *contracts.Consent {
	return &contracts.Consent{
		Ref: ref, Basis: "consent", GivenBy: "child", ChildAssent: true, AgeBand: "15-17",
		Recipients: []string{recipient}, Purposes: contracts.Purposes.Codes(), DataCategories: contracts.DataCategories.Codes(),
		ObtainedAt: time.Now().UTC().Truncate(time.Second).Add(-24 * time.Hour),
	}
}

func (s *story) say(fr, en string, args ...any) {
	s.step++
	say(s.out, s.lang, fmt.Sprintf("%d. ", s.step)+fr, fmt.Sprintf("%d. ", s.step)+en, args...)
}

func (s *story) note(fr, en string, args ...any) { say(s.out, s.lang, "   "+fr, "   "+en, args...) }

// draft builds a message of the transfer: sealed kinds carry the purpose,
// the categories their body actually uses, and the sender's consent.
func (s *story) draft(from *agency.Client, kind, purpose string, body any) (agency.Draft, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return agency.Draft{}, err
	}
	d := agency.Draft{Kind: kind, Transfer: s.transfer, Body: raw, To: s.ml.Keys.ID, Case: ciCase}
	consent := storyConsent("CI-ABJ-CONS-0042", "ml")
	if from == s.ml {
		d.To, d.Case, consent = s.ci.Keys.ID, mlCase, storyConsent("ML-BKO-CONS-0117", "ci")
	}
	if spec, _ := contracts.Kind(kind); spec.PersonalData {
		cats, err := contracts.BodyCategories(kind, raw)
		if err != nil {
			return d, err
		}
		d.Purpose, d.DataCategories, d.Consent = purpose, cats, consent
	}
	return d, nil
}

// exchange sends a draft, then has the other side pull it from its inbox,
// verify and decrypt it, and send its signed receipt.
func (s *story) exchange(from *agency.Client, d agency.Draft) (agency.Opened, error) {
	env, _, err := from.Send(context.Background(), d)
	if err != nil {
		return agency.Opened{}, fmt.Errorf("%s: %w", d.Kind, err)
	}
	to := s.ci
	if from == s.ci {
		to = s.ml
	}
	o, err := receiveID(context.Background(), to, env.ID)
	if err != nil {
		return o, err
	}
	if _, err := to.Receipt(context.Background(), o); err != nil {
		return o, fmt.Errorf("receipt of %s: %w", d.Kind, err)
	}
	return o, nil
}

func (s *story) send(from *agency.Client, kind, purpose string, body any) (agency.Opened, error) {
	d, err := s.draft(from, kind, purpose, body)
	if err != nil {
		return agency.Opened{}, err
	}
	return s.exchange(from, d)
}

// receiveID waits for message id in c's inbox, opens it, and acknowledges
// the receipts read on the way.
func receiveID(ctx context.Context, c *agency.Client, id string) (agency.Opened, error) {
	for range 20 {
		items, cursor, err := c.Inbox(ctx, "", 5*time.Second)
		if err != nil {
			return agency.Opened{}, err
		}
		for _, it := range items {
			if it.ID == id {
				if _, _, err := c.Inbox(ctx, cursor, 0); err != nil {
					return agency.Opened{}, err
				}
				return c.Open(ctx, []byte(it.JWS))
			}
		}
		if _, _, err := c.Inbox(ctx, cursor, 0); err != nil {
			return agency.Opened{}, err
		}
	}
	return agency.Opened{}, fmt.Errorf("message %s did not arrive in %s's inbox", id, c.Keys.ID)
}

// run tells the story from the accepted referral to the erasure.
func (s *story) run() error {
	today := time.Now().UTC()
	date := func(days int) string { return today.AddDate(0, 0, days).Format(time.DateOnly) }

	// Mali needs documents to trace the family; Côte d'Ivoire answers.
	q, err := s.send(s.ml, "info.request", "social_enquiry", contracts.InfoRequest{
		Categories: []string{"documents", "family"}, Questions: "Awa a-t-elle un acte de naissance ? Quel quartier de Bamako cite-t-elle ?"})
	if err != nil {
		return err
	}
	reply, err := s.draft(s.ci, "info.reply", "social_enquiry", contracts.InfoReply{
		Answer:    "Copie de l'acte de naissance de Sikasso ; Awa cite Médina-Coura.",
		Documents: []contracts.Document{{Type: "birth_certificate", IssuingCountry: "ml"}}})
	if err != nil {
		return err
	}
	reply.InReplyTo = q.Envelope.ID
	if _, err := s.exchange(s.ci, reply); err != nil {
		return err
	}
	s.say("ml.dnpef demande des informations pour la recherche familiale ; ci.dpe-abidjan répond (demande ⇄ réponse, sans changer d'étape).",
		"ml.dnpef asks for information to trace the family; ci.dpe-abidjan answers (request ⇄ reply, the step does not change).")

	// Mali assesses the family.
	if _, err := s.send(s.ml, "family.assessment", "social_enquiry", contracts.FamilyAssessment{
		Outcome: "found_suitable", AssessedOn: date(0),
		Family:   []contracts.FamilyMember{{Relationship: "mother", GivenNames: "Fatoumata", Status: "alive", Phone: "+22370000000"}},
		Location: &contracts.Location{Country: "ml", AdminArea: "ML-BKO", Place: "Médina-Coura"},
		Findings: "La mère a été retrouvée ; elle souhaite accueillir Awa et en a les moyens."}); err != nil {
		return err
	}
	s.say("ml.dnpef envoie l'évaluation de la famille : mère retrouvée à Bamako, apte à accueillir l'enfant.",
		"ml.dnpef sends the family assessment: mother found in Bamako, able to care for the child.")

	// A step out of turn is refused, naming the state and what is allowed.
	early, err := s.draft(s.ml, "reintegration.plan", "return_reintegration", contracts.ReintegrationPlan{
		LivingWith: "mother", Services: []string{"education"}, Objectives: "Rescolarisation."})
	if err != nil {
		return err
	}
	if _, _, err := s.ml.Send(context.Background(), early); !agency.IsCode(err, contracts.CodeInvalidTransition) {
		return fmt.Errorf("a reintegration plan before the return was not refused as an invalid transition: %v", err)
	} else {
		s.note("Un plan de réintégration envoyé trop tôt est refusé : %s", "A reintegration plan sent too early is refused: %s", refusalText(err, s.lang))
	}

	// The best-interests decision, taken where the child is.
	if _, err := s.send(s.ci, "bid.decision", "", contracts.BIDDecision{Decision: "return", DecidedOn: date(0)}); err != nil {
		return err
	}
	s.say("ci.dpe-abidjan communique la décision d'intérêt supérieur : retour au Mali (message en clair, codé, sans donnée personnelle).",
		"ci.dpe-abidjan sends the best-interests decision: return to Mali (plain, coded, no personal data).")

	if _, err := s.send(s.ci, "return.plan", "return_reintegration", contracts.ReturnPlan{
		TravelOn: date(14), Route: "Abidjan – Pogo – Sikasso – Bamako", Escort: "Travailleuse sociale de la DPE Abidjan",
		Reception: "Accueil par la DNPEF à Bamako, puis remise à la mère.",
		Documents: []contracts.Document{{Type: "travel_document", IssuingCountry: "ml"}}}); err != nil {
		return err
	}
	s.say("ci.dpe-abidjan envoie le plan de retour (voyage, escorte, accueil), chiffré pour le Mali.",
		"ci.dpe-abidjan sends the return plan (travel, escort, reception), encrypted for Mali.")

	// The handover, confirmed by both sides.
	handedOver := today.Truncate(time.Minute)
	first, err := s.send(s.ci, "handover.confirmation", "", contracts.HandoverConfirmation{HandedOverAt: handedOver})
	if err != nil {
		return err
	}
	counter, err := s.draft(s.ml, "handover.confirmation", "", contracts.HandoverConfirmation{HandedOverAt: handedOver})
	if err != nil {
		return err
	}
	counter.InReplyTo = first.Envelope.ID
	if _, err := s.exchange(s.ml, counter); err != nil {
		return err
	}
	s.say("Remise de l'enfant à la frontière : chaque partie signe sa confirmation, la seconde répond à la première avec la même heure ; le hub enregistre la remise.",
		"Handover at the border: each side signs its confirmation, the second answering the first with the same time; the hub records the handover.")

	if _, err := s.send(s.ml, "reintegration.plan", "return_reintegration", contracts.ReintegrationPlan{
		LivingWith: "mother", Location: &contracts.Location{Country: "ml", AdminArea: "ML-BKO"},
		Services: []string{"psychosocial_support", "education", "follow_up"}, Objectives: "Rescolarisation à la rentrée ; soutien psychosocial mensuel.",
		ReviewOn: date(90)}); err != nil {
		return err
	}
	s.say("ml.dnpef envoie le plan de réintégration.", "ml.dnpef sends the reintegration plan.")

	if err := s.followUps(date); err != nil {
		return err
	}

	if _, err := s.send(s.ml, "case.closed", "", contracts.CaseClosed{Reason: "reintegrated"}); err != nil {
		return err
	}
	s.say("ml.dnpef clôture le cas : réintégration réussie.", "ml.dnpef closes the case: reintegration achieved.")

	// Erasure: each side confirms; the hub then drops the ciphertext.
	if _, err := s.send(s.ci, "case.erasure_requested", "", contracts.ErasureRequested{Reason: "retention_period_ended"}); err != nil {
		return err
	}
	for _, c := range []*agency.Client{s.ml, s.ci} {
		if _, err := s.send(c, "case.erased", "", contracts.CaseErased{ErasedAt: time.Now().UTC().Truncate(time.Second)}); err != nil {
			return err
		}
	}
	s.say("Fin de la durée de conservation : ci.dpe-abidjan demande l'effacement ; chaque service confirme avoir effacé sa copie ; le hub efface alors les messages chiffrés qu'il gardait (le journal d'audit, qui n'en contient que les empreintes, reste vérifiable).",
		"Retention period over: ci.dpe-abidjan requests erasure; each service confirms it erased its copy; the hub then erases the encrypted messages it kept (the audit log, which only holds their digests, still verifies).")
	return nil
}

// followUps sends three follow-up reports, one of them signed offline and
// arriving before the one it follows.
func (s *story) followUps(date func(int) string) error {
	report := func(seq uint64, days int, situation string) (agency.Draft, error) {
		d, err := s.draft(s.ml, "followup.report", "follow_up", contracts.FollowupReport{
			VisitedOn: date(days), Situation: situation, Observations: "Awa va à l'école ; bonne relation avec sa mère."})
		d.Seq = seq
		return d, err
	}
	first, err := report(1, 30, "stable")
	if err != nil {
		return err
	}
	if _, err := s.exchange(s.ml, first); err != nil {
		return err
	}
	third, err := report(3, 90, "improving")
	if err != nil {
		return err
	}
	_, _, err = s.ml.Send(context.Background(), third)
	if !agency.IsCode(err, contracts.CodeOutOfOrder) {
		return fmt.Errorf("a follow-up report sent before the one it follows was not refused as out of order: %v", err)
	}
	s.say("ml.dnpef envoie ses rapports de suivi, numérotés. Le n°3, saisi hors ligne, arrive avant le n°2 : refusé (%s) ; le n°2 puis le n°3 passent, dans l'ordre.",
		"ml.dnpef sends its numbered follow-up reports. No. 3, written offline, arrives before no. 2: refused (%s); no. 2 then no. 3 go through, in order.",
		refusalText(err, s.lang))
	second, err := report(2, 60, "stable")
	if err != nil {
		return err
	}
	for _, d := range []agency.Draft{second, third} {
		if _, err := s.exchange(s.ml, d); err != nil {
			return err
		}
	}
	return nil
}

// refusalText is a hub refusal as a case worker reads it: the title, and
// for an invalid transition the state and what may be sent instead.
func refusalText(err error, lang string) string {
	var he *agency.HubError
	if !errors.As(err, &he) {
		return err.Error()
	}
	text := he.Title + " (" + he.Code + ")"
	if state, ok := he.Raw["state"].(string); ok {
		var allowed []string
		if list, ok := he.Raw["allowed"].([]any); ok {
			for _, k := range list {
				if s, ok := k.(string); ok {
					allowed = append(allowed, s)
				}
			}
		}
		text += pickLang(lang, " — étape « ", " — state “") + stateLabel(state, lang) + pickLang(lang, " », permis : ", "”, allowed: ") + strings.Join(allowed, ", ")
	}
	if exp, ok := he.Raw["expected_seq"].(float64); ok {
		text += fmt.Sprintf(pickLang(lang, " — n° attendu : %d", " — expected no. %d"), int(exp))
	}
	return text
}
