package stats

import (
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/relais-hub/relais/contracts"
)

// Query is what a release is asked for. From is included and To excluded;
// both are UTC.
type Query struct {
	// Dimensions are one or two distinct dimensions: the rows, then the
	// columns of every table.
	Dimensions []Dimension `json:"dimensions"`
	// Measures are the tables to build, in this order.
	Measures []Measure `json:"measures"`
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
}

// maxQuarters bounds the window, and with it the size of a table by
// quarter.
const maxQuarters = 40

// WithDefaults fills what q leaves unset: corridors, every measure, and
// the last four completed quarters.
func (q Query) WithDefaults(now time.Time) Query {
	if len(q.Dimensions) == 0 {
		q.Dimensions = []Dimension{ByCorridor}
	}
	if len(q.Measures) == 0 {
		q.Measures = Measures()
	}
	if q.To.IsZero() {
		q.To = quarterStart(now)
	}
	if q.From.IsZero() {
		q.From = q.To.AddDate(0, -12, 0)
	}
	q.From, q.To = q.From.UTC(), q.To.UTC()
	return q
}

// Completed refuses a window that reaches into the quarter under way at
// now: a figure of a closed quarter never changes, whereas two releases
// of an open one a day apart would tell, by difference, what happened
// that day.
func (q Query) Completed(now time.Time) error {
	if q.To.After(quarterStart(now)) {
		return contracts.Refuse(contracts.CodeBadRequest, "only completed quarters are published: to must be %s or earlier", quarterStart(now).Format(time.DateOnly))
	}
	return nil
}

// Validate refuses a query that cannot be answered, as bad_request.
func (q Query) Validate() error {
	if n := len(q.Dimensions); n < 1 || n > 2 {
		return contracts.Refuse(contracts.CodeBadRequest, "give one or two dimensions among %s", dimensionList())
	}
	for _, d := range q.Dimensions {
		if !d.valid() {
			return contracts.Refuse(contracts.CodeBadRequest, "unknown dimension %q; known: %s", d, dimensionList())
		}
	}
	if len(q.Dimensions) == 2 && q.Dimensions[0] == q.Dimensions[1] {
		return contracts.Refuse(contracts.CodeBadRequest, "the two dimensions must differ")
	}
	if len(q.Measures) == 0 {
		return contracts.Refuse(contracts.CodeBadRequest, "give at least one measure")
	}
	for i, m := range q.Measures {
		if !m.valid() {
			return contracts.Refuse(contracts.CodeBadRequest, "unknown measure %q; known: %s", m, measureList())
		}
		if slices.Contains(q.Measures[:i], m) {
			return contracts.Refuse(contracts.CodeBadRequest, "measure %q given twice", m)
		}
	}
	if q.From.IsZero() || q.To.IsZero() || !q.From.Before(q.To) {
		return contracts.Refuse(contracts.CodeBadRequest, "from must be before to")
	}
	// Whole quarters only: releases over arbitrary days could be
	// subtracted from one another to isolate a few days' transfers.
	if !quarterStart(q.From).Equal(q.From) || !quarterStart(q.To).Equal(q.To) {
		return contracts.Refuse(contracts.CodeBadRequest, "from and to must be the first day of a quarter (01-01, 04-01, 07-01 or 10-01)")
	}
	if len(quarterKeys(q.From, q.To)) > maxQuarters {
		return contracts.Refuse(contracts.CodeBadRequest, "the window spans more than %d quarters", maxQuarters)
	}
	return nil
}

// Params are the query string of GET /v1/stats for q, the same names the
// release's audit event records.
func (q Query) Params() url.Values {
	v := url.Values{}
	dims := make([]string, len(q.Dimensions))
	for i, d := range q.Dimensions {
		dims[i] = string(d)
	}
	ms := make([]string, len(q.Measures))
	for i, m := range q.Measures {
		ms[i] = string(m)
	}
	v.Set("dimensions", strings.Join(dims, ","))
	v.Set("measures", strings.Join(ms, ","))
	if !q.From.IsZero() {
		v.Set("from", q.From.UTC().Format(time.RFC3339))
	}
	if !q.To.IsZero() {
		v.Set("to", q.To.UTC().Format(time.RFC3339))
	}
	return v
}

// ParseQuery reads a query from its parameters: dimensions and measures
// as comma-separated lists (or repeated), from and to as dates
// (2026-01-01, midnight UTC) or RFC 3339 times; Validate then requires
// them to start quarters. Absent parameters are left zero, for
// WithDefaults.
func ParseQuery(v url.Values) (Query, error) {
	var q Query
	for _, d := range splitList(v["dimensions"]) {
		q.Dimensions = append(q.Dimensions, Dimension(d))
	}
	for _, m := range splitList(v["measures"]) {
		q.Measures = append(q.Measures, Measure(m))
	}
	var err error
	if q.From, err = parseInstant("from", v.Get("from")); err != nil {
		return q, err
	}
	if q.To, err = parseInstant("to", v.Get("to")); err != nil {
		return q, err
	}
	return q, nil
}

func splitList(values []string) []string {
	var out []string
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
	}
	return out
}

func parseInstant(name, raw string) (time.Time, error) {
	if raw == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.DateOnly, raw); err == nil {
		return t.UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, raw)
	if err != nil {
		return time.Time{}, contracts.Refuse(contracts.CodeBadRequest, "%s must be a date (2026-01-01) or an RFC 3339 time", name)
	}
	return t.UTC(), nil
}

func dimensionList() string {
	var names []string
	for _, d := range Dimensions() {
		names = append(names, string(d))
	}
	return strings.Join(names, ", ")
}

func measureList() string {
	var names []string
	for _, m := range Measures() {
		names = append(names, string(m))
	}
	return strings.Join(names, ", ")
}
