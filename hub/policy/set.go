package policy

import (
	"slices"
	"time"
)

// Set is a validated, immutable collection of agreements. It is safe for
// concurrent use; a Watcher replaces it as a whole when files change.
type Set struct {
	corridors []*Corridor
	digest    string
}

func newSet(corridors []*Corridor, digest string) *Set {
	cs := slices.Clone(corridors)
	sortCorridors(cs)
	return &Set{corridors: cs, digest: digest}
}

// Digest is the SHA-256 (hex) of the loaded files' names and contents: it
// identifies the policy that took a decision, for the audit trail.
func (s *Set) Digest() string {
	if s == nil {
		return ""
	}
	return s.digest
}

// Len is the number of agreements.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.corridors)
}

// Corridors returns copies of every agreement, ordered by id and version.
func (s *Set) Corridors() []Corridor {
	if s == nil {
		return nil
	}
	out := make([]Corridor, len(s.corridors))
	for i, c := range s.corridors {
		out[i] = c.clone()
	}
	return out
}

// Find returns the agreement that covers a message of kind from sender to
// recipient (agency ids) at time at, if any. The hub uses it for the SLA
// timers and the retention of a transfer.
func (s *Set) Find(sender, recipient, kind string, at time.Time) (Corridor, bool) {
	if c := s.find(sender, recipient, kind, at); c != nil {
		return c.clone(), true
	}
	return Corridor{}, false
}

func (s *Set) find(sender, recipient, kind string, at time.Time) *Corridor {
	for _, c := range s.covering(sender, recipient) {
		if c.InForce(at) && c.AllowsKind(kind) {
			return c
		}
	}
	return nil
}

// covering returns the agreements whose parties cover sender → recipient,
// whatever their dates and kinds.
func (s *Set) covering(sender, recipient string) []*Corridor {
	if s == nil {
		return nil
	}
	from, to := newParty(sender), newParty(recipient)
	var out []*Corridor
	for _, c := range s.corridors {
		if c.covers(from, to) {
			out = append(out, c)
		}
	}
	return out
}
