package agent

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"time"
)

// Keys of the state table. Values hold no personal data: the hub's public
// directory, a cursor, times, problem codes and transfer metadata.
const (
	stateDirectory   = "directory"
	stateDirectoryAt = "directory_at"
	stateCursor      = "inbox_cursor"
	stateLastSync    = "last_sync_at"
	stateLastError   = "last_error"
	stateLastErrorAt = "last_error_at"
	stateOverdue     = "overdue_transfers"
	stateOverdueAt   = "overdue_at"
)

func (s *store) getState(ctx context.Context, key string) ([]byte, time.Time, error) {
	var v []byte
	var at int64
	err := s.db.QueryRowContext(ctx, `SELECT value, updated_at FROM state WHERE key = ?`, key).Scan(&v, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, time.Time{}, errNotFound
	}
	if err != nil {
		return nil, time.Time{}, err
	}
	return v, time.UnixMilli(at).UTC(), nil
}

func setStateTx(ctx context.Context, tx *sql.Tx, key string, value []byte, at time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO state (key, value, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`, key, value, millis(at))
	return err
}

func (s *store) setState(ctx context.Context, at time.Time, kv ...string) error {
	return s.update(ctx, func(tx *sql.Tx) error {
		for i := 0; i+1 < len(kv); i += 2 {
			if err := setStateTx(ctx, tx, kv[i], []byte(kv[i+1]), at); err != nil {
				return err
			}
		}
		return nil
	})
}

// stateTime reads a time stored as Unix milliseconds; zero when absent.
func (s *store) stateTime(ctx context.Context, key string) (time.Time, error) {
	v, _, err := s.getState(ctx, key)
	if errors.Is(err, errNotFound) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	ms, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return time.Time{}, nil
	}
	return time.UnixMilli(ms).UTC(), nil
}

func formatMillis(t time.Time) string { return strconv.FormatInt(millis(t), 10) }
