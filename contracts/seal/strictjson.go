package seal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// member is one name/value pair of a JSON object, in document order.
type member struct {
	Name  string
	Value json.RawMessage
}

// object is a JSON object decoded without losing what a lenient decoder
// would hide: member order, and the fact that a name appeared twice.
type object []member

// decodeObject decodes b as exactly one JSON object. It refuses invalid
// UTF-8, duplicate member names (compared after unescaping, so "alg" and
// "\u0061lg" collide) and trailing data. Header parsers disagree about
// which duplicate wins; refusing duplicates removes the disagreement.
func decodeObject(b []byte) (object, error) {
	if !utf8.Valid(b) {
		return nil, errors.New("not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not a JSON object")
	}
	var obj object
	seen := make(map[string]struct{})
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("not valid JSON: %w", err)
		}
		name, ok := tok.(string)
		if !ok {
			return nil, errors.New("not valid JSON: member name is not a string")
		}
		if _, dup := seen[name]; dup {
			return nil, fmt.Errorf("duplicate member %s", quoteName(name))
		}
		seen[name] = struct{}{}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("not valid JSON: %w", err)
		}
		obj = append(obj, member{Name: name, Value: raw})
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("not valid JSON: data after the object")
	}
	return obj, nil
}

// get returns the raw value of the member called name.
func (o object) get(name string) (json.RawMessage, bool) {
	for _, m := range o {
		if m.Name == name {
			return m.Value, true
		}
	}
	return nil, false
}

// firstOutside returns the first member name not in allowed.
func (o object) firstOutside(allowed ...string) (string, bool) {
next:
	for _, m := range o {
		for _, a := range allowed {
			if m.Name == a {
				continue next
			}
		}
		return m.Name, true
	}
	return "", false
}

// stringMember decodes the member called name as a JSON string. present
// reports whether the member exists; a present member that is not a string
// is an error.
func (o object) stringMember(name string) (value string, present bool, err error) {
	raw, ok := o.get(name)
	if !ok {
		return "", false, nil
	}
	if len(raw) == 0 || raw[0] != '"' {
		return "", true, fmt.Errorf("member %s is not a string", quoteName(name))
	}
	if err := json.Unmarshal(raw, &value); err != nil {
		return "", true, fmt.Errorf("member %s: %w", quoteName(name), err)
	}
	return value, true, nil
}

// quoteName renders an attacker-chosen name or value for an error detail:
// quoted (so control characters are escaped) and truncated, so that a
// detail stays short and never carries a payload smuggled into a header.
func quoteName(s string) string {
	const maxRunes = 40
	if utf8.RuneCountInString(s) > maxRunes {
		r := []rune(s)
		return fmt.Sprintf("%q…", string(r[:maxRunes]))
	}
	return fmt.Sprintf("%q", s)
}
