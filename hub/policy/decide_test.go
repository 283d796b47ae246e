package policy

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/relais-hub/relais/contracts"
)

type decisionCase struct {
	name string
	// dir is the testdata directory of agreements ("corridors" if empty).
	dir  string
	edit func(t *testing.T, in *Input)
	// code is the expected refusal, "" when allowed; rule the rule that
	// decided.
	code     contracts.Code
	rule     string
	override bool
}

func consentEdit(fn func(c *contracts.Consent)) func(*testing.T, *Input) {
	return func(_ *testing.T, in *Input) { fn(in.Envelope.Consent) }
}

func envelopeEdit(fn func(e *contracts.Envelope)) func(*testing.T, *Input) {
	return func(_ *testing.T, in *Input) { fn(&in.Envelope) }
}

func band(ageBand, givenBy string, assent bool) func(*testing.T, *Input) {
	return consentEdit(func(c *contracts.Consent) { c.AgeBand, c.GivenBy, c.ChildAssent = ageBand, givenBy, assent })
}

// approvedBy builds an override whose approval is signed by the key that
// pick chooses, over messageID and the approval reason, at a time.
func approvedBy(pick func(t *testing.T) jwk.Key, messageID, approvalReason string, at time.Time) func(*testing.T, *Input) {
	return func(t *testing.T, in *Input) {
		override(in, "imminent_harm", approve(t, pick(t), messageID, approvalReason, at))
	}
}

func supervisorOf(agency string) func(*testing.T) jwk.Key {
	return func(t *testing.T) jwk.Key { return keysOf(t, agency).supervisor }
}

var decisionCases = []decisionCase{
	// Allowed.
	{name: "a referral under a parent's consent with the assent of a child of 12-14 is allowed", rule: RuleConsentValid},
	{name: "a consent naming the recipient agency rather than its country covers it", edit: consentEdit(func(c *contracts.Consent) { c.Recipients = []string{"ci.dpe-abidjan"} }), rule: RuleConsentValid},
	{name: "a referral from Mali to Burkina Faso falls under the same tripartite agreement", edit: func(t *testing.T, in *Input) { reroute(t, in, "ml.dnpef", "bf.dpe-bobo") }, rule: RuleConsentValid},
	{name: "a receipt needs an agreement but no consent", edit: func(_ *testing.T, in *Input) { plain(in, "receipt") }, rule: RuleNoPersonalData},
	{name: "an acceptance needs an agreement but no consent", edit: func(_ *testing.T, in *Input) { plain(in, "referral.accepted") }, rule: RuleNoPersonalData},
	{name: "a consent expiring one second after the decision still covers the message", edit: consentEdit(func(c *contracts.Consent) { c.ExpiresAt = testNow.Add(time.Second) }), rule: RuleConsentValid},
	{name: "a consent without an expiry date does not expire", edit: consentEdit(func(c *contracts.Consent) { c.ExpiresAt = time.Time{} }), rule: RuleConsentValid},
	{name: "a child of 15-17 consents for themself", edit: band("15-17", "child", false), rule: RuleConsentValid},
	{name: "a young adult of 18 or more consents for themself", edit: band("18+", "child", false), rule: RuleConsentValid},
	{name: "a guardian consents for a child under 6 without recorded assent", edit: band("0-5", "guardian", false), rule: RuleConsentValid},
	{name: "a legal representative consents for a child of 6-11 with recorded assent", edit: band("6-11", "legal_representative", true), rule: RuleConsentValid},
	{name: "an agreement's own age table lets a child of 12-14 consent", edit: func(t *testing.T, in *Input) {
		reroute(t, in, "sn.dpe-dakar", "ma.entraide-nationale")
		band("12-14", "child", false)(t, in)
	}, rule: RuleConsentValid},
	{name: "an override approved by a supervisor of the sending agency is allowed and flagged", edit: approvedBy(supervisorOf("bf.dpe-bobo"), testMessageID, "imminent_harm", testNow.Add(-10*time.Minute)), rule: RuleOverrideApproved, override: true},
	{name: "an override approved by a supervisor whose clock is two minutes ahead is allowed", edit: approvedBy(supervisorOf("bf.dpe-bobo"), testMessageID, "imminent_harm", testNow.Add(2*time.Minute)), rule: RuleOverrideApproved, override: true},
	{name: "a legal obligation citing a listed text is allowed", edit: consentEdit(func(c *contracts.Consent) {
		c.Basis, c.GivenBy, c.ChildAssent = "legal_obligation", "legal_representative", false
		c.LegalReference = "Accord Mali–Côte d'Ivoire de lutte contre le trafic transfrontalier des enfants (Bouaké, 2000)"
	}), rule: RuleLegalObligationOK},
	{name: "a legal obligation citing a listed text with a precision is allowed", edit: consentEdit(func(c *contracts.Consent) {
		c.Basis, c.GivenBy = "legal_obligation", "legal_representative"
		c.LegalReference = "Ordonnance du juge des enfants de Bamako n° 2025/114"
	}), rule: RuleLegalObligationOK},
	{name: "an agency-level agreement covers its two agencies", edit: func(t *testing.T, in *Input) {
		reroute(t, in, "gh.dsw-accra", "tg.dgpe-lome")
		in.Envelope.Purpose = "family_tracing"
		in.Envelope.DataCategories = []string{"identity", "family"}
	}, rule: RuleConsentValid},
	{name: "the current version of an agreement applies while the previous one has ended", edit: envelopeEdit(func(e *contracts.Envelope) {
		e.DataCategories = []string{"identity", "family"} // family is only in version 2
	}), rule: RuleConsentValid},
	{name: "a withdrawal by another agency of a reference spelt the same does not block this sender", edit: func(_ *testing.T, in *Input) {
		in.Withdrawals = withdrawals{{Agency: "ci.dpe-abidjan", Ref: testConsent}: true}
	}, rule: RuleConsentValid},
	{name: "a withdrawn consent does not block the withdrawal notice itself", edit: func(_ *testing.T, in *Input) {
		in.TransferConsent = ConsentRef{Agency: "bf.dpe-bobo", Ref: testConsent}
		in.Withdrawals = withdrawals{in.TransferConsent: true}
		plain(in, "consent.withdrawn")
	}, rule: RuleNoPersonalData},
	{name: "a closure is allowed in a transfer whose consent was withdrawn", dir: "lifecycle", edit: func(_ *testing.T, in *Input) {
		in.TransferConsent = ConsentRef{Agency: "bf.dpe-bobo", Ref: testConsent}
		in.Withdrawals = withdrawals{in.TransferConsent: true}
		plain(in, "case.closed")
	}, rule: RuleNoPersonalData},
	{name: "an erasure request is allowed in a transfer whose consent was withdrawn", dir: "lifecycle", edit: func(_ *testing.T, in *Input) {
		in.TransferConsent = ConsentRef{Agency: "bf.dpe-bobo", Ref: testConsent}
		in.Withdrawals = withdrawals{in.TransferConsent: true}
		plain(in, "case.erasure_requested")
	}, rule: RuleNoPersonalData},

	// corridor_not_agreed.
	{name: "a referral to a third country outside any agreement is refused", edit: func(t *testing.T, in *Input) { reroute(t, in, "ci.dpe-abidjan", "gh.dsw-accra") }, code: contracts.CodeCorridorNotAgreed, rule: RuleCorridorParties},
	{name: "an agency-level agreement does not cover another agency of the same country", edit: func(t *testing.T, in *Input) { reroute(t, in, "gh.dsw-kumasi", "tg.dgpe-lome") }, code: contracts.CodeCorridorNotAgreed, rule: RuleCorridorParties},
	{name: "two agencies of one country are not a cross-border corridor", edit: func(t *testing.T, in *Input) { reroute(t, in, "bf.dpe-bobo", "bf.dpe-ouaga") }, code: contracts.CodeCorridorNotAgreed, rule: RuleCorridorParties},
	{name: "an agreement that has ended covers nothing", edit: func(t *testing.T, in *Input) { reroute(t, in, "ne.dpe-niamey", "ng.naptip") }, code: contracts.CodeCorridorNotAgreed, rule: RuleCorridorInForce},
	{name: "an agreement not yet in force covers nothing", edit: func(t *testing.T, in *Input) { reroute(t, in, "bj.dpe-cotonou", "tg.dgpe-lome") }, code: contracts.CodeCorridorNotAgreed, rule: RuleCorridorInForce},
	{name: "a kind the agreement does not list is refused even without personal data", edit: func(t *testing.T, in *Input) {
		reroute(t, in, "sn.dpe-dakar", "gn.dpe-conakry")
		plain(in, "referral.declined")
	}, code: contracts.CodeCorridorNotAgreed, rule: RuleCorridorKind},
	{name: "a purpose the agreement does not provide for is refused whatever the consent says", edit: func(_ *testing.T, in *Input) {
		in.Envelope.Purpose = "social_enquiry"
		in.Envelope.Consent.Purposes = []string{"social_enquiry"}
	}, code: contracts.CodeCorridorNotAgreed, rule: RuleCorridorPurpose},

	// consent_missing and consent_expired.
	{name: "a message with personal data and no consent is refused", edit: envelopeEdit(func(e *contracts.Envelope) { e.Consent = nil }), code: contracts.CodeConsentMissing, rule: RuleConsentPresent},
	{name: "a consent expiring exactly at the decision time has expired", edit: consentEdit(func(c *contracts.Consent) { c.ExpiresAt = testNow }), code: contracts.CodeConsentExpired, rule: RuleConsentExpiry},
	{name: "a consent that expired yesterday is refused", edit: consentEdit(func(c *contracts.Consent) { c.ExpiresAt = testNow.Add(-24 * time.Hour) }), code: contracts.CodeConsentExpired, rule: RuleConsentExpiry},
	{name: "an override decision that has expired no longer covers the message", edit: func(t *testing.T, in *Input) {
		approvedBy(supervisorOf("bf.dpe-bobo"), testMessageID, "imminent_harm", testNow.Add(-time.Hour))(t, in)
		in.Envelope.Consent.ExpiresAt = testNow.Add(-time.Minute)
	}, code: contracts.CodeConsentExpired, rule: RuleConsentExpiry},

	// Scope of the consent.
	{name: "a consent for another country does not cover the recipient", edit: consentEdit(func(c *contracts.Consent) { c.Recipients = []string{"ml"} }), code: contracts.CodeConsentScopeRecipient, rule: RuleScopeRecipient},
	{name: "a consent for another agency of the recipient's country does not cover it", edit: consentEdit(func(c *contracts.Consent) { c.Recipients = []string{"ci.dpe-bouake"} }), code: contracts.CodeConsentScopeRecipient, rule: RuleScopeRecipient},
	{name: "a consent for another purpose is refused", edit: consentEdit(func(c *contracts.Consent) { c.Purposes = []string{"family_tracing"} }), code: contracts.CodeConsentScopePurpose, rule: RuleScopePurpose},
	{name: "a data category outside the consent is refused", edit: envelopeEdit(func(e *contracts.Envelope) { e.DataCategories = []string{"identity", "location"} }), code: contracts.CodeCategoryNotAllowed, rule: RuleScopeCategories},
	{name: "a category the consent covers but the agreement excludes for this purpose is refused", edit: func(_ *testing.T, in *Input) {
		in.Envelope.DataCategories = []string{"identity", "photo"}
		in.Envelope.Consent.DataCategories = []string{"identity", "photo"}
	}, code: contracts.CodeCategoryNotAllowed, rule: RuleMinimisation},
	{name: "minimisation also binds a best-interests override", edit: func(t *testing.T, in *Input) {
		approvedBy(supervisorOf("bf.dpe-bobo"), testMessageID, "imminent_harm", testNow)(t, in)
		in.Envelope.DataCategories = []string{"identity", "health"}
		in.Envelope.Consent.DataCategories = []string{"identity", "health"}
	}, code: contracts.CodeCategoryNotAllowed, rule: RuleMinimisation},

	// Who consents, by age band.
	{name: "a parent cannot consent for a child of 15-17", edit: band("15-17", "parent", true), code: contracts.CodeConsentGiverInvalid, rule: RuleConsentGiver},
	{name: "a child of 12-14 cannot consent alone under the default table", edit: band("12-14", "child", false), code: contracts.CodeConsentGiverInvalid, rule: RuleConsentGiver},
	{name: "a child under 6 cannot consent", edit: band("0-5", "child", false), code: contracts.CodeConsentGiverInvalid, rule: RuleConsentGiver},
	{name: "a parent's consent for a child of 6-11 without recorded assent is refused", edit: band("6-11", "parent", false), code: contracts.CodeChildAssentMissing, rule: RuleChildAssent},
	{name: "a guardian's consent for a child of 12-14 without recorded assent is refused", edit: band("12-14", "guardian", false), code: contracts.CodeChildAssentMissing, rule: RuleChildAssent},
	{name: "an agreement's own table requires assent when an adult consents for a child of 15-17", edit: func(t *testing.T, in *Input) {
		reroute(t, in, "sn.dpe-dakar", "ma.entraide-nationale")
		band("15-17", "parent", false)(t, in)
	}, code: contracts.CodeChildAssentMissing, rule: RuleChildAssent},

	// Best-interests overrides.
	{name: "an override under an agreement that allows none is refused", edit: func(t *testing.T, in *Input) {
		reroute(t, in, "sn.dpe-dakar", "ma.entraide-nationale")
		override(in, "caregiver_unreachable", approve(t, keysOf(t, "sn.dpe-dakar").supervisor, testMessageID, "caregiver_unreachable", testNow))
	}, code: contracts.CodeOverrideNotAllowed, rule: RuleBasisAccepted},
	{name: "an override approved with the message's own signing key is refused", edit: approvedBy(func(t *testing.T) jwk.Key { return keysOf(t, "bf.dpe-bobo").sig }, testMessageID, "imminent_harm", testNow), code: contracts.CodeOverrideUnapproved, rule: RuleTwoPerson},
	{name: "an override approved by the signing key registered again as a supervisor key is refused", edit: func(t *testing.T, in *Input) {
		sender := keysOf(t, "bf.dpe-bobo")
		alias, err := sender.sig.Clone()
		if err != nil {
			t.Fatal(err)
		}
		if err := alias.Set(jwk.KeyIDKey, "bf.dpe-bobo#supervisor-alias"); err != nil {
			t.Fatal(err)
		}
		in.Supervisors = registry{"bf.dpe-bobo": {"bf.dpe-bobo#supervisor-alias": public(t, alias)}}
		override(in, "imminent_harm", approve(t, alias, testMessageID, "imminent_harm", testNow))
	}, code: contracts.CodeOverrideUnapproved, rule: RuleTwoPerson},
	{name: "an override approved by another agency's supervisor is refused", edit: approvedBy(supervisorOf("ci.dpe-abidjan"), testMessageID, "imminent_harm", testNow), code: contracts.CodeOverrideUnapproved, rule: RuleOverrideApproval},
	{name: "an override approved by a colleague's key that is not a supervisor key is refused", edit: approvedBy(func(t *testing.T) jwk.Key { return keysOf(t, "bf.dpe-bobo").staff }, testMessageID, "imminent_harm", testNow), code: contracts.CodeOverrideUnapproved, rule: RuleOverrideApproval},
	{name: "a tampered approval is refused", edit: func(t *testing.T, in *Input) {
		a := approve(t, keysOf(t, "bf.dpe-bobo").supervisor, testMessageID, "imminent_harm", testNow)
		parts := strings.Split(a, ".")
		forged := approve(t, keysOf(t, "bf.dpe-bobo").staff, testMessageID, "caregiver_is_risk", testNow)
		parts[1] = strings.Split(forged, ".")[1] // the payload of another approval
		override(in, "caregiver_is_risk", strings.Join(parts, "."))
	}, code: contracts.CodeOverrideUnapproved, rule: RuleOverrideApproval},
	{name: "an approval for another message is refused", edit: approvedBy(supervisorOf("bf.dpe-bobo"), otherID, "imminent_harm", testNow), code: contracts.CodeOverrideUnapproved, rule: RuleOverrideApproval},
	{name: "an approval for another reason is refused", edit: approvedBy(supervisorOf("bf.dpe-bobo"), testMessageID, "caregiver_is_risk", testNow), code: contracts.CodeOverrideUnapproved, rule: RuleOverrideApproval},
	{name: "an approval dated an hour in the future is refused", edit: approvedBy(supervisorOf("bf.dpe-bobo"), testMessageID, "imminent_harm", testNow.Add(time.Hour)), code: contracts.CodeOverrideUnapproved, rule: RuleOverrideApproval},
	{name: "an approval that is not a signature is refused", edit: func(_ *testing.T, in *Input) { override(in, "imminent_harm", "a.b.c") }, code: contracts.CodeOverrideUnapproved, rule: RuleOverrideApproval},
	{name: "an approval signed as a message rather than as an approval is refused", edit: func(t *testing.T, in *Input) {
		a := approve(t, keysOf(t, "bf.dpe-bobo").supervisor, testMessageID, "imminent_harm", testNow)
		override(in, "imminent_harm", a)
		in.Envelope.Consent.Override.Approval = resignedWithTyp(t, a, keysOf(t, "bf.dpe-bobo").supervisor, "relais-envelope+jws")
	}, code: contracts.CodeOverrideUnapproved, rule: RuleOverrideApproval},
	{name: "an approval with a member beyond message, reason and time is refused", edit: func(t *testing.T, in *Input) {
		payload := `{"message_id":"` + testMessageID + `","reason":"imminent_harm","approved_at":"2026-03-15T09:00:00Z","scope":"all"}`
		override(in, "imminent_harm", signRaw(t, keysOf(t, "bf.dpe-bobo").supervisor, payload))
	}, code: contracts.CodeOverrideUnapproved, rule: RuleOverrideApproval},
	{name: "an approval repeating its message id is refused", edit: func(t *testing.T, in *Input) {
		payload := `{"message_id":"` + otherID + `","message_id":"` + testMessageID + `","reason":"imminent_harm","approved_at":"2026-03-15T09:00:00Z"}`
		override(in, "imminent_harm", signRaw(t, keysOf(t, "bf.dpe-bobo").supervisor, payload))
	}, code: contracts.CodeOverrideUnapproved, rule: RuleOverrideApproval},
	{name: "an override reason outside the fixed list is refused", edit: func(t *testing.T, in *Input) {
		override(in, "parents_disagree", approve(t, keysOf(t, "bf.dpe-bobo").supervisor, testMessageID, "imminent_harm", testNow))
	}, code: contracts.CodeOverrideUnapproved, rule: RuleOverrideReason},

	// Legal obligation.
	{name: "a legal obligation under an agreement that does not accept it is refused", edit: func(t *testing.T, in *Input) {
		reroute(t, in, "sn.dpe-dakar", "ma.entraide-nationale")
		in.Envelope.Consent.Basis, in.Envelope.Consent.LegalReference = "legal_obligation", "Ordonnance du juge des enfants de Dakar"
	}, code: contracts.CodeLegalBasisNotAccepted, rule: RuleBasisAccepted},
	{name: "a legal obligation citing an unlisted text is refused", edit: consentEdit(func(c *contracts.Consent) {
		c.Basis, c.LegalReference = "legal_obligation", "Circulaire interne du service n° 12"
	}), code: contracts.CodeLegalBasisNotAccepted, rule: RuleLegalReference},
	{name: "a text that merely starts like a listed one is not that text", edit: consentEdit(func(c *contracts.Consent) {
		c.Basis, c.LegalReference = "legal_obligation", "Ordonnance du juge des enfantsX"
	}), code: contracts.CodeLegalBasisNotAccepted, rule: RuleLegalReference},

	// Withdrawal.
	{name: "a withdrawn consent blocks the next referral under it", edit: func(_ *testing.T, in *Input) {
		in.Withdrawals = withdrawals{{Agency: "bf.dpe-bobo", Ref: testConsent}: true}
	}, code: contracts.CodeConsentWithdrawn, rule: RuleWithdrawal},
	{name: "a withdrawn transfer consent blocks an acceptance in that transfer", edit: func(_ *testing.T, in *Input) {
		in.TransferConsent = ConsentRef{Agency: "bf.dpe-bobo", Ref: testConsent}
		in.Withdrawals = withdrawals{in.TransferConsent: true}
		plain(in, "referral.accepted")
	}, code: contracts.CodeConsentWithdrawn, rule: RuleWithdrawal},
	{name: "a withdrawn transfer consent blocks a follow-up report in that transfer", dir: "lifecycle", edit: func(_ *testing.T, in *Input) {
		in.TransferConsent = ConsentRef{Agency: "bf.dpe-bobo", Ref: testConsent}
		in.Withdrawals = withdrawals{in.TransferConsent: true}
		in.Envelope.Kind, in.Envelope.Transfer, in.Envelope.Purpose = "followup.report", otherID, "follow_up"
		in.Envelope.Consent.Ref, in.Envelope.Consent.Purposes = "CNS-BF-2026-0099", []string{"follow_up"}
	}, code: contracts.CodeConsentWithdrawn, rule: RuleWithdrawal},

	// Registries.
	{name: "a withdrawal registry that cannot answer refuses the message as unavailable", edit: func(_ *testing.T, in *Input) {
		in.Withdrawals = WithdrawalFunc(func(context.Context, string, string) (bool, error) { return false, errRegistryDown })
	}, code: contracts.CodeUnavailable, rule: RuleLookup},
	{name: "a supervisor registry that cannot answer refuses an override as unavailable", edit: func(t *testing.T, in *Input) {
		approvedBy(supervisorOf("bf.dpe-bobo"), testMessageID, "imminent_harm", testNow)(t, in)
		in.Supervisors = SupervisorKeyFunc(func(context.Context, string, string) (jwk.Key, error) { return nil, errRegistryDown })
	}, code: contracts.CodeUnavailable, rule: RuleLookup},
	{name: "a supervisor registry answering ErrNotSupervisor leaves the override unapproved", edit: func(t *testing.T, in *Input) {
		approvedBy(supervisorOf("bf.dpe-bobo"), testMessageID, "imminent_harm", testNow)(t, in)
		in.Supervisors = SupervisorKeyFunc(func(context.Context, string, string) (jwk.Key, error) { return nil, ErrNotSupervisor })
	}, code: contracts.CodeOverrideUnapproved, rule: RuleOverrideApproval},
	{name: "a decision without a withdrawal registry is a configuration error", edit: func(_ *testing.T, in *Input) { in.Withdrawals = nil }, code: contracts.CodeInternal, rule: RuleConfiguration},
}

func TestDecideFollowsTheCorridorAndConsentRules(t *testing.T) {
	sets := map[string]*Set{"corridors": loadSet(t, "corridors"), "lifecycle": loadSet(t, "lifecycle")}
	if len(decisionCases) < 40 {
		t.Fatalf("only %d cases", len(decisionCases))
	}
	for _, tc := range decisionCases {
		t.Run(tc.name, func(t *testing.T) {
			in := baseInput(t)
			if tc.edit != nil {
				tc.edit(t, &in)
			}
			dir := tc.dir
			if dir == "" {
				dir = "corridors"
			}
			d := sets[dir].Decide(context.Background(), in)
			if d.Allowed != (tc.code == "") || d.Code != tc.code || d.Rule != tc.rule || d.Override != tc.override {
				t.Fatalf("decision = allowed %v, code %q, rule %q, override %v; want code %q, rule %q, override %v\n%s",
					d.Allowed, d.Code, d.Rule, d.Override, tc.code, tc.rule, tc.override, Explain(d, "en"))
			}
			if got := contracts.CodeOf(d.Err()); got != tc.code {
				t.Fatalf("Err() code = %q, want %q", got, tc.code)
			}
			requireExplainable(t, d, in)
		})
	}
}

// requireExplainable checks what every decision owes its readers: reasons
// in both languages, an agreement when one was found, and no personal
// data (no case or consent reference, no legal reference as written).
func requireExplainable(t *testing.T, d Decision, in Input) {
	t.Helper()
	if len(d.Reasons) == 0 {
		t.Fatal("no reasons")
	}
	for _, r := range d.Reasons {
		if r.FR == "" || r.EN == "" || r.FR == r.EN {
			t.Errorf("reason not in both languages: %+v", r)
		}
		for _, secret := range secretsOf(in) {
			if strings.Contains(r.FR, secret) || strings.Contains(r.EN, secret) {
				t.Errorf("reason quotes %q: %+v", secret, r)
			}
		}
	}
	if _, ok := RuleTitle(d.Rule); !ok {
		t.Errorf("rule %q has no title", d.Rule)
	}
	if d.PolicyDigest == "" {
		t.Error("no policy digest")
	}
	if d.Rule != RuleCorridorParties && d.Corridor == "" {
		t.Error("the decision names no agreement")
	}
}

func secretsOf(in Input) []string {
	out := []string{in.Envelope.Case}
	if c := in.Envelope.Consent; c != nil {
		out = append(out, c.Ref)
		if c.LegalReference != "" && !strings.HasPrefix(c.LegalReference, "Accord") {
			out = append(out, c.LegalReference)
		}
	}
	return out
}

func TestADeniedDecisionBecomesAProblemNamingTheCorridorAndRule(t *testing.T) {
	in := baseInput(t)
	in.Envelope.Consent.ExpiresAt = testNow.Add(-time.Hour)
	err := loadSet(t, "corridors").Decide(context.Background(), in).Err()
	p := contracts.AsProblem(err)
	if p.Code != contracts.CodeConsentExpired {
		t.Fatalf("code = %s", p.Code)
	}
	if p.Extra["corridor"] != "bf-ci-ml" || p.Extra["corridor_version"] != 2 || p.Extra["rule"] != RuleConsentExpiry {
		t.Fatalf("extra = %v", p.Extra)
	}
	if reasons, _ := p.Extra["reasons"].([]contracts.Label); len(reasons) == 0 {
		t.Fatalf("extra reasons = %v", p.Extra["reasons"])
	}
	if len(p.Fields) != 1 || p.Fields[0] != "consent.expires_at" {
		t.Fatalf("fields = %v", p.Fields)
	}
	if !strings.Contains(p.Detail, RuleConsentExpiry) || strings.Contains(p.Detail, testConsent) {
		t.Fatalf("detail = %q", p.Detail)
	}
}

func TestARegistryFailureKeepsItsCause(t *testing.T) {
	in := baseInput(t)
	in.Withdrawals = WithdrawalFunc(func(context.Context, string, string) (bool, error) { return false, errRegistryDown })
	err := loadSet(t, "corridors").Decide(context.Background(), in).Err()
	if !errorsIs(err, errRegistryDown) {
		t.Fatalf("err = %v does not wrap the registry's error", err)
	}
}

func TestANilSetDeniesEverything(t *testing.T) {
	var s *Set
	d := s.Decide(context.Background(), baseInput(t))
	if d.Allowed || d.Code != contracts.CodeCorridorNotAgreed {
		t.Fatalf("decision = %+v", d)
	}
}

func TestFindGivesTheAgreementForSLAAndRetention(t *testing.T) {
	s := loadSet(t, "corridors")
	c, ok := s.Find("ci.dpe-abidjan", "ml.dnpef", "referral.request", testNow)
	if !ok || c.ID != "bf-ci-ml" || c.Version != 2 || c.SLA.TimeToAnswer != 5*24*time.Hour || c.Retention.DeliveredCiphertext != 30*24*time.Hour || c.Statistics.MinCellSize != DefaultMinCellSize {
		t.Fatalf("found %v %+v", ok, c)
	}
	if c, ok := s.Find("ci.dpe-abidjan", "ml.dnpef", "referral.request", time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)); !ok || c.Version != 1 {
		t.Fatalf("in 2024: found %v version %d, want version 1", ok, c.Version)
	}
	if _, ok := s.Find("ci.dpe-abidjan", "gh.dsw-accra", "referral.request", testNow); ok {
		t.Fatal("found an agreement for a third country")
	}
	c.Parties[0] = "zz"
	if again, _ := s.Find("ci.dpe-abidjan", "ml.dnpef", "referral.request", testNow); again.Parties[0] != "bf" {
		t.Fatal("Find exposes the shared set")
	}
}

func TestAnAgreementIsInForceThroughItsLastDay(t *testing.T) {
	s := loadSet(t, "corridors")
	lastSecond := time.Date(2027, 12, 31, 23, 59, 59, 0, time.UTC)
	if _, ok := s.Find("bf.dpe-bobo", "ci.dpe-abidjan", "receipt", lastSecond); !ok {
		t.Fatal("not in force on its last day")
	}
	if _, ok := s.Find("bf.dpe-bobo", "ci.dpe-abidjan", "receipt", lastSecond.Add(time.Second)); ok {
		t.Fatal("still in force the day after")
	}
}
