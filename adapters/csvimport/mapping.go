package csvimport

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/relais-hub/relais/contracts"
)

// Mapping says how the columns of one kind of spreadsheet export feed the
// contract.
type Mapping struct {
	// Delimiter separates cells: ";" (the default, as French spreadsheet
	// software writes CSV), "," or a tab.
	Delimiter string `yaml:"delimiter"`
	// Encoding of the file: "utf-8" (the default; a byte order mark is
	// skipped) or "windows-1252" (what older spreadsheet software saves).
	Encoding string `yaml:"encoding"`
	// Categories, when set, are the only data categories the columns may
	// feed: a column of another category is a mapping error.
	Categories []string `yaml:"categories"`
	// Constants fill fields the sheet does not hold, e.g. to, purpose,
	// body.urgency, body.family[0].relationship. A constant inside a list
	// element applies only to rows where a column fills that element.
	Constants map[string]string `yaml:"constants"`
	// ConsentDefaults complete the consent of rows whose consent columns are
	// filled. They are allowed only when the sheet has consent columns.
	ConsentDefaults *ConsentDefaults `yaml:"consent_defaults"`
	// Columns lists every column of the sheet, mapped or ignored.
	Columns []Column `yaml:"columns"`

	comma rune
	specs map[string]fieldSpec // by field path
}

// Column is one column of the sheet: the field it feeds, or why it is not
// imported.
type Column struct {
	// Name is the column's header, exactly as in the sheet.
	Name string `yaml:"column"`
	// Field is the contract field: to, case, purpose, consent.<field> or
	// body.<path> ("body.family[0].phone").
	Field string `yaml:"field"`
	// Values translates cell texts to contract codes (compared after
	// trimming, then ignoring case). A code "" means "no value".
	Values ValueMap `yaml:"values"`
	// Date is the layout of date cells, in Go's notation ("02/01/2006" for
	// dd/mm/yyyy). Dates default to yyyy-mm-dd.
	Date string `yaml:"date"`
	// Split separates the values of a list cell ("Bambara, Français").
	Split string `yaml:"split"`
	// Ignore is the reason the column is deliberately not imported.
	Ignore string `yaml:"ignore"`
}

// ConsentDefaults complete a row's consent.
type ConsentDefaults struct {
	// Ref is the consent reference; "{case}" is replaced by the row's case
	// reference.
	Ref string `yaml:"ref"`
	// Recipients default to these; "{to}" is the row's recipient.
	Recipients []string `yaml:"recipients"`
	// Purposes default to these; "{purpose}" is the row's purpose.
	Purposes []string `yaml:"purposes"`
}

// ValueMap is an ordered table of cell texts and codes; mapping back picks
// the first cell text listed for a code.
type ValueMap []ValuePair

// ValuePair is one cell text and the code it stands for.
type ValuePair struct {
	Cell, Code string
}

// UnmarshalYAML reads a YAML mapping, keeping its order.
func (v *ValueMap) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: values must map cell texts to codes", n.Line)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || val.Kind != yaml.ScalarNode {
			return fmt.Errorf("line %d: values must map cell texts to codes", k.Line)
		}
		*v = append(*v, ValuePair{Cell: k.Value, Code: val.Value})
	}
	return nil
}

// code translates a cell text.
func (v ValueMap) code(cell string) (string, bool) {
	cell = strings.TrimSpace(cell)
	for _, p := range v {
		if p.Cell == cell {
			return p.Code, true
		}
	}
	for _, p := range v {
		if strings.EqualFold(p.Cell, cell) {
			return p.Code, true
		}
	}
	return "", false
}

// cell returns the first cell text listed for a code.
func (v ValueMap) cell(code string) (string, bool) {
	for _, p := range v {
		if p.Code == code {
			return p.Cell, true
		}
	}
	return "", false
}

// consentFacts are the consent fields only the sheet may state.
var consentFacts = []string{"consent.basis", "consent.given_by", "consent.obtained_at", "consent.child_assent"}

// LoadMapping reads and checks a mapping file (YAML). Unknown keys are
// refused; every problem found is reported, naming the column.
func LoadMapping(r io.Reader) (*Mapping, error) {
	var m Mapping
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	if err := dec.Decode(&m); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("mapping: the file is empty")
		}
		return nil, fmt.Errorf("mapping: %w", err)
	}
	if err := m.check(); err != nil {
		return nil, err
	}
	return &m, nil
}

// check validates the mapping and prepares it for use.
func (m *Mapping) check() error {
	var problems []string
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	switch m.Delimiter {
	case "":
		m.comma = ';'
	case "\\t", "\t":
		m.comma = '\t'
	default:
		r, size := utf8.DecodeRuneInString(m.Delimiter)
		if size != len(m.Delimiter) || r == '"' || r == '\n' || r == '\r' {
			fail("delimiter: one character other than a quote or a line break")
		}
		m.comma = r
	}
	switch strings.ToLower(m.Encoding) {
	case "", "utf-8", "utf8", "windows-1252", "cp1252":
	default:
		fail("encoding: utf-8 or windows-1252")
	}
	for i, c := range m.Categories {
		if !contracts.IsDataCategory(c) {
			fail("categories[%d]: not a data category", i)
		}
	}
	if len(m.Columns) == 0 {
		fail("columns: the mapping lists no column")
	}
	m.specs = map[string]fieldSpec{}
	names := map[string]bool{}
	fieldCols := map[string]string{}
	for i, c := range m.Columns {
		where := fmt.Sprintf("columns[%d]", i)
		if c.Name != "" {
			where = fmt.Sprintf("column %q", c.Name)
		}
		switch {
		case strings.TrimSpace(c.Name) == "":
			fail("%s: column (the header text) is required", where)
		case names[c.Name]:
			fail("%s: listed twice", where)
		}
		names[c.Name] = true
		if (c.Field == "") == (c.Ignore == "") {
			fail("%s: give either field or ignore (the reason it is not imported)", where)
			continue
		}
		if c.Ignore != "" {
			if c.Values != nil || c.Date != "" || c.Split != "" {
				fail("%s: an ignored column takes no values, date or split", where)
			}
			continue
		}
		spec, err := resolveField(c.Field)
		if err != nil {
			fail("%s: %v", where, err)
			continue
		}
		if other, dup := fieldCols[c.Field]; dup {
			fail("%s: field %s is already fed by column %q", where, c.Field, other)
		}
		fieldCols[c.Field] = c.Name
		m.specs[c.Field] = spec
		m.checkColumn(c, spec, where, fail)
	}
	m.checkConstants(fieldCols, fail)
	m.checkConsent(fieldCols, fail)
	for _, f := range []string{"case", "to", "purpose", "body.child.given_names", "body.child.sex", "body.urgency"} {
		if _, col := fieldCols[f]; !col && m.Constants[f] == "" {
			fail("%s: no column or constant gives it", f)
		}
	}
	if _, col := fieldCols["case"]; !col {
		fail("case: a column must give each row's case reference")
	}
	if len(problems) > 0 {
		return fmt.Errorf("mapping: %s", strings.Join(problems, "; "))
	}
	return nil
}

func (m *Mapping) checkColumn(c Column, spec fieldSpec, where string, fail func(string, ...any)) {
	if c.Date != "" && !spec.isDate && spec.kind != kindTime {
		fail("%s: date given for %s, which is not a date", where, c.Field)
	}
	if c.Split != "" && spec.kind != kindStrings {
		fail("%s: split given for %s, which is not a list", where, c.Field)
	}
	if spec.kind == kindBool {
		if len(c.Values) == 0 {
			fail("%s: %s is yes/no: give values mapping the cells to true and false", where, c.Field)
		}
		for _, p := range c.Values {
			if p.Code != "true" && p.Code != "false" {
				fail("%s: values of %s must be true or false", where, c.Field)
			}
		}
	}
	if len(m.Categories) > 0 && spec.category != "" && !slices.Contains(m.Categories, spec.category) {
		fail("%s: %s is %s data, not in the declared categories", where, c.Field, spec.category)
	}
	check := codeCheck(c.Field)
	for _, p := range c.Values {
		switch {
		case c.Field == "consent.basis" && p.Code == "best_interests_override":
			fail("%s: an override needs a supervisor's signed approval and cannot come from a sheet", where)
		case c.Field == "consent.basis" && p.Code == "legal_obligation" && !m.hasColumn("consent.legal_reference"):
			fail("%s: legal_obligation needs a consent.legal_reference column", where)
		case p.Code != "" && check != nil && !check(p.Code):
			fail("%s: %q is not a valid code for %s", where, p.Code, c.Field)
		}
	}
}

func (m *Mapping) checkConstants(fieldCols map[string]string, fail func(string, ...any)) {
	for _, path := range sortedKeys(m.Constants) {
		v := m.Constants[path]
		spec, err := resolveField(path)
		switch {
		case err != nil:
			fail("constants.%s: %v", path, err)
			continue
		case strings.HasPrefix(path, "consent."):
			fail("constants.%s: consent comes from the sheet's consent columns, never from a constant", path)
			continue
		case fieldCols[path] != "":
			fail("constants.%s: also fed by column %q", path, fieldCols[path])
		case spec.kind == kindStrings || spec.kind == kindTime:
			fail("constants.%s: only single values can be constants", path)
		case spec.kind == kindInt:
			if _, err := strconv.Atoi(v); err != nil {
				fail("constants.%s: not a whole number", path)
			}
		case spec.kind == kindBool:
			if v != "true" && v != "false" {
				fail("constants.%s: true or false", path)
			}
		}
		if check := codeCheck(path); check != nil && !check(v) {
			fail("constants.%s: not a valid code", path)
		}
		if len(m.Categories) > 0 && spec.category != "" && !slices.Contains(m.Categories, spec.category) {
			fail("constants.%s: %s data, not in the declared categories", path, spec.category)
		}
		m.specs[path] = spec
	}
}

// checkConsent: consent is stated by the sheet. Its facts (basis, who,
// when, the child's assent) each need a column; defaults may only complete
// a consent the sheet has.
func (m *Mapping) checkConsent(fieldCols map[string]string, fail func(string, ...any)) {
	hasConsent := false
	for f := range fieldCols {
		hasConsent = hasConsent || strings.HasPrefix(f, "consent.")
	}
	if !hasConsent {
		if m.ConsentDefaults != nil {
			fail("consent_defaults: the sheet has no consent columns; consent cannot be assumed")
		}
		fail("consent: the sheet has no consent columns; a referral needs the consent recorded with the case (%s)", strings.Join(consentFacts, ", "))
		return
	}
	for _, f := range consentFacts {
		if fieldCols[f] == "" {
			fail("%s: needs a column of the sheet", f)
		}
	}
	d := m.ConsentDefaults
	if d == nil {
		d = &ConsentDefaults{}
	}
	for _, f := range []struct {
		field string
		given bool
	}{{"consent.ref", d.Ref != ""}, {"consent.recipients", len(d.Recipients) > 0}, {"consent.purposes", len(d.Purposes) > 0}} {
		if fieldCols[f.field] == "" && !f.given {
			fail("%s: no column or default (consent_defaults) gives it", f.field)
		}
	}
	if d.Ref != "" && !strings.Contains(d.Ref, "{case}") {
		fail("consent_defaults.ref: must contain {case}, one consent record per case")
	}
	for i, r := range d.Recipients {
		if r != "{to}" && !contracts.ValidRecipient(r) {
			fail("consent_defaults.recipients[%d]: an agency id, a country code or {to}", i)
		}
	}
	for i, p := range d.Purposes {
		if p != "{purpose}" && !contracts.IsPurpose(p) {
			fail("consent_defaults.purposes[%d]: a purpose or {purpose}", i)
		}
	}
}

func (m *Mapping) hasColumn(field string) bool {
	for _, c := range m.Columns {
		if c.Field == field {
			return true
		}
	}
	return false
}

// column returns the column that feeds a field path, looking through list
// indices and up to parent fields ("body.child.languages[1]" → the
// languages column).
func (m *Mapping) column(path string) (Column, bool) {
	for p := path; p != ""; p = parentPath(p) {
		for _, c := range m.Columns {
			if c.Field == p {
				return c, true
			}
		}
	}
	return Column{}, false
}

// parentPath drops the last segment of a path.
func parentPath(p string) string {
	if strings.HasSuffix(p, "]") {
		return p[:strings.LastIndexByte(p, '[')]
	}
	if i := strings.LastIndexAny(p, ".["); i >= 0 {
		return p[:i]
	}
	return ""
}

// codeCheck returns the contract's check for the codes of a field, when it
// has a closed vocabulary or a grammar.
func codeCheck(path string) func(string) bool {
	switch path {
	case "to":
		return contracts.ValidAgencyID
	case "case":
		return contracts.ValidReference
	case "purpose":
		return contracts.IsPurpose
	}
	rules := map[string]func(string) bool{
		"country":     contracts.ValidCountry,
		"agency_id":   contracts.ValidAgencyID,
		"recipient":   contracts.ValidRecipient,
		"language":    regexp.MustCompile(`^[a-z]{2,3}$`).MatchString,
		"subdivision": regexp.MustCompile(`^[A-Z]{2}-[A-Z0-9]{1,3}$`).MatchString,
	}
	for _, v := range contracts.Vocabularies() {
		rules[v.Name()] = v.Has
	}
	tag := validateTag(path)
	if i := strings.LastIndex(tag, "dive,"); i >= 0 {
		tag = tag[i+len("dive,"):]
	}
	for _, rule := range strings.Split(tag, ",") {
		if f, ok := rules[rule]; ok {
			return f
		}
	}
	return nil
}

// validateTag returns the validate tag of the field a path reaches.
func validateTag(path string) string {
	root, rest, _ := strings.Cut(path, ".")
	t := reflectRoot(root)
	if t == nil {
		return ""
	}
	tag := ""
	for _, seg := range splitPath(rest) {
		for t.Kind() == reflect.Pointer || (seg.index >= 0 && t.Kind() == reflect.Slice) {
			t = t.Elem()
		}
		if seg.index >= 0 {
			continue
		}
		if t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return ""
		}
		f, ok := fieldByJSONName(t, seg.key)
		if !ok {
			return ""
		}
		tag = f.Tag.Get("validate")
		t = f.Type
	}
	return tag
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
