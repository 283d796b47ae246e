package policy

import (
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/relais-hub/relais/contracts"
)

// The readers of an agreement's sections after the parties, kinds and
// purposes: the override rule, the legal references, the service levels,
// retention, statistics and the age table.

func (r *reader) override(m *mapping, c *Corridor) {
	listed := c.AcceptsBasis("best_interests_override")
	n, ok := m.get("override")
	if !ok {
		if listed {
			r.fail(m.node, "override", "required key is missing: legal_bases lists best_interests_override, so say who approves overrides (allowed: true, approver_role: supervisor)")
		}
		return
	}
	om, ok := r.mapping(n, "override", overrideKeys...)
	if !ok {
		return
	}
	if v, ok := om.require("allowed"); ok {
		allowed, ok := r.boolean(v, "override.allowed")
		if ok && allowed != listed && c.LegalBases != nil {
			if allowed {
				r.fail(v, "override.allowed", "is true but legal_bases does not list best_interests_override")
			} else {
				r.fail(v, "override.allowed", "is false but legal_bases lists best_interests_override")
			}
		}
		c.Override.Allowed = allowed
	}
	v, ok := om.get("approver_role")
	if !ok {
		if c.Override.Allowed {
			r.fail(n, "override.approver_role", "required key is missing when overrides are allowed")
		}
		return
	}
	role, ok := r.str(v, "override.approver_role")
	if ok && !slices.Contains(approverRoles, role) {
		r.fail(v, "override.approver_role", "%q is not a registered role; known: %s", role, strings.Join(approverRoles, ", "))
	}
	c.Override.ApproverRole = role
}

func (r *reader) legalReferences(m *mapping, c *Corridor) {
	listed := c.AcceptsBasis("legal_obligation")
	n, ok := m.get("legal_references")
	if !ok {
		if listed {
			r.fail(m.node, "legal_references", "required key is missing: legal_bases lists legal_obligation, so list the texts it may rest on")
		}
		return
	}
	if !listed && c.LegalBases != nil {
		r.fail(n, "legal_references", "legal_bases does not list legal_obligation, so these references would never be used")
	}
	if !r.plain(n, "legal_references") {
		return
	}
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		r.fail(n, "legal_references", "must be a non-empty list of {id, cite}")
		return
	}
	for i, item := range n.Content {
		path := index("legal_references", i)
		im, ok := r.mapping(item, path, referenceKeys...)
		if !ok {
			continue
		}
		var ref LegalReference
		if v, ok := im.require("id"); ok {
			if id, ok := r.str(v, join(path, "id")); ok {
				if !referenceIDPattern.MatchString(id) {
					r.fail(v, join(path, "id"), "must be lower-case letters, digits, dots and hyphens, such as accord-ml-ci-2000")
				}
				for _, prev := range c.LegalReferences {
					if prev.ID == id {
						r.fail(v, join(path, "id"), "%q is used twice", id)
					}
				}
				ref.ID = id
			}
		}
		if v, ok := im.require("cite"); ok {
			if cite, ok := r.str(v, join(path, "cite")); ok {
				switch n := len([]rune(cite)); {
				case n < minCiteLength || n > maxCiteLength:
					r.fail(v, join(path, "cite"), "must be %d to %d characters: the text as messages cite it", minCiteLength, maxCiteLength)
				case strings.ContainsFunc(cite, isControl) || cite != strings.TrimSpace(cite):
					r.fail(v, join(path, "cite"), "must be one line without leading or trailing spaces")
				}
				ref.Cite = cite
			}
		}
		c.LegalReferences = append(c.LegalReferences, ref)
	}
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

func (r *reader) sla(n *yaml.Node) SLA {
	var s SLA
	m, ok := r.mapping(n, "sla", slaKeys...)
	if !ok {
		return s
	}
	fields := []*time.Duration{&s.TimeToReceipt, &s.TimeToAnswer, &s.FollowUpInterval, &s.EscalationAfter}
	for i, key := range slaKeys {
		path := join("sla", key)
		v, ok := m.require(key)
		if !ok {
			continue
		}
		if d, ok := r.duration(v, path); ok {
			if d <= 0 {
				r.fail(v, path, "must be longer than zero")
			}
			*fields[i] = d
		}
	}
	if s.TimeToReceipt > 0 && s.TimeToAnswer > 0 && s.TimeToReceipt > s.TimeToAnswer {
		v, _ := m.get("time_to_receipt")
		r.fail(v, "sla.time_to_receipt", "is longer than sla.time_to_answer: a referral is receipted before it is answered")
	}
	return s
}

func (r *reader) retention(n *yaml.Node) Retention {
	var ret Retention
	m, ok := r.mapping(n, "retention", retentionKeys...)
	if !ok {
		return ret
	}
	v, ok := m.require("delivered_ciphertext")
	if !ok {
		return ret
	}
	d, ok := r.duration(v, "retention.delivered_ciphertext")
	if !ok {
		return ret
	}
	if d < 0 || d > maxRetention {
		r.fail(v, "retention.delivered_ciphertext", "must be between 0s (delete at receipt) and 365d: the hub is a relay, not an archive")
	}
	ret.DeliveredCiphertext = d
	return ret
}

func (r *reader) statistics(n *yaml.Node) Statistics {
	s := Statistics{MinCellSize: DefaultMinCellSize}
	m, ok := r.mapping(n, "statistics", statsKeys...)
	if !ok {
		return s
	}
	v, ok := m.require("min_cell_size")
	if !ok {
		return s
	}
	if size, ok := r.integer(v, "statistics.min_cell_size"); ok {
		if size < minCellSizeFloor {
			r.fail(v, "statistics.min_cell_size", "must be at least %d: smaller counts identify children", minCellSizeFloor)
		}
		s.MinCellSize = size
	}
	return s
}

// ageBands reads a full age-band table: every band of the protocol, no
// other, so that no child falls outside the table.
func (r *reader) ageBands(n *yaml.Node) AgeBandTable {
	t := AgeBandTable{Bands: map[string]AgeBandRule{}, Custom: true}
	m, ok := r.mapping(n, "age_bands")
	if !ok {
		return t
	}
	pairs := m.pairs()
	for i := 0; i < len(pairs); i += 2 {
		k, v := pairs[i], pairs[i+1]
		path := join("age_bands", k.Value)
		if !r.inVocabulary(contracts.AgeBands)(k, k.Value, path) {
			continue
		}
		bm, ok := r.mapping(v, path, ageBandKeys...)
		if !ok {
			continue
		}
		var rule AgeBandRule
		if cv, ok := bm.require("consent_by"); ok {
			rule.ConsentBy, _ = r.list(cv, join(path, "consent_by"), r.inVocabulary(contracts.ConsentGivers))
		}
		if av, ok := bm.require("child_assent_required"); ok {
			rule.ChildAssentRequired, _ = r.boolean(av, join(path, "child_assent_required"))
		}
		t.Bands[k.Value] = rule
	}
	for _, band := range contracts.AgeBands.Codes() {
		if _, ok := m.keys[band]; !ok {
			r.fail(n, join("age_bands", band), "band missing: the table must cover every age band (%s)", strings.Join(contracts.AgeBands.Codes(), ", "))
		}
	}
	return t
}
