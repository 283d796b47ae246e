// Package policy decides, message by message, whether personal data about a
// child may cross from one agency to another: under which corridor
// agreement, on which lawful basis, for which purpose and which categories
// of data.
//
// Corridor agreements are YAML files (see policies/README.md), one per
// agreement between two or more countries or agencies. Load reads and
// validates them strictly, naming the file, line and field of every
// mistake; a Watcher reloads them when they change and swaps the new Set in
// atomically, keeping the previous one whenever a file is broken.
//
// (*Set).Decide applies the rules of docs/consent.md to the signed envelope
// metadata of one message. The hub never decrypts a body: the recipient
// checks the decrypted body against the declared categories with
// CheckBodyCategories. Every rule is plain Go, one function per rule, so
// that a decision is explained rule by rule (Explain) and audited by code
// (docs/policy-engine.md says why no policy language is used).
//
// Nothing in this package logs or returns personal data: decisions name
// agencies, corridors, kinds, purposes, categories and rules, never a body,
// a name or a case reference.
package policy
