package contracts

import (
	"strings"
	"testing"
)

// bodyCase is one row of the body table, shared by the ValidateBody tests
// and the schema agreement test.
type bodyCase struct {
	name   string
	kind   string
	input  func(t testing.TB) []byte
	code   Code // "" when accepted
	fields []string
	goOnly bool // see envelopeCase.goOnly
}

const (
	fullReferral    = "bodies/referral.request/full.json"
	minimalReferral = "bodies/referral.request/minimal.json"
)

func manyFamilyMembers(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = jsonDoc{"relationship": "other_relative"}
	}
	return out
}

var bodyCases = []bodyCase{
	{name: "a full referral is valid", kind: "referral.request", input: file(fullReferral)},
	{name: "a minimal referral is valid", kind: "referral.request", input: file(minimalReferral)},
	{name: "a newborn's estimated age of 0 is valid", kind: "referral.request", input: file("bodies/referral.request/newborn.json")},
	{name: "a receipt body is valid", kind: "receipt", input: file("bodies/receipt/valid.json")},
	{name: "an acceptance body is valid", kind: "referral.accepted", input: file("bodies/referral.accepted/valid.json")},
	{name: "an empty acceptance body is valid", kind: "referral.accepted", input: file("bodies/referral.accepted/empty.json")},
	{name: "a decline body is valid", kind: "referral.declined", input: file("bodies/referral.declined/valid.json")},
	{name: "a consent withdrawal body is valid", kind: "consent.withdrawn", input: file("bodies/consent.withdrawn/valid.json")},
	{name: "a policy violation body is valid", kind: "policy.violation", input: file("bodies/policy.violation/valid.json")},
	{name: "a policy violation without categories is valid", kind: "policy.violation", input: raw(`{"violated_message":"01JDQ7Z8K9M2N3P4Q5R6S7T8V9","code":"body_invalid"}`)},

	{name: "a referral without a child is invalid", kind: "referral.request", input: edit(minimalReferral, func(d jsonDoc) { delete(d, "child") }), code: CodeBodyInvalid, fields: []string{"child"}},
	{name: "a referral without urgency is invalid", kind: "referral.request", input: edit(minimalReferral, func(d jsonDoc) { delete(d, "urgency") }), code: CodeBodyInvalid, fields: []string{"urgency"}},
	{name: "an unknown urgency is invalid", kind: "referral.request", input: edit(minimalReferral, func(d jsonDoc) { d["urgency"] = "low" }), code: CodeBodyInvalid, fields: []string{"urgency"}},
	{name: "a child without any age is invalid", kind: "referral.request", input: edit(minimalReferral, func(d jsonDoc) { delete(obj(d, "child"), "estimated_age") }), code: CodeBodyInvalid, fields: []string{"child.birth_date"}},
	{name: "a child with both a birth date and an estimated age is invalid", kind: "referral.request", input: edit(minimalReferral, func(d jsonDoc) { obj(d, "child")["birth_date"] = "2012-01-01" }), code: CodeBodyInvalid, fields: []string{"child.estimated_age"}},
	{name: "a birth date on 30 February is invalid", kind: "referral.request", input: edit(fullReferral, func(d jsonDoc) { obj(d, "child")["birth_date"] = "2012-02-30" }), code: CodeBodyInvalid, fields: []string{"child.birth_date"}, goOnly: true},
	{name: "a birth date written day first is invalid", kind: "referral.request", input: edit(fullReferral, func(d jsonDoc) { obj(d, "child")["birth_date"] = "14/03/2010" }), code: CodeBodyInvalid, fields: []string{"child.birth_date"}},
	{name: "a negative estimated age is invalid", kind: "referral.request", input: edit(minimalReferral, func(d jsonDoc) { obj(d, "child")["estimated_age"] = -1 }), code: CodeBodyInvalid, fields: []string{"child.estimated_age"}},
	{name: "an estimated age above 25 is invalid", kind: "referral.request", input: edit(minimalReferral, func(d jsonDoc) { obj(d, "child")["estimated_age"] = 26 }), code: CodeBodyInvalid, fields: []string{"child.estimated_age"}},
	{name: "a fractional estimated age is invalid", kind: "referral.request", input: edit(minimalReferral, func(d jsonDoc) { obj(d, "child")["estimated_age"] = 12.5 }), code: CodeBodyInvalid, fields: []string{"child.estimated_age"}},
	{name: "a null estimated age is invalid", kind: "referral.request", input: edit(minimalReferral, func(d jsonDoc) { obj(d, "child")["estimated_age"] = nil }), code: CodeBodyInvalid, fields: []string{"child.estimated_age"}},
	{name: "an upper-case sex is invalid", kind: "referral.request", input: edit(minimalReferral, func(d jsonDoc) { obj(d, "child")["sex"] = "F" }), code: CodeBodyInvalid, fields: []string{"child.sex"}},
	{name: "an alpha-3 nationality is invalid", kind: "referral.request", input: edit(fullReferral, func(d jsonDoc) { obj(d, "child")["nationality"] = "mli" }), code: CodeBodyInvalid, fields: []string{"child.nationality"}},
	{name: "a language name instead of a code is invalid", kind: "referral.request", input: edit(fullReferral, func(d jsonDoc) { obj(d, "child")["languages"] = []any{"bambara"} }), code: CodeBodyInvalid, fields: []string{"child.languages[0]"}},
	{name: "a phone number without country code is invalid", kind: "referral.request", input: edit(fullReferral, func(d jsonDoc) { obj(d, "child")["phone"] = "0701020304" }), code: CodeBodyInvalid, fields: []string{"child.phone"}},
	{name: "empty given names are invalid", kind: "referral.request", input: edit(minimalReferral, func(d jsonDoc) { obj(d, "child")["given_names"] = "" }), code: CodeBodyInvalid, fields: []string{"child.given_names"}},
	{name: "given names spanning lines are invalid", kind: "referral.request", input: edit(minimalReferral, func(d jsonDoc) { obj(d, "child")["given_names"] = "Awa\nMariam" }), code: CodeBodyInvalid, fields: []string{"child.given_names"}},
	{name: "given names of 101 characters are invalid", kind: "referral.request", input: edit(minimalReferral, func(d jsonDoc) { obj(d, "child")["given_names"] = strings.Repeat("é", 101) }), code: CodeBodyInvalid, fields: []string{"child.given_names"}},
	{name: "an unknown field in the child is invalid", kind: "referral.request", input: edit(minimalReferral, func(d jsonDoc) { obj(d, "child")["nickname"] = "Mamie" }), code: CodeBodyInvalid, fields: []string{"child.nickname"}},
	{name: "an empty family list is invalid", kind: "referral.request", input: edit(minimalReferral, func(d jsonDoc) { d["family"] = []any{} }), code: CodeBodyInvalid, fields: []string{"family"}},
	{name: "a family member without relationship is invalid", kind: "referral.request", input: edit(minimalReferral, func(d jsonDoc) { d["family"] = []any{jsonDoc{"given_names": "Fatoumata"}} }), code: CodeBodyInvalid, fields: []string{"family[0].relationship"}},
	{name: "an unknown relationship is invalid", kind: "referral.request", input: edit(minimalReferral, func(d jsonDoc) { d["family"] = []any{jsonDoc{"relationship": "cousin"}} }), code: CodeBodyInvalid, fields: []string{"family[0].relationship"}},
	{name: "a null family member is invalid", kind: "referral.request", input: edit(minimalReferral, func(d jsonDoc) { d["family"] = []any{nil} }), code: CodeBodyInvalid, fields: []string{"family[0]"}},
	{name: "thirty-one family members are too many", kind: "referral.request", input: edit(minimalReferral, func(d jsonDoc) { d["family"] = manyFamilyMembers(31) }), code: CodeBodyInvalid, fields: []string{"family"}},
	{name: "thirty family members are accepted", kind: "referral.request", input: edit(minimalReferral, func(d jsonDoc) { d["family"] = manyFamilyMembers(30) })},
	{name: "an unknown life status is invalid", kind: "referral.request", input: edit(minimalReferral, func(d jsonDoc) { d["family"] = []any{jsonDoc{"relationship": "father", "status": "missing"}} }), code: CodeBodyInvalid, fields: []string{"family[0].status"}},
	{name: "protection concerns without codes are invalid", kind: "referral.request", input: edit(minimalReferral, func(d jsonDoc) { d["protection_concerns"] = jsonDoc{"details": "..."} }), code: CodeBodyInvalid, fields: []string{"protection_concerns.codes"}},
	{name: "an empty list of concern codes is invalid", kind: "referral.request", input: edit(minimalReferral, func(d jsonDoc) { d["protection_concerns"] = jsonDoc{"codes": []any{}} }), code: CodeBodyInvalid, fields: []string{"protection_concerns.codes"}},
	{name: "an unknown concern code is invalid", kind: "referral.request", input: edit(minimalReferral, func(d jsonDoc) { d["protection_concerns"] = jsonDoc{"codes": []any{"begging"}} }), code: CodeBodyInvalid, fields: []string{"protection_concerns.codes[0]"}},
	{name: "an unknown document type is invalid", kind: "referral.request", input: edit(minimalReferral, func(d jsonDoc) { d["documents"] = []any{jsonDoc{"type": "visa"}} }), code: CodeBodyInvalid, fields: []string{"documents[0].type"}},
	{name: "a GIF photo is invalid", kind: "referral.request", input: edit(fullReferral, func(d jsonDoc) { obj(d, "photo")["media_type"] = "image/gif" }), code: CodeBodyInvalid, fields: []string{"photo.media_type"}},
	{name: "a photo that is not base64 is invalid", kind: "referral.request", input: edit(fullReferral, func(d jsonDoc) { obj(d, "photo")["data"] = "not base64!" }), code: CodeBodyInvalid, fields: []string{"photo.data"}},
	{name: "an empty narrative is invalid", kind: "referral.request", input: edit(minimalReferral, func(d jsonDoc) { d["narrative"] = "" }), code: CodeBodyInvalid, fields: []string{"narrative"}},
	{name: "a narrative may span lines", kind: "referral.request", input: edit(minimalReferral, func(d jsonDoc) { d["narrative"] = "ligne 1\nligne 2\ttabulée" })},
	{name: "health notes over 4000 characters are invalid", kind: "referral.request", input: edit(minimalReferral, func(d jsonDoc) { d["health_notes"] = strings.Repeat("a", 4001) }), code: CodeBodyInvalid, fields: []string{"health_notes"}},
	{name: "an unknown legal status is invalid", kind: "referral.request", input: edit(minimalReferral, func(d jsonDoc) { d["legal_status"] = jsonDoc{"status": "migrant"} }), code: CodeBodyInvalid, fields: []string{"legal_status.status"}},
	{name: "a location without country is invalid", kind: "referral.request", input: edit(minimalReferral, func(d jsonDoc) { d["location"] = jsonDoc{"place": "Yopougon"} }), code: CodeBodyInvalid, fields: []string{"location.country"}},
	{name: "a region name instead of an ISO 3166-2 code is invalid", kind: "referral.request", input: edit(minimalReferral, func(d jsonDoc) { d["location"] = jsonDoc{"country": "bf", "admin_area": "Hauts-Bassins"} }), code: CodeBodyInvalid, fields: []string{"location.admin_area"}},
	{name: "a null location is invalid", kind: "referral.request", input: edit(minimalReferral, func(d jsonDoc) { d["location"] = nil }), code: CodeBodyInvalid, fields: []string{"location"}},
	{name: "an unknown requested service is invalid", kind: "referral.request", input: edit(minimalReferral, func(d jsonDoc) { d["requested_services"] = []any{"shelter"} }), code: CodeBodyInvalid, fields: []string{"requested_services[0]"}},
	{name: "a repeated requested service is invalid", kind: "referral.request", input: edit(minimalReferral, func(d jsonDoc) { d["requested_services"] = []any{"education", "education"} }), code: CodeBodyInvalid, fields: []string{"requested_services"}},
	{name: "a repeated member in a body is invalid", kind: "referral.request", input: raw(`{"child":{"given_names":"Awa","sex":"f","estimated_age":13,"sex":"m"},"urgency":"high"}`), code: CodeBodyInvalid, fields: []string{"child.sex"}},
	{name: "a body that is an array is invalid", kind: "referral.request", input: raw(`[]`), code: CodeBodyInvalid},
	{name: "a body with trailing data is invalid", kind: "receipt", input: raw(`{"sha256":"` + aSHA256 + `"}{}`), code: CodeBodyInvalid},
	{name: "a body with invalid UTF-8 is invalid", kind: "referral.request", input: raw("{\"child\":{\"given_names\":\"A\xffwa\",\"sex\":\"f\",\"estimated_age\":13},\"urgency\":\"high\"}"), code: CodeBodyInvalid},
	{name: "a receipt digest given as a number is invalid", kind: "receipt", input: raw(`{"sha256":1}`), code: CodeBodyInvalid, fields: []string{"sha256"}},
	{name: "a decline without reason is invalid", kind: "referral.declined", input: raw(`{}`), code: CodeBodyInvalid, fields: []string{"reason"}},
	{name: "an acceptance naming an invalid agency is invalid", kind: "referral.accepted", input: raw(`{"responsible_agency":"Mali"}`), code: CodeBodyInvalid, fields: []string{"responsible_agency"}},
	{name: "a withdrawal without consent reference is invalid", kind: "consent.withdrawn", input: raw(`{"withdrawn_at":"2025-12-02T10:15:00Z"}`), code: CodeBodyInvalid, fields: []string{"consent_ref"}},
	{name: "a withdrawal whose reference holds a space is invalid", kind: "consent.withdrawn", input: raw(`{"consent_ref":"Awa Traoré","withdrawn_at":"2025-12-02T10:15:00Z"}`), code: CodeBodyInvalid, fields: []string{"consent_ref"}},
	{name: "a withdrawal time with an offset is invalid", kind: "consent.withdrawn", input: raw(`{"consent_ref":"CNS-1","withdrawn_at":"2025-12-02T10:15:00+01:00"}`), code: CodeBodyInvalid, fields: []string{"withdrawn_at"}},
	{name: "a policy violation with another code is invalid", kind: "policy.violation", input: raw(`{"violated_message":"01JDQ7Z8K9M2N3P4Q5R6S7T8V9","code":"consent_expired"}`), code: CodeBodyInvalid, fields: []string{"code"}},
	{name: "a policy violation naming an unknown category is invalid", kind: "policy.violation", input: raw(`{"violated_message":"01JDQ7Z8K9M2N3P4Q5R6S7T8V9","code":"body_category_mismatch","categories":["religion"]}`), code: CodeBodyInvalid, fields: []string{"categories[0]"}},
	{name: "a policy violation with an empty category list is invalid", kind: "policy.violation", input: raw(`{"violated_message":"01JDQ7Z8K9M2N3P4Q5R6S7T8V9","code":"body_category_mismatch","categories":[]}`), code: CodeBodyInvalid, fields: []string{"categories"}},
	{name: "a policy violation without the violated message is invalid", kind: "policy.violation", input: raw(`{"code":"body_invalid"}`), code: CodeBodyInvalid, fields: []string{"violated_message"}},
}
