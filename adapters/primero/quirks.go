package primero

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Primero's value quirks. Each reader returns ok = false for an absent or
// unreadable value; callers tell the two apart with isEmpty.

// isEmpty reports whether v carries nothing: absent, null, blank text, an
// empty list or an empty object.
func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return strings.TrimSpace(x) == ""
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

// asString reads text; numbers are read as their literal.
func asString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		s := strings.TrimSpace(x)
		return s, s != ""
	case json.Number:
		return x.String(), true
	}
	return "", false
}

// asBool reads a tick box or a lookup-yes-no value: Primero sends JSON
// booleans, but also the option ids "true" and "false" (lookup-yes-no),
// and mobile sync sends tick boxes as strings.
func asBool(v any) (value, ok bool) {
	switch x := v.(type) {
	case bool:
		return x, true
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "true":
			return true, true
		case "false":
			return false, true
		}
	}
	return false, false
}

// isTrue reports whether v is a readable true.
func isTrue(v any) bool {
	b, ok := asBool(v)
	return ok && b
}

// asInt reads a whole number sent as a number or as text ("13").
func asInt(v any) (int, bool) {
	var s string
	switch x := v.(type) {
	case json.Number:
		s = x.String()
	case float64:
		if x != float64(int(x)) {
			return 0, false
		}
		return int(x), true
	case string:
		s = strings.TrimSpace(x)
	default:
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

// dateLayouts are the date forms Primero produces: its display and
// validation format dd-MMM-yyyy ("14-Jun-2012"), ISO dates from the v2 API,
// and ISO timestamps for date-time fields.
var dateLayouts = []string{"02-Jan-2006", "2-Jan-2006", time.DateOnly, time.RFC3339Nano, "2006-01-02T15:04:05.000Z07:00"}

// asDate reads a date in one of dateLayouts, as a UTC calendar date (a
// timestamp keeps its UTC date).
func asDate(v any) (time.Time, bool) {
	s, ok := asString(v)
	if !ok {
		return time.Time{}, false
	}
	for _, layout := range dateLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			t = t.UTC()
			return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC), true
		}
	}
	return time.Time{}, false
}

// asTime reads a timestamp (RFC 3339), or a date as midnight UTC.
func asTime(v any) (time.Time, bool) {
	s, ok := asString(v)
	if !ok {
		return time.Time{}, false
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), true
	}
	return asDate(v)
}

// isoDate formats a calendar date as the contract writes it.
func isoDate(t time.Time) string { return t.Format(time.DateOnly) }

// asStrings reads a multi-select: an array of option ids, or a single id
// (a select box that a deployment turned into a multi-select, or back).
func asStrings(v any) []string {
	switch x := v.(type) {
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, _ := asString(e)
			out = append(out, s)
		}
		return out
	default:
		if s, ok := asString(x); ok {
			return []string{s}
		}
	}
	return nil
}

// textLine reports whether s is one printable line of at most max
// characters (the contract's text_line rule plus its max).
func textLine(s string, max int) bool {
	if s == "" || utf8.RuneCountInString(s) > max {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// normalizePhone turns a number written with spaces, dots, dashes or a 00
// prefix into E.164 ("+226 70 12 34 56" → "+22670123456"). It returns
// false when the result is not E.164: a local number without its country
// code cannot be completed without guessing.
func normalizePhone(s string) (string, bool) {
	var b strings.Builder
	for i, r := range strings.TrimSpace(s) {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' && i == 0:
			b.WriteRune(r)
		case r == ' ' || r == '.' || r == '-' || r == '(' || r == ')' || r == '\u00a0':
		default:
			return "", false
		}
	}
	out := b.String()
	if strings.HasPrefix(out, "00") {
		out = "+" + out[2:]
	}
	if !strings.HasPrefix(out, "+") || len(out) < 8 || len(out) > 16 || out[1] == '0' {
		return "", false
	}
	return out, true
}
