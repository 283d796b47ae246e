package csvimport

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/relais-hub/relais/contracts"
)

// fieldKind is the shape of a contract field a column can feed.
type fieldKind int

const (
	kindString fieldKind = iota
	kindInt
	kindBool
	kindTime
	kindStrings
)

// fieldSpec describes a contract field reached by a mapping path.
type fieldSpec struct {
	kind     fieldKind
	isDate   bool   // an ISO calendar date held as text
	isPhone  bool   // an E.164 number
	category string // its data category ("" for metadata)
}

// envelopeFields are the draft fields outside the body a sheet may feed.
var envelopeFields = map[string]fieldSpec{
	"to":      {kind: kindString},
	"case":    {kind: kindString},
	"purpose": {kind: kindString},
}

// consentComputed are consent fields the importer never takes from a
// sheet: data_categories is what the body uses, and an override needs a
// supervisor's signed approval no spreadsheet can carry.
var consentComputed = map[string]bool{"data_categories": true, "override": true}

// resolveField checks a mapping path ("body.family[0].phone",
// "consent.given_by", "to") and describes the field it reaches.
func resolveField(path string) (fieldSpec, error) {
	if spec, ok := envelopeFields[path]; ok {
		return spec, nil
	}
	root, rest, _ := strings.Cut(path, ".")
	t := reflectRoot(root)
	switch root {
	case "body":
	case "consent":
		first, _, _ := strings.Cut(rest, ".")
		if consentComputed[strings.SplitN(first, "[", 2)[0]] {
			return fieldSpec{}, fmt.Errorf("%s is not taken from a sheet", path)
		}
	default:
		return fieldSpec{}, fmt.Errorf("%s: fields are to, case, purpose, consent.<field> or body.<field>", path)
	}
	if rest == "" {
		return fieldSpec{}, fmt.Errorf("%s names no field", path)
	}
	var (
		category string
		validate string
	)
	segs := splitPath(rest)
	for _, seg := range segs {
		if seg.index >= 0 {
			if t.Kind() != reflect.Slice {
				return fieldSpec{}, fmt.Errorf("%s: [%d] on a field that is not a list", path, seg.index)
			}
			t = t.Elem()
			continue
		}
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct {
			return fieldSpec{}, fmt.Errorf("%s: the list before %s needs an index ([0])", path, seg.key)
		}
		if t.Kind() != reflect.Struct {
			return fieldSpec{}, fmt.Errorf("%s: %s is below a field that has none", path, seg.key)
		}
		f, ok := fieldByJSONName(t, seg.key)
		if !ok {
			return fieldSpec{}, fmt.Errorf("%s: no contract field %s", path, seg.key)
		}
		if tag, has := f.Tag.Lookup("relais"); has {
			category = tag
		}
		validate = f.Tag.Get("validate")
		t = f.Type
	}
	spec := fieldSpec{category: category}
	if spec.category == "-" {
		spec.category = ""
	}
	if root == "consent" {
		spec.category = ""
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == reflect.TypeOf(time.Time{}):
		spec.kind = kindTime
	case t.Kind() == reflect.String:
		spec.kind = kindString
	case t.Kind() == reflect.Int:
		spec.kind = kindInt
	case t.Kind() == reflect.Bool:
		spec.kind = kindBool
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		spec.kind = kindStrings
	default:
		return fieldSpec{}, fmt.Errorf("%s is a group of fields, not a field: map its fields", path)
	}
	spec.isDate = strings.Contains(validate, "iso_date")
	spec.isPhone = strings.Contains(validate, "phone")
	return spec, nil
}

// reflectRoot is the contract type under a mapping path's root.
func reflectRoot(root string) reflect.Type {
	switch root {
	case "body":
		return reflect.TypeOf(contracts.ReferralRequest{})
	case "consent":
		return reflect.TypeOf(contracts.Consent{})
	}
	return nil
}

func fieldByJSONName(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if n, _, _ := strings.Cut(f.Tag.Get("json"), ","); n == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

type pathSeg struct {
	key   string
	index int // -1 for a key
}

// splitPath turns "a.b[2].c" into a, b, [2], c.
func splitPath(path string) []pathSeg {
	var segs []pathSeg
	for _, part := range strings.Split(path, ".") {
		for part != "" {
			open := strings.IndexByte(part, '[')
			if open < 0 {
				segs = append(segs, pathSeg{key: part, index: -1})
				break
			}
			if open > 0 {
				segs = append(segs, pathSeg{key: part[:open], index: -1})
			}
			end := strings.IndexByte(part[open:], ']')
			if end < 0 {
				segs = append(segs, pathSeg{key: part[open:], index: -1})
				break
			}
			n, err := strconv.Atoi(part[open+1 : open+end])
			if err != nil || n < 0 {
				n = 1 << 30 // out of any range
			}
			segs = append(segs, pathSeg{index: n})
			part = part[open+end+1:]
		}
	}
	return segs
}

// elementPrefix returns the path of the list element a path lies in
// ("body.family[0].phone" → "body.family[0]"), or "".
func elementPrefix(path string) string {
	if i := strings.LastIndexByte(path, ']'); i >= 0 && i < len(path)-1 {
		return path[:i+1]
	}
	return ""
}

// setPath stores v in a JSON tree at path, creating objects and list
// elements as needed.
func setPath(tree map[string]any, path string, v any) {
	segs := splitPath(path)
	var cur any = tree
	for i, seg := range segs {
		last := i == len(segs)-1
		next := func() any {
			if last {
				return v
			}
			if segs[i+1].index >= 0 {
				return []any{}
			}
			return map[string]any{}
		}
		switch node := cur.(type) {
		case map[string]any:
			child, ok := node[seg.key]
			if !ok || last {
				child = next()
				node[seg.key] = child
			}
			cur = child
			if !last && segs[i+1].index >= 0 {
				// Lists are grown in place through their parent.
				list := child.([]any)
				idx := segs[i+1].index
				for len(list) <= idx {
					list = append(list, nil)
				}
				node[seg.key] = list
				cur = &listRef{parent: node, key: seg.key}
			}
		case *listRef:
			list := node.parent[node.key].([]any)
			elem := list[seg.index]
			if elem == nil || last {
				if last {
					elem = v
				} else {
					elem = map[string]any{}
				}
				list[seg.index] = elem
			}
			cur = elem
		}
	}
}

// listRef points at a list held in a parent object, so it can be grown.
type listRef struct {
	parent map[string]any
	key    string
}

// valueAt follows a path of keys and [i] indices in a JSON tree.
func valueAt(root any, path string) (any, bool) {
	cur := root
	for _, seg := range splitPath(path) {
		switch x := cur.(type) {
		case map[string]any:
			if seg.index >= 0 {
				return nil, false
			}
			v, ok := x[seg.key]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			if seg.index < 0 || seg.index >= len(x) {
				return nil, false
			}
			cur = x[seg.index]
		default:
			return nil, false
		}
	}
	return cur, true
}
