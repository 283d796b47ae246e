package policy

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/relais-hub/relais/contracts"
)

// crossCheck finds mistakes that involve two agreements: the same id and
// version twice, and overlapping agreements. Two agreements overlap when
// they are in force at a common time, share a kind, and both cover some
// sender → recipient pair; the engine would then have two answers for one
// message, so the set is refused instead of picking one.
func crossCheck(corridors []*Corridor) []Issue {
	var issues []Issue
	for j, b := range corridors {
		for _, a := range corridors[:j] {
			if a.ID == b.ID && a.Version == b.Version {
				issues = append(issues, Issue{File: b.File, Line: b.Line, Field: "id",
					Message: fmt.Sprintf("agreement %s version %d is also defined in %s:%d: give the new text a higher version", b.ID, b.Version, a.File, a.Line)})
				continue
			}
			if is, ok := overlap(a, b); ok {
				issues = append(issues, is)
			}
		}
	}
	return issues
}

func overlap(a, b *Corridor) (Issue, bool) {
	if !periodsOverlap(a, b) {
		return Issue{}, false
	}
	var kinds []string
	for _, k := range b.Kinds {
		if a.AllowsKind(k) {
			kinds = append(kinds, k)
		}
	}
	if len(kinds) == 0 {
		return Issue{}, false
	}
	from, to, ok := commonPair(a, b)
	if !ok {
		return Issue{}, false
	}
	return Issue{File: b.File, Line: b.Line, Field: "parties", Message: fmt.Sprintf(
		"overlaps agreement %s version %d (%s:%d): both cover %s → %s for %s while both are in force; narrow the parties, the kinds or the validity dates",
		a.ID, a.Version, a.File, a.Line, from, to, strings.Join(kinds, ", "))}, true
}

// periodsOverlap reports whether the two validity periods share a day.
func periodsOverlap(a, b *Corridor) bool {
	beforeEnd := func(t time.Time, c *Corridor) bool { return c.ValidUntil.IsZero() || t.Before(c.end()) }
	return beforeEnd(b.ValidFrom, a) && beforeEnd(a.ValidFrom, b)
}

// commonPair finds a sender → recipient pair both agreements cover, and
// names it by the narrower party on each side.
func commonPair(a, b *Corridor) (from, to string, ok bool) {
	for i, af := range a.Parties {
		for j, at := range a.Parties {
			if i == j {
				continue
			}
			for k, bf := range b.Parties {
				for l, bt := range b.Parties {
					if k == l {
						continue
					}
					if f, ok := intersect(af, bf); ok {
						if t, ok := intersect(at, bt); ok && f != t {
							return f, t, true
						}
					}
				}
			}
		}
	}
	return "", "", false
}

// intersect returns the narrower of two parties when some agency falls
// under both: the same party, or a country and one of its agencies.
func intersect(p, q string) (string, bool) {
	switch {
	case p == q:
		return p, true
	case contracts.ValidCountry(p) && contracts.AgencyCountry(q) == p:
		return q, true
	case contracts.ValidCountry(q) && contracts.AgencyCountry(p) == q:
		return p, true
	}
	return "", false
}

// sortCorridors orders corridors by id and version, for stable listings.
func sortCorridors(cs []*Corridor) {
	slices.SortFunc(cs, func(a, b *Corridor) int {
		if c := strings.Compare(a.ID, b.ID); c != 0 {
			return c
		}
		return a.Version - b.Version
	})
}
