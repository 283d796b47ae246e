package contracts

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// maxJSONDepth bounds nesting. No protocol document comes close; the bound
// keeps hostile input from costing deep recursion.
const maxJSONDepth = 32

// jsonType is the JSON type of a parsed value.
type jsonType uint8

const (
	jsonNull jsonType = iota
	jsonBool
	jsonNumber
	jsonString
	jsonArray
	jsonObject
)

func (t jsonType) String() string {
	return [...]string{"null", "boolean", "number", "string", "array", "object"}[t]
}

// jsonValue is a parsed JSON value that keeps what encoding/json forgets:
// member order, and (by construction) that no member name repeats. The
// strict decoder checks documents against Go types on this tree before
// encoding/json ever sees them.
type jsonValue struct {
	typ     jsonType
	text    string // string value, or number literal as written
	members []jsonMember
	items   []*jsonValue
}

type jsonMember struct {
	name  string
	value *jsonValue
}

func (v *jsonValue) member(name string) (*jsonValue, bool) {
	for _, m := range v.members {
		if m.name == name {
			return m.value, true
		}
	}
	return nil, false
}

// syntaxProblem explains why a document is not one well-formed JSON value.
// It never quotes the input.
type syntaxProblem struct {
	reason string
	// duplicate is the path of a repeated member name, when that is why.
	duplicate string
}

func (e *syntaxProblem) Error() string { return e.reason }

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// parseJSON parses b as exactly one JSON value: valid UTF-8, no byte order
// mark, no duplicate member names at any depth, nothing but whitespace after
// the value.
func parseJSON(b []byte) (*jsonValue, error) {
	if bytes.HasPrefix(b, utf8BOM) {
		return nil, &syntaxProblem{reason: "starts with a byte order mark"}
	}
	if !utf8.Valid(b) {
		return nil, &syntaxProblem{reason: "is not valid UTF-8"}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	p := &treeParser{dec: dec}
	v, err := p.value("", 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &syntaxProblem{reason: fmt.Sprintf("has data after the JSON value (byte offset %d)", dec.InputOffset())}
	}
	return v, nil
}

type treeParser struct {
	dec *json.Decoder
}

func (p *treeParser) syntaxError(err error) error {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return &syntaxProblem{reason: fmt.Sprintf("has a syntax error at byte offset %d", se.Offset)}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &syntaxProblem{reason: "ends before the JSON value is complete"}
	default:
		// Other decoder errors may quote input; keep only the offset.
		return &syntaxProblem{reason: fmt.Sprintf("is not valid JSON (byte offset %d)", p.dec.InputOffset())}
	}
}

func (p *treeParser) value(path string, depth int) (*jsonValue, error) {
	tok, err := p.dec.Token()
	if err != nil {
		return nil, p.syntaxError(err)
	}
	return p.valueFrom(tok, path, depth)
}

func (p *treeParser) valueFrom(tok json.Token, path string, depth int) (*jsonValue, error) {
	switch t := tok.(type) {
	case nil:
		return &jsonValue{typ: jsonNull}, nil
	case bool:
		if t {
			return &jsonValue{typ: jsonBool, text: "true"}, nil
		}
		return &jsonValue{typ: jsonBool, text: "false"}, nil
	case json.Number:
		return &jsonValue{typ: jsonNumber, text: string(t)}, nil
	case string:
		return &jsonValue{typ: jsonString, text: t}, nil
	case json.Delim:
		if depth >= maxJSONDepth {
			return nil, &syntaxProblem{reason: fmt.Sprintf("nests deeper than %d levels", maxJSONDepth)}
		}
		switch t {
		case '{':
			return p.object(path, depth+1)
		case '[':
			return p.array(path, depth+1)
		}
	}
	return nil, &syntaxProblem{reason: fmt.Sprintf("is not valid JSON (byte offset %d)", p.dec.InputOffset())}
}

func (p *treeParser) object(path string, depth int) (*jsonValue, error) {
	obj := &jsonValue{typ: jsonObject}
	seen := map[string]bool{}
	for {
		tok, err := p.dec.Token()
		if err != nil {
			return nil, p.syntaxError(err)
		}
		if d, ok := tok.(json.Delim); ok && d == '}' {
			return obj, nil
		}
		name, ok := tok.(string)
		if !ok {
			return nil, &syntaxProblem{reason: fmt.Sprintf("is not valid JSON (byte offset %d)", p.dec.InputOffset())}
		}
		memberPath := joinPath(path, name)
		if seen[name] {
			return nil, &syntaxProblem{reason: "repeats member " + memberPath, duplicate: memberPath}
		}
		seen[name] = true
		v, err := p.value(memberPath, depth)
		if err != nil {
			return nil, err
		}
		obj.members = append(obj.members, jsonMember{name: name, value: v})
	}
}

func (p *treeParser) array(path string, depth int) (*jsonValue, error) {
	arr := &jsonValue{typ: jsonArray}
	for {
		tok, err := p.dec.Token()
		if err != nil {
			return nil, p.syntaxError(err)
		}
		if d, ok := tok.(json.Delim); ok && d == ']' {
			return arr, nil
		}
		v, err := p.valueFrom(tok, indexPath(path, len(arr.items)), depth)
		if err != nil {
			return nil, err
		}
		arr.items = append(arr.items, v)
	}
}
