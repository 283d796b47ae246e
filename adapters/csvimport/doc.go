// Package csvimport turns spreadsheet exports of field case databases (the
// kind CaseData and similar tools produce, in French, with ";" separators
// and dd/mm/yyyy dates) into referral.request drafts, through a mapping
// file that says which column feeds which contract field.
//
// The mapping (YAML) lists every column of the sheet: either the contract
// field it feeds, with an optional table of values ("Féminin" → "f"), a
// date layout ("02/01/2006") or a list separator, or the reason it is
// deliberately not imported. Constants fill fields the sheet does not hold
// (to, purpose, a family member's relationship). Consent comes from the
// sheet's own consent columns; the mapping may only complete it (reference,
// recipients, purposes) when the sheet has such columns, and never states a
// basis, who consented or when.
//
// Convert checks every row against the contract and reports each rejected
// row with its line number, the column, the contract field and the rule it
// breaks, never the cell's value (it may be a child's personal data).
package csvimport
