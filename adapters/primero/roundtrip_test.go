package primero

import (
	"encoding/json"
	"os"
	"path"
	"strings"
	"testing"

	"github.com/relais-hub/relais/contracts"
)

// TestTheSamplesRoundTripWithEveryFieldAccountedFor sends each sample
// through ToDraft, the wire body and FromReferral, and checks that every
// field on each side is mapped or dropped with a reason, and that every
// mapping that claims to be exact gives back the value it started from.
func TestTheSamplesRoundTripWithEveryFieldAccountedFor(t *testing.T) {
	s := loadSample(t)
	for name, tr := range map[string]Transition{"transfer": s.transfer, "referral": s.referral} {
		t.Run(name, func(t *testing.T) {
			d, out, err := ToDraft(s.c, tr, s.o)
			if err != nil {
				t.Fatalf("ToDraft: %v", err)
			}
			if missing := out.Unaccounted(sourceLeaves(s.c, tr)); len(missing) > 0 {
				t.Fatalf("case fields unaccounted: %v", missing)
			}
			body := decodeBody(t, d)
			env := envelopeFor(t, d)
			back, in := s.o.FromReferral(body, env)
			if missing := in.Unaccounted(referralLeaves(body, env)); len(missing) > 0 {
				t.Fatalf("referral fields unaccounted on the way back: %v", missing)
			}
			if unknown := unknownFields(in); len(unknown) > 0 {
				t.Errorf("referral fields unknown to the adapter: %v", unknown)
			}
			exact := 0
			for _, e := range out.Entries {
				if e.Disposition != Mapped || e.Lossy {
					continue
				}
				exact++
				orig := sourceValue(s.c, tr, e.Source)
				if !cameBack(back, in, e, orig) {
					t.Errorf("%s → %s: the value does not come back", e.Source, e.Target)
				}
			}
			if exact < 30 {
				t.Errorf("only %d exact mappings were checked", exact)
			}
		})
	}
}

// cameBack reports whether a mapped source value is found again in the
// case built on the receiving side: at one of the places the contract
// field went back to, or at its own path.
func cameBack(back Case, in Report, e Entry, orig any) bool {
	candidates := []string{e.Source}
	for _, b := range in.For(e.Target) {
		if b.Disposition == Mapped {
			candidates = append(candidates, b.Target)
		}
	}
	for _, p := range candidates {
		if got, ok := back.At(p); ok && sameValue(got, orig) {
			return true
		}
	}
	return false
}

func sourceValue(c Case, tr Transition, source string) any {
	if rest, ok := strings.CutPrefix(source, "transition."); ok {
		v, _ := valueAt(map[string]any(tr), rest)
		return v
	}
	v, _ := c.At(source)
	return v
}

// referralLeaves lists the fields of a body and its envelope as
// FromReferral reports them.
func referralLeaves(body contracts.ReferralRequest, env contracts.Envelope) []string {
	out := leafPaths("body", toTree(body))
	e := toTree(env)
	delete(e, "body")
	return append(out, leafPaths("envelope", e)...)
}

func TestAReferralFromAnotherSystemMapsToACaseWithEveryFieldAccountedFor(t *testing.T) {
	// The protocol's own example body: documents, health notes, a photo,
	// a legal status — fields the Primero sample does not exercise.
	raw, err := os.ReadFile(path.Join("..", "..", "cmd", "relais", "demodata", "referral-body.json"))
	if err != nil {
		t.Skipf("protocol example body not found: %v", err)
	}
	v, err := contracts.ValidateBody("referral.request", raw)
	if err != nil {
		t.Fatal(err)
	}
	body := *v.(*contracts.ReferralRequest)
	s := loadSample(t)
	d, _, err := ToDraft(s.c, s.transfer, s.o)
	if err != nil {
		t.Fatal(err)
	}
	d.Body, _ = json.Marshal(body)
	d.DataCategories = contracts.UsedCategories(&body)
	d.Consent.DataCategories = d.DataCategories
	env := envelopeFor(t, d)

	c, rep := s.o.FromReferral(body, env)
	if missing := rep.Unaccounted(referralLeaves(body, env)); len(missing) > 0 {
		t.Fatalf("fields unaccounted: %v", missing)
	}
	if unknown := unknownFields(rep); len(unknown) > 0 {
		t.Errorf("fields unknown to the adapter: %v", unknown)
	}
	for field, want := range map[string]any{
		"name_first": "Awa Mariam", "name_last": "Traoré", "name_nickname": "Mamie", "sex": "female",
		"date_of_birth": "2010-03-14", "telephone_current": "+22507000000", "risk_level": "high",
		"displacement_status": nil, "other_agency_id": env.Case, "other_agency_name": "bf.dpe-bobo",
		"consent_for_services": true, "disclosure_other_orgs": true, "child_consent": "true", "consent_for_tracing": "true",
		"family_details_section[0].relation": "mother", "family_details_section[0].relation_location_current": "ML",
		"family_details_section[1].relation_is_alive": "unknown", "protection_status": "unaccompanied",
		"protection_concerns[0]": "trafficked_smuggled", "protection_concerns[1]": "worst_forms_of_child_labor",
		"services_section[0].service_type": "family_seunification_service",
	} {
		got, _ := c.At(field)
		if want == nil {
			if got != nil {
				t.Errorf("%s = %v, want nothing (irregular_migrant has no Primero option)", field, got)
			}
			continue
		}
		if got != want {
			t.Errorf("%s = %#v, want %#v", field, got, want)
		}
	}
	for source, want := range map[string]Reason{
		"body.photo.data":           ReasonAttachment,
		"body.health_notes":         ReasonNoPrimeroField,
		"body.location.since":       ReasonNoPrimeroField,
		"body.legal_status.status":  ReasonUnmappedOption,
		"envelope.consent.age_band": ReasonDerived,
		"envelope.id":               ReasonRelaisMetadata,
	} {
		if got := reasons(rep, source); !contains(got, want) {
			t.Errorf("%s: reasons %v, want %s", source, got, want)
		}
	}
	if carried, _ := c["documents_carried"].(string); !strings.Contains(carried, "Carte consulaire · CC-ML-559812") {
		t.Errorf("documents_carried = %q", carried)
	}
}
