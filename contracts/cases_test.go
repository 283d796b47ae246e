package contracts

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// envelopeCase is one row of the envelope table, shared by the decoder
// tests and the schema agreement test.
type envelopeCase struct {
	name  string
	input func(t testing.TB) []byte
	// code is the expected refusal, or "" when the envelope is accepted.
	code   Code
	fields []string
	// goOnly marks a rule that JSON Schema cannot express (cross-field
	// rules, real calendar dates, integers written with a fraction); the
	// schemas accept such envelopes and docs/protocol.md lists the rules.
	goOnly bool
}

func file(name string) func(testing.TB) []byte {
	return func(t testing.TB) []byte { return readTestdata(t, name) }
}

func raw(s string) func(testing.TB) []byte {
	return func(testing.TB) []byte { return []byte(s) }
}

func edit(name string, fn func(doc jsonDoc)) func(testing.TB) []byte {
	return func(t testing.TB) []byte { return mutated(t, name, fn) }
}

// spliced returns a sample with its text transformed, for cases that a map
// cannot express (duplicate keys, exotic number literals).
func spliced(name string, fn func(s string) string) func(testing.TB) []byte {
	return func(t testing.TB) []byte { return []byte(fn(string(readTestdata(t, name)))) }
}

// replaceOnce replaces exactly one occurrence, failing loudly at table
// construction time if the sample changed.
func replaceOnce(old, new string) func(string) string {
	return func(s string) string {
		if strings.Count(s, old) != 1 {
			panic("sample does not contain exactly one " + old)
		}
		return strings.Replace(s, old, new, 1)
	}
}

const (
	otherUUIDv7 = "0193a5c9-0000-7000-8000-000000000001"
	aSHA256     = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

var envelopeCases = []envelopeCase{
	// Accepted.
	{name: "a referral request with consent is accepted", input: file(referralSample)},
	{name: "a referral request under a best-interests override is accepted", input: file(overrideSample)},
	{name: "a referral request under a legal obligation with ULID ids is accepted", input: file(legalSample)},
	{name: "a receipt is accepted", input: file(receiptSample)},
	{name: "an acceptance is accepted", input: file(acceptedSample)},
	{name: "a decline is accepted", input: file(declinedSample)},
	{name: "a consent withdrawal is accepted", input: file("envelopes/valid/consent-withdrawn.json")},
	{name: "a policy violation report is accepted", input: file("envelopes/valid/policy-violation.json")},
	{name: "an acceptance with an empty body object is accepted", input: file("envelopes/valid/referral-accepted-empty-body.json")},
	{name: "optional fields may be absent", input: edit(referralSample, func(d jsonDoc) {
		delete(d, "seq")
		delete(d, "in_reply_to")
		delete(obj(d, "consent"), "expires_at")
	})},
	{name: "the largest I-JSON safe seq is accepted", input: spliced(receiptSample, replaceOnce(`"seq": 1`, `"seq": 9007199254740991`))},
	{name: "nanosecond times are accepted", input: edit(receiptSample, func(d jsonDoc) { d["sent_at"] = "2025-11-20T09:20:11.123456789Z" })},
	{name: "whitespace and escapes are accepted", input: raw(" \n\t{\"v\" : 1 , \"id\":\"0193a5c4-1b22-7f33-a044-5566778899ab\",\"kind\":\"referral.declined\",\"from\":\"bf.dpe-bobo\",\"to\":\"ml.dnpef\",\"case\":\"BF\\u002d9\",\"transfer\":\"01JDQ7Z8K9M2N3P4Q5R6S7T8V9\",\"sent_at\":\"2025-11-21T09:00:00Z\",\"body\":{ \"reason\" : \"\\u006fther\" }}\r\n")},

	// malformed_envelope: not one UTF-8 JSON object.
	{name: "empty input is malformed", input: raw(""), code: CodeMalformedEnvelope},
	{name: "whitespace only is malformed", input: raw(" \n "), code: CodeMalformedEnvelope},
	{name: "an array is malformed", input: raw(`[]`), code: CodeMalformedEnvelope},
	{name: "a string is malformed", input: raw(`"envelope"`), code: CodeMalformedEnvelope},
	{name: "null is malformed", input: raw(`null`), code: CodeMalformedEnvelope},
	{name: "a byte order mark is malformed", input: func(t testing.TB) []byte {
		return append([]byte{0xEF, 0xBB, 0xBF}, readTestdata(t, receiptSample)...)
	}, code: CodeMalformedEnvelope},
	{name: "invalid UTF-8 is malformed", input: spliced(receiptSample, replaceOnce(`ML-BKO-2025-0031`, "ML-BKO-\xff-0031")), code: CodeMalformedEnvelope},
	{name: "a lone UTF-8 continuation byte is malformed", input: spliced(receiptSample, replaceOnce(`"kind"`, "\"k\x80ind\"")), code: CodeMalformedEnvelope},
	{name: "truncated JSON is malformed", input: func(t testing.TB) []byte {
		b := readTestdata(t, receiptSample)
		return b[:len(b)/2]
	}, code: CodeMalformedEnvelope},
	{name: "a trailing comma is malformed", input: spliced(receiptSample, replaceOnce(`"seq": 1,`, `"seq": 1,,`)), code: CodeMalformedEnvelope},
	{name: "a second JSON value after the envelope is malformed", input: func(t testing.TB) []byte {
		return append(readTestdata(t, receiptSample), []byte(` {}`)...)
	}, code: CodeMalformedEnvelope},
	{name: "trailing garbage is malformed", input: func(t testing.TB) []byte {
		return append(readTestdata(t, receiptSample), 'x')
	}, code: CodeMalformedEnvelope},
	{name: "a body nested deeper than the limit is malformed", input: spliced(declinedSample, replaceOnce(`{"reason": "not_competent_area"}`,
		strings.Repeat(`{"a":`, 40)+"1"+strings.Repeat(`}`, 40))), code: CodeMalformedEnvelope},
	{name: "an unquoted member name is malformed", input: raw(`{v:1}`), code: CodeMalformedEnvelope},

	// duplicate_key, anywhere.
	{name: "a repeated top-level member is a duplicate key", input: spliced(receiptSample, replaceOnce(`"v": 1,`, `"v": 1, "v": 1,`)), code: CodeDuplicateKey, fields: []string{"v"}},
	{name: "a member repeated through an escape is a duplicate key", input: spliced(receiptSample, replaceOnce(`"v": 1,`, `"v": 1, "\u0076": 1,`)), code: CodeDuplicateKey, fields: []string{"v"}},
	{name: "a repeated member inside consent is a duplicate key", input: spliced(referralSample, replaceOnce(`"ref": "CNS-2025-0088",`, `"ref": "CNS-2025-0088", "ref": "CNS-2025-0089",`)), code: CodeDuplicateKey, fields: []string{"consent.ref"}},
	{name: "a repeated member inside the override is a duplicate key", input: spliced(overrideSample, replaceOnce(`"reason": "caregiver_is_risk",`, `"reason": "caregiver_is_risk", "reason": "imminent_harm",`)), code: CodeDuplicateKey, fields: []string{"consent.override.reason"}},
	{name: "a repeated member inside a plain body is a duplicate key", input: spliced(declinedSample, replaceOnce(`{"reason": "not_competent_area"}`, `{"reason": "not_competent_area", "reason": "capacity"}`)), code: CodeDuplicateKey, fields: []string{"body.reason"}},
	{name: "a repeated member inside an unknown array of objects is a duplicate key", input: spliced(receiptSample, replaceOnce(`"v": 1,`, `"v": 1, "x": [{"a": 1, "a": 2}],`)), code: CodeDuplicateKey, fields: []string{"x[0].a"}},

	// unsupported_version.
	{name: "version 2 is unsupported", input: edit(receiptSample, func(d jsonDoc) { d["v"] = json.Number("2") }), code: CodeUnsupportedVersion},
	{name: "version 0 is unsupported", input: edit(receiptSample, func(d jsonDoc) { d["v"] = json.Number("0") }), code: CodeUnsupportedVersion},
	{name: "a negative version is unsupported", input: edit(receiptSample, func(d jsonDoc) { d["v"] = json.Number("-1") }), code: CodeUnsupportedVersion},
	{name: "a huge integer version is unsupported", input: edit(receiptSample, func(d jsonDoc) { d["v"] = json.Number("100000000000000000000000000000") }), code: CodeUnsupportedVersion},
	{name: "version 2 is reported before its unknown fields", input: edit(receiptSample, func(d jsonDoc) { d["v"] = json.Number("2"); d["priority"] = "high" }), code: CodeUnsupportedVersion},
	{name: "a missing version is invalid", input: edit(receiptSample, func(d jsonDoc) { delete(d, "v") }), code: CodeInvalidEnvelope, fields: []string{"v"}},
	{name: "a version given as a string is invalid", input: edit(receiptSample, func(d jsonDoc) { d["v"] = "1" }), code: CodeInvalidEnvelope, fields: []string{"v"}},
	{name: "a null version is invalid", input: edit(receiptSample, func(d jsonDoc) { d["v"] = nil }), code: CodeInvalidEnvelope, fields: []string{"v"}},
	{name: "a version written 1.0 is invalid", input: edit(receiptSample, func(d jsonDoc) { d["v"] = json.Number("1.0") }), code: CodeInvalidEnvelope, fields: []string{"v"}, goOnly: true},
	{name: "a version of 1e400 is invalid", input: edit(receiptSample, func(d jsonDoc) { d["v"] = json.Number("1e400") }), code: CodeInvalidEnvelope, fields: []string{"v"}},

	// unknown_field.
	{name: "an unknown top-level field is refused", input: edit(receiptSample, func(d jsonDoc) { d["priority"] = "high" }), code: CodeUnknownField, fields: []string{"priority"}},
	{name: "field names are case-sensitive", input: edit(receiptSample, func(d jsonDoc) { d["ID"] = d["id"]; delete(d, "id") }), code: CodeUnknownField, fields: []string{"ID"}},
	{name: "an unknown field inside consent is refused", input: edit(referralSample, func(d jsonDoc) { obj(d, "consent")["witness"] = "x" }), code: CodeUnknownField, fields: []string{"consent.witness"}},
	{name: "an unknown field inside the override is refused", input: edit(overrideSample, func(d jsonDoc) { obj(obj(d, "consent"), "override")["by"] = "x" }), code: CodeUnknownField, fields: []string{"consent.override.by"}},
	{name: "every unknown field is listed", input: edit(referralSample, func(d jsonDoc) { d["a"] = 1; obj(d, "consent")["b"] = 2 }), code: CodeUnknownField, fields: []string{"a", "consent.b"}},
	{name: "an unknown field whose name could be data is masked", input: edit(receiptSample, func(d jsonDoc) { d["Awa Traoré"] = true }), code: CodeUnknownField, fields: []string{maskedName}},
	{name: "an unknown field with a null value is refused as unknown", input: edit(receiptSample, func(d jsonDoc) { d["extra"] = nil }), code: CodeUnknownField, fields: []string{"extra"}},

	// unknown_kind.
	{name: "an unregistered kind is unknown", input: edit(receiptSample, func(d jsonDoc) { d["kind"] = "referral.cancelled" }), code: CodeUnknownKind},
	{name: "kinds are case-sensitive", input: edit(receiptSample, func(d jsonDoc) { d["kind"] = "Receipt" }), code: CodeUnknownKind},
	{name: "an empty kind is invalid", input: edit(receiptSample, func(d jsonDoc) { d["kind"] = "" }), code: CodeInvalidEnvelope, fields: []string{"kind"}},
	{name: "a missing kind is invalid", input: edit(receiptSample, func(d jsonDoc) { delete(d, "kind") }), code: CodeInvalidEnvelope, fields: []string{"kind"}},

	// invalid_envelope: identifiers.
	{name: "a UUIDv4 id is invalid", input: edit(receiptSample, func(d jsonDoc) { d["id"] = "9b2f4c1e-6a3d-4e8f-9a1b-2c3d4e5f6a7b" }), code: CodeInvalidEnvelope, fields: []string{"id"}},
	{name: "an upper-case UUIDv7 id is invalid", input: edit(receiptSample, func(d jsonDoc) { d["id"] = "0193A5C3-0A11-7E22-9B33-445566778899" }), code: CodeInvalidEnvelope, fields: []string{"id"}},
	{name: "a lower-case ULID id is invalid", input: edit(receiptSample, func(d jsonDoc) { d["id"] = "01jdq7z8k9m2n3p4q5r6s7t8v9" }), code: CodeInvalidEnvelope, fields: []string{"id"}},
	{name: "a sender with an unassigned country code is invalid", input: edit(receiptSample, func(d jsonDoc) { d["from"] = "xk.mtsp" }), code: CodeInvalidEnvelope, fields: []string{"from"}},
	{name: "a recipient without a slug is invalid", input: edit(receiptSample, func(d jsonDoc) { d["to"] = "ci" }), code: CodeInvalidEnvelope, fields: []string{"to"}},
	{name: "a recipient in upper case is invalid", input: edit(receiptSample, func(d jsonDoc) { d["to"] = "CI.DPE-ABIDJAN" }), code: CodeInvalidEnvelope, fields: []string{"to"}},
	{name: "a list of recipients is invalid", input: edit(receiptSample, func(d jsonDoc) { d["to"] = []any{"ci.dpe-abidjan", "ml.dnpef"} }), code: CodeInvalidEnvelope, fields: []string{"to"}},
	{name: "a case reference with a space is invalid", input: edit(receiptSample, func(d jsonDoc) { d["case"] = "Awa Traore" }), code: CodeInvalidEnvelope, fields: []string{"case"}},
	{name: "a case reference of 65 characters is invalid", input: edit(receiptSample, func(d jsonDoc) { d["case"] = strings.Repeat("a", 65) }), code: CodeInvalidEnvelope, fields: []string{"case"}},
	{name: "a case reference of 64 characters is accepted", input: edit(receiptSample, func(d jsonDoc) { d["case"] = strings.Repeat("a", 64) })},
	{name: "an empty case reference is invalid", input: edit(receiptSample, func(d jsonDoc) { d["case"] = "" }), code: CodeInvalidEnvelope, fields: []string{"case"}},

	{name: "an agency cannot send to itself", input: edit(acceptedSample, func(d jsonDoc) { d["to"] = d["from"] }), code: CodeInvalidEnvelope, fields: []string{"to"}, goOnly: true},

	// invalid_envelope: transfer and replies.
	{name: "an opening kind whose transfer differs from its id is invalid", input: edit(referralSample, func(d jsonDoc) { d["transfer"] = otherUUIDv7 }), code: CodeInvalidEnvelope, fields: []string{"transfer"}, goOnly: true},
	{name: "a non-opening kind whose transfer equals its id is invalid", input: edit(receiptSample, func(d jsonDoc) { d["transfer"] = d["id"] }), code: CodeInvalidEnvelope, fields: []string{"transfer"}, goOnly: true},
	{name: "a receipt without in_reply_to is invalid", input: edit(receiptSample, func(d jsonDoc) { delete(d, "in_reply_to") }), code: CodeInvalidEnvelope, fields: []string{"in_reply_to"}},
	{name: "a policy violation report without in_reply_to is invalid", input: edit("envelopes/valid/policy-violation.json", func(d jsonDoc) { delete(d, "in_reply_to") }), code: CodeInvalidEnvelope, fields: []string{"in_reply_to"}},
	{name: "a consent withdrawal with a consent object is invalid", input: edit("envelopes/valid/consent-withdrawn.json", func(d jsonDoc) { d["purpose"] = "follow_up" }), code: CodeInvalidEnvelope, fields: []string{"purpose"}},
	{name: "a consent withdrawal whose body is another kind's is invalid", input: edit("envelopes/valid/consent-withdrawn.json", func(d jsonDoc) { d["body"] = jsonDoc{"reason": "other"} }), code: CodeBodyInvalid, fields: []string{"body.reason"}},
	{name: "an empty in_reply_to is invalid", input: edit(acceptedSample, func(d jsonDoc) { d["in_reply_to"] = "" }), code: CodeInvalidEnvelope, fields: []string{"in_reply_to"}},
	{name: "a null in_reply_to is invalid rather than absent", input: edit(acceptedSample, func(d jsonDoc) { d["in_reply_to"] = nil }), code: CodeInvalidEnvelope, fields: []string{"in_reply_to"}},

	// invalid_envelope: seq and numbers.
	{name: "seq 0 is invalid", input: edit(receiptSample, func(d jsonDoc) { d["seq"] = json.Number("0") }), code: CodeInvalidEnvelope, fields: []string{"seq"}},
	{name: "a negative seq is invalid", input: edit(receiptSample, func(d jsonDoc) { d["seq"] = json.Number("-1") }), code: CodeInvalidEnvelope, fields: []string{"seq"}},
	{name: "a fractional seq is invalid", input: edit(receiptSample, func(d jsonDoc) { d["seq"] = json.Number("1.5") }), code: CodeInvalidEnvelope, fields: []string{"seq"}},
	{name: "a seq written 2.0 is invalid", input: edit(receiptSample, func(d jsonDoc) { d["seq"] = json.Number("2.0") }), code: CodeInvalidEnvelope, fields: []string{"seq"}, goOnly: true},
	{name: "a seq written with an exponent is invalid", input: edit(receiptSample, func(d jsonDoc) { d["seq"] = json.Number("1e2") }), code: CodeInvalidEnvelope, fields: []string{"seq"}, goOnly: true},
	{name: "a seq beyond 2^53-1 is invalid", input: edit(receiptSample, func(d jsonDoc) { d["seq"] = json.Number("9007199254740992") }), code: CodeInvalidEnvelope, fields: []string{"seq"}},
	{name: "a seq beyond uint64 is invalid", input: edit(receiptSample, func(d jsonDoc) { d["seq"] = json.Number("18446744073709551616") }), code: CodeInvalidEnvelope, fields: []string{"seq"}},
	{name: "a seq of 1e400 is invalid", input: edit(receiptSample, func(d jsonDoc) { d["seq"] = json.Number("1e400") }), code: CodeInvalidEnvelope, fields: []string{"seq"}},
	{name: "a seq given as a string is invalid", input: edit(receiptSample, func(d jsonDoc) { d["seq"] = "1" }), code: CodeInvalidEnvelope, fields: []string{"seq"}},

	// invalid_envelope: times.
	{name: "a sent_at with a numeric UTC offset is invalid", input: edit(receiptSample, func(d jsonDoc) { d["sent_at"] = "2025-11-20T09:20:11+00:00" }), code: CodeInvalidEnvelope, fields: []string{"sent_at"}},
	{name: "a sent_at in another zone is invalid", input: edit(receiptSample, func(d jsonDoc) { d["sent_at"] = "2025-11-20T10:20:11+01:00" }), code: CodeInvalidEnvelope, fields: []string{"sent_at"}},
	{name: "a sent_at with a lower-case z is invalid", input: edit(receiptSample, func(d jsonDoc) { d["sent_at"] = "2025-11-20T09:20:11z" }), code: CodeInvalidEnvelope, fields: []string{"sent_at"}},
	{name: "a sent_at without a T is invalid", input: edit(receiptSample, func(d jsonDoc) { d["sent_at"] = "2025-11-20 09:20:11Z" }), code: CodeInvalidEnvelope, fields: []string{"sent_at"}},
	{name: "a sent_at on 30 February is invalid", input: edit(receiptSample, func(d jsonDoc) { d["sent_at"] = "2025-02-30T09:20:11Z" }), code: CodeInvalidEnvelope, fields: []string{"sent_at"}, goOnly: true},
	{name: "a sent_at at the zero time is invalid", input: edit(receiptSample, func(d jsonDoc) { d["sent_at"] = "0001-01-01T00:00:00Z" }), code: CodeInvalidEnvelope, fields: []string{"sent_at"}, goOnly: true},
	{name: "a sent_at given as a Unix time is invalid", input: edit(receiptSample, func(d jsonDoc) { d["sent_at"] = json.Number("1763630411") }), code: CodeInvalidEnvelope, fields: []string{"sent_at"}},

	// invalid_envelope: purpose, categories and consent by kind.
	{name: "a referral without purpose is invalid", input: edit(referralSample, func(d jsonDoc) { delete(d, "purpose") }), code: CodeInvalidEnvelope, fields: []string{"purpose"}},
	{name: "a referral without data categories is invalid", input: edit(referralSample, func(d jsonDoc) { delete(d, "data_categories") }), code: CodeInvalidEnvelope, fields: []string{"data_categories"}},
	{name: "a referral without consent is invalid", input: edit(referralSample, func(d jsonDoc) { delete(d, "consent") }), code: CodeInvalidEnvelope, fields: []string{"consent"}},
	{name: "an unknown purpose is invalid", input: edit(referralSample, func(d jsonDoc) { d["purpose"] = "research" }), code: CodeInvalidEnvelope, fields: []string{"purpose"}},
	{name: "an empty purpose is invalid", input: edit(referralSample, func(d jsonDoc) { d["purpose"] = "" }), code: CodeInvalidEnvelope, fields: []string{"purpose"}},
	{name: "an empty list of data categories is invalid", input: edit(referralSample, func(d jsonDoc) { d["data_categories"] = []any{} }), code: CodeInvalidEnvelope, fields: []string{"data_categories"}},
	{name: "a repeated data category is invalid", input: edit(referralSample, func(d jsonDoc) { d["data_categories"] = []any{"identity", "identity"} }), code: CodeInvalidEnvelope, fields: []string{"data_categories"}},
	{name: "an unknown data category is invalid", input: edit(referralSample, func(d jsonDoc) { d["data_categories"] = []any{"identity", "biometrics"} }), code: CodeInvalidEnvelope, fields: []string{"data_categories[1]"}},
	{name: "a null inside data categories is invalid", input: edit(referralSample, func(d jsonDoc) { d["data_categories"] = []any{"identity", nil} }), code: CodeInvalidEnvelope, fields: []string{"data_categories[1]"}},
	{name: "a purpose on a receipt is invalid", input: edit(receiptSample, func(d jsonDoc) { d["purpose"] = "follow_up" }), code: CodeInvalidEnvelope, fields: []string{"purpose"}},
	{name: "data categories on a decline are invalid", input: edit(declinedSample, func(d jsonDoc) { d["data_categories"] = []any{"identity"} }), code: CodeInvalidEnvelope, fields: []string{"data_categories"}},
	{name: "a consent on an acceptance is invalid", input: func(t testing.TB) []byte {
		consent := decodeDoc(t, readTestdata(t, referralSample))["consent"]
		return mutated(t, acceptedSample, func(d jsonDoc) { d["consent"] = consent })
	}, code: CodeInvalidEnvelope, fields: []string{"consent"}},
	{name: "a null consent on a receipt is invalid rather than absent", input: edit(receiptSample, func(d jsonDoc) { d["consent"] = nil }), code: CodeInvalidEnvelope, fields: []string{"consent"}},

	// invalid_envelope: the consent object.
	{name: "a consent without ref is invalid", input: edit(referralSample, func(d jsonDoc) { delete(obj(d, "consent"), "ref") }), code: CodeInvalidEnvelope, fields: []string{"consent.ref"}},
	{name: "an unknown consent basis is invalid", input: edit(referralSample, func(d jsonDoc) { obj(d, "consent")["basis"] = "implied" }), code: CodeInvalidEnvelope, fields: []string{"consent.basis"}},
	{name: "an unknown consent giver is invalid", input: edit(referralSample, func(d jsonDoc) { obj(d, "consent")["given_by"] = "teacher" }), code: CodeInvalidEnvelope, fields: []string{"consent.given_by"}},
	{name: "an unknown age band is invalid", input: edit(referralSample, func(d jsonDoc) { obj(d, "consent")["age_band"] = "16" }), code: CodeInvalidEnvelope, fields: []string{"consent.age_band"}},
	{name: "a missing child_assent is invalid", input: edit(referralSample, func(d jsonDoc) { delete(obj(d, "consent"), "child_assent") }), code: CodeInvalidEnvelope, fields: []string{"consent.child_assent"}},
	{name: "a child_assent given as a string is invalid", input: edit(referralSample, func(d jsonDoc) { obj(d, "consent")["child_assent"] = "yes" }), code: CodeInvalidEnvelope, fields: []string{"consent.child_assent"}},
	{name: "a child_assent of false is accepted", input: edit(referralSample, func(d jsonDoc) { obj(d, "consent")["child_assent"] = false })},
	{name: "an empty recipient list is invalid", input: edit(referralSample, func(d jsonDoc) { obj(d, "consent")["recipients"] = []any{} }), code: CodeInvalidEnvelope, fields: []string{"consent.recipients"}},
	{name: "an upper-case country among recipients is invalid", input: edit(referralSample, func(d jsonDoc) { obj(d, "consent")["recipients"] = []any{"ML"} }), code: CodeInvalidEnvelope, fields: []string{"consent.recipients[0]"}},
	{name: "a repeated recipient is invalid", input: edit(referralSample, func(d jsonDoc) { obj(d, "consent")["recipients"] = []any{"ml", "ml"} }), code: CodeInvalidEnvelope, fields: []string{"consent.recipients"}},
	{name: "an unknown consent purpose is invalid", input: edit(referralSample, func(d jsonDoc) { obj(d, "consent")["purposes"] = []any{"marketing"} }), code: CodeInvalidEnvelope, fields: []string{"consent.purposes[0]"}},
	{name: "a consent without data categories is invalid", input: edit(referralSample, func(d jsonDoc) { delete(obj(d, "consent"), "data_categories") }), code: CodeInvalidEnvelope, fields: []string{"consent.data_categories"}},
	{name: "a consent without obtained_at is invalid", input: edit(referralSample, func(d jsonDoc) { delete(obj(d, "consent"), "obtained_at") }), code: CodeInvalidEnvelope, fields: []string{"consent.obtained_at"}},
	{name: "a consent expiring before it was obtained is invalid", input: edit(referralSample, func(d jsonDoc) { obj(d, "consent")["expires_at"] = "2025-11-17T00:00:00Z" }), code: CodeInvalidEnvelope, fields: []string{"consent.expires_at"}, goOnly: true},
	{name: "an empty expires_at is invalid", input: edit(referralSample, func(d jsonDoc) { obj(d, "consent")["expires_at"] = "" }), code: CodeInvalidEnvelope, fields: []string{"consent.expires_at"}},
	{name: "a null expires_at is invalid rather than absent", input: edit(referralSample, func(d jsonDoc) { obj(d, "consent")["expires_at"] = nil }), code: CodeInvalidEnvelope, fields: []string{"consent.expires_at"}},
	{name: "an override basis without an override is invalid", input: edit(overrideSample, func(d jsonDoc) { delete(obj(d, "consent"), "override") }), code: CodeInvalidEnvelope, fields: []string{"consent.override"}},
	{name: "an override under the consent basis is invalid", input: edit(overrideSample, func(d jsonDoc) { obj(d, "consent")["basis"] = "consent" }), code: CodeInvalidEnvelope, fields: []string{"consent.override"}},
	{name: "an unknown override reason is invalid", input: edit(overrideSample, func(d jsonDoc) { obj(obj(d, "consent"), "override")["reason"] = "convenience" }), code: CodeInvalidEnvelope, fields: []string{"consent.override.reason"}},
	{name: "an override approval that is not a compact JWS is invalid", input: edit(overrideSample, func(d jsonDoc) { obj(obj(d, "consent"), "override")["approval"] = "approved by the director" }), code: CodeInvalidEnvelope, fields: []string{"consent.override.approval"}},
	{name: "an override approval with a detached payload is invalid", input: edit(overrideSample, func(d jsonDoc) { obj(obj(d, "consent"), "override")["approval"] = "eyJhbGciOiJFZERTQSJ9..c2ln" }), code: CodeInvalidEnvelope, fields: []string{"consent.override.approval"}},
	{name: "an override without approval is invalid", input: edit(overrideSample, func(d jsonDoc) { delete(obj(obj(d, "consent"), "override"), "approval") }), code: CodeInvalidEnvelope, fields: []string{"consent.override.approval"}},
	{name: "a legal obligation without a legal reference is invalid", input: edit(legalSample, func(d jsonDoc) { delete(obj(d, "consent"), "legal_reference") }), code: CodeInvalidEnvelope, fields: []string{"consent.legal_reference"}},
	{name: "a legal reference under the consent basis is invalid", input: edit(referralSample, func(d jsonDoc) { obj(d, "consent")["legal_reference"] = "Code de l'enfant, art. 12" }), code: CodeInvalidEnvelope, fields: []string{"consent.legal_reference"}},
	{name: "a legal reference spanning lines is invalid", input: edit(legalSample, func(d jsonDoc) { obj(d, "consent")["legal_reference"] = "Ordonnance\nn° 114" }), code: CodeInvalidEnvelope, fields: []string{"consent.legal_reference"}},
	{name: "a legal reference of 201 characters is invalid", input: edit(legalSample, func(d jsonDoc) { obj(d, "consent")["legal_reference"] = strings.Repeat("é", 201) }), code: CodeInvalidEnvelope, fields: []string{"consent.legal_reference"}},
	{name: "a legal reference of 200 accented characters is accepted", input: edit(legalSample, func(d jsonDoc) { obj(d, "consent")["legal_reference"] = strings.Repeat("é", 200) })},
	{name: "several invalid fields are all listed", input: edit(referralSample, func(d jsonDoc) {
		d["id"] = "nope"
		obj(d, "consent")["age_band"] = "16"
		d["purpose"] = "research"
	}), code: CodeInvalidEnvelope, fields: []string{"id", "consent.age_band", "purpose"}},

	// invalid_envelope: the body member itself.
	{name: "a missing body is invalid", input: edit(receiptSample, func(d jsonDoc) { delete(d, "body") }), code: CodeInvalidEnvelope, fields: []string{"body"}},
	{name: "a null body is invalid", input: edit(receiptSample, func(d jsonDoc) { d["body"] = nil }), code: CodeInvalidEnvelope, fields: []string{"body"}},

	// body_not_encrypted.
	{name: "a referral with a plain object body is refused as not encrypted", input: func(t testing.TB) []byte {
		body := decodeDoc(t, readTestdata(t, "bodies/referral.request/minimal.json"))
		return mutated(t, referralSample, func(d jsonDoc) { d["body"] = body })
	}, code: CodeBodyNotEncrypted},
	{name: "a referral whose body string is not a JWE is refused as not encrypted", input: edit(referralSample, func(d jsonDoc) { d["body"] = "Awa, 13 ans, Bamako" }), code: CodeBodyNotEncrypted},
	{name: "a referral whose body is a compact JWS is refused as not encrypted", input: edit(referralSample, func(d jsonDoc) { d["body"] = "eyJhbGciOiJFZERTQSJ9.eyJ4IjoxfQ.c2ln" }), code: CodeBodyNotEncrypted},
	{name: "a referral whose body is a number is refused as not encrypted", input: edit(referralSample, func(d jsonDoc) { d["body"] = json.Number("42") }), code: CodeBodyNotEncrypted},

	// body_invalid.
	{name: "a receipt with a JWE body is refused", input: func(t testing.TB) []byte {
		jwe := decodeDoc(t, readTestdata(t, referralSample))["body"]
		return mutated(t, receiptSample, func(d jsonDoc) { d["body"] = jwe })
	}, code: CodeBodyInvalid},
	{name: "a receipt with an array body is refused", input: edit(receiptSample, func(d jsonDoc) { d["body"] = []any{} }), code: CodeBodyInvalid},
	{name: "a receipt without a digest is refused", input: edit(receiptSample, func(d jsonDoc) { d["body"] = jsonDoc{} }), code: CodeBodyInvalid, fields: []string{"body.sha256"}},
	{name: "a receipt with an upper-case digest is refused", input: edit(receiptSample, func(d jsonDoc) { d["body"] = jsonDoc{"sha256": strings.ToUpper(aSHA256)} }), code: CodeBodyInvalid, fields: []string{"body.sha256"}},
	{name: "a receipt with a short digest is refused", input: edit(receiptSample, func(d jsonDoc) { d["body"] = jsonDoc{"sha256": aSHA256[:63]} }), code: CodeBodyInvalid, fields: []string{"body.sha256"}},
	{name: "an unknown field in a plain body is refused", input: edit(receiptSample, func(d jsonDoc) { d["body"] = jsonDoc{"sha256": aSHA256, "note": "ok"} }), code: CodeBodyInvalid, fields: []string{"body.note"}},
	{name: "an unknown decline reason is refused", input: edit(declinedSample, func(d jsonDoc) { d["body"] = jsonDoc{"reason": "busy"} }), code: CodeBodyInvalid, fields: []string{"body.reason"}},
	{name: "a null decline reason is refused", input: edit(declinedSample, func(d jsonDoc) { d["body"] = jsonDoc{"reason": nil} }), code: CodeBodyInvalid, fields: []string{"body.reason"}},
	{name: "an empty responsible agency is refused", input: edit(acceptedSample, func(d jsonDoc) { d["body"] = jsonDoc{"responsible_agency": ""} }), code: CodeBodyInvalid, fields: []string{"body.responsible_agency"}},
}

// compactJSON is used to compare documents independent of layout.
func compactJSON(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
