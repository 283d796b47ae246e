package primero

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/relais-hub/relais/contracts"
)

// FromReferral maps a received referral (the decrypted body and its
// envelope) to a Primero case to create on the receiving side, with
// DefaultOptions. See Options.FromReferral.
func FromReferral(body contracts.ReferralRequest, env contracts.Envelope) (Case, Report) {
	return DefaultOptions().FromReferral(body, env)
}

// FromReferral maps a received referral to a Primero case, in the form
// POST /api/v2/cases takes it: dates as ISO dates, tick boxes as booleans,
// yes/no lookups as "true"/"false", multi-selects as arrays of option ids.
// The sender's case reference goes to other_agency_id and the sending
// agency to other_agency_name, so that answers can be traced back.
//
// The report accounts for every field of the body ("body.…") and of the
// envelope ("envelope.…").
func (o Options) FromReferral(body contracts.ReferralRequest, env contracts.Envelope) (Case, Report) {
	r := &caseBuilder{o: o, led: newLedger(), c: Case{}}
	r.led.add("body", toTree(body))
	envTree := toTree(env)
	if envTree != nil {
		// The sealed body is the message itself, not a field of it.
		delete(envTree, "body")
	}
	r.led.add("envelope", envTree)
	r.build(body, env)
	return r.c, r.led.finish()
}

// toTree turns a contract value into generic JSON, as the wire has it.
func toTree(v any) map[string]any {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	return m
}

type caseBuilder struct {
	o   Options
	led *ledger
	c   Case
}

// set writes a Primero field and records the mapping.
func (r *caseBuilder) set(src, field string, value any, lossy bool, note string) {
	r.c[field] = value
	r.led.mapped(src, field, lossy, note)
}

// back translates a contract code to a Primero option id; a code with no
// id is dropped.
func (r *caseBuilder) back(src, lookup, code string) (string, bool) {
	id, ok := r.o.lookup(lookup).ID(code)
	if !ok {
		r.led.dropped(src, ReasonUnmappedOption, "lookup "+lookup)
		return "", false
	}
	return id, true
}

// lossy reports whether the id found for a code maps to another code.
func (r *caseBuilder) lossy(lookup, id, code string) bool {
	c, _ := r.o.lookup(lookup).Code(id)
	return c != code
}

func (r *caseBuilder) build(b contracts.ReferralRequest, env contracts.Envelope) {
	if r.o.ModuleID != "" {
		r.c["module_id"] = r.o.ModuleID
	}
	r.child(b.Child)
	r.location(b.Location)
	r.family(b.Family)
	r.concerns(b.ProtectionConcerns)
	r.documents(b.Documents)
	if b.LegalStatus != nil {
		if id, ok := r.back("body.legal_status.status", LookupLegalStatus, b.LegalStatus.Status); ok {
			r.set("body.legal_status.status", "displacement_status", id, r.lossy(LookupLegalStatus, id, b.LegalStatus.Status), "lookup legal_status")
		}
		r.led.dropped("body.legal_status.details", ReasonNoPrimeroField, "")
	}
	r.led.dropped("body.health_notes", ReasonNoPrimeroField, "")
	r.led.dropped("body.photo", ReasonAttachment, "upload as a case photo")
	if b.Narrative != "" {
		note := map[string]any{"unique_id": uuid.NewString(), "note_subject": "Relais", "note_text": b.Narrative}
		if !env.SentAt.IsZero() {
			note["note_date"] = isoDate(env.SentAt)
		}
		r.c["notes_section"] = []any{note}
		r.led.mapped("body.narrative", "notes_section[0].note_text", false, "")
	}
	if id, ok := r.back("body.urgency", LookupUrgency, b.Urgency); ok {
		r.set("body.urgency", "risk_level", id, r.lossy(LookupUrgency, id, b.Urgency), "lookup urgency")
	}
	var services []any
	for i, code := range b.RequestedServices {
		src := fmt.Sprintf("body.requested_services[%d]", i)
		if id, ok := r.back(src, LookupService, code); ok {
			r.led.mapped(src, fmt.Sprintf("services_section[%d].service_type", len(services)), r.lossy(LookupService, id, code), "lookup service")
			services = append(services, map[string]any{"unique_id": uuid.NewString(), "service_type": id})
		}
	}
	if len(services) > 0 {
		r.c["services_section"] = services
	}
	r.envelope(env)
}

func (r *caseBuilder) child(ch contracts.Child) {
	r.set("body.child.given_names", "name_first", ch.GivenNames, false, "")
	if ch.FamilyName != "" {
		r.set("body.child.family_name", "name_last", ch.FamilyName, false, "")
	}
	if full := strings.TrimSpace(ch.GivenNames + " " + ch.FamilyName); full != "" {
		r.c["name"] = full
	}
	// Other names go back to the slots ToDraft reads them from.
	for i, n := range ch.OtherNames {
		src := fmt.Sprintf("body.child.other_names[%d]", i)
		switch i {
		case 0:
			r.set(src, "name_nickname", n, false, "")
		case 1:
			r.set(src, "name_other", n, false, "")
		case 2:
			r.set(src, "name_given_pre_separation", n, false, "")
			r.c["name_given_post_separation"] = "true"
		default:
			r.led.dropped(src, ReasonSingleValue, "Primero has three other-name fields")
		}
	}
	if id, ok := r.back("body.child.sex", LookupSex, ch.Sex); ok {
		r.set("body.child.sex", "sex", id, r.lossy(LookupSex, id, ch.Sex), "lookup sex")
	}
	switch {
	case ch.BirthDate != "":
		r.set("body.child.birth_date", "date_of_birth", ch.BirthDate, false, "ISO date")
		r.c["estimated"] = false
	case ch.EstimatedAge != nil:
		r.set("body.child.estimated_age", "age", *ch.EstimatedAge, false, "")
		r.c["estimated"] = true
	}
	if ch.Nationality != "" {
		if id, ok := r.back("body.child.nationality", LookupCountry, ch.Nationality); ok {
			r.set("body.child.nationality", "nationality", []any{id}, r.lossy(LookupCountry, id, ch.Nationality), "lookup country")
		}
	}
	var langs []any
	for i, code := range ch.Languages {
		src := fmt.Sprintf("body.child.languages[%d]", i)
		if id, ok := r.back(src, LookupLanguage, code); ok {
			r.led.mapped(src, fmt.Sprintf("language[%d]", len(langs)), r.lossy(LookupLanguage, id, code), "lookup language")
			langs = append(langs, id)
		}
	}
	if len(langs) > 0 {
		r.c["language"] = langs
	}
	if ch.Phone != "" {
		r.set("body.child.phone", "telephone_current", ch.Phone, false, "")
	}
}

func (r *caseBuilder) location(loc *contracts.Location) {
	if loc == nil {
		return
	}
	if code, ok := r.o.locationCode(loc.Country, loc.AdminArea); ok {
		r.set("body.location.country", "location_current", code, false, "locations")
		r.led.mapped("body.location.admin_area", "location_current", false, "locations")
	} else {
		r.led.dropped("body.location", ReasonNoPrimeroField, "no location code for this country and area")
	}
	if loc.Place != "" {
		r.set("body.location.place", "address_current", loc.Place, false, "")
	}
	r.led.dropped("body.location.since", ReasonNoPrimeroField, "")
}

func (r *caseBuilder) family(members []contracts.FamilyMember) {
	var section []any
	for i, fm := range members {
		src := fmt.Sprintf("body.family[%d]", i)
		id, ok := r.back(src+".relationship", LookupRelationship, fm.Relationship)
		if !ok {
			r.led.dropped(src, ReasonMissingRequired, "relation")
			continue
		}
		dst := fmt.Sprintf("family_details_section[%d]", len(section))
		e := map[string]any{"unique_id": uuid.NewString(), "relation": id}
		r.led.mapped(src+".relationship", dst+".relation", r.lossy(LookupRelationship, id, fm.Relationship), "lookup relationship")
		if name := strings.TrimSpace(fm.GivenNames + " " + fm.FamilyName); name != "" {
			e["relation_name"] = name
			r.led.mapped(src+".given_names", dst+".relation_name", false, "")
			r.led.mapped(src+".family_name", dst+".relation_name", true, "joined to the given names")
		}
		if fm.Status != "" {
			if sid, ok := r.back(src+".status", LookupLifeStatus, fm.Status); ok {
				e["relation_is_alive"] = sid
				r.led.mapped(src+".status", dst+".relation_is_alive", r.lossy(LookupLifeStatus, sid, fm.Status), "lookup life_status")
			}
		}
		if fm.Phone != "" {
			e["relation_telephone"] = fm.Phone
			r.led.mapped(src+".phone", dst+".relation_telephone", false, "")
		}
		if fm.Address != "" {
			e["relation_address_current"] = fm.Address
			r.led.mapped(src+".address", dst+".relation_address_current", false, "")
		}
		if fm.Country != "" {
			if code, ok := r.o.locationCode(fm.Country, ""); ok {
				e["relation_location_current"] = code
				r.led.mapped(src+".country", dst+".relation_location_current", false, "locations")
			} else {
				r.led.dropped(src+".country", ReasonNoPrimeroField, "no location code for this country")
			}
		}
		section = append(section, e)
	}
	if len(section) > 0 {
		r.c["family_details_section"] = section
	}
}

// concerns: unaccompanied and separated are Primero's protection status;
// the other codes its protection concerns.
func (r *caseBuilder) concerns(pc *contracts.ProtectionConcerns) {
	if pc == nil {
		return
	}
	var concerns []any
	for i, code := range pc.Codes {
		src := fmt.Sprintf("body.protection_concerns.codes[%d]", i)
		id, ok := r.back(src, LookupConcern, code)
		if !ok {
			continue
		}
		lossy := r.lossy(LookupConcern, id, code)
		if (code == "unaccompanied" || code == "separated") && r.c["protection_status"] == nil {
			r.set(src, "protection_status", id, lossy, "lookup protection_concern")
			continue
		}
		r.led.mapped(src, fmt.Sprintf("protection_concerns[%d]", len(concerns)), lossy, "lookup protection_concern")
		concerns = append(concerns, id)
	}
	if len(concerns) > 0 {
		r.c["protection_concerns"] = concerns
	}
	if pc.Details != "" {
		r.set("body.protection_concerns.details", "protection_concerns_other", pc.Details, false, "")
	}
}

// documents: a national id card has its Primero field; the others are
// listed, in French, in documents_carried.
func (r *caseBuilder) documents(docs []contracts.Document) {
	var carried []string
	for i, d := range docs {
		src := fmt.Sprintf("body.documents[%d]", i)
		if d.Type == "national_id" && d.Number != "" && r.c["national_id_no"] == nil {
			r.set(src+".number", "national_id_no", d.Number, false, "type national_id")
			r.led.mapped(src+".type", "national_id_no", false, "")
			r.led.dropped(src, ReasonNoPrimeroField, "")
			continue
		}
		label, _ := contracts.DocumentTypes.Label(d.Type)
		parts := []string{label.FR}
		for _, p := range []string{d.Number, strings.ToUpper(d.IssuingCountry), d.ExpiresOn} {
			if p != "" {
				parts = append(parts, p)
			}
		}
		carried = append(carried, strings.Join(parts, " · "))
		r.led.mapped(src, "documents_carried", true, "listed as text")
	}
	if len(carried) > 0 {
		r.c["documents_carried"] = strings.Join(carried, "\n")
	}
}

// envelope: the consent becomes Primero's consent fields; routing
// metadata stays with the agent.
func (r *caseBuilder) envelope(env contracts.Envelope) {
	if env.Case != "" {
		r.set("envelope.case", "other_agency_id", env.Case, false, "the sender's case reference")
	}
	if env.From != "" {
		r.set("envelope.from", "other_agency_name", env.From, false, "the sending agency")
	}
	if c := env.Consent; c != nil {
		r.consent(c)
	}
	r.led.dropped("envelope", ReasonRelaisMetadata, "")
}

func (r *caseBuilder) consent(c *contracts.Consent) {
	switch c.Basis {
	case "consent":
		r.c["consent_for_services"] = true
		r.c["disclosure_other_orgs"] = true
		r.led.mapped("envelope.consent.basis", "disclosure_other_orgs", false, "")
		r.led.mapped("envelope.consent.basis", "consent_for_services", false, "")
	default:
		r.led.dropped("envelope.consent.basis", ReasonNoPrimeroField, "Primero records overrides and legal obligations on transitions")
	}
	if id, ok := r.back("envelope.consent.given_by", LookupConsentGiver, c.GivenBy); ok {
		r.set("envelope.consent.given_by", "interview_subject", id, r.lossy(LookupConsentGiver, id, c.GivenBy), "lookup consent_giver")
	}
	r.set("envelope.consent.child_assent", "child_consent", fmt.Sprint(c.ChildAssent), false, "lookup-yes-no")
	if f := r.o.ConsentDateField; f != "" && !c.ObtainedAt.IsZero() {
		r.set("envelope.consent.obtained_at", f, isoDate(c.ObtainedAt), false, "date")
	}
	for i, p := range c.Purposes {
		src := fmt.Sprintf("envelope.consent.purposes[%d]", i)
		if p == "family_tracing" {
			r.set(src, "consent_for_tracing", "true", false, "")
		}
	}
	if !slices.Contains(c.Purposes, "family_tracing") {
		r.c["consent_for_tracing"] = "false"
	}
	r.led.dropped("envelope.consent.age_band", ReasonDerived, "Primero computes it from the age")
	r.led.dropped("envelope.consent.purposes", ReasonNoPrimeroField, "covered by consent_for_services")
	r.led.dropped("envelope.consent.ref", ReasonRelaisMetadata, "")
	r.led.dropped("envelope.consent", ReasonNoPrimeroField, "")
}
