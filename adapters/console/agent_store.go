package console

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	_ "modernc.org/sqlite" // the pure-Go SQLite driver, as the agent's
)

// consoleDB is the console's own tables at the site: accounts, drafts and
// who acknowledged which message. It lives beside the agent's database in
// the agent's directory, mode 0600, WAL, synchronous=FULL: drafts hold a
// child's data as the agent's inbox does, and survive power cuts as it does.
type consoleDB struct {
	db  *sql.DB
	now func() time.Time
}

// DatabaseFile is the console's database, in the agent's directory.
const DatabaseFile = "console.db"

const consoleSchema = `
CREATE TABLE IF NOT EXISTS console_users (
	username       TEXT PRIMARY KEY,
	display        TEXT NOT NULL,
	role           TEXT NOT NULL CHECK (role IN ('case_worker', 'supervisor')),
	password       TEXT NOT NULL,
	disabled       INTEGER NOT NULL DEFAULT 0,
	created_at     INTEGER NOT NULL,
	supervisor_key BLOB,
	supervisor_kid TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS console_drafts (
	id          TEXT PRIMARY KEY,
	author      TEXT NOT NULL,
	form        BLOB NOT NULL,
	status      TEXT NOT NULL CHECK (status IN ('draft', 'awaiting_approval', 'approved', 'sent')),
	approved_by TEXT NOT NULL DEFAULT '',
	approval    TEXT NOT NULL DEFAULT '',
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS console_acks (
	message_id TEXT PRIMARY KEY,
	username   TEXT NOT NULL,
	at         INTEGER NOT NULL
);`

func openConsoleDB(ctx context.Context, path string, now func() time.Time) (*consoleDB, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("console database: %w", err)
	}
	f.Close()
	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s is readable by other users: chmod 600 it", path)
	}
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "busy_timeout(20000)")
	q.Add("_pragma", "secure_delete(1)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("console database: %w", err)
	}
	db.SetMaxOpenConns(2)
	if _, err := db.ExecContext(ctx, consoleSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("console database schema: %w", err)
	}
	return &consoleDB{db: db, now: now}, nil
}

func (d *consoleDB) close() error { return d.db.Close() }

// account is one console user of the site.
type account struct {
	Username      string
	Display       string
	Role          Role
	Password      string
	Disabled      bool
	Created       time.Time
	SupervisorKey []byte // sealed with the user's password
	SupervisorKID string
}

var errNoAccount = errors.New("no such account")

func (d *consoleDB) countUsers(ctx context.Context) (int, error) {
	var n int
	err := d.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM console_users`).Scan(&n)
	return n, err
}

func (d *consoleDB) user(ctx context.Context, username string) (account, error) {
	var a account
	var disabled int
	var created int64
	err := d.db.QueryRowContext(ctx, `SELECT username, display, role, password, disabled, created_at, supervisor_key, supervisor_kid
FROM console_users WHERE username = ?`, username).Scan(&a.Username, &a.Display, &a.Role, &a.Password, &disabled, &created, &a.SupervisorKey, &a.SupervisorKID)
	if errors.Is(err, sql.ErrNoRows) {
		return a, errNoAccount
	}
	a.Disabled, a.Created = disabled == 1, time.UnixMilli(created)
	return a, err
}

func (d *consoleDB) users(ctx context.Context) ([]account, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT username, display, role, disabled, created_at, supervisor_kid FROM console_users ORDER BY username`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []account
	for rows.Next() {
		var a account
		var disabled int
		var created int64
		if err := rows.Scan(&a.Username, &a.Display, &a.Role, &disabled, &created, &a.SupervisorKID); err != nil {
			return nil, err
		}
		a.Disabled, a.Created = disabled == 1, time.UnixMilli(created)
		out = append(out, a)
	}
	return out, rows.Err()
}

func (d *consoleDB) addUser(ctx context.Context, a account) error {
	_, err := d.db.ExecContext(ctx, `INSERT INTO console_users (username, display, role, password, created_at) VALUES (?, ?, ?, ?, ?)`,
		a.Username, a.Display, string(a.Role), a.Password, d.now().UnixMilli())
	return err
}

// setPassword replaces a password; a supervisor key sealed with the old one
// cannot be opened any more and is dropped.
func (d *consoleDB) setPassword(ctx context.Context, username, hash string) error {
	_, err := d.db.ExecContext(ctx, `UPDATE console_users SET password = ?, supervisor_key = NULL, supervisor_kid = '' WHERE username = ?`, hash, username)
	return err
}

func (d *consoleDB) setDisabled(ctx context.Context, username string, disabled bool) error {
	v := 0
	if disabled {
		v = 1
	}
	_, err := d.db.ExecContext(ctx, `UPDATE console_users SET disabled = ? WHERE username = ?`, v, username)
	return err
}

func (d *consoleDB) setSupervisorKey(ctx context.Context, username string, sealed []byte, kid string) error {
	_, err := d.db.ExecContext(ctx, `UPDATE console_users SET supervisor_key = ?, supervisor_kid = ? WHERE username = ?`, sealed, kid, username)
	return err
}

// draft is a referral being written: the form as typed, so that it comes
// back exactly, even when it does not validate yet.
type draft struct {
	ID         string
	Author     string
	Form       url.Values
	Status     string
	ApprovedBy string
	Approval   string
	Created    time.Time
	Updated    time.Time
}

// Draft states.
const (
	draftOpen     = "draft"
	draftAwaiting = "awaiting_approval"
	draftApproved = "approved"
	draftSent     = "sent"
)

var errNoDraft = errors.New("no such draft")

func (d *consoleDB) saveDraft(ctx context.Context, dr draft) error {
	form, err := json.Marshal(dr.Form)
	if err != nil {
		return err
	}
	now := d.now().UnixMilli()
	_, err = d.db.ExecContext(ctx, `INSERT INTO console_drafts (id, author, form, status, approved_by, approval, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET form = excluded.form, status = excluded.status, approved_by = excluded.approved_by,
	approval = excluded.approval, updated_at = excluded.updated_at`,
		dr.ID, dr.Author, form, dr.Status, dr.ApprovedBy, dr.Approval, now, now)
	return err
}

func (d *consoleDB) draft(ctx context.Context, id string) (draft, error) {
	row := d.db.QueryRowContext(ctx, `SELECT id, author, form, status, approved_by, approval, created_at, updated_at FROM console_drafts WHERE id = ?`, id)
	dr, err := scanDraft(row)
	if errors.Is(err, sql.ErrNoRows) {
		return dr, errNoDraft
	}
	return dr, err
}

func (d *consoleDB) drafts(ctx context.Context, status ...string) ([]draft, error) {
	q := `SELECT id, author, form, status, approved_by, approval, created_at, updated_at FROM console_drafts`
	var args []any
	if len(status) > 0 {
		q += ` WHERE status IN (?` + repeat(",?", len(status)-1) + `)`
		for _, s := range status {
			args = append(args, s)
		}
	}
	q += ` ORDER BY updated_at DESC`
	rows, err := d.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []draft
	for rows.Next() {
		dr, err := scanDraft(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, dr)
	}
	return out, rows.Err()
}

func repeat(s string, n int) string {
	out := ""
	for range n {
		out += s
	}
	return out
}

type rowScanner interface{ Scan(dest ...any) error }

func scanDraft(row rowScanner) (draft, error) {
	var dr draft
	var form []byte
	var created, updated int64
	if err := row.Scan(&dr.ID, &dr.Author, &form, &dr.Status, &dr.ApprovedBy, &dr.Approval, &created, &updated); err != nil {
		return dr, err
	}
	if err := json.Unmarshal(form, &dr.Form); err != nil {
		return dr, fmt.Errorf("draft %s: %w", dr.ID, err)
	}
	dr.Created, dr.Updated = time.UnixMilli(created), time.UnixMilli(updated)
	return dr, nil
}

// deleteDraft removes a sent draft's form: the sealed message in the
// agent's outbox is the record from then on, and the child's data should
// not linger in two places.
func (d *consoleDB) deleteDraft(ctx context.Context, id string) error {
	_, err := d.db.ExecContext(ctx, `DELETE FROM console_drafts WHERE id = ?`, id)
	return err
}

func (d *consoleDB) acknowledge(ctx context.Context, messageID, username string) error {
	_, err := d.db.ExecContext(ctx, `INSERT INTO console_acks (message_id, username, at) VALUES (?, ?, ?) ON CONFLICT (message_id) DO NOTHING`,
		messageID, username, d.now().UnixMilli())
	return err
}

// ack is who acknowledged a message, and when.
type ack struct {
	Username string
	At       time.Time
}

func (d *consoleDB) acks(ctx context.Context) (map[string]ack, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT message_id, username, at FROM console_acks`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]ack{}
	for rows.Next() {
		var id string
		var a ack
		var at int64
		if err := rows.Scan(&id, &a.Username, &at); err != nil {
			return nil, err
		}
		a.At = time.UnixMilli(at)
		out[id] = a
	}
	return out, rows.Err()
}
