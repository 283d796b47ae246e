package policy

import (
	"bytes"
	"errors"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/relais-hub/relais/contracts"
)

// The keys of an agreement file, in the order the README documents them.
var (
	topKeys = []string{
		"version", "id", "title", "valid_from", "valid_until", "parties", "kinds",
		"purposes", "legal_bases", "override", "legal_references", "sla",
		"retention", "statistics", "age_bands",
	}
	titleKeys     = []string{"fr", "en"}
	overrideKeys  = []string{"allowed", "approver_role"}
	referenceKeys = []string{"id", "cite"}
	slaKeys       = []string{"time_to_receipt", "time_to_answer", "follow_up_interval", "escalation_after"}
	retentionKeys = []string{"delivered_ciphertext"}
	statsKeys     = []string{"min_cell_size"}
	ageBandKeys   = []string{"consent_by", "child_assent_required"}
)

// approverRoles are the roles an agreement may name as override approver.
var approverRoles = []string{"supervisor"}

// ApproverRoles lists the roles an agreement may name as override
// approver; the directory registers approving keys under one of them.
func ApproverRoles() []string { return slices.Clone(approverRoles) }

var (
	corridorIDPattern  = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,62}$`)
	referenceIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,62}$`)
	yamlLinePattern    = regexp.MustCompile(`^yaml: line ([0-9]+): (.*)$`)
)

const (
	// maxRetention caps how long the hub may keep delivered ciphertext: it
	// is a relay, not an archive.
	maxRetention = 365 * 24 * time.Hour
	// minCellSizeFloor: a disclosure threshold below 3 protects nobody.
	minCellSizeFloor = 3
	// minCiteLength keeps a cited text from being so short ("Loi") that it
	// would match any reference.
	minCiteLength = 10
	maxCiteLength = 200
)

// parseFile reads one agreement. It returns the corridor (nil if the file
// is too broken to describe one) and every issue found.
func parseFile(name string, data []byte) (*Corridor, []Issue) {
	r := &reader{file: name}
	root, ok := r.document(data)
	if !ok {
		return nil, r.issues
	}
	c := r.corridor(root)
	if len(r.issues) > 0 {
		return nil, r.issues
	}
	c.File = name
	return c, nil
}

// document decodes exactly one YAML document holding a mapping.
func (r *reader) document(data []byte) (*yaml.Node, bool) {
	if !r.indentedWithSpaces(data) {
		return nil, false
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			r.fail(nil, "", "the file is empty")
		} else {
			r.syntaxError(err)
		}
		return nil, false
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			r.syntaxError(err)
		} else {
			r.fail(&extra, "", "a second YAML document: write one agreement per file")
		}
		return nil, false
	}
	if len(doc.Content) != 1 {
		r.fail(&doc, "", "the file holds no agreement")
		return nil, false
	}
	return doc.Content[0], true
}

// yamlParserProblems are the problems yaml.v3 reports from its parser
// rather than its scanner. For these it prints a 0-based line (the start
// of the enclosing collection, or the offending token), where scanner
// errors get a 1-based one; syntaxError corrects the difference so every
// issue points at a line the editor shows.
var yamlParserProblems = []string{
	"did not find expected <stream-start>",
	"did not find expected <document start>",
	"found undefined tag handle",
	"did not find expected node content",
	"did not find expected '-' indicator",
	"did not find expected key",
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"found duplicate %YAML directive",
	"found incompatible YAML document",
	"found duplicate %TAG directive",
}

// indentedWithSpaces reports tabs in indentation itself: it is the most
// common mistake in hand-edited YAML, and yaml.v3 places it a line early.
func (r *reader) indentedWithSpaces(data []byte) bool {
	for i, line := range strings.Split(string(data), "\n") {
		indent := line[:len(line)-len(strings.TrimLeft(line, " \t"))]
		if strings.Contains(indent, "\t") {
			r.issues = append(r.issues, Issue{File: r.file, Line: i + 1, Column: strings.Index(indent, "\t") + 1,
				Message: "YAML syntax: a tab in the indentation; indent with spaces"})
			return false
		}
	}
	return true
}

func (r *reader) syntaxError(err error) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := yamlLinePattern.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	if slices.Contains(yamlParserProblems, msg) {
		line++
	}
	r.issues = append(r.issues, Issue{File: r.file, Line: line, Message: "YAML syntax: " + msg})
}

// corridor reads the top-level mapping.
func (r *reader) corridor(root *yaml.Node) *Corridor {
	c := &Corridor{Statistics: Statistics{MinCellSize: DefaultMinCellSize}, AgeBands: DefaultAgeBands()}
	m, ok := r.mapping(root, "", topKeys...)
	if !ok {
		return c
	}
	if n, ok := m.require("version"); ok {
		if v, ok := r.integer(n, "version"); ok {
			if v < 1 {
				r.fail(n, "version", "must be 1 or more")
			}
			c.Version = v
		}
	}
	if n, ok := m.require("id"); ok {
		c.Line = n.Line
		if id, ok := r.str(n, "id"); ok {
			if !corridorIDPattern.MatchString(id) {
				r.fail(n, "id", "must be 2 to 63 lower-case letters, digits and hyphens, such as bf-ci-ml")
			}
			c.ID = id
		}
	}
	if n, ok := m.require("title"); ok {
		c.Title = r.label(n, "title")
	}
	r.validity(m, c)
	if n, ok := m.require("parties"); ok {
		c.Parties = r.parties(n)
	}
	if n, ok := m.require("kinds"); ok {
		c.Kinds = r.kinds(n)
	}
	r.purposes(m, c)
	if n, ok := m.require("legal_bases"); ok {
		c.LegalBases, _ = r.list(n, "legal_bases", r.inVocabulary(contracts.ConsentBases))
	}
	r.override(m, c)
	r.legalReferences(m, c)
	if n, ok := m.require("sla"); ok {
		c.SLA = r.sla(n)
	}
	if n, ok := m.require("retention"); ok {
		c.Retention = r.retention(n)
	}
	if n, ok := m.get("statistics"); ok {
		c.Statistics = r.statistics(n)
	}
	if n, ok := m.get("age_bands"); ok {
		c.AgeBands = r.ageBands(n)
	}
	return c
}

func (r *reader) label(n *yaml.Node, path string) contracts.Label {
	var l contracts.Label
	m, ok := r.mapping(n, path, titleKeys...)
	if !ok {
		return l
	}
	if v, ok := m.require("fr"); ok {
		l.FR, _ = r.str(v, join(path, "fr"))
	}
	if v, ok := m.require("en"); ok {
		l.EN, _ = r.str(v, join(path, "en"))
	}
	return l
}

func (r *reader) validity(m *mapping, c *Corridor) {
	if n, ok := m.require("valid_from"); ok {
		c.ValidFrom, _ = r.date(n, "valid_from")
	}
	n, ok := m.get("valid_until")
	if !ok {
		return
	}
	until, ok := r.date(n, "valid_until")
	if !ok {
		return
	}
	if !c.ValidFrom.IsZero() && until.Before(c.ValidFrom) {
		r.fail(n, "valid_until", "is before valid_from (%s)", c.ValidFrom.Format(time.DateOnly))
	}
	c.ValidUntil = until
}

func (r *reader) inVocabulary(v contracts.Vocabulary) func(*yaml.Node, string, string) bool {
	return func(item *yaml.Node, s, path string) bool {
		if v.Has(s) {
			return true
		}
		r.fail(item, path, "%q is not a %s%s; known: %s", s, v.Name(), suggestion(s, v.Codes()), strings.Join(v.Codes(), ", "))
		return false
	}
}

func (r *reader) parties(n *yaml.Node) []string {
	parties, ok := r.list(n, "parties", func(item *yaml.Node, s, path string) bool {
		if contracts.ValidCountry(s) || contracts.ValidAgencyID(s) {
			return true
		}
		if country, _, found := strings.Cut(s, "."); found && !contracts.ValidCountry(country) {
			r.fail(item, path, "%q starts with %q, which is not an ISO 3166-1 country code", s, country)
		} else {
			r.fail(item, path, "%q is neither a lower-case ISO 3166-1 country code (bf, ci, ml) nor an agency id (bf.dpe-bobo)", s)
		}
		return false
	})
	if !ok {
		return parties
	}
	if len(parties) < 2 {
		r.fail(n, "parties", "an agreement needs at least two parties")
	}
	for i, p := range parties {
		if country := contracts.AgencyCountry(p); country != "" && slices.Contains(parties, country) {
			r.fail(n.Content[i], index("parties", i), "agency %q is already covered by its country %q in this list", p, country)
		}
	}
	return parties
}

func (r *reader) kinds(n *yaml.Node) []string {
	kinds, ok := r.list(n, "kinds", func(item *yaml.Node, s, path string) bool {
		if _, known := contracts.Kind(s); known {
			return true
		}
		r.fail(item, path, "%q is not a message kind%s; known: %s", s, suggestion(s, contracts.KindNames()), strings.Join(contracts.KindNames(), ", "))
		return false
	})
	if ok && !slices.Contains(kinds, "receipt") {
		r.fail(n, "kinds", "must include receipt: every delivered message is acknowledged by a signed receipt")
	}
	return kinds
}

// carriesPersonalData reports whether any allowed kind carries personal
// data (and therefore needs purposes).
func carriesPersonalData(kinds []string) bool {
	for _, k := range kinds {
		if spec, ok := contracts.Kind(k); ok && spec.PersonalData {
			return true
		}
	}
	return false
}

func (r *reader) purposes(m *mapping, c *Corridor) {
	n, ok := m.get("purposes")
	if !ok {
		if carriesPersonalData(c.Kinds) {
			m.r.fail(m.node, "purposes", "required key is missing: the allowed kinds carry personal data, so the agreement must say for which purposes and which data categories")
		}
		return
	}
	pm, ok := r.mapping(n, "purposes")
	if !ok {
		return
	}
	if len(pm.node.Content) == 0 {
		r.fail(n, "purposes", "must list at least one purpose")
		return
	}
	c.Purposes = map[string][]string{}
	pairs := pm.pairs()
	for i := 0; i < len(pairs); i += 2 {
		k, v := pairs[i], pairs[i+1]
		path := join("purposes", k.Value)
		if !r.inVocabulary(contracts.Purposes)(k, k.Value, path) {
			continue
		}
		cats, _ := r.list(v, path, r.inVocabulary(contracts.DataCategories))
		c.Purposes[k.Value] = sortedCategories(cats)
	}
}

// sortedCategories puts categories in vocabulary order, for stable
// explanations.
func sortedCategories(cats []string) []string {
	var out []string
	for _, code := range contracts.DataCategories.Codes() {
		if slices.Contains(cats, code) {
			out = append(out, code)
		}
	}
	return out
}
