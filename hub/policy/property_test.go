package policy

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"pgregory.net/rapid"

	"github.com/relais-hub/relais/contracts"
)

// The oracle below restates the rules of docs/consent.md over the test
// agreements in testdata/corridors, written out by hand rather than read
// through the loader, so that the property compares two independent
// statements of the policy.

type oracleAgreement struct {
	parties     []string
	from, until string // YYYY-MM-DD, inclusive; until "" is open-ended
	kinds       []string
	purposes    map[string][]string
	bases       []string
	refs        []string
	ownAgeTable bool
}

var oracleAgreements = []oracleAgreement{
	{ // bf-ci-ml version 1
		parties: []string{"bf", "ci", "ml"}, from: "2022-01-01", until: "2024-12-31",
		kinds:    []string{"referral.request", "receipt", "referral.accepted", "referral.declined"},
		purposes: map[string][]string{"protection_referral": {"identity", "protection_concerns"}},
		bases:    []string{"consent"},
	},
	{ // bf-ci-ml version 2
		parties: []string{"bf", "ci", "ml"}, from: "2025-01-01", until: "2027-12-31",
		kinds: []string{"referral.request", "receipt", "referral.accepted", "referral.declined", "consent.withdrawn", "policy.violation"},
		purposes: map[string][]string{
			"protection_referral": {"identity", "contact", "family", "location", "protection_concerns", "narrative"},
			"family_tracing":      {"identity", "contact", "family", "location", "photo"},
		},
		bases: []string{"consent", "best_interests_override", "legal_obligation"},
		refs:  []string{"Ordonnance du juge des enfants", "Accord Mali–Côte d'Ivoire de lutte contre le trafic transfrontalier des enfants (Bouaké, 2000)"},
	},
	{ // ma-sn-gn
		parties: []string{"ma", "sn", "gn"}, from: "2026-01-01",
		kinds:       []string{"referral.request", "receipt", "referral.accepted"},
		purposes:    map[string][]string{"protection_referral": {"identity", "protection_concerns"}, "family_tracing": {"identity", "family"}},
		bases:       []string{"consent"},
		ownAgeTable: true,
	},
	{ // gh-tg-agencies
		parties: []string{"gh.dsw-accra", "tg.dgpe-lome"}, from: "2025-06-01",
		kinds:    []string{"referral.request", "receipt"},
		purposes: map[string][]string{"family_tracing": {"identity", "family", "contact"}},
		bases:    []string{"consent"},
	},
	{ // ne-ng, ended
		parties: []string{"ne", "ng"}, from: "2020-01-01", until: "2024-12-31",
		kinds: []string{"referral.request", "receipt"}, purposes: map[string][]string{"protection_referral": {"identity"}}, bases: []string{"consent"},
	},
	{ // bj-tg, upcoming
		parties: []string{"bj", "tg"}, from: "2030-01-01",
		kinds: []string{"referral.request", "receipt"}, purposes: map[string][]string{"protection_referral": {"identity"}}, bases: []string{"consent"},
	},
}

// who may consent, and whether an adult's consent needs the child's
// assent: the default table, and ma-sn-gn's.
func oracleMayConsent(ownTable bool, ageBand, givenBy string) bool {
	byChild := givenBy == "child"
	switch ageBand {
	case "15-17":
		return byChild || ownTable
	case "18+":
		return byChild
	case "12-14":
		return !byChild || ownTable
	default: // 0-5, 6-11
		return !byChild
	}
}

func oracleNeedsAssent(ageBand string) bool { return ageBand != "0-5" && ageBand != "18+" }

func countryOf(agency string) string { return agency[:2] }

func oracleCovers(a oracleAgreement, sender, recipient string, at time.Time) bool {
	inForce := at.Format(time.DateOnly) >= a.from && (a.until == "" || at.Format(time.DateOnly) <= a.until)
	if !inForce {
		return false
	}
	under := func(party, agency string) bool { return party == agency || party == countryOf(agency) }
	for i, p := range a.parties {
		for j, q := range a.parties {
			if i != j && under(p, sender) && under(q, recipient) {
				return true
			}
		}
	}
	return false
}

// approvalKind is how a generated override approval was made.
type approvalKind string

const (
	approvalValid          approvalKind = "by a supervisor of the sender"
	approvalBySigningKey   approvalKind = "by the message's signing key"
	approvalByOtherAgency  approvalKind = "by another agency's supervisor"
	approvalByStaff        approvalKind = "by a key that is not a supervisor's"
	approvalOtherMessage   approvalKind = "for another message"
	approvalOtherReason    approvalKind = "for another reason"
	approvalTampered       approvalKind = "tampered"
	approvalInTheFuture    approvalKind = "dated in the future"
	approvalNotASignature  approvalKind = "not a signature"
	approvalMissingOverrid approvalKind = "no override object"
)

var approvalKinds = []approvalKind{
	approvalValid, approvalBySigningKey, approvalByOtherAgency, approvalByStaff, approvalOtherMessage,
	approvalOtherReason, approvalTampered, approvalInTheFuture, approvalNotASignature, approvalMissingOverrid,
}

// generated is one generated message with what the oracle needs to know.
type generated struct {
	in        Input
	approval  approvalKind
	withdrawn bool
}

// oracleViolations lists every rule the message breaks, as codes. The
// engine must allow exactly the messages with no violation, and refuse the
// others with one of these codes.
func oracleViolations(g generated) []contracts.Code {
	e := g.in.Envelope
	var agreement *oracleAgreement
	for i, a := range oracleAgreements {
		if oracleCovers(a, e.From, e.To, g.in.Now) && slices.Contains(a.kinds, e.Kind) {
			agreement = &oracleAgreements[i]
		}
	}
	if agreement == nil {
		return []contracts.Code{contracts.CodeCorridorNotAgreed}
	}
	spec, _ := contracts.Kind(e.Kind)
	if !spec.PersonalData {
		return nil
	}
	allowedCategories, purposeAgreed := agreement.purposes[e.Purpose]
	if !purposeAgreed {
		return []contracts.Code{contracts.CodeCorridorNotAgreed}
	}
	c := e.Consent
	if c == nil {
		return []contracts.Code{contracts.CodeConsentMissing}
	}
	var v []contracts.Code
	add := func(code contracts.Code) { v = append(v, code) }
	if g.withdrawn {
		add(contracts.CodeConsentWithdrawn)
	}
	if !slices.Contains(agreement.bases, c.Basis) {
		if c.Basis == "best_interests_override" {
			add(contracts.CodeOverrideNotAllowed)
		} else {
			add(contracts.CodeLegalBasisNotAccepted)
		}
	}
	if !c.ExpiresAt.IsZero() && !g.in.Now.Before(c.ExpiresAt) {
		add(contracts.CodeConsentExpired)
	}
	if !slices.Contains(c.Recipients, e.To) && !slices.Contains(c.Recipients, countryOf(e.To)) {
		add(contracts.CodeConsentScopeRecipient)
	}
	if !slices.Contains(c.Purposes, e.Purpose) {
		add(contracts.CodeConsentScopePurpose)
	}
	for _, cat := range e.DataCategories {
		if !slices.Contains(c.DataCategories, cat) || !slices.Contains(allowedCategories, cat) {
			add(contracts.CodeCategoryNotAllowed)
		}
	}
	switch c.Basis {
	case "consent":
		if !oracleMayConsent(agreement.ownAgeTable, c.AgeBand, c.GivenBy) {
			add(contracts.CodeConsentGiverInvalid)
		}
		if oracleNeedsAssent(c.AgeBand) && c.GivenBy != "child" && !c.ChildAssent {
			add(contracts.CodeChildAssentMissing)
		}
	case "best_interests_override":
		if g.approval != approvalValid {
			add(contracts.CodeOverrideUnapproved)
		}
	case "legal_obligation":
		listed := false
		for _, ref := range agreement.refs {
			if c.LegalReference == ref || strings.HasPrefix(c.LegalReference, ref+" ") {
				listed = true
			}
		}
		if !listed {
			add(contracts.CodeLegalBasisNotAccepted)
		}
	}
	return v
}

var (
	agencyPool = []string{
		"bf.dpe-bobo", "ci.dpe-abidjan", "ml.dnpef", "ma.entraide-nationale", "sn.dpe-dakar",
		"gn.dpe-conakry", "gh.dsw-accra", "gh.dsw-kumasi", "tg.dgpe-lome", "ne.dpe-niamey", "ng.naptip", "bj.dpe-cotonou",
	}
	// Kinds with personal data are drawn most often: they are where the
	// consent rules apply.
	kindPool = []string{"referral.request", "receipt", "referral.accepted", "referral.declined", "consent.withdrawn"}
	clocks   = []time.Time{
		time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC),
		testNow,
		time.Date(2027, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC),
	}
	legalReferencePool = []string{
		"Ordonnance du juge des enfants",
		"Ordonnance du juge des enfants de Bamako n° 2025/114",
		"Accord Mali–Côte d'Ivoire de lutte contre le trafic transfrontalier des enfants (Bouaké, 2000)",
		"Ordonnance du juge des enfantsX",
		"Circulaire interne du service n° 12",
	}
)

func subset(t *rapid.T, label string, pool []string) []string {
	return rapid.SliceOfNDistinct(rapid.SampledFrom(pool), 1, len(pool), rapid.ID[string]).Draw(t, label)
}

// often draws true three times out of four: the generator leans towards
// messages that are nearly right, where one broken rule must still be
// caught, rather than towards messages that break everything at once.
func often(t *rapid.T, label string) bool { return rapid.IntRange(0, 3).Draw(t, label) > 0 }

// Agencies of the agreements in force at testNow.
var (
	tripartite = []string{"bf.dpe-bobo", "ci.dpe-abidjan", "ml.dnpef"}
	atlantic   = []string{"ma.entraide-nationale", "sn.dpe-dakar", "gn.dpe-conakry"}
)

func kindOf(t *rapid.T) string {
	if often(t, "personal data") {
		return "referral.request"
	}
	return rapid.SampledFrom(kindPool).Draw(t, "kind")
}

func genMessage(t *rapid.T, tb testing.TB, supervisors registry) generated {
	pool, clock := agencyPool, clocks
	switch rapid.IntRange(0, 3).Draw(t, "route") {
	case 1, 2:
		pool, clock = tripartite, []time.Time{testNow}
	case 3:
		pool, clock = atlantic, []time.Time{testNow}
	}
	from := rapid.SampledFrom(pool).Draw(t, "from")
	to := rapid.SampledFrom(pool).Filter(func(a string) bool { return a != from }).Draw(t, "to")
	now := rapid.SampledFrom(clock).Draw(t, "now")
	sender := keysOf(tb, from)
	g := generated{in: Input{
		Envelope: contracts.Envelope{
			V: 1, ID: testMessageID, Kind: kindOf(t),
			From: from, To: to, Case: testCaseRef, Transfer: testMessageID, SentAt: now,
			Body: contracts.NewSealedBody(sealedBody),
		},
		SignerKID:   sender.sigKID(),
		SignerKey:   public(tb, sender.sig),
		Now:         now,
		Supervisors: supervisors,
	}}
	g.withdrawn = rapid.IntRange(0, 9).Draw(t, "withdrawn") == 0
	g.in.Withdrawals = withdrawals{{Agency: from, Ref: testConsent}: g.withdrawn}
	spec, _ := contracts.Kind(g.in.Envelope.Kind)
	if !spec.PersonalData {
		g.in.Envelope.Transfer, g.in.Envelope.Body = otherID, []byte(`{}`)
		g.withdrawn = false // nothing is sent under a consent
		return g
	}
	e := &g.in.Envelope
	purposes, categories := contracts.Purposes.Codes(), contracts.DataCategories.Codes()
	if often(t, "usual purpose and categories") {
		purposes, categories = []string{"protection_referral", "family_tracing"}, []string{"identity", "family", "protection_concerns"}
	}
	e.Purpose = rapid.SampledFrom(purposes).Draw(t, "purpose")
	e.DataCategories = subset(t, "categories", categories)
	if rapid.IntRange(0, 19).Draw(t, "no consent") == 0 {
		g.withdrawn = false
		return g
	}
	recipients := []string{to, countryOf(to), "ml", "ci.dpe-bouake", "sn"}
	c := &contracts.Consent{
		Ref:            testConsent,
		Basis:          rapid.SampledFrom(contracts.ConsentBases.Codes()).Draw(t, "basis"),
		GivenBy:        rapid.SampledFrom(contracts.ConsentGivers.Codes()).Draw(t, "given by"),
		ChildAssent:    rapid.Bool().Draw(t, "child assent"),
		AgeBand:        rapid.SampledFrom(contracts.AgeBands.Codes()).Draw(t, "age band"),
		Recipients:     subset(t, "recipients", recipients),
		Purposes:       subset(t, "purposes", contracts.Purposes.Codes()),
		DataCategories: subset(t, "consent categories", contracts.DataCategories.Codes()),
		ObtainedAt:     now.Add(-30 * 24 * time.Hour),
	}
	if often(t, "consent covers the recipient") && !slices.Contains(c.Recipients, to) {
		c.Recipients = append(c.Recipients, rapid.SampledFrom([]string{to, countryOf(to)}).Draw(t, "covered recipient"))
	}
	if often(t, "consent covers the purpose") && !slices.Contains(c.Purposes, e.Purpose) {
		c.Purposes = append(c.Purposes, e.Purpose)
	}
	if often(t, "consent covers the categories") {
		for _, cat := range e.DataCategories {
			if !slices.Contains(c.DataCategories, cat) {
				c.DataCategories = append(c.DataCategories, cat)
			}
		}
	}
	if !often(t, "no expiry") {
		// Around the decision time, the boundary included.
		c.ExpiresAt = now.Add(time.Duration(rapid.IntRange(-3, 3).Draw(t, "expiry offset")) * time.Second)
	}
	switch c.Basis {
	case "legal_obligation":
		c.LegalReference = rapid.SampledFrom(legalReferencePool).Draw(t, "legal reference")
	case "best_interests_override":
		g.approval = approvalValid
		if !often(t, "valid approval") {
			g.approval = rapid.SampledFrom(approvalKinds).Draw(t, "approval")
		}
		c.Override = makeOverride(tb, g.approval, from, now)
	}
	e.Consent = c
	return g
}

func makeOverride(tb testing.TB, kind approvalKind, from string, now time.Time) *contracts.Override {
	reason := "caregiver_unreachable"
	own := keysOf(tb, from)
	sign := func(key jwk.Key, id, r string, at time.Time) string { return approve(tb, key, id, r, at) }
	var a string
	switch kind {
	case approvalMissingOverrid:
		return nil
	case approvalValid:
		a = sign(own.supervisor, testMessageID, reason, now.Add(-time.Minute))
	case approvalBySigningKey:
		a = sign(own.sig, testMessageID, reason, now)
	case approvalByOtherAgency:
		other := "ci.dpe-abidjan"
		if from == other {
			other = "bf.dpe-bobo"
		}
		a = sign(keysOf(tb, other).supervisor, testMessageID, reason, now)
	case approvalByStaff:
		a = sign(own.staff, testMessageID, reason, now)
	case approvalOtherMessage:
		a = sign(own.supervisor, otherID, reason, now)
	case approvalOtherReason:
		a = sign(own.supervisor, testMessageID, "imminent_harm", now)
	case approvalTampered:
		parts := strings.Split(sign(own.supervisor, otherID, reason, now), ".")
		parts[1] = strings.Split(sign(own.staff, testMessageID, reason, now), ".")[1]
		a = strings.Join(parts, ".")
	case approvalInTheFuture:
		a = sign(own.supervisor, testMessageID, reason, now.Add(time.Hour))
	case approvalNotASignature:
		a = "eyJhbGciOiJub25lIn0.e30."
	}
	return &contracts.Override{Reason: reason, Approval: a}
}

// TestNoMessageWithoutAValidBasisIsEverAllowed is the property of issue 3:
// whatever the sender, recipient, kind, purpose, categories, consent
// scope, age band, basis, expiry, legal reference and approval, the engine
// allows a message exactly when the independent oracle finds no
// violation; in particular, no message carrying personal data crosses
// without a valid consent, an approved override or a listed legal
// obligation, and every refusal carries the code of a rule the message
// actually breaks.
func TestNoMessageWithoutAValidBasisIsEverAllowed(t *testing.T) {
	set := loadSet(t, "corridors")
	supervisors := supervisorsOf(t, agencyPool...)
	outcomes := map[string]int{}
	// Several rounds of rapid's default 100 checks: the rules have many
	// combinations, and a round takes milliseconds.
	for range propertyRounds {
		rapid.Check(t, func(rt *rapid.T) {
			checkOneMessage(rt, t, set, supervisors, outcomes)
		})
	}
	// The generator must reach every outcome, or the property says little.
	t.Logf("outcomes: %v", outcomes)
	for _, want := range []string{"allowed consent", "allowed override", "allowed legal obligation", "allowed without personal data"} {
		if outcomes[want] == 0 {
			t.Errorf("no generated message was %s: %v", want, outcomes)
		}
	}
	for _, code := range []contracts.Code{
		contracts.CodeCorridorNotAgreed, contracts.CodeConsentMissing, contracts.CodeConsentExpired,
		contracts.CodeConsentScopeRecipient, contracts.CodeConsentScopePurpose, contracts.CodeCategoryNotAllowed,
		contracts.CodeConsentGiverInvalid, contracts.CodeChildAssentMissing, contracts.CodeOverrideNotAllowed,
		contracts.CodeOverrideUnapproved, contracts.CodeLegalBasisNotAccepted, contracts.CodeConsentWithdrawn,
	} {
		if outcomes[string(code)] == 0 {
			t.Errorf("no generated message was refused with %s: %v", code, outcomes)
		}
	}
}

const propertyRounds = 30

func checkOneMessage(rt *rapid.T, t *testing.T, set *Set, supervisors registry, outcomes map[string]int) {
	g := genMessage(rt, t, supervisors)
	d := set.Decide(context.Background(), g.in)
	violations := oracleViolations(g)
	if d.Allowed {
		if len(violations) > 0 {
			rt.Fatalf("allowed (%s) but the message breaks %v\n%s", d.Rule, violations, Explain(d, "en"))
		}
		if spec, _ := contracts.Kind(g.in.Envelope.Kind); spec.PersonalData {
			c := g.in.Envelope.Consent
			basisHolds := (c.Basis == "consent" && d.Rule == RuleConsentValid) ||
				(c.Basis == "best_interests_override" && g.approval == approvalValid && d.Override) ||
				(c.Basis == "legal_obligation" && d.Rule == RuleLegalObligationOK)
			if !basisHolds {
				rt.Fatalf("personal data allowed without a valid basis: %s, approval %q, rule %s", c.Basis, g.approval, d.Rule)
			}
		}
		outcomes[allowedOutcome(g, d)]++
		return
	}
	outcomes[string(d.Code)]++
	if len(violations) == 0 {
		rt.Fatalf("refused with %s (%s) but the oracle finds no violation\n%s", d.Code, d.Rule, Explain(d, "en"))
	}
	if !slices.Contains(violations, d.Code) {
		rt.Fatalf("refused with %s (%s), not one of the broken rules %v\n%s", d.Code, d.Rule, violations, Explain(d, "en"))
	}
}

func allowedOutcome(g generated, d Decision) string {
	switch {
	case d.Override:
		return "allowed override"
	case d.Rule == RuleLegalObligationOK:
		return "allowed legal obligation"
	case d.Rule == RuleNoPersonalData:
		return "allowed without personal data"
	}
	return "allowed consent"
}
