package csvimport

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/relais-hub/relais/contracts"
)

// checkBody validates the row's body against the contract and returns it
// with the data categories it uses.
func (s *rowState) checkBody() (*contracts.ReferralRequest, []string) {
	body, _ := s.tree["body"].(map[string]any)
	if body == nil {
		body = map[string]any{}
	}
	raw, err := json.Marshal(body)
	if err != nil {
		s.reject("", "body", "encoding")
		return nil, nil
	}
	v, err := contracts.ValidateBody(referralKind, raw)
	if err != nil {
		s.contractIssues(err, "body.")
		return nil, nil
	}
	rr := v.(*contracts.ReferralRequest)
	return rr, contracts.UsedCategories(rr)
}

// checkEnvelope validates routing and consent as the envelope will carry
// them, with a stand-in sealed body.
func (s *rowState) checkEnvelope(consent *contracts.Consent, cats []string, bodyOK bool, o Options) {
	if !bodyOK {
		cats = []string{"identity"} // stand-in: the body's own problems are reported
	}
	if consent != nil {
		consent.DataCategories = cats
	}
	id := contracts.NewMessageID()
	env := contracts.Envelope{
		V: 1, ID: id, Kind: referralKind, From: o.From, To: s.str("to"), Case: s.str("case"), Transfer: id,
		SentAt: o.Now().UTC().Truncate(time.Millisecond), Purpose: s.str("purpose"), DataCategories: cats,
		Consent: consent, Body: contracts.NewSealedBody("eyJhbGciOiJFQ0RILUVTK0EyNTZLVyJ9.a2V5.aXY.Y3Q.dGFn"),
	}
	if err := env.Validate(); err != nil {
		s.contractIssues(err, "")
	}
}

// contractIssues turns a contract refusal into rejections, attributed to
// the columns that fed the fields. A field whose cell could not be read is
// already rejected and is not reported twice.
func (s *rowState) contractIssues(err error, prefix string) {
	p := contracts.AsProblem(err)
	issues := problemIssues(p)
	if len(issues) == 0 {
		s.reject("", strings.TrimSuffix(prefix, "."), string(p.Code))
		return
	}
	for _, is := range issues {
		field := s.original(prefix + is.path)
		if s.suppressed(field) || s.crossFieldSuppressed(field, is.rule) {
			continue
		}
		col := s.filled[field]
		if col == "" {
			if c, ok := s.m.column(field); ok {
				col = c.Name
			}
		}
		s.reject(col, field, is.rule)
	}
}

// suppressed: the field, one of its parents or its consent is already
// rejected for its cell.
func (s *rowState) suppressed(field string) bool {
	if field == "data_categories" || strings.HasPrefix(field, "consent.data_categories") {
		return true // computed from the body: reported through the body
	}
	if s.bad["consent"] && (field == "consent" || strings.HasPrefix(field, "consent.")) {
		return true
	}
	for p := field; p != ""; p = parentPath(p) {
		if s.bad[p] {
			return true
		}
	}
	for b := range s.bad {
		if strings.HasPrefix(b, field+".") {
			return true
		}
	}
	return false
}

// crossFieldRules name the sibling fields a cross-field rule reads: when
// one of them is already rejected for its cell, the rule's failure is a
// consequence, not news.
var crossFieldRules = map[string][]string{
	"birth_date_or_estimated_age":           {"birth_date", "estimated_age"},
	"not_both_birth_date_and_estimated_age": {"birth_date", "estimated_age"},
}

func (s *rowState) crossFieldSuppressed(field, rule string) bool {
	parent := parentPath(field)
	for _, sibling := range crossFieldRules[rule] {
		if s.bad[parent+"."+sibling] {
			return true
		}
	}
	return false
}

type issue struct{ path, rule string }

// problemIssues reads the field and rule pairs of a contract refusal
// ("invalid body fields: child.sex (sex), family[0].phone (phone)").
func problemIssues(p *contracts.Problem) []issue {
	var out []issue
	for _, f := range p.Fields {
		needle := f + " ("
		for from := 0; ; {
			i := strings.Index(p.Detail[from:], needle)
			if i < 0 {
				break
			}
			at := from + i
			from = at + len(needle)
			if at > 0 && !strings.HasSuffix(p.Detail[:at], ": ") && !strings.HasSuffix(p.Detail[:at], ", ") {
				continue
			}
			end := strings.IndexByte(p.Detail[from:], ')')
			if end < 0 {
				break
			}
			out = append(out, issue{path: f, rule: p.Detail[from : from+end]})
		}
	}
	if len(out) == 0 {
		for _, f := range p.Fields {
			out = append(out, issue{path: f, rule: string(p.Code)})
		}
	}
	return out
}
