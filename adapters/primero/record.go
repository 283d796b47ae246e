package primero

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// Case is a Primero case record: the "data" object of
// GET /api/v2/cases/:id, field name to value, as decoded from JSON (numbers
// stay json.Number so that ages and ids are read exactly).
type Case map[string]any

// Transition is a Primero transition record (a Referral or a Transfer), as
// GET /api/v2/cases/:id/referrals or /transfers returns each item.
type Transition map[string]any

// Type is the transition's type: "Referral" or "Transfer" (Primero also has
// "Assign" and "TransferRequest", which are not sent across agencies).
func (t Transition) Type() string {
	s, _ := asString(t["type"])
	return s
}

// DecodeCase reads a case from Primero API JSON: either the API answer
// {"data": {...}} or the bare record.
func DecodeCase(r io.Reader) (Case, error) {
	m, err := decodeRecord(r, "case")
	return Case(m), err
}

// DecodeTransition reads a transition from Primero API JSON: either
// {"data": {...}} or the bare record.
func DecodeTransition(r io.Reader) (Transition, error) {
	m, err := decodeRecord(r, "transition")
	return Transition(m), err
}

func decodeRecord(r io.Reader, what string) (map[string]any, error) {
	raw, err := io.ReadAll(io.LimitReader(r, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("reading the %s: %w", what, err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		// The decoder's message quotes no record content, only offsets.
		return nil, fmt.Errorf("the %s is not a JSON object: %w", what, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("the %s has trailing data after the JSON object", what)
	}
	if data, ok := m["data"].(map[string]any); ok && len(m) == 1 {
		return data, nil
	}
	return m, nil
}

// At returns the value at a field path such as "name_first",
// "family_details_section[1].relation_name" or "nationality[0]".
func (c Case) At(path string) (any, bool) { return valueAt(map[string]any(c), path) }

// Fields lists the record's leaf field paths in a stable order: a subform's
// fields are listed one by one ("services_section[0].service_type") and so
// are the values of a multi-select ("nationality[0]"). An empty value
// (null, "", [] or {}) is a leaf of its own.
func (c Case) Fields() []string { return leafPaths("", map[string]any(c)) }

// Fields lists the transition's leaf field paths (see Case.Fields).
func (t Transition) Fields() []string { return leafPaths("", map[string]any(t)) }

// leafPaths walks v and returns the paths of its leaves under prefix, map
// keys in sorted order.
func leafPaths(prefix string, v any) []string {
	var out []string
	walkLeaves(prefix, v, func(path string, _ any) { out = append(out, path) })
	return out
}

func walkLeaves(prefix string, v any, visit func(path string, value any)) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 {
			visit(prefix, x)
			return
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			walkLeaves(joinPath(prefix, k), x[k], visit)
		}
	case []any:
		if len(x) == 0 {
			visit(prefix, x)
			return
		}
		for i, e := range x {
			walkLeaves(fmt.Sprintf("%s[%d]", prefix, i), e, visit)
		}
	default:
		visit(prefix, x)
	}
}

func joinPath(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// valueAt follows a path of keys and [i] indices.
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
			if err != nil {
				n = -2 // matches nothing
			}
			segs = append(segs, pathSeg{index: n})
			part = part[open+end+1:]
		}
	}
	return segs
}
