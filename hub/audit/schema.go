package audit

import (
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"

	"github.com/transparency-dev/merkle/rfc6962"
)

// Dialects understood by this package. Queries use $N placeholders in both:
// PostgreSQL requires them and modernc.org/sqlite binds $N to the N-th
// positional argument (verified by TestSQLiteBindsDollarPlaceholders), so no
// rebinding is needed.
const (
	DialectSQLite   = "sqlite"
	DialectPostgres = "postgres"
)

func checkDialect(dialect string) error {
	switch dialect {
	case DialectSQLite, DialectPostgres:
		return nil
	}
	return fmt.Errorf("audit: unknown SQL dialect %q (want %q or %q)", dialect, DialectSQLite, DialectPostgres)
}

// Migrations returns the idempotent DDL of the audit tables for dialect, in
// order. Tables:
//   - audit_leaves: one row per leaf — its index, RFC 6962 leaf hash and the
//     exact canonical bytes;
//   - audit_nodes: the hash of every perfect subtree (level 0 = leaf hashes),
//     so any inclusion or consistency proof reads O(log n) rows;
//   - audit_head: the single row (id = 1) naming the current size and root;
//     locking it sequences appends, even across hub processes;
//   - audit_checkpoints: every signed checkpoint the hub has published.
//
// It returns nil for an unknown dialect.
func Migrations(dialect string) []string {
	emptyRoot := rfc6962.DefaultHasher.EmptyRoot()
	switch dialect {
	case DialectSQLite:
		return []string{
			`CREATE TABLE IF NOT EXISTS audit_leaves (
				idx        INTEGER PRIMARY KEY CHECK (idx >= 0),
				leaf_hash  BLOB NOT NULL,
				data       BLOB NOT NULL,
				created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
			)`,
			`CREATE TABLE IF NOT EXISTS audit_nodes (
				level INTEGER NOT NULL CHECK (level >= 0 AND level < 64),
				idx   INTEGER NOT NULL CHECK (idx >= 0),
				hash  BLOB NOT NULL,
				PRIMARY KEY (level, idx)
			) WITHOUT ROWID`,
			`CREATE TABLE IF NOT EXISTS audit_head (
				id   INTEGER PRIMARY KEY CHECK (id = 1),
				size INTEGER NOT NULL CHECK (size >= 0),
				root BLOB NOT NULL
			)`,
			`INSERT INTO audit_head (id, size, root) VALUES (1, 0, X'` + hex.EncodeToString(emptyRoot) + `')
				ON CONFLICT (id) DO NOTHING`,
			`CREATE TABLE IF NOT EXISTS audit_checkpoints (
				size       INTEGER PRIMARY KEY CHECK (size >= 0),
				root       BLOB NOT NULL,
				note       TEXT NOT NULL,
				created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
			)`,
		}
	case DialectPostgres:
		return []string{
			`CREATE TABLE IF NOT EXISTS audit_leaves (
				idx        BIGINT PRIMARY KEY CHECK (idx >= 0),
				leaf_hash  BYTEA NOT NULL,
				data       BYTEA NOT NULL,
				created_at TIMESTAMPTZ NOT NULL DEFAULT now()
			)`,
			`CREATE TABLE IF NOT EXISTS audit_nodes (
				level SMALLINT NOT NULL CHECK (level >= 0 AND level < 64),
				idx   BIGINT NOT NULL CHECK (idx >= 0),
				hash  BYTEA NOT NULL,
				PRIMARY KEY (level, idx)
			)`,
			`CREATE TABLE IF NOT EXISTS audit_head (
				id   SMALLINT PRIMARY KEY CHECK (id = 1),
				size BIGINT NOT NULL CHECK (size >= 0),
				root BYTEA NOT NULL
			)`,
			`INSERT INTO audit_head (id, size, root) VALUES (1, 0, '\x` + hex.EncodeToString(emptyRoot) + `'::bytea)
				ON CONFLICT (id) DO NOTHING`,
			`CREATE TABLE IF NOT EXISTS audit_checkpoints (
				size       BIGINT PRIMARY KEY CHECK (size >= 0),
				root       BYTEA NOT NULL,
				note       TEXT NOT NULL,
				created_at TIMESTAMPTZ NOT NULL DEFAULT now()
			)`,
		}
	}
	return nil
}

// Migrate applies Migrations(dialect) to db in one transaction. Stores with
// their own migration runner can take Migrations directly instead.
func Migrate(ctx context.Context, db *sql.DB, dialect string) error {
	if err := checkDialect(dialect); err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("audit: migrate: begin: %w", err)
	}
	defer tx.Rollback()
	for i, stmt := range Migrations(dialect) {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("audit: migrate: statement %d: %w", i+1, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("audit: migrate: commit: %w", err)
	}
	return nil
}
