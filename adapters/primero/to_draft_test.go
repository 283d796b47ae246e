package primero

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/relais-hub/relais/contracts"
)

func TestTheTransferSampleBecomesAValidReferralWithEveryFieldAccountedFor(t *testing.T) {
	s := loadSample(t)
	d, rep, err := ToDraft(s.c, s.transfer, s.o)
	if err != nil {
		t.Fatalf("ToDraft: %v", err)
	}
	if missing := rep.Unaccounted(sourceLeaves(s.c, s.transfer)); len(missing) > 0 {
		t.Fatalf("fields neither mapped nor dropped with a reason: %v", missing)
	}
	// Every standard field of the sample is classified; only the
	// deployment's own custom field is unknown to the adapter.
	if got := unknownFields(rep); !slices.Equal(got, []string{"school_attendance_6a1f3b2"}) {
		t.Errorf("fields unknown to the adapter: %v, want only the custom field", got)
	}
	body := decodeBody(t, d)
	cats, err := contracts.BodyCategories(d.Kind, d.Body)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cats, d.DataCategories) || !slices.Equal(cats, d.Consent.DataCategories) {
		t.Errorf("data_categories %v / consent %v, want the categories the body uses %v", d.DataCategories, d.Consent.DataCategories, cats)
	}
	envelopeFor(t, d)

	if d.Kind != "referral.request" || d.To != "ml.dnpef" || d.Case != "5b0c3f7e-2d1a-4c8e-9f3b-7a6d2e1c9b40" || d.Purpose != "protection_referral" {
		t.Errorf("routing: kind %s to %s case %s purpose %s", d.Kind, d.To, d.Case, d.Purpose)
	}
	want := contracts.Consent{
		Ref: "5b0c3f7e-2d1a-4c8e-9f3b-7a6d2e1c9b40:consent", Basis: "consent", GivenBy: "guardian", ChildAssent: true,
		AgeBand: "12-14", Recipients: []string{"ml.dnpef"}, Purposes: []string{"protection_referral", "family_tracing"},
		ObtainedAt: time.Date(2026, 2, 4, 0, 0, 0, 0, time.UTC),
	}
	got := *d.Consent
	if got.Ref != want.Ref || got.Basis != want.Basis || got.GivenBy != want.GivenBy || got.ChildAssent != want.ChildAssent ||
		got.AgeBand != want.AgeBand || !slices.Equal(got.Recipients, want.Recipients) || !slices.Equal(got.Purposes, want.Purposes) ||
		!got.ObtainedAt.Equal(want.ObtainedAt) || got.Override != nil {
		t.Errorf("consent = %+v, want %+v", got, want)
	}

	ch := body.Child
	if ch.GivenNames != "Fatoumata" || ch.FamilyName != "Diarra" || ch.Sex != "f" || ch.BirthDate != "2012-06-14" ||
		ch.EstimatedAge != nil || ch.Nationality != "ml" || !slices.Equal(ch.Languages, []string{"bam", "fr"}) ||
		!slices.Equal(ch.OtherNames, []string{"Fanta"}) {
		t.Errorf("child = %+v", ch)
	}
	if body.Location == nil || body.Location.Country != "bf" || body.Location.AdminArea != "BF-HOU" {
		t.Errorf("location = %+v", body.Location)
	}
	if len(body.Family) != 3 || body.Family[0].Phone != "+22376451209" || body.Family[1].Status != "deceased" ||
		body.Family[2].Relationship != "aunt_uncle" || body.Family[2].Phone != "" || body.Family[2].Country != "ci" {
		t.Errorf("family = %+v", body.Family)
	}
	if body.ProtectionConcerns == nil || !slices.Equal(body.ProtectionConcerns.Codes, []string{"trafficking", "child_labour", "unaccompanied"}) {
		t.Errorf("protection concerns = %+v", body.ProtectionConcerns)
	}
	if body.Urgency != "high" || !slices.Equal(body.RequestedServices, []string{"family_tracing", "psychosocial_support", "interim_care"}) {
		t.Errorf("urgency %s services %v", body.Urgency, body.RequestedServices)
	}
	if body.LegalStatus != nil || len(body.Documents) != 0 || body.Photo != nil {
		t.Errorf("fields with no usable source were filled: %+v %+v %+v", body.LegalStatus, body.Documents, body.Photo)
	}

	for source, want := range map[string]Reason{
		"family_details_section[2].relation_telephone": ReasonInvalidValue,
		"family_details_section[3].relation":           ReasonUnmappedOption,
		"family_details_section[3].relation_name":      ReasonMissingRequired,
		"language[2]":                ReasonUnmappedOption,
		"protection_concerns[2]":     ReasonUnmappedOption,
		"displacement_status":        ReasonUnmappedOption,
		"notes_section[0].note_text": ReasonInternalNote,
		"owned_by":                   ReasonPrimeroMetadata,
		"religion[0]":                ReasonNoContractField,
		"consent_reporting":          ReasonNotSharingBasis,
		"national_id_no":             ReasonEmpty,
		"transition.transitioned_by": ReasonPrimeroMetadata,
	} {
		if got := reasons(rep, source); !contains(got, want) {
			t.Errorf("%s: reasons %v, want %s", source, got, want)
		}
	}
}

func TestTheReferralSampleAsksForTheReferredServiceOnly(t *testing.T) {
	s := loadSample(t)
	d, rep, err := ToDraft(s.c, s.referral, s.o)
	if err != nil {
		t.Fatalf("ToDraft: %v", err)
	}
	if missing := rep.Unaccounted(sourceLeaves(s.c, s.referral)); len(missing) > 0 {
		t.Fatalf("fields neither mapped nor dropped with a reason: %v", missing)
	}
	body := decodeBody(t, d)
	if !slices.Equal(body.RequestedServices, []string{"family_tracing"}) {
		t.Errorf("requested services = %v, want only the referred family tracing", body.RequestedServices)
	}
	if d.Purpose != "family_tracing" {
		t.Errorf("purpose = %s, want family_tracing for a referral to a tracing service", d.Purpose)
	}
	// The options mirror the corridor's minimisation: family tracing
	// carries neither protection concerns nor the narrative.
	for _, c := range d.DataCategories {
		if !contains(s.o.PurposeCategories["family_tracing"], c) {
			t.Errorf("category %s sent for family tracing", c)
		}
	}
	for _, src := range []string{"protection_concerns[0]", "protection_status", "transition.notes"} {
		if !contains(reasons(rep, src), ReasonNotDeclared) {
			t.Errorf("%s: reasons %v, want %s", src, reasons(rep, src), ReasonNotDeclared)
		}
	}
	for _, src := range []string{"services_section[1].service_type", "services_section[2].service_type"} {
		if got := reasons(rep, src); !contains(got, ReasonNotInTransition) {
			t.Errorf("%s: reasons %v, want %s", src, got, ReasonNotInTransition)
		}
	}
	if got := targets(rep, "transition.service"); !slices.Equal(got, []string{"body.requested_services[0]"}) {
		t.Errorf("transition.service → %v", got)
	}
	// A referral needs consent_for_services as well; the sample has it as a
	// JSON boolean and disclosure_other_orgs as the string "true".
	if got := targets(rep, "consent_for_services"); !slices.Equal(got, []string{"envelope.consent.basis"}) {
		t.Errorf("consent_for_services → %v", got)
	}
	envelopeFor(t, d)
}

func TestPrimeroValueQuirksAreRead(t *testing.T) {
	tests := []struct {
		name   string
		change func(c Case)
		check  func(t *testing.T, ch contracts.Child, rep Report)
	}{
		{"a dd-MMM-yyyy date of birth becomes an ISO date", func(c Case) { c["date_of_birth"] = "14-Jun-2012" },
			func(t *testing.T, ch contracts.Child, _ Report) { wantString(t, ch.BirthDate, "2012-06-14") }},
		{"an ISO date of birth stays one", func(c Case) { c["date_of_birth"] = "2012-06-14" },
			func(t *testing.T, ch contracts.Child, _ Report) { wantString(t, ch.BirthDate, "2012-06-14") }},
		{"an ISO timestamp keeps its date", func(c Case) { c["date_of_birth"] = "2012-06-14T00:00:00.000Z" },
			func(t *testing.T, ch contracts.Child, _ Report) { wantString(t, ch.BirthDate, "2012-06-14") }},
		{"a date in another format is dropped and the age goes as an estimate", func(c Case) { c["date_of_birth"] = "14/06/2012" },
			func(t *testing.T, ch contracts.Child, rep Report) {
				wantString(t, ch.BirthDate, "")
				if ch.EstimatedAge == nil || *ch.EstimatedAge != 13 {
					t.Errorf("estimated_age = %v, want 13", ch.EstimatedAge)
				}
				if !contains(reasons(rep, "date_of_birth"), ReasonInvalidValue) {
					t.Errorf("date_of_birth reasons %v", reasons(rep, "date_of_birth"))
				}
			}},
		{"an age sent as text with estimated as the string true is an estimate", func(c Case) {
			c["age"], c["estimated"] = "13", "true"
		}, func(t *testing.T, ch contracts.Child, rep Report) {
			wantString(t, ch.BirthDate, "")
			if ch.EstimatedAge == nil || *ch.EstimatedAge != 13 {
				t.Errorf("estimated_age = %v, want 13", ch.EstimatedAge)
			}
			if !contains(reasons(rep, "date_of_birth"), ReasonDerived) {
				t.Errorf("date_of_birth reasons %v, want derived", reasons(rep, "date_of_birth"))
			}
		}},
		{"a stock placeholder nationality maps to nothing", func(c Case) { c["nationality"] = []any{"nationality1"} },
			func(t *testing.T, ch contracts.Child, rep Report) {
				wantString(t, ch.Nationality, "")
				if !contains(reasons(rep, "nationality[0]"), ReasonUnmappedOption) {
					t.Errorf("nationality[0] reasons %v", reasons(rep, "nationality[0]"))
				}
			}},
		{"a single-select nationality is read too", func(c Case) { c["nationality"] = "mali" },
			func(t *testing.T, ch contracts.Child, rep Report) {
				wantString(t, ch.Nationality, "ml")
				if got := targets(rep, "nationality"); !slices.Equal(got, []string{"body.child.nationality"}) {
					t.Errorf("nationality → %v", got)
				}
			}},
		{"an option id with a generated suffix is translated and a second nationality reported", func(c Case) {
			c["nationality"] = []any{"cote_d_ivoire_71435", "mali"}
		}, func(t *testing.T, ch contracts.Child, rep Report) {
			wantString(t, ch.Nationality, "ci")
			if !contains(reasons(rep, "nationality[1]"), ReasonSingleValue) {
				t.Errorf("nationality[1] reasons %v", reasons(rep, "nationality[1]"))
			}
		}},
		{"a middle name joins the given names", func(c Case) { c["name_middle"] = "Kadiatou" },
			func(t *testing.T, ch contracts.Child, _ Report) { wantString(t, ch.GivenNames, "Fatoumata Kadiatou") }},
		{"a phone written with 00 and spaces becomes E.164", func(c Case) { c["telephone_current"] = "00226 70 12 34 56" },
			func(t *testing.T, ch contracts.Child, _ Report) { wantString(t, ch.Phone, "+22670123456") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := loadSample(t)
			c := Case(cloneRecord(t, s.c))
			tt.change(c)
			d, rep, err := ToDraft(c, s.transfer, s.o)
			if err != nil {
				t.Fatalf("ToDraft: %v", err)
			}
			if missing := rep.Unaccounted(sourceLeaves(c, s.transfer)); len(missing) > 0 {
				t.Fatalf("unaccounted: %v", missing)
			}
			tt.check(t, decodeBody(t, d).Child, rep)
		})
	}
}

func wantString(t *testing.T, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestDeclaredCategoriesKeepOtherFieldsOut(t *testing.T) {
	s := loadSample(t)
	s.o.Categories = []string{"identity", "family", "protection_concerns"}
	d, rep, err := ToDraft(s.c, s.transfer, s.o)
	if err != nil {
		t.Fatalf("ToDraft: %v", err)
	}
	for _, c := range d.DataCategories {
		if !contains(s.o.Categories, c) {
			t.Errorf("data category %s sent although not declared", c)
		}
	}
	body := decodeBody(t, d)
	if body.Location != nil || body.Narrative != "" {
		t.Errorf("location %+v / narrative sent although not declared", body.Location)
	}
	for i, f := range body.Family {
		if f.Phone != "" || f.Address != "" || f.Country != "" {
			t.Errorf("family[%d] carries contact data: %+v", i, f)
		}
	}
	for _, src := range []string{"location_current", "address_current", "transition.notes",
		"family_details_section[0].relation_telephone", "family_details_section[0].relation_address_current"} {
		if !contains(reasons(rep, src), ReasonNotDeclared) {
			t.Errorf("%s: reasons %v, want %s", src, reasons(rep, src), ReasonNotDeclared)
		}
	}
}

func TestRoutingRefusals(t *testing.T) {
	tests := []struct {
		name   string
		change func(c Case, tr Transition, o *Options)
		want   contracts.Code
	}{
		{"a transition for another case", func(_ Case, tr Transition, _ *Options) { tr["record_id"] = "another-case" }, contracts.CodeBadRequest},
		{"an assignment is not sent across agencies", func(_ Case, tr Transition, _ *Options) { tr["type"] = "Assign" }, contracts.CodeBadRequest},
		{"a case without an id", func(c Case, _ Transition, _ *Options) { delete(c, "id") }, contracts.CodeBadRequest},
		{"an agency with no Relais id", func(_ Case, tr Transition, _ *Options) { tr["transitioned_to_agency"] = "agency-x" }, contracts.CodeUnknownRecipient},
		{"an unknown sex leaves the body invalid", func(c Case, _ Transition, _ *Options) { c["sex"] = "F" }, contracts.CodeBodyInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := loadSample(t)
			c, tr := Case(cloneRecord(t, s.c)), Transition(cloneRecord(t, s.transfer))
			tt.change(c, tr, &s.o)
			_, rep, err := ToDraft(c, tr, s.o)
			if got := contracts.CodeOf(err); got != tt.want {
				t.Fatalf("code %q (%v), want %q", got, err, tt.want)
			}
			assertNoPersonalData(t, "the error", err.Error())
			if missing := rep.Unaccounted(sourceLeaves(c, tr)); len(missing) > 0 {
				t.Errorf("the report of a refusal leaves fields unaccounted: %v", missing)
			}
		})
	}
}

func TestTheReportNamesFieldsNeverValues(t *testing.T) {
	s := loadSample(t)
	_, rep, err := ToDraft(s.c, s.transfer, s.o)
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range []string{"fr", "en"} {
		var out bytes.Buffer
		if err := rep.Write(&out, lang); err != nil {
			t.Fatal(err)
		}
		assertNoPersonalData(t, "the "+lang+" report", out.String())
		if out.Len() == 0 {
			t.Errorf("empty %s report", lang)
		}
	}
}
