package primero

import (
	"testing"
	"time"

	"github.com/relais-hub/relais/contracts"
)

// approval is a stand-in supervisor approval: only its JWS shape matters
// to the contract; the hub verifies the signature.
const approval = "eyJhbGciOiJFZERTQSJ9.eyJtc2ciOiJ4In0.c2ln"

func TestConsentIsHonouredNeverInvented(t *testing.T) {
	tests := []struct {
		name     string
		referral bool // use the referral sample instead of the transfer
		change   func(c Case, tr Transition, o *Options)
		want     contracts.Code
		check    func(t *testing.T, c *contracts.Consent, rep Report)
	}{
		{name: "a transfer without disclosure_other_orgs is refused",
			change: func(c Case, _ Transition, _ *Options) { c["disclosure_other_orgs"] = false },
			want:   contracts.CodeConsentMissing},
		{name: "the string false is read as no",
			change: func(c Case, _ Transition, _ *Options) { c["disclosure_other_orgs"] = "false" },
			want:   contracts.CodeConsentMissing},
		{name: "an unreadable tick box is not consent",
			change: func(c Case, _ Transition, _ *Options) { c["disclosure_other_orgs"] = "yes" },
			want:   contracts.CodeConsentMissing,
			check: func(t *testing.T, _ *contracts.Consent, rep Report) {
				if !contains(reasons(rep, "disclosure_other_orgs"), ReasonInvalidValue) {
					t.Errorf("disclosure_other_orgs reasons %v", reasons(rep, "disclosure_other_orgs"))
				}
			}},
		{name: "a referral also needs consent_for_services, as in Primero", referral: true,
			change: func(c Case, _ Transition, _ *Options) { c["consent_for_services"] = "false" },
			want:   contracts.CodeConsentMissing},
		{name: "a transfer does not read consent_for_services, as in Primero",
			change: func(c Case, _ Transition, _ *Options) { c["consent_for_services"] = false },
			check: func(t *testing.T, c *contracts.Consent, rep Report) {
				wantString(t, c.Basis, "consent")
				if !contains(reasons(rep, "consent_for_services"), ReasonNotRead) {
					t.Errorf("consent_for_services reasons %v", reasons(rep, "consent_for_services"))
				}
			}},
		{name: "consent to this individual transfer counts and is dated by the transition",
			change: func(c Case, tr Transition, _ *Options) {
				c["disclosure_other_orgs"] = false
				tr["consent_individual_transfer"] = "true"
			},
			check: func(t *testing.T, c *contracts.Consent, _ Report) {
				wantString(t, c.Basis, "consent")
				wantString(t, c.Ref, "0b6f1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d")
				if want := time.Date(2026, 2, 10, 16, 5, 12, 337e6, time.UTC); !c.ObtainedAt.Equal(want) {
					t.Errorf("obtained_at %v, want %v", c.ObtainedAt, want)
				}
			}},
		{name: "an override without a reason is refused",
			change: func(c Case, tr Transition, _ *Options) {
				c["disclosure_other_orgs"] = false
				tr["consent_overridden"] = true
			},
			want: contracts.CodeConsentMissing},
		{name: "an override reason that maps to no override reason is refused",
			change: func(c Case, tr Transition, o *Options) {
				c["disclosure_other_orgs"] = false
				tr["consent_overridden"], tr["consent_override_reason"] = true, "la mère a refusé"
				o.OverrideApproval = approval
			},
			want: contracts.CodeConsentMissing},
		{name: "an override without a supervisor's approval is refused",
			change: func(c Case, tr Transition, _ *Options) {
				c["disclosure_other_orgs"] = false
				tr["consent_overridden"], tr["consent_override_reason"] = "true", "imminent_harm"
			},
			want: contracts.CodeOverrideUnapproved},
		{name: "an approved override goes as a best-interests override",
			change: func(c Case, tr Transition, o *Options) {
				c["disclosure_other_orgs"] = false
				tr["consent_overridden"], tr["consent_override_reason"] = true, "imminent_harm"
				o.OverrideApproval = approval
			},
			check: func(t *testing.T, c *contracts.Consent, rep Report) {
				wantString(t, c.Basis, "best_interests_override")
				if c.Override == nil || c.Override.Reason != "imminent_harm" || c.Override.Approval != approval {
					t.Errorf("override = %+v", c.Override)
				}
				if got := targets(rep, "transition.consent_override_reason"); len(got) != 1 || got[0] != "envelope.consent.override.reason" {
					t.Errorf("consent_override_reason → %v", got)
				}
			}},
		{name: "an override reason recorded on the case is read too",
			change: func(c Case, tr Transition, o *Options) {
				c["disclosure_other_orgs"], c["consent_override_reason"] = false, "caregiver_is_risk"
				tr["consent_overridden"] = true
				o.OverrideApproval = approval
			},
			check: func(t *testing.T, c *contracts.Consent, _ Report) {
				if c.Override == nil || c.Override.Reason != "caregiver_is_risk" {
					t.Errorf("override = %+v", c.Override)
				}
			}},
		{name: "a stock interview_subject does not say who consented",
			change: func(c Case, _ Transition, _ *Options) { c["interview_subject"] = "caregiver" },
			want:   contracts.CodeConsentGiverInvalid},
		{name: "without the consent date there is no consent",
			change: func(c Case, _ Transition, _ *Options) { delete(c, "consent_date") },
			want:   contracts.CodeConsentMissing},
		{name: "without a consent date field there is no consent",
			change: func(_ Case, _ Transition, o *Options) { o.ConsentDateField = "" },
			want:   contracts.CodeConsentMissing},
		{name: "withholding instructions block the referral until a case worker reviews it",
			change: func(c Case, _ Transition, _ *Options) {
				c["disclosure_deny_details"] = "Ne pas informer l'oncle de l'adresse"
			},
			want: contracts.CodeCategoryNotAllowed},
		{name: "reviewed withholding instructions are reported and not sent",
			change: func(c Case, _ Transition, o *Options) {
				c["withholding_info_reason"] = []any{"fear"}
				o.WithholdingReviewed = true
			},
			check: func(t *testing.T, _ *contracts.Consent, rep Report) {
				if !contains(reasons(rep, "withholding_info_reason[0]"), ReasonWithholdReviewed) {
					t.Errorf("withholding_info_reason[0] reasons %v", reasons(rep, "withholding_info_reason[0]"))
				}
			}},
		{name: "consent to share with the family only does not reach an agency",
			change: func(c Case, _ Transition, _ *Options) { c["consent_info_sharing"] = []any{"family"} },
			want:   contracts.CodeConsentScopeRecipient},
		{name: "a no to tracing refuses a tracing referral", referral: true,
			change: func(c Case, _ Transition, _ *Options) { c["consent_for_tracing"] = "false" },
			want:   contracts.CodeConsentScopePurpose},
		{name: "an unknown age leaves no age band",
			change: func(c Case, _ Transition, _ *Options) { delete(c, "date_of_birth"); delete(c, "age") },
			want:   contracts.CodeConsentMissing},
		{name: "the age band is the age when consent was obtained",
			change: func(c Case, _ Transition, _ *Options) {
				c["date_of_birth"], c["consent_date"] = "2011-02-05", "2026-02-04"
			},
			check: func(t *testing.T, c *contracts.Consent, _ Report) {
				wantString(t, c.AgeBand, "12-14") // 14 the day before the 15th birthday
			}},
		{name: "a child of 15 at consent is in the 15-17 band",
			change: func(c Case, _ Transition, _ *Options) {
				c["date_of_birth"], c["consent_date"] = "2011-02-04", "2026-02-04"
			},
			check: func(t *testing.T, c *contracts.Consent, _ Report) { wantString(t, c.AgeBand, "15-17") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := loadSample(t)
			tr := s.transfer
			if tt.referral {
				tr = s.referral
			}
			c, tr := Case(cloneRecord(t, s.c)), Transition(cloneRecord(t, tr))
			tt.change(c, tr, &s.o)
			d, rep, err := ToDraft(c, tr, s.o)
			if got := contracts.CodeOf(err); got != tt.want {
				t.Fatalf("code %q (%v), want %q", got, err, tt.want)
			}
			if missing := rep.Unaccounted(sourceLeaves(c, tr)); len(missing) > 0 {
				t.Errorf("unaccounted: %v", missing)
			}
			if err != nil {
				assertNoPersonalData(t, "the refusal", err.Error())
				if p := contracts.AsProblem(err); p.Code.Title("fr") == p.Code.Title("en") {
					t.Errorf("code %s has no French title", p.Code)
				}
			} else {
				envelopeFor(t, d)
			}
			if tt.check != nil {
				tt.check(t, d.Consent, rep)
			}
		})
	}
}
