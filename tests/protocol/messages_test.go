package protocol

// Message fixtures: a realistic referral and hand-signing helpers.

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
	"github.com/relais-hub/relais/contracts/seal/sealtest"
)

// referralBody is a realistic child's file. Every distinctive string in it
// is personal data that must only ever travel encrypted.
const referralBody = `{
  "child": {"given_names": "Kadiatou Aminata", "family_name": "Coulibaly", "sex": "f",
            "birth_date": "2011-07-02", "nationality": "ml", "languages": ["bam", "fr"], "phone": "+22507123456"},
  "location": {"country": "ci", "admin_area": "CI-AB", "place": "Foyer Sainte-Thérèse, Treichville", "since": "2026-01-14"},
  "family": [{"relationship": "mother", "given_names": "Mariam", "family_name": "Diarra", "status": "alive",
              "country": "ml", "address": "Quartier Hamdallaye, Ségou", "phone": "+22376543210"}],
  "protection_concerns": {"codes": ["unaccompanied", "trafficking"], "details": "Conduite à Abidjan par un intermédiaire pour du travail domestique."},
  "narrative": "Kadiatou a été retrouvée le 14 janvier 2026 au marché de Treichville. Elle souhaite rejoindre sa mère à Ségou.",
  "urgency": "high",
  "requested_services": ["family_tracing", "return_assistance"]
}`

var referralCategories = []string{"identity", "contact", "family", "location", "protection_concerns", "narrative"}

// referral is a referral.request draft from to, consent given by the child.
func referral(to string) agency.Draft {
	now := time.Now().UTC().Truncate(time.Second)
	return agency.Draft{
		Kind: "referral.request", To: to, Case: "CI-ABJ-2026-0117",
		Purpose:        "protection_referral",
		DataCategories: referralCategories,
		Consent: &contracts.Consent{
			Ref: "CI-ABJ-CONS-0117", Basis: "consent", GivenBy: "child", ChildAssent: true, AgeBand: "12-14",
			Recipients: []string{contracts.AgencyCountry(to)}, Purposes: []string{"protection_referral", "family_tracing"},
			DataCategories: referralCategories, ObtainedAt: now.Add(-48 * time.Hour),
		},
		Body: json.RawMessage(referralBody),
	}
}

// seal builds, encrypts and signs a draft with p's client, without
// submitting it.
func (p *party) seal(t *testing.T, d agency.Draft) (contracts.Envelope, []byte) {
	t.Helper()
	env, jws, err := p.Client.Seal(context.Background(), d)
	if err != nil {
		t.Fatalf("%s seals %s: %v", p.ID, d.Kind, err)
	}
	return env, jws
}

// envelopeHeader is the protected header of the profile, member for member.
func envelopeHeader(kid string) string {
	return sealtest.Header("alg", "EdDSA", "kid", kid, "typ", seal.EnvelopeTyp)
}

// signEnvelope signs payload as p, with a conforming header.
func (p *party) signEnvelope(payload []byte) []byte {
	return sealtest.SignEd25519(envelopeHeader(p.SigKID), payload, p.SigPriv)
}

// payloadOf decodes a compact JWS's payload.
func payloadOf(t *testing.T, jws []byte) []byte {
	t.Helper()
	parts := strings.Split(string(jws), ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	return b
}
func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
