package consent_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/hub/policy"
)

// The oracle below restates, from docs/consent.md and the shipped
// bf-ci-ml agreement, when a referral from Côte d'Ivoire may cross. It is
// written out here rather than read from the agreement files, so that the
// property compares two independent statements of the policy.

// bfCIMLPurposes is bf-ci-ml's minimisation table.
var bfCIMLPurposes = map[string][]string{
	"protection_referral":  {"identity", "contact", "family", "location", "documents", "protection_concerns", "health", "legal_status", "photo", "narrative"},
	"family_tracing":       {"identity", "contact", "family", "location", "documents", "photo"},
	"social_enquiry":       {"identity", "contact", "family", "location", "documents", "protection_concerns", "legal_status", "narrative"},
	"best_interests":       {"identity", "family", "location", "protection_concerns", "health", "legal_status", "narrative"},
	"return_reintegration": {"identity", "contact", "family", "location", "documents", "health", "legal_status", "narrative"},
	"follow_up":            {"identity", "location", "protection_concerns", "health", "narrative"},
}

// Legal references: two that bf-ci-ml lists (one with a precision after
// it), and one that only ma-sn-gn lists.
var (
	listedReferences = []string{
		"Ordonnance du juge des enfants",
		"Ordonnance du juge des enfants de Bouaké, n° 2026/031",
		"Accord multilatéral de coopération en matière de lutte contre la traite des enfants en Afrique de l'Ouest (Abidjan, 2005)",
	}
	unlistedReference = "Loi n° 27-14 relative à la lutte contre la traite des êtres humains (Maroc)"
)

// oracleGivers is the default age-band table: who may consent, and
// whether an adult's consent needs the child's recorded assent.
func oracleGivers(band string) (givers []string, assentRequired bool) {
	adults := []string{"parent", "guardian", "legal_representative"}
	switch band {
	case "0-5":
		return adults, false
	case "6-11", "12-14":
		return adults, true
	default: // 15-17, 18+
		return []string{"child"}, false
	}
}

// approvalKind says who signed an override's approval, over what.
type approvalKind int

const (
	approvedBySupervisor  approvalKind = iota // the sender's supervisor, this id, this reason
	approvedBySender                          // the key that signs the message
	approvedByOtherAgency                     // Mali's supervisor
	approvedByUnknownKey                      // a key registered nowhere
	approvedOtherMessage                      // the right key, another message id
	approvedOtherReason                       // the right key, another reason
	approvedInFuture                          // the right key, dated tomorrow
	approvalKinds
)

// generated is one forged referral and whether the oracle finds it lawful.
type generated struct {
	env      contracts.Envelope
	approval approvalKind
	lawful   bool
}

func (g generated) String() string {
	b, _ := json.MarshalIndent(g.env, "", "  ")
	return fmt.Sprintf("approval kind %d, lawful %v:\n%s", g.approval, g.lawful, b)
}

// TestNoUnlawfulMessageReachesAnInbox: random referrals — consent present
// or not, expired or not, covering the recipient, the purpose and the
// categories or not, given by an entitled person or not, withdrawn or not;
// overrides approved by the right supervisor or not; legal references
// listed or not; recipients with and without an agreement — are submitted
// through the real pipeline (HTTP, verification, validation, lifecycle,
// corridor policy, store, outbox, relay). A message the oracle finds
// lawful is accepted; no other is stored, queued or delivered.
func TestNoUnlawfulMessageReachesAnInbox(t *testing.T) {
	w := newWorld(t, []string{ciID, mlID, bfID, snID}, ciID, mlID)
	ctx := context.Background()
	ci := w.party(ciID)
	const withdrawnRef = "CI-CONS-WITHDRAWN"
	allowed := map[string]bool{}
	env, _, err := ci.Client.Send(ctx, referral(mlID, "CI-PROP-0000", withdrawnRef))
	if err != nil {
		t.Fatal(err)
	}
	allowed[env.ID] = true
	sent, _, err := ci.Client.Withdraw(ctx, agency.Withdrawal{ConsentRef: withdrawnRef, Case: "CI-PROP-0000"})
	if err != nil || len(sent) != 1 || sent[0].MessageID == "" {
		t.Fatalf("withdrawal: %+v, %v", sent, err)
	}
	allowed[sent[0].MessageID] = true

	var lawful, unlawful int
	rapid.Check(t, func(rt *rapid.T) {
		g := generate(rt, w, withdrawnRef)
		jws := forge(rt, w, g)
		_, err := ci.Client.Submit(ctx, jws)
		if g.lawful {
			if err != nil {
				rt.Fatalf("a lawful message was refused: %v\n%s", err, g)
			}
			allowed[g.env.ID] = true
			lawful++
			return
		}
		unlawful++
		var he *agency.HubError
		if err == nil || !errors.As(err, &he) {
			rt.Fatalf("an unlawful message was not refused by the hub (%v)\n%s", err, g)
		}
		if _, err := w.store.Message(ctx, g.env.ID); !errors.Is(err, hub.ErrNotFound) {
			rt.Fatalf("a refused message (%s) is in the store (%v)\n%s", he.Code, err, g)
		}
	})
	t.Logf("%d lawful and %d unlawful messages submitted", lawful, unlawful)
	if lawful < 5 || unlawful < 5 {
		t.Fatalf("the generator is lopsided: %d lawful, %d unlawful", lawful, unlawful)
	}

	// Every accepted message reaches its inbox; nothing else is in any
	// inbox or waits in the outbox.
	eventually(t, 15*time.Second, func() error {
		for id := range allowed {
			m, err := w.store.Message(ctx, id)
			if err != nil {
				return err
			}
			if m.DeliveredAt.IsZero() {
				return fmt.Errorf("%s accepted but not yet delivered", id)
			}
		}
		return nil
	})
	for _, id := range []string{ciID, mlID, bfID, snID} {
		items, err := w.store.Inbox(ctx, id, 0, 10_000)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			if !allowed[it.ID] {
				t.Errorf("message %s (%s) reached %s's inbox without a lawful basis", it.ID, it.Kind, id)
			}
		}
	}
	pending, err := w.store.PendingOutbox(ctx, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range pending {
		if !allowed[it.MessageID] {
			t.Errorf("message %s waits in the outbox for %s without a lawful basis", it.MessageID, it.Recipient)
		}
	}
}

// fault draws whether one dimension of the message goes wrong: rarely
// enough that a fair share of messages has none.
func fault(rt *rapid.T, name string) bool {
	return rapid.IntRange(0, 9).Draw(rt, name) == 0
}

// subset draws a non-empty subset of from.
func subset(rt *rapid.T, from []string, name string) []string {
	picked := rapid.SliceOfNDistinct(rapid.SampledFrom(from), 1, len(from), rapid.ID[string]).Draw(rt, name)
	out := []string{}
	for _, v := range from { // vocabulary order
		if slices.Contains(picked, v) {
			out = append(out, v)
		}
	}
	return out
}

// generate draws a referral from Côte d'Ivoire: a lawful one, then each
// dimension possibly spoilt; the oracle then judges the final fields.
func generate(rt *rapid.T, w *world, withdrawnRef string) generated {
	now := time.Now().UTC().Truncate(time.Millisecond)
	to := rapid.SampledFrom([]string{mlID, bfID, snID}).Draw(rt, "to")
	purpose := rapid.SampledFrom(contracts.Purposes.Codes()).Draw(rt, "purpose")
	declared := subset(rt, bfCIMLPurposes[purpose], "declared")
	if fault(rt, "exceed minimisation") {
		declared = subset(rt, contracts.DataCategories.Codes(), "declared anyhow")
	}
	consent := &contracts.Consent{
		Ref:        fmt.Sprintf("CI-CONS-%04d", rapid.IntRange(1, 9999).Draw(rt, "ref")),
		Recipients: []string{rapid.SampledFrom([]string{contracts.AgencyCountry(to), to}).Draw(rt, "recipient form")},
		Purposes:   []string{purpose}, DataCategories: slices.Clone(declared),
		ObtainedAt: now.Add(-time.Duration(rapid.IntRange(1, 2000).Draw(rt, "hours ago")) * time.Hour).Truncate(time.Second),
	}
	if fault(rt, "withdrawn") {
		consent.Ref = withdrawnRef
	}
	if fault(rt, "other recipient") {
		consent.Recipients = []string{rapid.SampledFrom([]string{"ml", "bf", "sn", mlID, bfID, "bf.dpe-ouaga", "gn"}).Draw(rt, "other recipient")}
	}
	if fault(rt, "other purpose") {
		consent.Purposes = subset(rt, contracts.Purposes.Codes(), "consented purposes")
	}
	if fault(rt, "fewer categories") {
		consent.DataCategories = subset(rt, contracts.DataCategories.Codes(), "consented categories")
	}
	switch rapid.IntRange(0, 2).Draw(rt, "expiry") {
	case 1:
		consent.ExpiresAt = now.Add(30 * 24 * time.Hour).Truncate(time.Second)
	case 2:
		if fault(rt, "expired") {
			consent.ObtainedAt = now.Add(-72 * time.Hour).Truncate(time.Second)
			consent.ExpiresAt = now.Add(-time.Hour).Truncate(time.Second)
		}
	}
	env := contracts.Envelope{
		V: 1, ID: contracts.NewMessageID(), Kind: "referral.request", From: ciID, To: to,
		Case: fmt.Sprintf("CI-PROP-%04d", rapid.IntRange(1, 9999).Draw(rt, "case")), SentAt: now,
		Purpose: purpose, DataCategories: declared, Consent: consent,
	}
	env.Transfer = env.ID
	g := generated{env: env}
	switch basis := rapid.SampledFrom(contracts.ConsentBases.Codes()).Draw(rt, "basis"); basis {
	case "consent":
		consent.Basis = basis
		consent.AgeBand = rapid.SampledFrom(contracts.AgeBands.Codes()).Draw(rt, "age band")
		givers, _ := oracleGivers(consent.AgeBand)
		consent.GivenBy = rapid.SampledFrom(givers).Draw(rt, "given by")
		if fault(rt, "wrong giver") {
			consent.GivenBy = rapid.SampledFrom(contracts.ConsentGivers.Codes()).Draw(rt, "any giver")
		}
		consent.ChildAssent = !fault(rt, "no assent")
	case "best_interests_override":
		consent.Basis, consent.GivenBy, consent.AgeBand = basis, "legal_representative", "12-14"
		reason := rapid.SampledFrom(contracts.OverrideReasons.Codes()).Draw(rt, "reason")
		g.approval = approvedBySupervisor
		if fault(rt, "bad approval") {
			g.approval = approvalKind(rapid.IntRange(1, int(approvalKinds)-1).Draw(rt, "approval kind"))
		}
		consent.Override = &contracts.Override{Reason: reason, Approval: approve(rt, w, g.approval, env.ID, reason, now)}
	case "legal_obligation":
		consent.Basis, consent.GivenBy, consent.AgeBand = basis, "legal_representative", "6-11"
		consent.LegalReference = rapid.SampledFrom(listedReferences).Draw(rt, "legal reference")
		if fault(rt, "unlisted reference") {
			consent.LegalReference = unlistedReference
		}
	}
	if fault(rt, "no consent") {
		g.env.Consent = nil
	}
	g.lawful = lawful(g, withdrawnRef, now)
	return g
}

// approve signs an override approval of the given kind.
func approve(rt *rapid.T, w *world, kind approvalKind, messageID, reason string, now time.Time) string {
	key, id, why, at := w.party(ciID).Supervisor.Key, messageID, reason, now
	switch kind {
	case approvedBySender:
		key = w.party(ciID).Keys.Signing
	case approvedByOtherAgency:
		key = w.party(mlID).Supervisor.Key
	case approvedByUnknownKey:
		var err error
		if key, err = seal.GenerateSigningKey(seal.NewKID(ciID + "#supervisor")); err != nil {
			rt.Fatal(err)
		}
	case approvedOtherMessage:
		id = contracts.NewMessageID()
	case approvedOtherReason:
		for _, r := range contracts.OverrideReasons.Codes() {
			if r != reason {
				why = r
			}
		}
	case approvedInFuture:
		at = now.Add(24 * time.Hour)
	}
	approval, err := policy.SignOverrideApproval(key, id, why, at)
	if err != nil {
		rt.Fatal(err)
	}
	return approval
}

// lawful is the oracle: the message may cross only under an agreement,
// on a consent that stands and covers it, or an approved override, or a
// listed legal obligation.
func lawful(g generated, withdrawnRef string, now time.Time) bool {
	env, c := g.env, g.env.Consent
	country := contracts.AgencyCountry(env.To)
	if country != "ml" && country != "bf" { // bf-ci-ml is Côte d'Ivoire's only agreement
		return false
	}
	if c == nil || c.Ref == withdrawnRef {
		return false
	}
	if !c.ExpiresAt.IsZero() && !now.Before(c.ExpiresAt) {
		return false
	}
	if !slices.Contains(c.Recipients, env.To) && !slices.Contains(c.Recipients, country) {
		return false
	}
	if !slices.Contains(c.Purposes, env.Purpose) {
		return false
	}
	for _, cat := range env.DataCategories {
		if !slices.Contains(c.DataCategories, cat) || !slices.Contains(bfCIMLPurposes[env.Purpose], cat) {
			return false
		}
	}
	switch c.Basis {
	case "consent":
		givers, assentRequired := oracleGivers(c.AgeBand)
		return slices.Contains(givers, c.GivenBy) && (!assentRequired || c.ChildAssent)
	case "best_interests_override":
		return g.approval == approvedBySupervisor
	case "legal_obligation":
		return citesListedText(c.LegalReference)
	}
	return false
}

// forge seals and signs the envelope by hand, as a faulty or hostile
// client would, bypassing the agency client's own checks: the hub alone
// stands between the message and the recipient.
func forge(rt *rapid.T, w *world, g generated) []byte {
	body, _ := json.Marshal(contracts.ReferralRequest{
		Child: contracts.Child{GivenNames: "Awa", Sex: "f", EstimatedAge: ptr(13)}, Urgency: "high",
	})
	return sealByHand(rt, w, g.env, body)
}

// fataler is what sealByHand needs of a *testing.T or a *rapid.T.
type fataler interface{ Fatal(args ...any) }

// sealByHand encrypts body for the envelope's recipient and signs the
// envelope with the sender's key, checking nothing.
func sealByHand(f fataler, w *world, env contracts.Envelope, body []byte) []byte {
	recipientKey, err := seal.PublicKey(w.party(env.To).Keys.Encryption[0])
	if err != nil {
		f.Fatal(err)
	}
	jwe, err := seal.Encrypt(body, recipientKey)
	if err != nil {
		f.Fatal(err)
	}
	env.Body = contracts.NewSealedBody(jwe)
	payload, err := json.Marshal(env)
	if err != nil {
		f.Fatal(err)
	}
	jws, err := seal.Sign(payload, w.party(env.From).Keys.Signing, seal.EnvelopeTyp)
	if err != nil {
		f.Fatal(err)
	}
	return jws
}

// bfCIMLCites are two of the texts bf-ci-ml lists for legal obligations.
var bfCIMLCites = []string{
	"Ordonnance du juge des enfants",
	"Accord multilatéral de coopération en matière de lutte contre la traite des enfants en Afrique de l'Ouest (Abidjan, 2005)",
}

// citesListedText: the reference is a listed text, or a listed text
// followed by a separator and a precision (article, court, number).
func citesListedText(ref string) bool {
	for _, cite := range bfCIMLCites {
		rest, ok := strings.CutPrefix(ref, cite)
		if ok && (rest == "" || strings.ContainsAny(rest[:1], " ,;:/")) {
			return true
		}
	}
	return false
}
