package policy

import (
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/relais-hub/relais/contracts"
)

// Corridor is one agreement between two or more countries or agencies, as
// loaded from its file. A Set shares its corridors between goroutines:
// treat them as read-only (Set.Corridors returns copies).
type Corridor struct {
	// ID names the agreement ("bf-ci-ml"); several versions of one
	// agreement may coexist as long as their validity periods do not
	// overlap.
	ID      string
	Version int
	Title   contracts.Label
	// File is the path the agreement was loaded from, Line the line of its
	// "id" key.
	File string
	Line int
	// ValidFrom is the first day in force and ValidUntil the last (both at
	// 00:00 UTC); a zero ValidUntil means open-ended.
	ValidFrom, ValidUntil time.Time
	// Parties are lower-case ISO 3166-1 country codes (every agency of the
	// country) and/or agency ids. A message is covered when its sender
	// matches one party and its recipient another.
	Parties []string
	// Kinds are the message kinds the agreement allows.
	Kinds []string
	// Purposes maps each allowed purpose to the data categories that may be
	// shared for it (minimisation).
	Purposes map[string][]string
	// LegalBases are the accepted consent bases.
	LegalBases      []string
	Override        OverrideRule
	LegalReferences []LegalReference
	SLA             SLA
	Retention       Retention
	Statistics      Statistics
	AgeBands        AgeBandTable
}

// OverrideRule says whether consent may be overridden in the child's best
// interests, and which registered role approves an override.
type OverrideRule struct {
	Allowed      bool
	ApproverRole string
}

// LegalReference is a text the agreement accepts for the legal_obligation
// basis. A message's consent.legal_reference matches when it is Cite, or
// Cite followed by a precision (" art. 6", ", décision n° …").
type LegalReference struct {
	// ID is a short name used in explanations ("accord-ml-ci-2000").
	ID   string
	Cite string
}

// Matches reports whether a message's legal reference cites this text.
func (r LegalReference) Matches(ref string) bool {
	if ref == r.Cite {
		return true
	}
	rest, ok := strings.CutPrefix(ref, r.Cite)
	return ok && strings.ContainsAny(rest[:1], legalReferenceSeparators)
}

// legalReferenceSeparators may follow a cited text before its precision,
// so that "Loi 2005-06" does not match "Loi 2005-061".
const legalReferenceSeparators = " ,;:/"

// SLA are the agreed service levels, measured by the hub from acceptance.
type SLA struct {
	// TimeToReceipt: the recipient's signed receipt is due within.
	TimeToReceipt time.Duration
	// TimeToAnswer: acceptance or decline of a referral is due within.
	TimeToAnswer time.Duration
	// FollowUpInterval: at most this long between follow-ups of an open
	// case.
	FollowUpInterval time.Duration
	// EscalationAfter: a missed deadline is escalated to the recipient's
	// supervisors this long after it passed.
	EscalationAfter time.Duration
}

// Retention bounds what the hub keeps.
type Retention struct {
	// DeliveredCiphertext is how long the hub keeps a message's encrypted
	// body once the recipient has receipted it.
	DeliveredCiphertext time.Duration
}

// Statistics are the disclosure-control rules for reports built from the
// trail.
type Statistics struct {
	// MinCellSize: a count below this is suppressed from statistics.
	MinCellSize int
}

// DefaultMinCellSize is the statistics threshold when a corridor sets none.
const DefaultMinCellSize = 5

// InForce reports whether the agreement is in force at t.
func (c *Corridor) InForce(t time.Time) bool {
	if t.Before(c.ValidFrom) {
		return false
	}
	return c.ValidUntil.IsZero() || t.Before(c.end())
}

// end is the first instant after the agreement (zero: never).
func (c *Corridor) end() time.Time {
	if c.ValidUntil.IsZero() {
		return time.Time{}
	}
	return c.ValidUntil.AddDate(0, 0, 1)
}

// AllowsKind reports whether the agreement allows a message kind.
func (c *Corridor) AllowsKind(kind string) bool { return slices.Contains(c.Kinds, kind) }

// AcceptsBasis reports whether the agreement accepts a consent basis.
func (c *Corridor) AcceptsBasis(basis string) bool { return slices.Contains(c.LegalBases, basis) }

// Covers reports whether a message from sender to recipient (agency ids)
// falls under the agreement: each matches a different party.
func (c *Corridor) Covers(sender, recipient string) bool {
	return c.covers(newParty(sender), newParty(recipient))
}

func (c *Corridor) covers(sender, recipient party) bool {
	for i, from := range c.Parties {
		if !sender.under(from) {
			continue
		}
		for j, to := range c.Parties {
			if i != j && recipient.under(to) {
				return true
			}
		}
	}
	return false
}

// party is an agency id with its country, split once per decision.
type party struct{ agency, country string }

func newParty(agency string) party {
	return party{agency: agency, country: contracts.AgencyCountry(agency)}
}

// under reports whether the agency falls under an agreement's party: the
// agency itself, or its country. An invalid agency id (no country) falls
// under nothing.
func (p party) under(agreementParty string) bool {
	return p.country != "" && (agreementParty == p.agency || agreementParty == p.country)
}

// legalReference returns the accepted reference that ref cites.
func (c *Corridor) legalReference(ref string) (LegalReference, bool) {
	for _, r := range c.LegalReferences {
		if r.Matches(ref) {
			return r, true
		}
	}
	return LegalReference{}, false
}

// clone returns a deep copy, so callers of Set.Corridors cannot alter a
// shared set.
func (c *Corridor) clone() Corridor {
	out := *c
	out.Parties = slices.Clone(c.Parties)
	out.Kinds = slices.Clone(c.Kinds)
	out.LegalBases = slices.Clone(c.LegalBases)
	out.LegalReferences = slices.Clone(c.LegalReferences)
	out.Purposes = make(map[string][]string, len(c.Purposes))
	for p, cats := range c.Purposes {
		out.Purposes[p] = slices.Clone(cats)
	}
	out.AgeBands = c.AgeBands.clone()
	return out
}

// sortedPurposes lists the allowed purposes in vocabulary order.
func (c *Corridor) sortedPurposes() []string {
	var out []string
	for _, p := range contracts.Purposes.Codes() {
		if _, ok := c.Purposes[p]; ok {
			out = append(out, p)
		}
	}
	return out
}

// AgeBandTable says, per age band, who may give consent and whether the
// child's assent must be recorded.
type AgeBandTable struct {
	Bands map[string]AgeBandRule
	// Custom is true when the corridor file sets its own table rather than
	// using DefaultAgeBands.
	Custom bool
}

// AgeBandRule is one row of an AgeBandTable.
type AgeBandRule struct {
	// ConsentBy lists the consent.given_by values accepted for the band.
	ConsentBy []string
	// ChildAssentRequired: when someone other than the child consents,
	// consent.child_assent must be true.
	ChildAssentRequired bool
}

// DefaultAgeBands is the table used when a corridor sets none. Its sources
// are discussed in docs/consent.md: the child decides from 15; below 15 a
// parent, guardian or legal representative decides, and from 6 the child's
// own assent is sought and recorded.
func DefaultAgeBands() AgeBandTable {
	adults := []string{"parent", "guardian", "legal_representative"}
	return AgeBandTable{Bands: map[string]AgeBandRule{
		"0-5":   {ConsentBy: slices.Clone(adults)},
		"6-11":  {ConsentBy: slices.Clone(adults), ChildAssentRequired: true},
		"12-14": {ConsentBy: slices.Clone(adults), ChildAssentRequired: true},
		"15-17": {ConsentBy: []string{"child"}},
		"18+":   {ConsentBy: []string{"child"}},
	}}
}

func (t AgeBandTable) clone() AgeBandTable {
	out := AgeBandTable{Custom: t.Custom, Bands: maps.Clone(t.Bands)}
	for band, rule := range out.Bands {
		rule.ConsentBy = slices.Clone(rule.ConsentBy)
		out.Bands[band] = rule
	}
	return out
}
