package contracts

import (
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// shownNamePattern is what a member name must look like to be quoted in a
// refusal. Anything else is masked: a sender who puts data in a member name
// must not get it echoed into logs.
var shownNamePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,40}$`)

// maskedName stands for a member name that is not shown.
const maskedName = "<name>"

func joinPath(parent, name string) string {
	if !shownNamePattern.MatchString(name) {
		name = maskedName
	}
	if parent == "" {
		return name
	}
	return parent + "." + name
}

func indexPath(parent string, i int) string {
	return parent + "[" + strconv.Itoa(i) + "]"
}

var (
	timeType       = reflect.TypeFor[time.Time]()
	rawMessageType = reflect.TypeFor[json.RawMessage]()
	integerLiteral = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)
)

// wireField is one JSON member of a Go struct, as the strict decoder sees it.
type wireField struct {
	name string
	typ  reflect.Type
	// optional fields (omitempty/omitzero) may be absent; the others must be
	// present.
	optional bool
	// dropsZero: the field is optional and not a pointer, so a present zero
	// value would vanish on re-encoding; such a value is refused.
	dropsZero bool
}

var wireFieldsCache sync.Map // reflect.Type -> []wireField

func wireFields(t reflect.Type) []wireField {
	if cached, ok := wireFieldsCache.Load(t); ok {
		return cached.([]wireField)
	}
	var fields []wireField
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		optional := hasOption(opts, "omitempty") || hasOption(opts, "omitzero")
		fields = append(fields, wireField{
			name:      name,
			typ:       f.Type,
			optional:  optional,
			dropsZero: optional && f.Type.Kind() != reflect.Pointer,
		})
	}
	wireFieldsCache.Store(t, fields)
	return fields
}

func hasOption(opts, want string) bool {
	for opt := range strings.SplitSeq(opts, ",") {
		if opt == want {
			return true
		}
	}
	return false
}

// shapeCheck compares a parsed document with the Go type it will be decoded
// into, strictly: exact member names (encoding/json would match them
// case-insensitively), no unknown members, no nulls, required members
// present, optional members not empty, JSON types that fit the Go types
// (including integer range). What it accepts, encoding/json decodes without
// error or loss.
type shapeCheck struct {
	unknown []string
	issues  []fieldIssue
}

func (c *shapeCheck) issue(path, rule string) {
	c.issues = append(c.issues, fieldIssue{Path: path, Rule: rule})
}

func (c *shapeCheck) check(v *jsonValue, t reflect.Type, path string) {
	if v.typ == jsonNull {
		c.issue(path, "not_null")
		return
	}
	switch {
	case t == rawMessageType:
		// Opaque here (the envelope body); checked by its own rules.
		return
	case t == timeType:
		if v.typ != jsonString || !validUTCTime(v.text) {
			c.issue(path, "utc_time")
		}
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		c.check(v, t.Elem(), path)
	case reflect.Struct:
		c.checkObject(v, t, path)
	case reflect.Slice:
		if v.typ != jsonArray {
			c.issue(path, "type=array")
			return
		}
		for i, item := range v.items {
			c.check(item, t.Elem(), indexPath(path, i))
		}
	case reflect.String:
		if v.typ != jsonString {
			c.issue(path, "type=string")
		}
	case reflect.Bool:
		if v.typ != jsonBool {
			c.issue(path, "type=boolean")
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if v.typ != jsonNumber || !fitsInt(v.text, t.Bits()) {
			c.issue(path, "type=integer")
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if v.typ != jsonNumber || !fitsUint(v.text, t.Bits()) {
			c.issue(path, "type=integer")
		}
	default:
		// Protocol types use none of the other kinds; refusing keeps a
		// careless addition from silently accepting anything.
		c.issue(path, "unsupported_type")
	}
}

func (c *shapeCheck) checkObject(v *jsonValue, t reflect.Type, path string) {
	if v.typ != jsonObject {
		c.issue(path, "type=object")
		return
	}
	fields := wireFields(t)
	for _, m := range v.members {
		memberPath := joinPath(path, m.name)
		f, ok := findWireField(fields, m.name)
		if !ok {
			c.unknown = append(c.unknown, memberPath)
			continue
		}
		before := len(c.issues)
		c.check(m.value, f.typ, memberPath)
		if len(c.issues) == before && f.dropsZero && isZeroJSON(m.value, f.typ) {
			c.issue(memberPath, "empty")
		}
	}
	for _, f := range fields {
		if f.optional {
			continue
		}
		if _, present := v.member(f.name); !present {
			c.issue(joinPath(path, f.name), "required")
		}
	}
}

func findWireField(fields []wireField, name string) (wireField, bool) {
	for _, f := range fields {
		if f.name == name {
			return f, true
		}
	}
	return wireField{}, false
}

// isZeroJSON reports whether a well-typed value decodes to the zero value of
// t, which an omitempty/omitzero field would drop on re-encoding.
func isZeroJSON(v *jsonValue, t reflect.Type) bool {
	if t == timeType {
		ts, err := time.Parse(time.RFC3339Nano, v.text)
		return err == nil && ts.IsZero()
	}
	switch v.typ {
	case jsonString:
		return v.text == ""
	case jsonArray:
		return len(v.items) == 0
	case jsonObject:
		return len(v.members) == 0 && t.Kind() == reflect.Struct && t.NumField() == 0
	case jsonBool:
		return v.text == "false"
	case jsonNumber:
		n, err := strconv.ParseFloat(v.text, 64)
		return err == nil && n == 0
	}
	return false
}

func fitsInt(lit string, bits int) bool {
	if !integerLiteral.MatchString(lit) {
		return false
	}
	_, err := strconv.ParseInt(lit, 10, bits)
	return err == nil
}

func fitsUint(lit string, bits int) bool {
	if !integerLiteral.MatchString(lit) {
		return false
	}
	_, err := strconv.ParseUint(lit, 10, bits)
	return err == nil
}

// validUTCTime reports whether s is an RFC 3339 time in UTC written with a
// 'Z' suffix, naming a real instant (no 31 February).
func validUTCTime(s string) bool {
	if !utcTimePattern.MatchString(s) {
		return false
	}
	_, err := time.Parse(time.RFC3339Nano, s)
	return err == nil
}

// strictDecode checks root (parsed from raw) against target's type, then
// decodes raw into target. Paths are prefixed with prefix. It reports
// unknown members and other shape issues separately so callers can pick
// their refusal codes.
func strictDecode(root *jsonValue, raw []byte, target any, prefix string) (unknown []string, issues []fieldIssue, err error) {
	c := &shapeCheck{}
	c.check(root, reflect.TypeOf(target).Elem(), prefix)
	if len(c.unknown) > 0 || len(c.issues) > 0 {
		return c.unknown, c.issues, nil
	}
	if err := json.Unmarshal(raw, target); err != nil {
		// The shape check should make this unreachable; the decoder's error
		// may quote input, so it is wrapped, not shown.
		return nil, nil, fmt.Errorf("decoding a shape-checked document: %w", err)
	}
	return nil, nil, nil
}
