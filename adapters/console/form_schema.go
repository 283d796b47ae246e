package console

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/relais-hub/relais/contracts"
)

// The compose form is generated from the contract: the kind's JSON Schema
// (contracts/schema) gives the fields, which are required, their lengths
// and bounds, and which vocabulary each coded field takes; the vocabularies
// (contracts) give the choices and their labels. A field added to the
// contract appears in the form without touching a template.

// schemaNode is one node of a JSON Schema, as much as the form needs.
type schemaNode struct {
	Ref        string                 `json:"$ref"`
	Type       string                 `json:"type"`
	Desc       string                 `json:"description"`
	Required   []string               `json:"required"`
	Properties map[string]*schemaNode `json:"properties"`
	Items      *schemaNode            `json:"items"`
	Defs       map[string]*schemaNode `json:"$defs"`
	Enum       []string               `json:"enum"`
	MaxLength  int                    `json:"maxLength"`
	MaxItems   int                    `json:"maxItems"`
	Minimum    *int                   `json:"minimum"`
	Maximum    *int                   `json:"maximum"`
	Order      []string               `json:"-"`
}

// UnmarshalJSON keeps the properties in the schema's order: the form
// follows the order the contract's authors chose.
func (n *schemaNode) UnmarshalJSON(raw []byte) error {
	type plain schemaNode
	if err := json.Unmarshal(raw, (*plain)(n)); err != nil {
		return err
	}
	var shape struct {
		Properties json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(raw, &shape); err != nil || len(shape.Properties) == 0 {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(shape.Properties)))
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		switch v := tok.(type) {
		case json.Delim:
			if v == '{' || v == '[' {
				depth++
			} else {
				depth--
			}
		case string:
			if depth == 1 {
				n.Order = append(n.Order, v)
				var skip json.RawMessage
				if err := dec.Decode(&skip); err != nil {
					return err
				}
			}
		}
	}
}

// schemas are the parsed body schemas, by file name.
var (
	schemaMu    sync.Mutex
	schemaCache = map[string]*schemaNode{}
)

func loadSchema(name string) (*schemaNode, error) {
	schemaMu.Lock()
	defer schemaMu.Unlock()
	if s, ok := schemaCache[name]; ok {
		return s, nil
	}
	raw, err := fs.ReadFile(contracts.SchemaFS, name)
	if err != nil {
		return nil, fmt.Errorf("schema %s: %w", name, err)
	}
	var s schemaNode
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("schema %s: %w", name, err)
	}
	schemaCache[name] = &s
	return &s, nil
}

// vocabularies by their schema definition name ("sex", "urgency", …).
func vocabulary(name string) (contracts.Vocabulary, bool) {
	for _, v := range contracts.Vocabularies() {
		if v.Name() == name {
			return v, true
		}
	}
	return contracts.Vocabulary{}, false
}

// Field kinds of the generated form.
const (
	fieldText     = "text"
	fieldTextarea = "textarea"
	fieldSelect   = "select"
	fieldChoices  = "choices" // several codes of a vocabulary
	fieldLines    = "lines"   // several short texts, one per line
	fieldNumber   = "number"
	fieldDate     = "date"
	fieldTel      = "tel"
	fieldCountry  = "country"
	fieldGroup    = "group"
	fieldList     = "list" // repeated groups
)

// formField is one field of the generated form.
type formField struct {
	Path     string // JSON path without indexes: "family.relationship"
	Name     string // form name: "body.family.0.relationship"
	ID       string // HTML id
	Kind     string
	Label    string
	Hint     string
	Required bool
	Max      int
	Min      *int
	MaxNum   *int
	Options  []option
	Value    string
	// Values are every value of the field (several codes, several lines).
	Values   []string
	Invalid  bool
	Children []formField
	Rows     [][]formField
	// More is the name of the button that adds a row to a list, and
	// MoreLabel its text.
	More      string
	MoreLabel string
}

// Filled reports whether the field, or one of its children, has a value.
func (f formField) Filled() bool {
	switch f.Kind {
	case fieldGroup:
		for _, c := range f.Children {
			if c.Filled() {
				return true
			}
		}
		return false
	case fieldList:
		for _, row := range f.Rows {
			for _, c := range row {
				if c.Filled() {
					return true
				}
			}
		}
		return false
	}
	return len(f.Values) > 0 && strings.TrimSpace(strings.Join(f.Values, "")) != ""
}

// Display is the field's value for reading: the labels of coded values.
func (f formField) Display() string {
	if len(f.Options) > 0 {
		var labels []string
		for _, o := range f.Options {
			if o.Selected {
				labels = append(labels, o.Label)
			}
		}
		return strings.Join(labels, ", ")
	}
	return strings.Join(f.Values, ", ")
}

// Text is the field's values one per line, for a textarea of lines.
func (f formField) Text() string { return strings.Join(f.Values, "\n") }

type option struct {
	Code, Label string
	Selected    bool
}

// skippedFields are left out of the form: a photograph needs a file
// upload and the 64 KiB limit of a message, which the form does not offer.
var skippedFields = map[string]bool{"photo": true}

// resolve follows a node's $ref within the body schema or into the shared
// definitions; it returns the node and the name of the definition reached.
func resolve(n *schemaNode, doc *schemaNode) (*schemaNode, string, error) {
	name := ""
	for n.Ref != "" {
		file, frag, _ := strings.Cut(n.Ref, "#")
		target := doc
		if file != "" {
			d, err := loadSchema(file)
			if err != nil {
				return nil, "", err
			}
			target = d
		}
		def := strings.TrimPrefix(frag, "/$defs/")
		next, ok := target.Defs[def]
		if !ok {
			return nil, "", fmt.Errorf("schema: %s not found", n.Ref)
		}
		merged := *next
		if n.MaxLength > 0 {
			merged.MaxLength = n.MaxLength
		}
		if n.Desc != "" && merged.Desc == "" {
			merged.Desc = n.Desc
		}
		n, name = &merged, def
		if file != "" {
			doc = target
		}
	}
	return n, name, nil
}

// formBuilder builds the fields of one form for one language, with the
// values of a draft.
type formBuilder struct {
	l       Lang
	values  url.Values
	invalid map[string]bool
	// addRow names the list whose "add a row" button was pressed.
	addRow string
}

// bodyFields builds the fields of kind's body schema.
func (b *formBuilder) bodyFields(kind string) ([]formField, error) {
	doc, err := loadSchema(contracts.BodySchemaName(kind))
	if err != nil {
		return nil, err
	}
	return b.objectFields(doc, doc, "", "body")
}

func (b *formBuilder) objectFields(n, doc *schemaNode, path, name string) ([]formField, error) {
	var out []formField
	for _, prop := range n.Order {
		if skippedFields[prop] {
			continue
		}
		child := n.Properties[prop]
		p := joinPath(path, prop)
		f, err := b.field(child, doc, p, name+"."+prop, slices.Contains(n.Required, prop))
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

func joinPath(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

func (b *formBuilder) field(raw, doc *schemaNode, path, name string, required bool) (formField, error) {
	n, def, err := resolve(raw, doc)
	if err != nil {
		return formField{}, err
	}
	if raw.Ref != "" && strings.HasPrefix(raw.Ref, "#") {
		// A local definition (child, location, …) is an object of the
		// body schema itself.
		def = ""
	}
	f := formField{Path: path, Name: name, ID: strings.NewReplacer(".", "-").Replace(name), Required: required,
		Max: n.MaxLength, Min: n.Minimum, MaxNum: n.Maximum, Invalid: b.invalid[name]}
	f.Label, f.Hint = b.labels(path, n.Desc)
	f.Value, f.Values = b.values.Get(name), b.values[name]
	switch {
	case n.Type == "object":
		f.Kind = fieldGroup
		f.Children, err = b.objectFields(n, doc, path, name)
	case n.Type == "array":
		return b.arrayField(f, n, doc)
	case n.Type == "integer":
		f.Kind = fieldNumber
	case def == "country":
		f.Kind = fieldCountry
	case len(n.Enum) > 0:
		f.Kind, f.Options = fieldSelect, b.options(def, n.Enum, []string{f.Value})
	case def == "text":
		f.Kind = fieldTextarea
	case def == "iso_date":
		f.Kind = fieldDate
	case def == "phone":
		f.Kind = fieldTel
	default:
		f.Kind = fieldText
	}
	return f, err
}

func (b *formBuilder) arrayField(f formField, n, doc *schemaNode) (formField, error) {
	items, def, err := resolve(n.Items, doc)
	if err != nil {
		return f, err
	}
	switch {
	case items.Type == "object":
		f.Kind, f.More, f.MoreLabel = fieldList, "add:"+f.Name, b.l.T("compose.add_row", f.Label)
		rows := b.rowCount(f.Name)
		for i := range rows {
			children, err := b.objectFields(items, doc, f.Path, f.Name+"."+strconv.Itoa(i))
			if err != nil {
				return f, err
			}
			f.Rows = append(f.Rows, children)
		}
	case len(items.Enum) > 0:
		f.Kind, f.Options = fieldChoices, b.options(def, items.Enum, b.values[f.Name])
	default:
		f.Kind = fieldLines
	}
	return f, nil
}

// rowCount is how many rows a list shows: those the draft filled in, one
// empty row to fill, and one more when "add a row" was pressed.
func (b *formBuilder) rowCount(name string) int {
	rows := 0
	prefix := name + "."
	for k := range b.values {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok {
			continue
		}
		idx, _, _ := strings.Cut(rest, ".")
		if i, err := strconv.Atoi(idx); err == nil && i+1 > rows {
			rows = i + 1
		}
	}
	if rows == 0 {
		rows = 1
	}
	if b.addRow == name {
		rows++
	}
	return min(rows, 30)
}

func (b *formBuilder) options(vocab string, codes []string, selected []string) []option {
	v, ok := vocabulary(vocab)
	out := make([]option, 0, len(codes))
	for _, c := range codes {
		label := c
		if ok {
			label = b.l.Term(v, c)
		}
		out = append(out, option{Code: c, Label: label, Selected: slices.Contains(selected, c)})
	}
	return out
}

// labels are a field's label and hint: the catalogue's "field.<path>",
// else the schema's description, else the JSON name made readable.
func (b *formBuilder) labels(path, desc string) (string, string) {
	key := "field." + path
	hint := ""
	if b.l.Has(key+".hint") || French.Has(key+".hint") {
		hint = b.l.T(key + ".hint")
	}
	if b.l.Has(key) || French.Has(key) {
		return b.l.T(key), hint
	}
	last := path[strings.LastIndex(path, ".")+1:]
	label := strings.ReplaceAll(last, "_", " ")
	if hint == "" && b.l == English {
		hint = desc
	}
	return strings.ToUpper(label[:1]) + label[1:], hint
}

// bodyFromForm turns the submitted form back into a body, following the
// same fields: empty inputs are left out, so optional fields stay absent.
func bodyFromForm(fields []formField, values url.Values) (map[string]any, []string) {
	out := map[string]any{}
	var bad []string
	for _, f := range fields {
		key := f.Path[strings.LastIndex(f.Path, ".")+1:]
		switch f.Kind {
		case fieldGroup:
			child, errs := bodyFromForm(f.Children, values)
			bad = append(bad, errs...)
			if len(child) > 0 {
				out[key] = child
			}
		case fieldList:
			var rows []any
			for _, row := range f.Rows {
				child, errs := bodyFromForm(row, values)
				bad = append(bad, errs...)
				if len(child) > 0 {
					rows = append(rows, child)
				}
			}
			if len(rows) > 0 {
				out[key] = rows
			}
		case fieldChoices:
			if v := values[f.Name]; len(v) > 0 {
				out[key] = v
			}
		case fieldLines:
			var lines []string
			for _, line := range strings.FieldsFunc(values.Get(f.Name), func(r rune) bool { return r == '\n' || r == ',' }) {
				if line = strings.TrimSpace(line); line != "" {
					lines = append(lines, line)
				}
			}
			if len(lines) > 0 {
				out[key] = lines
			}
		case fieldNumber:
			if v := strings.TrimSpace(values.Get(f.Name)); v != "" {
				n, err := strconv.Atoi(v)
				if err != nil {
					bad = append(bad, f.Name)
					continue
				}
				out[key] = n
			}
		case fieldCountry:
			if v := strings.ToLower(strings.TrimSpace(values.Get(f.Name))); v != "" {
				out[key] = v
			}
		default:
			if v := strings.TrimSpace(values.Get(f.Name)); v != "" {
				out[key] = v
			}
		}
	}
	return out, bad
}

// formNameOf maps a validator's field path ("family[0].relationship") to
// the form name of its input.
func formNameOf(prefix, path string) string {
	r := strings.NewReplacer("[", ".", "]", "")
	return prefix + "." + r.Replace(path)
}
