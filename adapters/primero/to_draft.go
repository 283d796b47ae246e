package primero

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/adapters/importkit"
	"github.com/relais-hub/relais/contracts"
)

const referralKind = "referral.request"

// ToDraft maps a Primero case and its Referral or Transfer transition to a
// referral.request draft for agency.Client.Send.
//
// The body holds what the contract can hold of the case; data_categories
// are the categories the body actually uses (and, with Options.Categories,
// no others); the consent comes from Primero's consent fields and is never
// invented: without consent to share (disclosure_other_orgs, plus
// consent_for_services for a referral, as Primero itself requires) the case
// is refused unless the transition is overridden with a reason that maps to
// an override reason and a supervisor's approval is supplied.
//
// The report accounts for every field of the case and the transition, also
// when an error is returned. Errors are *contracts.Problem values that name
// fields, never values.
func ToDraft(c Case, t Transition, o Options) (agency.Draft, Report, error) {
	m := &draftMapper{c: c, t: t, o: o, led: newLedger()}
	m.led.add("", c)
	m.led.add("transition", t)
	d, err := m.run()
	return d, m.led.finish(), err
}

type draftMapper struct {
	c   Case
	t   Transition
	o   Options
	led *ledger

	body    contracts.ReferralRequest
	typ     string
	caseRef string
	to      string
	purpose string
	// age is how the child's age is known, for the consent's age band.
	age childAge
}

// childAge records the source of the child's age.
type childAge struct {
	birth     time.Time // a real birth date
	birthPath string
	years     int // an estimated age
	yearsPath string
}

func (m *draftMapper) run() (agency.Draft, error) {
	// A routing refusal still maps the case, so that the report says what
	// would have been sent.
	routeErr := m.routing()
	if routeErr == nil {
		// The purpose decides which categories may be sent.
		m.purpose = m.purposeOf()
	}
	m.child()
	m.location()
	m.family()
	m.concerns()
	m.documents()
	m.legalStatus()
	m.narrative()
	m.urgency()
	m.services()
	m.classifyRest()
	if routeErr != nil {
		for _, f := range []string{"transition.type", "transition.transitioned_to_agency", "transition.record_id", "id"} {
			m.led.dropped(f, ReasonMissingRequired, "routing refused")
		}
		m.consentLeftovers()
		return agency.Draft{}, routeErr
	}
	consent, err := m.consent()
	if err != nil {
		return agency.Draft{}, err
	}
	raw, err := json.Marshal(m.body)
	if err != nil {
		return agency.Draft{}, fmt.Errorf("primero: encoding the body: %w", err)
	}
	if _, err := contracts.ValidateBody(referralKind, raw); err != nil {
		return agency.Draft{}, fmt.Errorf("primero: the mapped case is not a valid referral: %w", err)
	}
	categories := contracts.UsedCategories(&m.body)
	consent.DataCategories = categories
	return agency.Draft{
		Kind: referralKind, To: m.to, Case: m.caseRef, Purpose: m.purpose,
		DataCategories: categories, Consent: consent, Body: raw,
	}, nil
}

// routing reads the case reference, the transition type and the recipient.
func (m *draftMapper) routing() error {
	id, ok := asString(m.c["id"])
	if !ok || !contracts.ValidReference(id) {
		return contracts.Refuse(contracts.CodeBadRequest, "the case has no id usable as a pseudonymous case reference (field id)")
	}
	m.caseRef = id
	m.led.mapped("id", "envelope.case", false, "")
	if rid, ok := asString(m.t["record_id"]); ok && rid != id {
		return contracts.Refuse(contracts.CodeBadRequest, "transition.record_id does not name this case")
	}
	m.led.dropped("transition.record_id", ReasonPrimeroMetadata, "checked against the case id")
	m.typ = m.t.Type()
	if m.typ != "Referral" && m.typ != "Transfer" {
		return contracts.Refuse(contracts.CodeBadRequest, "transition.type must be Referral or Transfer")
	}
	if m.o.To != "" {
		m.to = m.o.To
		m.led.dropped("transition.transitioned_to_agency", ReasonPrimeroMetadata, "recipient given by the options")
		return nil
	}
	agencyID, _ := asString(m.t["transitioned_to_agency"])
	to, known := m.o.Agencies[agencyID]
	if !known {
		return contracts.Refuse(contracts.CodeUnknownRecipient, "no Relais agency for transition.transitioned_to_agency: set the recipient (to) or map the agency (agencies)")
	}
	m.to = to
	// Lossy: the receiving side gets a case, not the sender's transition.
	m.led.mapped("transition.transitioned_to_agency", "envelope.to", true, "agencies")
	return nil
}

// put sets a body field when its data category may be sent, and records
// the mapping; otherwise it records the drop.
func (m *draftMapper) put(src, target string, lossy bool, note string, set func()) bool {
	if category := categoryOf(target); !m.allows(category) {
		m.led.dropped(src, ReasonNotDeclared, category)
		return false
	}
	set()
	m.led.mapped(src, target, lossy, note)
	return true
}

// allows reports whether a data category may be sent for this purpose.
func (m *draftMapper) allows(category string) bool { return m.o.allows(m.purpose, category) }

// deny drops source fields of a section whose category may not be sent.
func (m *draftMapper) deny(category string, srcs ...string) {
	for _, s := range srcs {
		m.led.dropped(s, ReasonNotDeclared, category)
	}
}

// text reads one line of at most max characters at path; a value that
// breaks the rule is dropped.
func (m *draftMapper) text(path string, v any, max int) (string, bool) {
	s, ok := asString(v)
	if !ok {
		return "", false
	}
	if !textLine(s, max) {
		m.led.dropped(path, ReasonInvalidValue, fmt.Sprintf("text_line max=%d", max))
		return "", false
	}
	return s, true
}

// longText reads free text of at most max characters (line breaks allowed).
func (m *draftMapper) longText(path string, v any, max int) (string, bool) {
	s, ok := asString(v)
	if !ok {
		return "", false
	}
	if utf8.RuneCountInString(s) > max {
		m.led.dropped(path, ReasonInvalidValue, fmt.Sprintf("max=%d", max))
		return "", false
	}
	return s, true
}

// option translates an option id at path through a lookup; an id the
// lookup does not know is dropped.
func (m *draftMapper) option(path string, v any, lookup string) (id, code string, ok bool) {
	id, ok = asString(v)
	if !ok {
		return "", "", false
	}
	code, ok = m.o.lookup(lookup).Code(id)
	if !ok {
		m.led.dropped(path, ReasonUnmappedOption, "lookup "+lookup)
	}
	return id, code, ok
}

// lossy reports whether mapping a code back would not give the same id.
func (m *draftMapper) lossy(lookup, id, code string) bool {
	back, _ := m.o.lookup(lookup).ID(code)
	return back != id
}

// phone reads a telephone number and normalises it to E.164.
func (m *draftMapper) phone(path string, v any) (string, bool) {
	s, ok := asString(v)
	if !ok {
		return "", false
	}
	p, ok := normalizePhone(s)
	if !ok {
		m.led.dropped(path, ReasonInvalidValue, "phone: E.164 with country code")
	}
	return p, ok
}

// item is one value of a multi-select, with its path.
type item struct {
	path, id string
}

// items lists a multi-select's non-empty values.
func items(key string, v any) []item {
	if list, isList := v.([]any); isList {
		var out []item
		for i, e := range list {
			if s, ok := asString(e); ok {
				out = append(out, item{fmt.Sprintf("%s[%d]", key, i), s})
			}
		}
		return out
	}
	if s, ok := asString(v); ok {
		return []item{{key, s}}
	}
	return nil
}

func (m *draftMapper) child() {
	ch := &m.body.Child
	c := m.c
	if s, ok := m.text("name_first", c["name_first"], 100); ok {
		m.put("name_first", "body.child.given_names", false, "", func() { ch.GivenNames = s })
	}
	if s, ok := m.text("name_middle", c["name_middle"], 100); ok {
		if joined := ch.GivenNames + " " + s; ch.GivenNames != "" && textLine(joined, 100) {
			m.put("name_middle", "body.child.given_names", true, "joined to name_first", func() { ch.GivenNames = joined })
		} else {
			m.led.dropped("name_middle", ReasonInvalidValue, "given_names text_line max=100")
		}
	}
	if s, ok := m.text("name_last", c["name_last"], 100); ok {
		m.put("name_last", "body.child.family_name", false, "", func() { ch.FamilyName = s })
	}
	m.led.dropped("name", ReasonDerived, "Primero builds it from name_first, name_middle and name_last")
	// Other names take fixed slots so that mapping back finds each one.
	for slot, key := range []string{"name_nickname", "name_other", "name_given_pre_separation"} {
		s, ok := m.text(key, c[key], 100)
		if !ok {
			continue
		}
		if i := slices.Index(ch.OtherNames, s); i >= 0 {
			m.led.mapped(key, fmt.Sprintf("body.child.other_names[%d]", i), true, "same as another name")
			continue
		}
		if len(ch.OtherNames) == 10 {
			m.led.dropped(key, ReasonInvalidValue, "other_names max=10")
			continue
		}
		target := fmt.Sprintf("body.child.other_names[%d]", len(ch.OtherNames))
		m.put(key, target, len(ch.OtherNames) != slot, "", func() { ch.OtherNames = append(ch.OtherNames, s) })
	}
	m.led.dropped("name_given_post_separation", ReasonDerived, "implied by name_given_pre_separation")
	if id, code, ok := m.option("sex", c["sex"], LookupSex); ok {
		m.put("sex", "body.child.sex", m.lossy(LookupSex, id, code), "lookup sex", func() { ch.Sex = code })
	}
	m.childAge()
	m.nationality()
	for _, it := range items("language", c["language"]) {
		_, code, ok := m.option(it.path, it.id, LookupLanguage)
		switch {
		case !ok:
		case slices.Contains(ch.Languages, code):
			m.led.mapped(it.path, fmt.Sprintf("body.child.languages[%d]", slices.Index(ch.Languages, code)), true, "same code as another option")
		case len(ch.Languages) == 10:
			m.led.dropped(it.path, ReasonInvalidValue, "languages max=10")
		default:
			target := fmt.Sprintf("body.child.languages[%d]", len(ch.Languages))
			m.put(it.path, target, m.lossy(LookupLanguage, it.id, code), "lookup language", func() { ch.Languages = append(ch.Languages, code) })
		}
	}
	if p, ok := m.phone("telephone_current", c["telephone_current"]); ok {
		m.put("telephone_current", "body.child.phone", false, "E.164", func() { ch.Phone = p })
	}
}

// childAge sends a real birth date as birth_date and an estimate as
// estimated_age (the contract wants exactly one of the two).
func (m *draftMapper) childAge() {
	c, ch := m.c, &m.body.Child
	dob, dobOK := asDate(c["date_of_birth"])
	if !dobOK && !isEmpty(c["date_of_birth"]) {
		m.led.dropped("date_of_birth", ReasonInvalidValue, "date: dd-MMM-yyyy or yyyy-mm-dd")
	}
	age, ageOK := asInt(c["age"])
	if !ageOK && !isEmpty(c["age"]) {
		m.led.dropped("age", ReasonInvalidValue, "integer")
	}
	estimated := isTrue(c["estimated"])
	switch {
	case dobOK && !estimated:
		if m.put("date_of_birth", "body.child.birth_date", false, "ISO date", func() { ch.BirthDate = isoDate(dob) }) {
			m.led.mapped("estimated", "body.child.birth_date", false, "selects birth_date")
			m.age = childAge{birth: dob, birthPath: "date_of_birth"}
		}
		m.led.dropped("age", ReasonDerived, "Primero computes it from date_of_birth")
	case ageOK && age >= 0 && age <= 25:
		if m.put("age", "body.child.estimated_age", false, "", func() { ch.EstimatedAge = &age }) {
			m.led.mapped("estimated", "body.child.estimated_age", false, "selects estimated_age")
			m.age = childAge{years: age, yearsPath: "age"}
		}
		m.led.dropped("date_of_birth", ReasonDerived, "an estimated date of birth is sent as estimated_age")
	case dobOK:
		// An estimated birth date without an age: send the age it implies.
		years := importkit.AgeAt(dob, time.Now().UTC())
		if years >= 0 && years <= 25 && m.put("date_of_birth", "body.child.estimated_age", true, "age implied by an estimated date of birth", func() { ch.EstimatedAge = &years }) {
			m.led.mapped("estimated", "body.child.estimated_age", false, "selects estimated_age")
			m.age = childAge{years: years, yearsPath: "date_of_birth"}
		}
	case ageOK:
		m.led.dropped("age", ReasonInvalidValue, "estimated_age min=0 max=25")
	}
	m.led.dropped("estimated", ReasonMissingRequired, "no usable date of birth or age")
	m.led.dropped("date_of_birth", ReasonMissingRequired, "not sent")
	m.led.dropped("age", ReasonMissingRequired, "not sent")
}

// nationality: the contract holds one; further ones are reported.
func (m *draftMapper) nationality() {
	ch := &m.body.Child
	for _, it := range items("nationality", m.c["nationality"]) {
		_, code, ok := m.option(it.path, it.id, LookupCountry)
		switch {
		case !ok:
		case ch.Nationality == "":
			m.put(it.path, "body.child.nationality", m.lossy(LookupCountry, it.id, code), "lookup country", func() { ch.Nationality = code })
		case ch.Nationality == code:
			m.led.mapped(it.path, "body.child.nationality", true, "same code as another option")
		default:
			m.led.dropped(it.path, ReasonSingleValue, "child.nationality")
		}
	}
}

// purposeOf: by transition type, and family tracing for a referral to a
// family-tracing service.
func (m *draftMapper) purposeOf() string {
	p := m.o.Purposes[m.typ]
	if p == "" {
		p = "protection_referral"
	}
	if _, code, _ := m.optionQuiet(m.t["service"], LookupService); m.typ == "Referral" && code == "family_tracing" {
		p = "family_tracing"
	}
	m.led.mapped("transition.type", "envelope.purpose", true, "purposes")
	return p
}

// optionQuiet translates without reporting.
func (m *draftMapper) optionQuiet(v any, lookup string) (string, string, bool) {
	id, ok := asString(v)
	if !ok {
		return "", "", false
	}
	code, ok := m.o.lookup(lookup).Code(id)
	return id, code, ok
}

// classifyRest accounts for the fields the contract does not carry.
func (m *draftMapper) classifyRest() {
	for _, f := range caseMetadataFields {
		m.led.dropped(f, ReasonPrimeroMetadata, "")
	}
	for _, f := range caseNoContractFields {
		m.led.dropped(f, ReasonNoContractField, "")
	}
	for _, f := range transitionMetadataFields {
		m.led.dropped("transition."+f, ReasonPrimeroMetadata, "")
	}
	m.led.dropped("notes_section", ReasonInternalNote, "")
	m.led.dropped("photos", ReasonAttachment, "")
}
