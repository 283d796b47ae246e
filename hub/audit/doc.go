// Package audit is the hub's tamper-evident audit trail.
//
// Every audit event (a message accepted, rejected with its code, delivered,
// receipted; a transfer accepted or declined; a key or agency registered; an
// admin action; an auditor's query; …) becomes one leaf of an append-only
// RFC 6962 Merkle tree. A leaf holds commitments only (identifiers, kinds,
// parties, times, codes, an HMAC of the case reference and a SHA-256 of the
// submitted JWS), never personal data, so erasing a case never breaks the
// log.
//
// Storage is plain database/sql (SQLite through modernc.org/sqlite, or
// PostgreSQL through pgx): Log.Append runs inside the caller's transaction,
// so a message, its trail event and its outbox entry commit together, and
// the head row lock makes one sequencer even with several hub processes.
// The tree hashing, compact ranges and proofs come from
// github.com/transparency-dev/merkle; checkpoints are C2SP tlog-checkpoint
// bodies (github.com/transparency-dev/formats/log) signed as C2SP signed
// notes (golang.org/x/mod/sumdb/note) with the hub's Ed25519 key.
//
// Auditors need only the hub's public key. VerifyBundle checks an exported
// Bundle offline (checkpoint signature, each event's inclusion, that the
// readable events are the signed ones); a Watcher remembers the last
// checkpoint it verified and refuses any later one that is not provably an
// extension of it: a fork (same size, different root), a shrunk log, a bad
// signature or a missing or wrong consistency proof are distinct errors.
// Verification failures are *contracts.Problem values (codes audit_*)
// wrapping a *Failure that explains them in French and English.
package audit
