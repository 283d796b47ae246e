package agent

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sync"
	"time"

	_ "modernc.org/sqlite" // SQLite driver "sqlite"
)

// store is the agent's SQLite database: outbox, inbox and sync state.
type store struct {
	db *sql.DB
	// writeMu queues this process's write transactions in Go rather than in
	// SQLite's busy handler, which sleeps in steps; other processes (a
	// compose beside `agent run`) still wait on the busy timeout.
	writeMu sync.Mutex
}

// openStore opens (creating if needed) the database at path. A database
// others can read is refused: it holds decrypted children's files.
func openStore(ctx context.Context, path string) (*store, error) {
	if err := createPrivateFile(path); err != nil {
		return nil, err
	}
	if err := requirePrivate(path); err != nil {
		return nil, err
	}
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "busy_timeout(20000)")
	q.Add("_pragma", "foreign_keys(1)")
	// Erased and overwritten plaintext is zeroed, not left in free pages.
	q.Add("_pragma", "secure_delete(1)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open agent database: %w", err)
	}
	db.SetMaxOpenConns(4)
	s := &store{db: db}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func (s *store) close() error { return s.db.Close() }

// createPrivateFile creates path with mode 0600 if it does not exist, so that
// SQLite (which gives its WAL and shared-memory files the database's mode)
// never creates a world-readable database under a permissive umask.
func createPrivateFile(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("create agent database: %w", err)
	}
	return f.Close()
}

// requirePrivate refuses a file that group or others can access.
func requirePrivate(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%s has mode %04o and is accessible to group or others: run `chmod 600 %s` (and treat what it holds as exposed)", path, perm, path)
	}
	return nil
}

// update runs fn in a write transaction.
func (s *store) update(ctx context.Context, fn func(*sql.Tx) error) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// migrations are applied in order; PRAGMA user_version counts those done.
// Append only: a site upgrades its agent without touching its data.
var migrations = []string{
	// 1: outbox and its attachment files, inbox and its attachments,
	// refused inbox items, state.
	`CREATE TABLE outbox (
		seq              INTEGER PRIMARY KEY AUTOINCREMENT,
		id               TEXT NOT NULL UNIQUE,
		kind             TEXT NOT NULL,
		recipient        TEXT NOT NULL,
		transfer         TEXT NOT NULL,
		case_ref         TEXT NOT NULL,
		in_reply_to      TEXT NOT NULL DEFAULT '',
		origin           TEXT NOT NULL,
		draft_sha256     TEXT NOT NULL DEFAULT '',
		jws              BLOB NOT NULL,
		body_bytes       INTEGER NOT NULL,
		created_at       INTEGER NOT NULL,
		state            TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'sent', 'refused')),
		attempts         INTEGER NOT NULL DEFAULT 0,
		last_error       TEXT NOT NULL DEFAULT '',
		last_attempt_at  INTEGER,
		sent_at          INTEGER,
		leaf_index       INTEGER,
		hub_receipt      TEXT NOT NULL DEFAULT '',
		refused_code     TEXT NOT NULL DEFAULT '',
		refused_detail   TEXT NOT NULL DEFAULT '',
		receipted_at     INTEGER,
		delivery_receipt TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX outbox_by_state ON outbox (state, seq);
	CREATE INDEX outbox_by_transfer ON outbox (transfer, state, seq);
	CREATE TABLE outbox_attachments (
		message_id    TEXT NOT NULL REFERENCES outbox (id),
		attachment_id TEXT NOT NULL,
		path          TEXT NOT NULL,
		sha256        TEXT NOT NULL,
		size          INTEGER NOT NULL,
		uploaded_at   INTEGER,
		last_error    TEXT NOT NULL DEFAULT '',
		PRIMARY KEY (message_id, attachment_id)
	);
	CREATE TABLE inbox (
		id                   TEXT PRIMARY KEY,
		kind                 TEXT NOT NULL,
		sender               TEXT NOT NULL,
		transfer             TEXT NOT NULL,
		case_ref             TEXT NOT NULL,
		in_reply_to          TEXT NOT NULL DEFAULT '',
		envelope             BLOB NOT NULL,
		jws                  BLOB NOT NULL,
		plaintext            BLOB NOT NULL,
		hub_received_at      INTEGER NOT NULL,
		stored_at            INTEGER NOT NULL,
		violation_code       TEXT NOT NULL DEFAULT '',
		violation_categories TEXT NOT NULL DEFAULT '',
		report_id            TEXT NOT NULL DEFAULT '',
		read_at              INTEGER
	);
	CREATE INDEX inbox_by_stored ON inbox (stored_at);
	CREATE TABLE inbox_attachments (
		message_id    TEXT NOT NULL REFERENCES inbox (id),
		attachment_id TEXT NOT NULL,
		ref           BLOB NOT NULL,
		path          TEXT NOT NULL DEFAULT '',
		name          TEXT NOT NULL DEFAULT '',
		media_type    TEXT NOT NULL DEFAULT '',
		size          INTEGER NOT NULL DEFAULT 0,
		downloaded_at INTEGER,
		attempts      INTEGER NOT NULL DEFAULT 0,
		last_error    TEXT NOT NULL DEFAULT '',
		failed_code   TEXT NOT NULL DEFAULT '',
		PRIMARY KEY (message_id, attachment_id)
	);
	CREATE TABLE inbox_rejected (
		id   TEXT PRIMARY KEY,
		code TEXT NOT NULL,
		at   INTEGER NOT NULL
	);
	CREATE TABLE state (
		key        TEXT PRIMARY KEY,
		value      BLOB NOT NULL,
		updated_at INTEGER NOT NULL
	);`,
}

func (s *store) migrate(ctx context.Context) error {
	return s.update(ctx, func(tx *sql.Tx) error {
		var version int
		if err := tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if version > len(migrations) {
			return fmt.Errorf("agent database schema version %d is newer than this relais (%d): upgrade relais", version, len(migrations))
		}
		for i := version; i < len(migrations); i++ {
			if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
				return fmt.Errorf("agent database migration %d: %w", i+1, err)
			}
		}
		// PRAGMA takes no bound parameters; the value is an integer we made.
		_, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, len(migrations)))
		return err
	})
}

// millis is how times are stored: Unix milliseconds.
func millis(t time.Time) int64 { return t.UnixMilli() }

func fromMillis(ms sql.NullInt64) time.Time {
	if !ms.Valid {
		return time.Time{}
	}
	return time.UnixMilli(ms.Int64).UTC()
}

// errNotFound is returned by lookups of absent rows.
var errNotFound = errors.New("not found")
