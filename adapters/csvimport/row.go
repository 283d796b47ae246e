package csvimport

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/adapters/importkit"
	"github.com/relais-hub/relais/contracts"
)

// rowState gathers one row's conversion.
type rowState struct {
	m      *Mapping
	line   int
	tree   map[string]any
	filled map[string]string // field path → column
	bad    map[string]bool   // fields whose cell could not be converted
	// renames maps list-element paths after compaction back to the
	// mapping's paths.
	renames map[string]string
	rejects []Rejection
}

func (s *rowState) reject(column, field, rule string) {
	r := Rejection{Row: s.line, Column: column, Field: field, Rule: rule}
	if !slices.Contains(s.rejects, r) {
		s.rejects = append(s.rejects, r)
	}
}

// row converts one record.
func (m *Mapping) row(line int, rec []string, colIdx map[string]int, o Options) RowResult {
	s := &rowState{m: m, line: line, tree: map[string]any{}, filled: map[string]string{}, bad: map[string]bool{}, renames: map[string]string{}}
	for _, c := range m.Columns {
		if c.Field == "" {
			continue
		}
		cell := rec[colIdx[c.Name]]
		if !utf8.ValidString(cell) {
			s.reject(c.Name, c.Field, RuleEncoding)
			s.bad[c.Field] = true
			continue
		}
		if strings.TrimSpace(cell) == "" {
			continue
		}
		v, rule := m.convert(c, cell)
		switch {
		case rule != "":
			s.reject(c.Name, c.Field, rule)
			s.bad[c.Field] = true
		case v == nil && c.Field == "consent.basis":
			// The sheet says consent was not given.
			s.reject(c.Name, c.Field, RuleConsentMissing)
			s.bad["consent"] = true
		case v != nil:
			setPath(s.tree, c.Field, v)
			s.filled[c.Field] = c.Name
		}
	}
	for _, path := range sortedKeys(m.Constants) {
		if el := elementPrefix(path); el != "" && !s.filledUnder(el) {
			continue
		}
		setPath(s.tree, path, m.constant(path))
	}
	if body, ok := s.tree["body"].(map[string]any); ok {
		compact(body, "body", s.renames)
	}
	consent := s.consent()
	body, cats := s.checkBody()
	s.checkEnvelope(consent, cats, body != nil, o)
	if len(s.rejects) > 0 || body == nil {
		return RowResult{Row: line, Rejections: s.rejects}
	}
	raw, err := json.Marshal(body)
	if err != nil {
		s.reject("", "body", "encoding")
		return RowResult{Row: line, Rejections: s.rejects}
	}
	consent.DataCategories = cats
	d := &agency.Draft{
		Kind: referralKind, To: s.str("to"), Case: s.str("case"), Purpose: s.str("purpose"),
		DataCategories: cats, Consent: consent, Body: raw,
	}
	return RowResult{Row: line, Draft: d}
}

func (s *rowState) str(key string) string {
	v, _ := s.tree[key].(string)
	return v
}

func (s *rowState) filledUnder(prefix string) bool {
	for f := range s.filled {
		if f == prefix || strings.HasPrefix(f, prefix+".") || strings.HasPrefix(f, prefix+"[") {
			return true
		}
	}
	return false
}

// convert turns a cell into the field's JSON value: nil when the values
// table maps it to nothing; a rule when it cannot be read.
func (m *Mapping) convert(c Column, cell string) (any, string) {
	spec := m.specs[c.Field]
	if spec.kind != kindStrings {
		return m.scalar(c, spec, cell)
	}
	parts := []string{cell}
	if c.Split != "" {
		parts = strings.Split(cell, c.Split)
	}
	var out []any
	for _, p := range parts {
		if strings.TrimSpace(p) == "" {
			continue
		}
		v, rule := m.scalar(c, spec, p)
		if rule != "" {
			return nil, rule
		}
		if v == nil {
			continue
		}
		if slices.Contains(out, v) {
			return nil, RuleDuplicateInList
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, ""
	}
	return out, ""
}

func (m *Mapping) scalar(c Column, spec fieldSpec, cell string) (any, string) {
	s := strings.TrimSpace(cell)
	if len(c.Values) > 0 {
		code, ok := c.Values.code(s)
		if !ok {
			return nil, RuleValueNotInMap
		}
		if code == "" {
			return nil, ""
		}
		s = code
	}
	switch spec.kind {
	case kindInt:
		n, err := strconv.Atoi(s)
		if err != nil {
			return nil, RuleInteger
		}
		return n, ""
	case kindBool:
		return s == "true", ""
	case kindTime:
		t, err := time.Parse(dateLayout(c), s)
		if err != nil {
			return nil, RuleDateFormat
		}
		return t.UTC().Format(time.RFC3339), ""
	}
	switch {
	case spec.isDate:
		t, err := time.Parse(dateLayout(c), s)
		if err != nil {
			return nil, RuleDateFormat
		}
		return t.Format(time.DateOnly), ""
	case spec.isPhone:
		return normalizePhone(s), ""
	}
	return s, ""
}

func dateLayout(c Column) string {
	if c.Date != "" {
		return c.Date
	}
	return time.DateOnly
}

// constant returns a constant's JSON value.
func (m *Mapping) constant(path string) any {
	v := m.Constants[path]
	switch m.specs[path].kind {
	case kindInt:
		n, _ := strconv.Atoi(v)
		return n
	case kindBool:
		return v == "true"
	}
	return v
}

// normalizePhone removes the spacing people type in phone numbers and
// turns a 00 prefix into +; the contract then checks the result is E.164.
func normalizePhone(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case ' ', '.', '-', '(', ')', '\u00a0':
		default:
			b.WriteRune(r)
		}
	}
	out := b.String()
	if strings.HasPrefix(out, "00") {
		out = "+" + out[2:]
	}
	return out
}

// compact removes empty elements from lists (a mother's columns left
// blank), recording how element paths moved.
func compact(node map[string]any, path string, renames map[string]string) {
	for key, v := range node {
		p := path + "." + key
		switch x := v.(type) {
		case map[string]any:
			compact(x, p, renames)
		case []any:
			kept := x[:0:0]
			for i, e := range x {
				if e == nil {
					continue
				}
				if obj, isObj := e.(map[string]any); isObj {
					if len(obj) == 0 {
						continue
					}
					compact(obj, fmt.Sprintf("%s[%d]", p, i), renames)
				}
				if n := len(kept); n != i {
					renames[fmt.Sprintf("%s[%d]", p, n)] = fmt.Sprintf("%s[%d]", p, i)
				}
				kept = append(kept, e)
			}
			node[key] = kept
		}
	}
}

// original maps a path in the compacted tree back to the mapping's path.
func (s *rowState) original(path string) string {
	for now, was := range s.renames {
		if path == now || strings.HasPrefix(path, now+".") || strings.HasPrefix(path, now+"[") {
			return was + path[len(now):]
		}
	}
	return path
}

// consent completes the row's consent from the mapping's defaults, and
// refuses a row whose consent columns are empty.
func (s *rowState) consent() *contracts.Consent {
	if s.bad["consent"] {
		delete(s.tree, "consent")
		return nil
	}
	c, ok := s.tree["consent"].(map[string]any)
	if !ok {
		col, _ := s.m.column("consent.basis")
		s.reject(col.Name, "consent", RuleConsentMissing)
		s.bad["consent"] = true
		return nil
	}
	if d := s.m.ConsentDefaults; d != nil {
		if c["ref"] == nil && d.Ref != "" {
			if contracts.ValidReference(s.str("case")) {
				c["ref"] = strings.ReplaceAll(d.Ref, "{case}", s.str("case"))
			} else {
				s.bad["consent.ref"] = true // the case reference is reported
			}
		}
		if c["recipients"] == nil && len(d.Recipients) > 0 {
			c["recipients"] = substitute(d.Recipients, "{to}", s.str("to"))
		}
		if c["purposes"] == nil && len(d.Purposes) > 0 {
			c["purposes"] = substitute(d.Purposes, "{purpose}", s.str("purpose"))
		}
	}
	if c["age_band"] == nil {
		if band, ok := s.ageBand(c); ok {
			c["age_band"] = band
		} else {
			// The child's age or the consent date is missing or unreadable,
			// and is reported as such.
			s.bad["consent.age_band"] = true
		}
	}
	raw, _ := json.Marshal(c)
	var out contracts.Consent
	if err := json.Unmarshal(raw, &out); err != nil {
		s.reject("", "consent", "consent")
		return nil
	}
	return &out
}

func substitute(list []string, placeholder, value string) []any {
	out := make([]any, 0, len(list))
	for _, v := range list {
		if v == placeholder {
			v = value
		}
		if v != "" && !slices.Contains(out, any(v)) {
			out = append(out, v)
		}
	}
	return out
}

// ageBand derives the consent's age band from the child's birth date or
// estimated age, at the date consent was obtained.
func (s *rowState) ageBand(c map[string]any) (string, bool) {
	at, err := time.Parse(time.RFC3339, fmt.Sprint(c["obtained_at"]))
	if err != nil {
		return "", false
	}
	if b, ok := valueAt(s.tree, "body.child.birth_date"); ok {
		born, err := time.Parse(time.DateOnly, fmt.Sprint(b))
		if err != nil {
			return "", false
		}
		return importkit.AgeBand(importkit.AgeAt(born, at)), true
	}
	if a, ok := valueAt(s.tree, "body.child.estimated_age"); ok {
		if n, isInt := a.(int); isInt {
			return importkit.AgeBand(n), true
		}
	}
	return "", false
}
