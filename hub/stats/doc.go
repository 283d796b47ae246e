// Package stats derives statistics on children's cross-border transfers
// for national authorities, from what the hub legitimately sees: envelope
// metadata (the corridor between two countries, the declared purpose, the
// consent's age band) and lifecycle events (when each step happened, the
// coded best-interests decision). It never reads a message body, a case
// reference or a name.
//
// Every count is published under disclosure control (suppress.go): a count
// below the threshold of the corridor agreement it falls under is withheld
// (primary suppression), then further counts are withheld (complementary
// suppression) until no withheld count can be worked out from what is
// published, totals included, even by an attacker who knows that counts
// are never negative. docs/statistics.md explains the method.
//
// The package computes (Compute), serves releases that are themselves
// audited (Service), keeps the small index of envelope codes it needs
// (Indexer), and registers the national statistics authorities allowed to
// read releases (readers.go). Release is the Go value a console renders:
// a withheld count carries no value at all, only Suppressed.
package stats
