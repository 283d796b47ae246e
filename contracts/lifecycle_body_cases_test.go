package contracts

import (
	"reflect"
	"slices"
	"testing"
)

// lifecycleBodyCases are the body samples of the lifecycle kinds. They join
// the shared body table at init, so the Go validation, the JSON Schemas and
// the generated "rules JSON Schema cannot express" list of docs/protocol.md
// are all checked against them without touching the v1 table.
var lifecycleBodyCases = []bodyCase{
	{name: "an information request is valid", kind: "info.request", input: file("bodies/info.request/valid.json")},
	{name: "an information reply is valid", kind: "info.reply", input: file("bodies/info.reply/valid.json")},
	{name: "a family assessment is valid", kind: "family.assessment", input: file("bodies/family.assessment/valid.json")},
	{name: "a return decision is valid", kind: "bid.decision", input: file("bodies/bid.decision/valid.json")},
	{name: "a third-country decision naming the country is valid", kind: "bid.decision", input: raw(`{"decision":"third_country","decided_on":"2026-01-25","country":"bf"}`)},
	{name: "a return plan is valid", kind: "return.plan", input: file("bodies/return.plan/valid.json")},
	{name: "a handover confirmation is valid", kind: "handover.confirmation", input: file("bodies/handover.confirmation/valid.json")},
	{name: "a reintegration plan is valid", kind: "reintegration.plan", input: file("bodies/reintegration.plan/valid.json")},
	{name: "a follow-up report is valid", kind: "followup.report", input: file("bodies/followup.report/valid.json")},
	{name: "a closure is valid", kind: "case.closed", input: file("bodies/case.closed/valid.json")},
	{name: "a revocation is valid", kind: "transfer.revoked", input: file("bodies/transfer.revoked/valid.json")},
	{name: "a forwarded transfer is valid", kind: "transfer.forwarded", input: file("bodies/transfer.forwarded/valid.json")},
	{name: "a missing-child alert is valid", kind: "alert.child_missing", input: file("bodies/alert.child_missing/valid.json")},
	{name: "an erasure request is valid", kind: "case.erasure_requested", input: file("bodies/case.erasure_requested/valid.json")},
	{name: "an erasure confirmation is valid", kind: "case.erased", input: file("bodies/case.erased/valid.json")},

	{name: "an information request without categories is invalid", kind: "info.request", input: raw(`{"questions":"?"}`), code: CodeBodyInvalid, fields: []string{"categories"}},
	{name: "an information request for an unknown category is invalid", kind: "info.request", input: raw(`{"categories":["religion"],"questions":"?"}`), code: CodeBodyInvalid, fields: []string{"categories[0]"}},
	{name: "an empty information reply is invalid", kind: "info.reply", input: raw(`{"answer":""}`), code: CodeBodyInvalid, fields: []string{"answer"}},
	{name: "an unknown assessment outcome is invalid", kind: "family.assessment", input: edit("bodies/family.assessment/valid.json", func(d jsonDoc) { d["outcome"] = "suitable" }), code: CodeBodyInvalid, fields: []string{"outcome"}},
	{name: "an assessment without findings is invalid", kind: "family.assessment", input: edit("bodies/family.assessment/valid.json", func(d jsonDoc) { delete(d, "findings") }), code: CodeBodyInvalid, fields: []string{"findings"}},
	{name: "an unknown best-interests decision is invalid", kind: "bid.decision", input: raw(`{"decision":"adoption","decided_on":"2026-01-25"}`), code: CodeBodyInvalid, fields: []string{"decision"}},
	{name: "a third-country decision without the country is invalid", kind: "bid.decision", input: raw(`{"decision":"third_country","decided_on":"2026-01-25"}`), code: CodeBodyInvalid, fields: []string{"country"}},
	{name: "a return decision naming a country is invalid", kind: "bid.decision", input: raw(`{"decision":"return","decided_on":"2026-01-25","country":"ml"}`), code: CodeBodyInvalid, fields: []string{"country"}},
	{name: "a decision dated 31 April is invalid", kind: "bid.decision", input: raw(`{"decision":"return","decided_on":"2026-04-31"}`), code: CodeBodyInvalid, fields: []string{"decided_on"}, goOnly: true},
	{name: "a return plan without travel date is invalid", kind: "return.plan", input: edit("bodies/return.plan/valid.json", func(d jsonDoc) { delete(d, "travel_on") }), code: CodeBodyInvalid, fields: []string{"travel_on"}},
	{name: "a route spanning lines is invalid", kind: "return.plan", input: edit("bodies/return.plan/valid.json", func(d jsonDoc) { d["route"] = "Abidjan\nBamako" }), code: CodeBodyInvalid, fields: []string{"route"}},
	{name: "a handover time with an offset is invalid", kind: "handover.confirmation", input: raw(`{"handed_over_at":"2026-02-11T10:30:00+01:00"}`), code: CodeBodyInvalid, fields: []string{"handed_over_at"}},
	{name: "a handover confirmation with a place is invalid", kind: "handover.confirmation", input: raw(`{"handed_over_at":"2026-02-11T10:30:00Z","place":"Pogo"}`), code: CodeBodyInvalid, fields: []string{"place"}},
	{name: "a reintegration plan without services is invalid", kind: "reintegration.plan", input: edit("bodies/reintegration.plan/valid.json", func(d jsonDoc) { delete(d, "services") }), code: CodeBodyInvalid, fields: []string{"services"}},
	{name: "an unknown living arrangement is invalid", kind: "reintegration.plan", input: edit("bodies/reintegration.plan/valid.json", func(d jsonDoc) { d["living_with"] = "neighbour" }), code: CodeBodyInvalid, fields: []string{"living_with"}},
	{name: "an unknown follow-up situation is invalid", kind: "followup.report", input: edit("bodies/followup.report/valid.json", func(d jsonDoc) { d["situation"] = "fine" }), code: CodeBodyInvalid, fields: []string{"situation"}},
	{name: "a closure without reason is invalid", kind: "case.closed", input: raw(`{}`), code: CodeBodyInvalid, fields: []string{"reason"}},
	{name: "a closure with a decline reason is invalid", kind: "case.closed", input: raw(`{"reason":"capacity"}`), code: CodeBodyInvalid, fields: []string{"reason"}},
	{name: "an unknown revocation reason is invalid", kind: "transfer.revoked", input: raw(`{"reason":"changed_mind"}`), code: CodeBodyInvalid, fields: []string{"reason"}},
	{name: "a forwarded transfer without the child's file is invalid", kind: "transfer.forwarded", input: raw(`{"background":"..."}`), code: CodeBodyInvalid, fields: []string{"referral"}},
	{name: "a forwarded file without a child is invalid", kind: "transfer.forwarded", input: raw(`{"referral":{"urgency":"high"}}`), code: CodeBodyInvalid, fields: []string{"referral.child"}},
	{name: "an alert without circumstances is invalid", kind: "alert.child_missing", input: raw(`{"missing_since":"2026-01-03T18:00:00Z"}`), code: CodeBodyInvalid, fields: []string{"circumstances"}},
	{name: "an unknown erasure reason is invalid", kind: "case.erasure_requested", input: raw(`{"reason":"tidy_up"}`), code: CodeBodyInvalid, fields: []string{"reason"}},
	{name: "an erasure confirmation without time is invalid", kind: "case.erased", input: raw(`{}`), code: CodeBodyInvalid, fields: []string{"erased_at"}},
}

func init() { bodyCases = append(bodyCases, lifecycleBodyCases...) }

func TestEveryLifecycleKindHasAValidSample(t *testing.T) {
	for _, name := range []string{"info.request", "info.reply", "family.assessment", "bid.decision", "return.plan",
		"handover.confirmation", "reintegration.plan", "followup.report", "case.closed", "transfer.revoked",
		"transfer.forwarded", "alert.child_missing", "case.erasure_requested", "case.erased"} {
		if _, ok := Kind(name); !ok {
			t.Errorf("%s is not registered", name)
		}
		if !slices.ContainsFunc(lifecycleBodyCases, func(c bodyCase) bool { return c.kind == name && c.code == "" }) {
			t.Errorf("%s has no valid body sample", name)
		}
	}
}

func TestLifecycleBodiesCarryTheirCategories(t *testing.T) {
	cases := []struct {
		kind string
		want []string
	}{
		{"info.request", []string{"narrative"}},
		{"info.reply", []string{"family", "location", "documents", "health", "photo", "narrative"}},
		{"family.assessment", []string{"contact", "family", "location", "narrative"}},
		{"bid.decision", nil},
		{"return.plan", []string{"location", "documents", "narrative"}},
		{"handover.confirmation", nil},
		{"reintegration.plan", []string{"family", "location", "narrative"}},
		{"followup.report", []string{"protection_concerns", "narrative"}},
		{"case.closed", nil},
		{"transfer.revoked", nil},
		{"transfer.forwarded", []string{"identity", "narrative"}},
		{"alert.child_missing", []string{"identity", "location", "narrative"}},
		{"case.erasure_requested", nil},
		{"case.erased", nil},
	}
	for _, tc := range cases {
		t.Run(tc.kind, func(t *testing.T) {
			got, err := BodyCategories(tc.kind, readTestdata(t, "bodies/"+tc.kind+"/valid.json"))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("categories = %v, want %v", got, tc.want)
			}
			spec, _ := Kind(tc.kind)
			if !spec.PersonalData && len(got) > 0 {
				t.Fatalf("plain kind %s carries personal data categories %v", tc.kind, got)
			}
		})
	}
}

// The plain lifecycle bodies are read by the hub: every field must be
// case-handling metadata, never personal data.
func TestPlainLifecycleBodiesHoldNoPersonalField(t *testing.T) {
	for _, k := range Kinds() {
		if k.PersonalData {
			continue
		}
		typ := reflect.TypeOf(k.NewBody()).Elem()
		for i := range typ.NumField() {
			if tag := typ.Field(i).Tag.Get(categoryTag); tag != notPersonal {
				t.Errorf("%s.%s is tagged %q in a plain body", k.Name, typ.Field(i).Name, tag)
			}
		}
	}
}
