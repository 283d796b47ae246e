package policy

import (
	"slices"

	"github.com/relais-hub/relais/contracts"
)

// agreedCorridor finds the one agreement that covers the sender, the
// recipient and the kind at the time of the decision.
func (e *evaluation) agreedCorridor() bool {
	covering := e.set.covering(e.sender, e.recipient)
	if len(covering) == 0 {
		return e.deny(contracts.CodeCorridorNotAgreed, RuleCorridorParties, []string{"from", "to"}, labelf(
			"Aucun accord n'est enregistré entre %s et %s (ni entre leurs pays).",
			"No agreement is registered between %s and %s (nor between their countries).",
			same(e.sender), same(e.recipient)))
	}
	var inForce []*Corridor
	for _, c := range covering {
		if c.InForce(e.now) {
			inForce = append(inForce, c)
		}
	}
	if len(inForce) == 0 {
		return e.notInForce(covering)
	}
	for _, c := range inForce {
		if c.AllowsKind(e.env.Kind) {
			e.useCorridor(c)
			e.note(labelf(
				"L'accord %s couvre l'échange %s → %s et les messages de type %s ; il est en vigueur.",
				"Agreement %s covers the exchange %s → %s and messages of kind %s; it is in force.",
				corridorName(c), same(e.sender), same(e.recipient), kindName(e.env.Kind)))
			return true
		}
	}
	if len(inForce) == 1 {
		e.useCorridor(inForce[0])
	}
	names := make([]string, len(inForce))
	for i, c := range inForce {
		names[i] = corridorName(c).EN
	}
	return e.deny(contracts.CodeCorridorNotAgreed, RuleCorridorKind, []string{"kind"}, labelf(
		"L'accord en vigueur entre %s et %s (%s) ne prévoit pas les messages de type %s.",
		"The agreement in force between %s and %s (%s) does not provide for messages of kind %s.",
		same(e.sender), same(e.recipient), list(names), kindName(e.env.Kind)))
}

// notInForce explains why no covering agreement applies today: the
// closest one in time has ended or has not started.
func (e *evaluation) notInForce(covering []*Corridor) bool {
	closest := covering[0]
	distance := func(c *Corridor) int64 {
		if e.now.Before(c.ValidFrom) {
			return int64(c.ValidFrom.Sub(e.now))
		}
		return int64(e.now.Sub(c.end()))
	}
	for _, c := range covering[1:] {
		if distance(c) < distance(closest) {
			closest = c
		}
	}
	e.useCorridor(closest)
	if e.now.Before(closest.ValidFrom) {
		return e.deny(contracts.CodeCorridorNotAgreed, RuleCorridorInForce, []string{"from", "to"}, labelf(
			"L'accord %s n'entre en vigueur que le %s ; aucun autre accord ne couvre %s → %s.",
			"Agreement %s only comes into force on %s; no other agreement covers %s → %s.",
			corridorName(closest), day(closest.ValidFrom), same(e.sender), same(e.recipient)))
	}
	return e.deny(contracts.CodeCorridorNotAgreed, RuleCorridorInForce, []string{"from", "to"}, labelf(
		"L'accord %s a pris fin le %s ; aucun autre accord en vigueur ne couvre %s → %s.",
		"Agreement %s ended on %s; no other agreement in force covers %s → %s.",
		corridorName(closest), day(closest.ValidUntil), same(e.sender), same(e.recipient)))
}

// agreedPurpose checks that the corridor provides for the message's
// purpose at all (whatever the consent says).
func (e *evaluation) agreedPurpose() bool {
	c := e.corridor
	if _, ok := c.Purposes[e.env.Purpose]; ok {
		return true
	}
	return e.deny(contracts.CodeCorridorNotAgreed, RuleCorridorPurpose, []string{"purpose"}, labelf(
		"L'accord %s ne prévoit pas la finalité %s. Finalités prévues : %s.",
		"Agreement %s does not provide for the purpose %s. Purposes provided for: %s.",
		corridorName(c), terms(contracts.Purposes, []string{e.env.Purpose}), terms(contracts.Purposes, c.sortedPurposes())))
}

// minimised checks the message's categories against what the corridor
// allows for its purpose.
func (e *evaluation) minimised(*contracts.Consent) bool {
	c := e.corridor
	allowed := c.Purposes[e.env.Purpose]
	extra := missingFrom(e.env.DataCategories, allowed)
	if len(extra) == 0 {
		return true
	}
	return e.deny(contracts.CodeCategoryNotAllowed, RuleMinimisation, []string{"data_categories"}, labelf(
		"Pour la finalité %s, l'accord %s ne permet de partager que : %s. Catégories en trop : %s.",
		"For the purpose %s, agreement %s only allows sharing: %s. Extra categories: %s.",
		terms(contracts.Purposes, []string{e.env.Purpose}), corridorName(c), terms(contracts.DataCategories, allowed), terms(contracts.DataCategories, extra)))
}

// missingFrom returns the items of want that are not in have, in
// vocabulary order.
func missingFrom(want, have []string) []string {
	var out []string
	for _, w := range sortedCategories(want) {
		if !slices.Contains(have, w) {
			out = append(out, w)
		}
	}
	// Codes outside the vocabulary (which validation refuses) still count.
	for _, w := range want {
		if !contracts.IsDataCategory(w) && !slices.Contains(have, w) && !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	return out
}
