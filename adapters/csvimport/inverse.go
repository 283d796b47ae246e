package csvimport

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/relais-hub/relais/adapters/agency"
)

// Cells maps a draft back to the sheet's cells, column by column: codes to
// the first cell text of the values table, ISO dates to the column's
// layout, lists joined with the column's separator. A receiving agency
// uses it to add a referral to its own sheet; the tests use it to check
// that a sheet survives the trip.
//
// List elements emptied on the way in (a row with no mother) are matched
// back through the mapping's constants (the relationship), then in order.
func (m *Mapping) Cells(d agency.Draft) (map[string]string, error) {
	tree := map[string]any{"to": d.To, "case": d.Case, "purpose": d.Purpose}
	var body map[string]any
	if err := json.Unmarshal(d.Body, &body); err != nil {
		return nil, fmt.Errorf("draft body: %w", err)
	}
	tree["body"] = body
	if d.Consent != nil {
		raw, _ := json.Marshal(d.Consent)
		var c map[string]any
		_ = json.Unmarshal(raw, &c)
		tree["consent"] = c
	}
	place := m.elementPlaces(tree)
	out := map[string]string{}
	for _, c := range m.Columns {
		if c.Field == "" {
			continue
		}
		path, ok := place(c.Field)
		if !ok {
			continue
		}
		v, ok := valueAt(tree, path)
		if !ok || v == nil {
			continue
		}
		out[c.Name] = m.format(c, v)
	}
	return out, nil
}

// elementPlaces returns a function that maps a mapping path to the path
// of the matching list element in the draft.
func (m *Mapping) elementPlaces(tree map[string]any) func(string) (string, bool) {
	// Mapping list elements by list: "body.family" → indices used.
	lists := map[string][]int{}
	seen := map[string]bool{}
	add := func(path string) {
		el := elementPrefix(path)
		if el == "" || seen[el] {
			return
		}
		seen[el] = true
		open := strings.LastIndexByte(el, '[')
		n, err := strconv.Atoi(el[open+1 : len(el)-1])
		if err != nil {
			return
		}
		lists[el[:open]] = append(lists[el[:open]], n)
	}
	for _, c := range m.Columns {
		if c.Field != "" {
			add(c.Field)
		}
	}
	for p := range m.Constants {
		add(p)
	}
	assign := map[string]string{} // mapping element → draft element
	for list, idxs := range lists {
		sort.Ints(idxs)
		elems, _ := valueAt(tree, list)
		arr, _ := elems.([]any)
		used := make([]bool, len(arr))
		// First the elements a constant identifies.
		for _, n := range idxs {
			el := fmt.Sprintf("%s[%d]", list, n)
			for cp, cv := range m.Constants {
				field, under := strings.CutPrefix(cp, el+".")
				if !under {
					continue
				}
				for i, e := range arr {
					if obj, ok := e.(map[string]any); ok && !used[i] && fmt.Sprint(obj[field]) == cv {
						assign[el] = fmt.Sprintf("%s[%d]", list, i)
						used[i] = true
						break
					}
				}
				break
			}
		}
		// Then the others, in order.
		next := 0
		for _, n := range idxs {
			el := fmt.Sprintf("%s[%d]", list, n)
			if _, done := assign[el]; done || m.constantUnder(el) {
				continue
			}
			for next < len(arr) && used[next] {
				next++
			}
			if next < len(arr) {
				assign[el] = fmt.Sprintf("%s[%d]", list, next)
				used[next] = true
			}
		}
	}
	return func(path string) (string, bool) {
		el := elementPrefix(path)
		if el == "" {
			return path, true
		}
		to, ok := assign[el]
		if !ok {
			return "", false
		}
		return to + path[len(el):], true
	}
}

func (m *Mapping) constantUnder(el string) bool {
	for p := range m.Constants {
		if strings.HasPrefix(p, el+".") {
			return true
		}
	}
	return false
}

// format writes a value as the column's cell.
func (m *Mapping) format(c Column, v any) string {
	spec := m.specs[c.Field]
	if list, ok := v.([]any); ok {
		parts := make([]string, 0, len(list))
		for _, e := range list {
			parts = append(parts, m.formatScalar(c, spec, e))
		}
		sep := c.Split
		if sep == "," || sep == ";" {
			sep += " "
		}
		return strings.Join(parts, sep)
	}
	return m.formatScalar(c, spec, v)
}

func (m *Mapping) formatScalar(c Column, spec fieldSpec, v any) string {
	s := fmt.Sprint(v)
	if f, ok := v.(float64); ok {
		s = strconv.FormatFloat(f, 'f', -1, 64)
	}
	switch {
	case spec.kind == kindTime:
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			s = t.Format(dateLayout(c))
		}
	case spec.isDate && c.Date != "":
		if t, err := time.Parse(time.DateOnly, s); err == nil {
			s = t.Format(c.Date)
		}
	}
	if len(c.Values) > 0 {
		if cell, ok := c.Values.cell(s); ok {
			return cell
		}
	}
	return s
}
