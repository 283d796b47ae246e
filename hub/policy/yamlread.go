package policy

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// reader walks the YAML node tree of one file and records issues with
// their positions. Every accessor reports its own problems and returns ok
// = false, so the caller simply skips what it could not read.
type reader struct {
	file   string
	issues []Issue
}

func (r *reader) fail(n *yaml.Node, field, format string, args ...any) {
	is := Issue{File: r.file, Field: field, Message: fmt.Sprintf(format, args...)}
	if n != nil {
		is.Line, is.Column = n.Line, n.Column
	}
	r.issues = append(r.issues, is)
}

// join builds a field path.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// mapping is a YAML mapping whose keys were checked: known, not repeated.
type mapping struct {
	r      *reader
	node   *yaml.Node
	path   string
	values map[string]*yaml.Node
	keys   map[string]*yaml.Node
}

// mapping reads n as a mapping with only the known keys. A repeated key is
// refused (YAML parsers disagree on which one wins), and an unknown key is
// refused with the closest known one as a hint: a misspelt optional key
// would otherwise silently fall back to its default.
func (r *reader) mapping(n *yaml.Node, path string, known ...string) (*mapping, bool) {
	if !r.plain(n, path) {
		return nil, false
	}
	if n.Kind != yaml.MappingNode {
		r.fail(n, path, "must be a mapping of keys to values, not %s", describe(n))
		return nil, false
	}
	m := &mapping{r: r, node: n, path: path, values: map[string]*yaml.Node{}, keys: map[string]*yaml.Node{}}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			r.fail(k, path, "keys must be plain words")
			continue
		}
		field := join(path, k.Value)
		if prev, dup := m.keys[k.Value]; dup {
			r.fail(k, field, "key repeated (first at line %d): write each key once", prev.Line)
			continue
		}
		m.keys[k.Value] = k
		if known != nil && !slices.Contains(known, k.Value) {
			r.fail(k, field, "unknown key%s; known keys: %s", suggestion(k.Value, known), strings.Join(known, ", "))
			continue
		}
		m.values[k.Value] = v
	}
	return m, true
}

// get returns the value of an optional key.
func (m *mapping) get(key string) (*yaml.Node, bool) {
	v, ok := m.values[key]
	return v, ok
}

// require returns the value of a required key, reporting its absence at
// the mapping's position.
func (m *mapping) require(key string) (*yaml.Node, bool) {
	v, ok := m.values[key]
	if !ok {
		if _, present := m.keys[key]; !present {
			m.r.fail(m.node, join(m.path, key), "required key is missing")
		}
	}
	return v, ok
}

// pairs returns the keys in file order with their values (for mappings
// whose keys are data, such as purposes).
func (m *mapping) pairs() []*yaml.Node {
	var out []*yaml.Node
	for i := 0; i+1 < len(m.node.Content); i += 2 {
		k := m.node.Content[i]
		if v, ok := m.values[k.Value]; ok && m.keys[k.Value] == k {
			out = append(out, k, v)
		}
	}
	return out
}

// plain refuses aliases: an agreement is read by lawyers and auditors, and
// every value should be written where it applies.
func (r *reader) plain(n *yaml.Node, path string) bool {
	if n.Kind == yaml.AliasNode {
		r.fail(n, path, "aliases (*name) are not allowed: write the value out")
		return false
	}
	return true
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "an empty value"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "this value"
}

// scalar reads a non-empty scalar, whatever YAML thinks its type is.
func (r *reader) scalar(n *yaml.Node, path string) (string, bool) {
	if !r.plain(n, path) {
		return "", false
	}
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" || n.Value == "" {
		r.fail(n, path, "must be a value, not %s", describe(n))
		return "", false
	}
	return n.Value, true
}

// str reads a string scalar. Numbers and booleans are refused rather than
// converted, so that `id: 2025` or `allowed: yes` mistakes are caught.
func (r *reader) str(n *yaml.Node, path string) (string, bool) {
	s, ok := r.scalar(n, path)
	if !ok {
		return "", false
	}
	if n.Tag != "!!str" {
		r.fail(n, path, "must be text; quote it if it is meant as text")
		return "", false
	}
	return s, true
}

func (r *reader) integer(n *yaml.Node, path string) (int, bool) {
	s, ok := r.scalar(n, path)
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(s)
	if n.Tag != "!!int" || err != nil {
		r.fail(n, path, "must be a whole number, not %s", describe(n))
		return 0, false
	}
	return i, true
}

func (r *reader) boolean(n *yaml.Node, path string) (bool, bool) {
	s, ok := r.scalar(n, path)
	if !ok {
		return false, false
	}
	switch {
	case n.Tag == "!!bool" && s == "true":
		return true, true
	case n.Tag == "!!bool" && s == "false":
		return false, true
	}
	r.fail(n, path, "must be true or false, not %s", describe(n))
	return false, false
}

// date reads a calendar date written YYYY-MM-DD, as 00:00 UTC.
func (r *reader) date(n *yaml.Node, path string) (time.Time, bool) {
	s, ok := r.scalar(n, path)
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		r.fail(n, path, "must be a date written YYYY-MM-DD, not %s", describe(n))
		return time.Time{}, false
	}
	return t, true
}

// duration reads a duration: a Go duration ("36h", "90m") or a number of
// days ("30d"); weeks and months are deliberately absent (a month has no
// fixed length).
func (r *reader) duration(n *yaml.Node, path string) (time.Duration, bool) {
	s, ok := r.scalar(n, path)
	if !ok {
		return 0, false
	}
	d, err := parseDuration(s)
	if n.Tag != "!!str" || err != nil {
		r.fail(n, path, "must be a duration such as 24h, 90m or 30d, not %s", describe(n))
		return 0, false
	}
	return d, true
}

var daysPattern = regexp.MustCompile(`^([0-9]{1,4})d$`)

func parseDuration(s string) (time.Duration, error) {
	if m := daysPattern.FindStringSubmatch(s); m != nil {
		days, _ := strconv.Atoi(m[1])
		return time.Duration(days) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

// list reads a non-empty sequence of distinct strings, each checked by
// valid (which reports its own issue and returns false).
func (r *reader) list(n *yaml.Node, path string, valid func(item *yaml.Node, s, path string) bool) ([]string, bool) {
	if !r.plain(n, path) {
		return nil, false
	}
	if n.Kind != yaml.SequenceNode {
		r.fail(n, path, "must be a list, not %s", describe(n))
		return nil, false
	}
	if len(n.Content) == 0 {
		r.fail(n, path, "must not be empty")
		return nil, false
	}
	out := make([]string, 0, len(n.Content))
	good := true
	for i, item := range n.Content {
		p := index(path, i)
		s, ok := r.str(item, p)
		if !ok {
			good = false
			continue
		}
		if slices.Contains(out, s) {
			r.fail(item, p, "%q is listed twice", s)
			good = false
			continue
		}
		if !valid(item, s, p) {
			good = false
			continue
		}
		out = append(out, s)
	}
	return out, good
}

// suggestion returns ` (did you mean "x"?)` when a known word is within two
// edits of s.
func suggestion(s string, known []string) string {
	best, bestDist := "", 3
	for _, k := range known {
		if d := editDistance(s, k); d < bestDist {
			best, bestDist = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance between two short words.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
