package policy

import (
	"fmt"
	"slices"
	"strings"

	"github.com/relais-hub/relais/contracts"
)

// notWithdrawn refuses a message under a consent its sender has withdrawn,
// unless the message closes or erases the case.
func (e *evaluation) notWithdrawn(consent *contracts.Consent) bool {
	own := ConsentRef{Agency: e.sender, Ref: consent.Ref}
	if own == e.in.TransferConsent {
		return true // already checked for the transfer
	}
	return e.consentStands(own, "consent.ref")
}

// consentStands checks one consent against the withdrawal registry.
func (e *evaluation) consentStands(ref ConsentRef, field string) bool {
	if slices.Contains(withdrawalExemptKinds, e.env.Kind) {
		return true
	}
	if e.in.Withdrawals == nil {
		return e.fail(contracts.CodeInternal, RuleConfiguration, fmt.Errorf("policy: Input.Withdrawals is nil"), label(
			"Le registre des retraits de consentement n'est pas configuré.",
			"The consent withdrawal registry is not configured."))
	}
	withdrawn, err := e.in.Withdrawals.Withdrawn(e.ctx, ref.Agency, ref.Ref)
	if err != nil {
		return e.fail(contracts.CodeUnavailable, RuleLookup, fmt.Errorf("policy: checking consent withdrawal: %w", err), label(
			"Le registre des retraits de consentement n'a pas pu être consulté.",
			"The consent withdrawal registry could not be consulted."))
	}
	if !withdrawn {
		return true
	}
	what := label("dont relève ce message", "this message relies on")
	if field == "transfer" {
		what = label("sous lequel ce transfert a été ouvert", "this transfer was opened under")
	}
	return e.deny(contracts.CodeConsentWithdrawn, RuleWithdrawal, []string{field}, labelf(
		"%s a retiré le consentement %s. Seuls restent possibles : %s.",
		"%s withdrew the consent %s. Only these remain possible: %s.",
		same(ref.Agency), what, list(withdrawalExemptKinds)))
}

// basisAccepted checks that the corridor accepts the lawful basis used.
func (e *evaluation) basisAccepted(consent *contracts.Consent) bool {
	c := e.corridor
	if c.AcceptsBasis(consent.Basis) {
		return true
	}
	fields := []string{"consent.basis"}
	if consent.Basis == "best_interests_override" {
		return e.deny(contracts.CodeOverrideNotAllowed, RuleBasisAccepted, fields, labelf(
			"L'accord %s ne permet pas de déroger au consentement, même dans l'intérêt supérieur de l'enfant. Fondements acceptés : %s.",
			"Agreement %s does not allow overriding consent, even in the child's best interests. Accepted bases: %s.",
			corridorName(c), terms(contracts.ConsentBases, c.LegalBases)))
	}
	return e.deny(contracts.CodeLegalBasisNotAccepted, RuleBasisAccepted, fields, labelf(
		"L'accord %s n'accepte pas le fondement %s. Fondements acceptés : %s.",
		"Agreement %s does not accept the basis %s. Accepted bases: %s.",
		corridorName(c), terms(contracts.ConsentBases, []string{consent.Basis}), terms(contracts.ConsentBases, c.LegalBases)))
}

// notExpired: a consent (or the override or legal decision recorded in its
// place) is valid strictly before its expiry.
func (e *evaluation) notExpired(consent *contracts.Consent) bool {
	if consent.ExpiresAt.IsZero() || e.now.Before(consent.ExpiresAt) {
		return true
	}
	return e.deny(contracts.CodeConsentExpired, RuleConsentExpiry, []string{"consent.expires_at"}, labelf(
		"Le consentement a expiré le %s ; le message est traité le %s.",
		"The consent expired on %s; the message is processed on %s.",
		instant(consent.ExpiresAt), instant(e.now)))
}

// coversRecipient: the consent names the recipient agency or its country.
func (e *evaluation) coversRecipient(consent *contracts.Consent) bool {
	country := contracts.AgencyCountry(e.recipient)
	if slices.Contains(consent.Recipients, e.recipient) || (country != "" && slices.Contains(consent.Recipients, country)) {
		return true
	}
	return e.deny(contracts.CodeConsentScopeRecipient, RuleScopeRecipient, []string{"consent.recipients"}, labelf(
		"Le consentement ne couvre ni le service destinataire %s ni son pays. Destinataires couverts : %s.",
		"The consent covers neither the recipient agency %s nor its country. Recipients covered: %s.",
		same(e.recipient), list(consent.Recipients)))
}

// coversPurpose: the consent names the message's purpose.
func (e *evaluation) coversPurpose(consent *contracts.Consent) bool {
	if slices.Contains(consent.Purposes, e.env.Purpose) {
		return true
	}
	return e.deny(contracts.CodeConsentScopePurpose, RuleScopePurpose, []string{"purpose", "consent.purposes"}, labelf(
		"Le consentement couvre : %s ; le message a pour finalité : %s.",
		"The consent covers: %s; the message's purpose is: %s.",
		terms(contracts.Purposes, consent.Purposes), terms(contracts.Purposes, []string{e.env.Purpose})))
}

// coversCategories: every category of the message is in the consent.
func (e *evaluation) coversCategories(consent *contracts.Consent) bool {
	extra := missingFrom(e.env.DataCategories, consent.DataCategories)
	if len(extra) == 0 {
		return true
	}
	return e.deny(contracts.CodeCategoryNotAllowed, RuleScopeCategories, []string{"data_categories", "consent.data_categories"}, labelf(
		"Le consentement ne couvre pas ces catégories de données du message : %s.",
		"The consent does not cover these data categories of the message: %s.",
		terms(contracts.DataCategories, extra)))
}

// ageBandTable names the table in force, for explanations.
func (e *evaluation) ageBandTable() contracts.Label {
	if e.corridor.AgeBands.Custom {
		return labelf("la table des âges de l'accord %s", "the age table of agreement %s", corridorName(e.corridor))
	}
	return label("la table des âges par défaut (docs/consent.md)", "the default age table (docs/consent.md)")
}

// giverFitsAgeBand: who consented is entitled to for the declared band.
// The band itself is not repeated in the reason: it describes the child.
func (e *evaluation) giverFitsAgeBand(consent *contracts.Consent) bool {
	rule, ok := e.corridor.AgeBands.Bands[consent.AgeBand]
	if ok && slices.Contains(rule.ConsentBy, consent.GivenBy) {
		return true
	}
	return e.deny(contracts.CodeConsentGiverInvalid, RuleConsentGiver, []string{"consent.given_by", "consent.age_band"}, labelf(
		"Selon %s, pour la tranche d'âge déclarée, le consentement doit être donné par : %s ; il a été donné par : %s.",
		"Under %s, for the declared age band, consent must be given by: %s; it was given by: %s.",
		e.ageBandTable(), terms(contracts.ConsentGivers, rule.ConsentBy), terms(contracts.ConsentGivers, []string{consent.GivenBy})))
}

// childAssented: when an adult consents for a child of a band that
// requires it, the child's assent is recorded.
func (e *evaluation) childAssented(consent *contracts.Consent) bool {
	rule := e.corridor.AgeBands.Bands[consent.AgeBand]
	if !rule.ChildAssentRequired || consent.GivenBy == "child" || consent.ChildAssent {
		return true
	}
	return e.deny(contracts.CodeChildAssentMissing, RuleChildAssent, []string{"consent.child_assent", "consent.age_band"}, labelf(
		"Selon %s, pour la tranche d'âge déclarée, l'accord de l'enfant doit être recueilli et noté (child_assent) ; il ne l'est pas.",
		"Under %s, for the declared age band, the child's assent must be sought and recorded (child_assent); it is not.",
		e.ageBandTable()))
}

// legalReferenceListed: a legal obligation cites a text the corridor
// accepts. The sender's reference is not repeated (it may number a court
// decision about the child).
func (e *evaluation) legalReferenceListed(consent *contracts.Consent) {
	c := e.corridor
	if ref, ok := c.legalReference(consent.LegalReference); ok {
		e.allow(RuleLegalObligationOK, []string{"consent.legal_reference"}, labelf(
			"Obligation légale : le texte cité est reconnu par l'accord %s (%s).",
			"Legal obligation: the text cited is recognised by agreement %s (%s).",
			corridorName(c), same(ref.ID)))
		return
	}
	fr := make([]string, len(c.LegalReferences))
	en := make([]string, len(c.LegalReferences))
	for i, r := range c.LegalReferences {
		fr[i] = "« " + r.Cite + " »"
		en[i] = "“" + r.Cite + "”"
	}
	cites := contracts.Label{FR: strings.Join(fr, " ; "), EN: strings.Join(en, "; ")}
	if len(c.LegalReferences) == 0 {
		cites = label("(aucun)", "(none)")
	}
	e.deny(contracts.CodeLegalBasisNotAccepted, RuleLegalReference, []string{"consent.legal_reference"}, labelf(
		"Le texte cité n'est pas reconnu par l'accord %s. Textes reconnus : %s.",
		"The text cited is not recognised by agreement %s. Texts recognised: %s.",
		corridorName(c), cites))
}
