package primero

import (
	"fmt"
	"slices"
	"time"

	"github.com/relais-hub/relais/adapters/importkit"
	"github.com/relais-hub/relais/contracts"
)

// consent derives the envelope's consent from Primero's consent fields.
// It mirrors Primero's own rule for a transition (Referral:
// disclosure_other_orgs and consent_for_services; Transfer:
// disclosure_other_orgs, or consent for this individual transfer), then
// checks what Primero records about the scope of that consent.
func (m *draftMapper) consent() (*contracts.Consent, error) {
	defer m.consentLeftovers()
	m.led.dropped("consent_reporting", ReasonNotSharingBasis, "")
	m.led.dropped("consent_source_other", ReasonNoContractField, "free text")
	m.led.dropped("consent_info_sharing_others", ReasonNoContractField, "free text")
	c, t := m.c, m.t
	for _, f := range []string{"disclosure_other_orgs", "consent_for_services", "consent_for_tracing", "child_consent"} {
		if _, ok := asBool(c[f]); !ok && !isEmpty(c[f]) {
			m.led.dropped(f, ReasonInvalidValue, "boolean: true or false")
		}
	}
	disclosure := isTrue(c["disclosure_other_orgs"])
	services := isTrue(c["consent_for_services"])
	individual := m.typ == "Transfer" && isTrue(t["consent_individual_transfer"])
	switch {
	case m.typ == "Referral" && disclosure && services:
		m.led.mapped("disclosure_other_orgs", "envelope.consent.basis", false, "consent")
		m.led.mapped("consent_for_services", "envelope.consent.basis", false, "consent")
		return m.givenConsent(false)
	case m.typ == "Transfer" && (disclosure || individual):
		if disclosure {
			m.led.mapped("disclosure_other_orgs", "envelope.consent.basis", false, "consent")
		} else {
			m.led.mapped("transition.consent_individual_transfer", "envelope.consent.basis", true, "consent to this transfer")
		}
		m.led.dropped("consent_for_services", ReasonNotRead, "a transfer reads disclosure_other_orgs")
		return m.givenConsent(!disclosure)
	case isTrue(t["consent_overridden"]):
		return m.overrideConsent()
	}
	return nil, contracts.Refuse(contracts.CodeConsentMissing,
		"Primero records no consent to share this case (disclosure_other_orgs%s) and the transition is not overridden (transition.consent_overridden)",
		map[bool]string{true: ", consent_for_services", false: ""}[m.typ == "Referral"])
}

// givenConsent builds basis consent. individual: the consent was recorded
// on the transfer itself (consent_individual_transfer), dated by it.
func (m *draftMapper) givenConsent(individual bool) (*contracts.Consent, error) {
	if err := m.withholding(); err != nil {
		return nil, err
	}
	if err := m.sharingScope(); err != nil {
		return nil, err
	}
	m.led.dropped("transition.consent_overridden", ReasonNotRead, "consent given: no override")
	giver, err := m.giver()
	if err != nil {
		return nil, err
	}
	var obtained time.Time
	ref := m.caseRef + ":consent"
	if individual {
		if obtained, err = m.transitionTime(); err != nil {
			return nil, err
		}
		ref, _ = asString(m.t["id"])
	} else if obtained, err = m.consentDate(); err != nil {
		return nil, err
	}
	if !contracts.ValidReference(ref) {
		ref = m.caseRef
	}
	return m.assemble("consent", ref, giver, obtained, nil)
}

// overrideConsent builds a best-interests override: Primero's
// consent_overridden with a reason that maps to an override reason, and a
// supervisor's approval that Primero cannot hold.
func (m *draftMapper) overrideConsent() (*contracts.Consent, error) {
	m.led.mapped("transition.consent_overridden", "envelope.consent.basis", true, "best_interests_override")
	if err := m.withholding(); err != nil {
		return nil, err
	}
	path := "transition.consent_override_reason"
	v := m.t["consent_override_reason"]
	if isEmpty(v) {
		path, v = "consent_override_reason", m.c["consent_override_reason"]
	}
	id, code, ok := m.optionQuiet(v, LookupOverrideReason)
	if !ok {
		return nil, contracts.Refuse(contracts.CodeConsentMissing,
			"consent is overridden (transition.consent_overridden) but consent_override_reason does not map to imminent_harm, caregiver_is_risk or caregiver_unreachable")
	}
	m.led.mapped(path, "envelope.consent.override.reason", m.lossy(LookupOverrideReason, id, code), "lookup override_reason")
	if m.o.OverrideApproval == "" {
		return nil, contracts.Refuse(contracts.CodeOverrideUnapproved,
			"a best-interests override needs a supervisor's approval (a JWS by a second key), which Primero does not record: supply it with the override")
	}
	giver, err := m.giver()
	if err != nil {
		return nil, err
	}
	obtained, err := m.transitionTime()
	if err != nil {
		return nil, err
	}
	m.led.dropped("consent_info_sharing", ReasonNotRead, "consent overridden")
	override := &contracts.Override{Reason: code, Approval: m.o.OverrideApproval}
	return m.assemble("best_interests_override", m.caseRef+":override", giver, obtained, override)
}

// assemble completes a consent: age band, assent, purposes, recipient.
func (m *draftMapper) assemble(basis, ref, giver string, obtained time.Time, override *contracts.Override) (*contracts.Consent, error) {
	band, err := m.ageBand(obtained)
	if err != nil {
		return nil, err
	}
	purposes, err := m.consentPurposes()
	if err != nil {
		return nil, err
	}
	if !contracts.ValidReference(ref) {
		ref = m.caseRef
	}
	return &contracts.Consent{
		Ref: ref, Basis: basis, GivenBy: giver, ChildAssent: m.assent(), AgeBand: band,
		Recipients: []string{m.to}, Purposes: purposes, ObtainedAt: obtained, Override: override,
	}, nil
}

// withholding: a case that records information to withhold goes out only
// once a case worker has checked the referral against it; the
// instructions are free text no program can apply.
func (m *draftMapper) withholding() error {
	paths := []string{"disclosure_deny_details", "withholding_info_reason", "withholding_info_other_reason"}
	present := false
	for _, p := range paths {
		present = present || !isEmpty(m.c[p])
	}
	if !present {
		return nil
	}
	if !m.o.WithholdingReviewed {
		return contracts.Refuse(contracts.CodeCategoryNotAllowed,
			"the case records information to withhold (disclosure_deny_details, withholding_info_reason): a case worker must check that this referral respects it, then confirm")
	}
	for _, p := range paths {
		m.led.dropped(p, ReasonWithholdReviewed, "")
	}
	return nil
}

// sharingScope: consent_info_sharing, when filled, must include sharing
// with agencies.
func (m *draftMapper) sharingScope() error {
	its := items("consent_info_sharing", m.c["consent_info_sharing"])
	if len(its) == 0 {
		return nil
	}
	covers := false
	for _, it := range its {
		covers = covers || slices.Contains(m.o.SharingWithAgencies, it.id)
	}
	if !covers {
		return contracts.Refuse(contracts.CodeConsentScopeRecipient,
			"consent_info_sharing does not include sharing with other agencies")
	}
	m.led.mapped("consent_info_sharing", "envelope.consent.recipients", true, "covers agencies: recipient only")
	return nil
}

// giver: who consented, from interview_subject ("Consent obtained from").
func (m *draftMapper) giver() (string, error) {
	id, code, ok := m.optionQuiet(m.c["interview_subject"], LookupConsentGiver)
	if !ok {
		return "", contracts.Refuse(contracts.CodeConsentGiverInvalid,
			"interview_subject does not say who gave consent (the child, a parent, a guardian or a legal representative)")
	}
	m.led.mapped("interview_subject", "envelope.consent.given_by", m.lossy(LookupConsentGiver, id, code), "lookup consent_giver")
	return code, nil
}

// consentDate reads the deployment's consent date field.
func (m *draftMapper) consentDate() (time.Time, error) {
	f := m.o.ConsentDateField
	if f == "" {
		return time.Time{}, contracts.Refuse(contracts.CodeConsentMissing,
			"no consent date: stock Primero forms have no such field; name the deployment's consent date field (consent_date_field)")
	}
	d, ok := asDate(m.c[f])
	if !ok {
		return time.Time{}, contracts.Refuse(contracts.CodeConsentMissing, "the consent date (%s) is missing or not a date", f)
	}
	m.led.mapped(f, "envelope.consent.obtained_at", false, "date")
	return d, nil
}

// transitionTime dates a consent or override recorded on the transition.
func (m *draftMapper) transitionTime() (time.Time, error) {
	at, ok := asTime(m.t["created_at"])
	if !ok {
		return time.Time{}, contracts.Refuse(contracts.CodeConsentMissing, "transition.created_at is missing or not a time")
	}
	m.led.mapped("transition.created_at", "envelope.consent.obtained_at", true, "recorded on the transition")
	return at.Truncate(time.Millisecond), nil
}

// ageBand is the child's age band when consent was obtained.
func (m *draftMapper) ageBand(at time.Time) (string, error) {
	switch {
	case m.age.birthPath != "":
		m.led.mapped(m.age.birthPath, "envelope.consent.age_band", true, "age at consent")
		return importkit.AgeBand(importkit.AgeAt(m.age.birth, at)), nil
	case m.age.yearsPath != "":
		m.led.mapped(m.age.yearsPath, "envelope.consent.age_band", true, "age band")
		return importkit.AgeBand(m.age.years), nil
	}
	return "", contracts.Refuse(contracts.CodeConsentMissing, "the child's age is unknown (date_of_birth, age): the consent's age band cannot be set")
}

// assent: child_consent ("Was the child consent obtained?", lookup-yes-no).
func (m *draftMapper) assent() bool {
	b, ok := asBool(m.c["child_consent"])
	if ok {
		m.led.mapped("child_consent", "envelope.consent.child_assent", false, "lookup-yes-no")
	}
	return ok && b
}

// consentPurposes: the message's purpose, plus family tracing when
// consent_for_tracing says so; an explicit no to tracing refuses a tracing
// referral.
func (m *draftMapper) consentPurposes() ([]string, error) {
	purposes := []string{m.purpose}
	tracing, set := asBool(m.c["consent_for_tracing"])
	switch {
	case !set:
	case !tracing && m.purpose == "family_tracing":
		return nil, contracts.Refuse(contracts.CodeConsentScopePurpose, "consent_for_tracing is no, and this referral is for family tracing")
	case tracing && m.purpose != "family_tracing":
		m.led.mapped("consent_for_tracing", fmt.Sprintf("envelope.consent.purposes[%d]", len(purposes)), false, "family_tracing")
		purposes = append(purposes, "family_tracing")
	case tracing:
		m.led.mapped("consent_for_tracing", "envelope.consent.purposes[0]", false, "family_tracing")
	default:
		// No to tracing: the purposes simply leave it out.
		m.led.mapped("consent_for_tracing", "envelope.consent.purposes", true, "family_tracing left out")
	}
	return purposes, nil
}

// consentLeftovers accounts for consent fields the chosen basis did not
// read.
func (m *draftMapper) consentLeftovers() {
	for _, f := range consentFields {
		m.led.dropped(f, ReasonNotRead, "")
	}
	for _, f := range transitionConsentFields {
		m.led.dropped("transition."+f, ReasonNotRead, "")
	}
	if f := m.o.ConsentDateField; f != "" {
		m.led.dropped(f, ReasonNotRead, "")
	}
	for _, f := range []string{"disclosure_deny_details", "withholding_info_reason", "withholding_info_other_reason"} {
		m.led.dropped(f, ReasonNotRead, "no consent to share")
	}
}
