package primero

import (
	"fmt"
	"slices"

	"github.com/relais-hub/relais/contracts"
)

func (m *draftMapper) location() {
	if !m.allows("location") {
		m.deny("location", "location_current", "address_current")
		return
	}
	code, hasCode := asString(m.c["location_current"])
	place, known := m.o.Locations[code]
	if hasCode && !known {
		m.led.dropped("location_current", ReasonUnmappedOption, "locations")
	}
	addr, addrOK := m.text("address_current", m.c["address_current"], 200)
	if !known {
		if addrOK {
			m.led.dropped("address_current", ReasonMissingRequired, "location.country")
		}
		return
	}
	loc := &contracts.Location{Country: place.Country, AdminArea: place.AdminArea}
	back, _ := m.o.locationCode(place.Country, place.AdminArea)
	m.led.mapped("location_current", "body.location.country", back != code, "locations")
	if place.AdminArea != "" {
		m.led.mapped("location_current", "body.location.admin_area", back != code, "locations")
	}
	if addrOK {
		loc.Place = addr
		m.led.mapped("address_current", "body.location.place", false, "")
	}
	m.body.Location = loc
}

func (m *draftMapper) family() {
	members, _ := m.c["family_details_section"].([]any)
	for i, raw := range members {
		prefix := fmt.Sprintf("family_details_section[%d]", i)
		mem, isObject := raw.(map[string]any)
		switch {
		case !isObject:
			m.led.dropped(prefix, ReasonInvalidValue, "subform entry")
			continue
		case !m.allows("family"):
			m.led.dropped(prefix, ReasonNotDeclared, "family")
			continue
		case len(m.body.Family) == 30:
			m.led.dropped(prefix, ReasonInvalidValue, "family max=30")
			continue
		}
		relID, rel, ok := m.option(prefix+".relation", mem["relation"], LookupRelationship)
		if !ok {
			m.led.dropped(prefix, ReasonMissingRequired, "family[].relationship")
			continue
		}
		base := fmt.Sprintf("body.family[%d]", len(m.body.Family))
		fm := contracts.FamilyMember{Relationship: rel}
		m.led.mapped(prefix+".relation", base+".relationship", m.lossy(LookupRelationship, relID, rel), "lookup relationship")
		if s, ok := m.text(prefix+".relation_name", mem["relation_name"], 100); ok {
			m.led.mapped(prefix+".relation_name", base+".given_names", false, "full name kept whole")
			fm.GivenNames = s
		}
		if id, code, ok := m.option(prefix+".relation_is_alive", mem["relation_is_alive"], LookupLifeStatus); ok {
			m.led.mapped(prefix+".relation_is_alive", base+".status", m.lossy(LookupLifeStatus, id, code), "lookup life_status")
			fm.Status = code
		}
		if p, ok := m.phone(prefix+".relation_telephone", mem["relation_telephone"]); ok {
			m.put(prefix+".relation_telephone", base+".phone", false, "E.164", func() { fm.Phone = p })
		}
		if s, ok := m.text(prefix+".relation_address_current", mem["relation_address_current"], 300); ok {
			m.put(prefix+".relation_address_current", base+".address", false, "", func() { fm.Address = s })
		}
		m.relativeCountry(prefix+".relation_location_current", mem["relation_location_current"], base, &fm)
		for _, f := range familyMetadataFields {
			m.led.dropped(prefix+"."+f, ReasonPrimeroMetadata, "")
		}
		for _, f := range familyNoContractFields {
			m.led.dropped(prefix+"."+f, ReasonNoContractField, "")
		}
		m.body.Family = append(m.body.Family, fm)
	}
}

// relativeCountry keeps the country of a relative's location.
func (m *draftMapper) relativeCountry(path string, v any, base string, fm *contracts.FamilyMember) {
	code, ok := asString(v)
	if !ok {
		return
	}
	place, known := m.o.Locations[code]
	if !known {
		m.led.dropped(path, ReasonUnmappedOption, "locations")
		return
	}
	back, _ := m.o.locationCode(place.Country, "")
	m.put(path, base+".country", back != code, "locations: country only", func() { fm.Country = place.Country })
}

func (m *draftMapper) concerns() {
	srcs := []string{"protection_concerns", "protection_status", "protection_concerns_other"}
	if !m.allows("protection_concerns") {
		m.deny("protection_concerns", srcs...)
		return
	}
	pc := &contracts.ProtectionConcerns{}
	for _, it := range append(items("protection_concerns", m.c["protection_concerns"]), items("protection_status", m.c["protection_status"])...) {
		_, code, ok := m.option(it.path, it.id, LookupConcern)
		if !ok {
			continue
		}
		if i := slices.Index(pc.Codes, code); i >= 0 {
			m.led.mapped(it.path, fmt.Sprintf("body.protection_concerns.codes[%d]", i), true, "same code as another option")
			continue
		}
		m.led.mapped(it.path, fmt.Sprintf("body.protection_concerns.codes[%d]", len(pc.Codes)), m.lossy(LookupConcern, it.id, code), "lookup protection_concern")
		pc.Codes = append(pc.Codes, code)
	}
	if s, ok := m.longText("protection_concerns_other", m.c["protection_concerns_other"], 4000); ok {
		if len(pc.Codes) == 0 {
			m.led.dropped("protection_concerns_other", ReasonMissingRequired, "protection_concerns.codes")
		} else {
			pc.Details = s
			m.led.mapped("protection_concerns_other", "body.protection_concerns.details", false, "")
		}
	}
	if len(pc.Codes) > 0 {
		m.body.ProtectionConcerns = pc
	}
}

func (m *draftMapper) documents() {
	if !m.allows("documents") {
		m.deny("documents", "national_id_no")
		return
	}
	if s, ok := m.text("national_id_no", m.c["national_id_no"], 64); ok {
		m.body.Documents = append(m.body.Documents, contracts.Document{Type: "national_id", Number: s})
		m.led.mapped("national_id_no", "body.documents[0].number", false, "type national_id")
	}
}

func (m *draftMapper) legalStatus() {
	if !m.allows("legal_status") {
		m.deny("legal_status", "displacement_status")
		return
	}
	if id, code, ok := m.option("displacement_status", m.c["displacement_status"], LookupLegalStatus); ok {
		m.body.LegalStatus = &contracts.LegalStatus{Status: code}
		m.led.mapped("displacement_status", "body.legal_status.status", m.lossy(LookupLegalStatus, id, code), "lookup legal_status")
	}
}

// narrative: the referral note is the case worker's account for the
// recipient.
func (m *draftMapper) narrative() {
	if !m.allows("narrative") {
		m.deny("narrative", "transition.notes")
		return
	}
	if s, ok := m.longText("transition.notes", m.t["notes"], 20000); ok {
		m.body.Narrative = s
		m.led.mapped("transition.notes", "body.narrative", false, "")
	}
}

// urgency comes from the case's risk level; "normal" when there is none.
func (m *draftMapper) urgency() {
	m.body.Urgency = "normal"
	if id, code, ok := m.option("risk_level", m.c["risk_level"], LookupUrgency); ok {
		m.body.Urgency = code
		m.led.mapped("risk_level", "body.urgency", m.lossy(LookupUrgency, id, code), "lookup urgency")
	}
}

// services: a referral asks for the one service it names
// (service_record_id); a transfer hands over every planned service.
func (m *draftMapper) services() {
	entries, _ := m.c["services_section"].([]any)
	referred, _ := asString(m.t["service_record_id"])
	for i, raw := range entries {
		prefix := fmt.Sprintf("services_section[%d]", i)
		e, isObject := raw.(map[string]any)
		if !isObject {
			m.led.dropped(prefix, ReasonInvalidValue, "subform entry")
			continue
		}
		if uid, _ := asString(e["unique_id"]); m.typ == "Referral" && uid != referred {
			m.led.dropped(prefix, ReasonNotInTransition, "")
			continue
		}
		if id, code, ok := m.option(prefix+".service_type", e["service_type"], LookupService); ok {
			m.addService(prefix+".service_type", id, code)
		}
		for _, f := range serviceMetadataFields {
			m.led.dropped(prefix+"."+f, ReasonPrimeroMetadata, "")
		}
		for _, f := range serviceNoContractFields {
			m.led.dropped(prefix+"."+f, ReasonNoContractField, "")
		}
	}
	m.led.dropped("transition.service_record_id", ReasonPrimeroMetadata, "selects the referred service")
	if id, code, ok := m.option("transition.service", m.t["service"], LookupService); ok {
		m.addService("transition.service", id, code)
	}
}

func (m *draftMapper) addService(path, id, code string) {
	rs := &m.body.RequestedServices
	if i := slices.Index(*rs, code); i >= 0 {
		m.led.mapped(path, fmt.Sprintf("body.requested_services[%d]", i), m.lossy(LookupService, id, code), "same service")
		return
	}
	m.led.mapped(path, fmt.Sprintf("body.requested_services[%d]", len(*rs)), m.lossy(LookupService, id, code), "lookup service")
	*rs = append(*rs, code)
}
