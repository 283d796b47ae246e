package services

import (
	"slices"
	"strings"
	"time"

	"github.com/relais-hub/relais/contracts"
)

// Query asks the directory who handles a service where, on a day. Empty
// fields do not filter; an empty AsOf means today.
type Query struct {
	// Country is an ISO 3166-1 alpha-2 code, in either case.
	Country string
	// Service is a contracts.OfferedServices code.
	Service string
	// Area is an area code ("ML-3", "ML-3-KOU").
	Area string
	AsOf Date
}

// Coverage says how an agency's areas relate to the area asked for.
type Coverage string

const (
	// CoversArea: the agency covers exactly that area.
	CoversArea Coverage = "area"
	// CoversWider: the agency covers a wider area that includes it (its
	// region, or the whole country).
	CoversWider Coverage = "wider"
	// CoversPart: the agency covers only part of it (a cercle of the
	// region asked for).
	CoversPart Coverage = "part"
)

// Match is an agency the directory proposes, with the record valid on the
// day asked for.
type Match struct {
	Record
	// Coverage is empty when the query named no area.
	Coverage Coverage `json:"coverage,omitempty"`
}

// Validate refuses a malformed query as bad_request.
func (q Query) Validate() error {
	if q.Country != "" && !contracts.ValidCountry(strings.ToLower(q.Country)) {
		return contracts.Refuse(contracts.CodeBadRequest, "country must be an ISO 3166-1 alpha-2 code")
	}
	if q.Service != "" && !contracts.IsOfferedService(q.Service) {
		return contracts.Refuse(contracts.CodeBadRequest, "unknown service %q; known: %s", q.Service, strings.Join(contracts.OfferedServices.Codes(), ", "))
	}
	if q.Area != "" && !areaCode.MatchString(strings.ToUpper(q.Area)) {
		return contracts.Refuse(contracts.CodeBadRequest, "area must be an area code such as ML-3 or ML-3-KOU")
	}
	if q.AsOf != "" {
		if _, ok := ParseDate(string(q.AsOf)); !ok {
			return contracts.Refuse(contracts.CodeBadRequest, "as_of must be a date (2026-01-01)")
		}
	}
	return nil
}

// Filters reports whether q narrows the directory at all.
func (q Query) Filters() bool { return q.Country != "" || q.Service != "" || q.Area != "" }

// Find answers q from every version of every record (records in any
// order): each agency's version valid on q.AsOf, if it matches. Agencies
// covering the area itself come first, then those covering a wider area
// (the narrowest first), then those covering part of it; within each,
// by agency id.
func Find(records []Record, q Query) []Match {
	area := strings.ToUpper(q.Area)
	day := q.AsOf
	if day == "" {
		day = DateOf(time.Now())
	}
	var out []Match
	for _, r := range current(records, day) {
		if q.Country != "" && !strings.EqualFold(r.Country, q.Country) {
			continue
		}
		if q.Service != "" && !r.Offers(q.Service) {
			continue
		}
		m := Match{Record: r}
		if area != "" {
			c, ok := coverageOf(r.Areas, area)
			if !ok {
				continue
			}
			m.Coverage = c
		}
		out = append(out, m)
	}
	slices.SortStableFunc(out, func(a, b Match) int {
		if d := coverageRank(a.Coverage) - coverageRank(b.Coverage); d != 0 {
			return d
		}
		if a.Coverage == CoversWider {
			if d := closest(b.Areas, area) - closest(a.Areas, area); d != 0 {
				return d
			}
		}
		return strings.Compare(a.Agency, b.Agency)
	})
	return out
}

// current keeps, per agency, the version valid on day d.
func current(records []Record, d Date) []Record {
	var out []Record
	for _, r := range records {
		if r.ValidOn(d) {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b Record) int { return strings.Compare(a.Agency, b.Agency) })
	return out
}

// AsOf returns the version of one agency's history valid on day d.
func AsOf(history []Record, d Date) (Record, bool) {
	for _, r := range history {
		if r.ValidOn(d) {
			return r, true
		}
	}
	return Record{}, false
}

// contains reports whether area code outer includes inner: equal, or an
// ancestor ("ML-3" includes "ML-3-KOU"; "ML" includes everything in Mali).
func contains(outer, inner string) bool {
	return outer == inner || strings.HasPrefix(inner, outer+"-")
}

func coverageOf(areas []Area, area string) (Coverage, bool) {
	best, found := CoversPart, false
	for _, a := range areas {
		switch {
		case a.Code == area:
			return CoversArea, true
		case contains(a.Code, area):
			best, found = CoversWider, true
		case contains(area, a.Code) && !found:
			best, found = CoversPart, true
		}
	}
	return best, found
}

func coverageRank(c Coverage) int {
	return map[Coverage]int{CoversArea: 0, CoversWider: 1, CoversPart: 2}[c]
}

// closest is the length of the narrowest of areas that includes area: the
// longer the code, the closer the agency.
func closest(areas []Area, area string) int {
	n := 0
	for _, a := range areas {
		if contains(a.Code, area) {
			n = max(n, len(a.Code))
		}
	}
	return n
}
