package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/relais-hub/relais/hub"
)

// The case-transfer lifecycle's queries (hub.LifecycleStore, hub.LifecycleTx).

var _ hub.LifecycleStore = (*Store)(nil)
var _ hub.LifecycleTx = (*Tx)(nil)

// stampHolder fills in who holds the case for an event of a transfer that
// does not name it: the transfer row as this transaction sees it.
func (t *Tx) stampHolder(ctx context.Context, e *hub.Event) error {
	if e.Holder != "" || e.Transfer == "" {
		return nil
	}
	err := t.tx.QueryRowContext(ctx, t.s.rebind(`SELECT holder FROM transfers WHERE id = ?`), e.Transfer).Scan(&e.Holder)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("event holder: %w", err)
	}
	return nil
}

func (t *Tx) LastSeq(ctx context.Context, transfer, agency string) (uint64, error) {
	var seq int64
	err := t.tx.QueryRowContext(ctx, t.s.rebind(`SELECT last_seq FROM transfer_seqs WHERE transfer = ? AND sender = ?`), transfer, agency).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("last seq: %w", err)
	}
	return uint64(seq), nil
}

func (t *Tx) SaveSeq(ctx context.Context, transfer, agency string, seq uint64) error {
	_, err := t.exec(ctx, `INSERT INTO transfer_seqs (transfer, sender, last_seq) VALUES (?, ?, ?)
ON CONFLICT (transfer, sender) DO UPDATE SET last_seq = excluded.last_seq`, transfer, agency, int64(seq))
	if err != nil {
		return fmt.Errorf("save seq: %w", err)
	}
	return nil
}

func (t *Tx) KindSenders(ctx context.Context, transfer, kind string) ([]string, error) {
	rows, err := t.tx.QueryContext(ctx, t.s.rebind(`SELECT DISTINCT sender FROM messages WHERE transfer = ? AND kind = ? ORDER BY sender`), transfer, kind)
	if err != nil {
		return nil, fmt.Errorf("kind senders: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func (t *Tx) LatestOfKind(ctx context.Context, transfer, kind string) (hub.StoredMessage, error) {
	return scanMessage(t.tx.QueryRowContext(ctx, t.s.rebind(`SELECT `+messageColumns+` FROM messages
WHERE transfer = ? AND kind = ? ORDER BY leaf_index DESC LIMIT 1`), transfer, kind))
}

func (t *Tx) LinkTransfer(ctx context.Context, transfer, previous string) error {
	if _, err := t.exec(ctx, `UPDATE transfers SET previous = ? WHERE id = ?`, previous, transfer); err != nil {
		return fmt.Errorf("link transfer: %w", err)
	}
	return nil
}

// EraseTransfer empties the JWS of the transfer's messages but those of the
// kept kinds. SQLite runs with secure_delete (OpenSQLite), so the engine
// zeroes the freed space instead of leaving the old bytes in free pages;
// ReclaimErased then flushes the write-ahead log that still holds the old
// page versions.
func (t *Tx) EraseTransfer(ctx context.Context, transfer string, keep []string, at time.Time) (int, error) {
	notKept := ""
	args := []any{transfer}
	if len(keep) > 0 {
		notKept = ` AND kind NOT IN (` + qmarks(len(keep)) + `)`
		for _, k := range keep {
			args = append(args, k)
		}
	}
	length := "length(jws)"
	if t.s.dialect == Postgres {
		length = "octet_length(jws)"
	}
	if _, err := t.exec(ctx, `DELETE FROM outbox WHERE message_id IN (SELECT id FROM messages WHERE transfer = ?`+notKept+`)`, args...); err != nil {
		return 0, fmt.Errorf("erase transfer: outbox: %w", err)
	}
	res, err := t.exec(ctx, `UPDATE messages SET jws = ?,
  receipted_at = CASE WHEN receipted_at = 0 THEN ? ELSE receipted_at END,
  receipted_by = CASE WHEN receipted_at = 0 THEN 'erased' ELSE receipted_by END
WHERE transfer = ?`+notKept+` AND `+length+` > 0`, append([]any{[]byte{}, micros(at)}, args...)...)
	if err != nil {
		return 0, fmt.Errorf("erase transfer: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// ReclaimErased drops old versions of erased rows from the engine's files.
// SQLite keeps them in the write-ahead log until a checkpoint copies the
// new pages over and the log is truncated; a checkpoint that readers block
// is reported, for the hub to try again. PostgreSQL keeps dead row versions
// until VACUUM makes their space reusable.
func (s *Store) ReclaimErased(ctx context.Context) error {
	if s.dialect == Postgres {
		if _, err := s.db.ExecContext(ctx, `VACUUM messages`); err != nil {
			return fmt.Errorf("reclaim erased: %w", err)
		}
		return nil
	}
	return s.betweenWrites(ctx, func() error {
		var busy, logFrames, checkpointed int
		if err := s.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logFrames, &checkpointed); err != nil {
			return fmt.Errorf("reclaim erased: %w", err)
		}
		if busy != 0 {
			return fmt.Errorf("reclaim erased: checkpoint blocked by readers (%d of %d frames)", checkpointed, logFrames)
		}
		return nil
	})
}

func (t *Tx) ArmTimers(ctx context.Context, timers []hub.Timer) error {
	for _, tm := range timers {
		_, err := t.exec(ctx, `INSERT INTO timers (transfer, kind, subject, party, stage, due_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (transfer, subject, party, stage) DO UPDATE SET kind = excluded.kind, due_at = excluded.due_at,
  created_at = excluded.created_at, fired_at = 0, escalated_to = ''`,
			tm.Transfer, string(tm.Kind), tm.Subject, tm.Party, string(tm.Stage), micros(tm.DueAt), micros(tm.CreatedAt))
		if err != nil {
			return fmt.Errorf("arm timer: %w", err)
		}
	}
	return nil
}

func (t *Tx) CancelTimers(ctx context.Context, transfer, subject, party string) error {
	q := `DELETE FROM timers WHERE transfer = ?`
	args := []any{transfer}
	if subject != "" {
		q += ` AND subject = ?`
		args = append(args, subject)
	}
	if party != "" {
		q += ` AND party = ?`
		args = append(args, party)
	}
	if _, err := t.exec(ctx, q, args...); err != nil {
		return fmt.Errorf("cancel timers: %w", err)
	}
	return nil
}

const timerColumns = `tm.id, tm.transfer, tm.kind, tm.subject, tm.party, tm.stage, tm.due_at, tm.created_at, tm.fired_at, tm.escalated_to`

func scanTimer(row interface{ Scan(...any) error }, extra ...any) (hub.Timer, error) {
	var tm hub.Timer
	var kind, stage string
	var due, created, fired int64
	dest := append([]any{&tm.ID, &tm.Transfer, &kind, &tm.Subject, &tm.Party, &stage, &due, &created, &fired, &tm.EscalatedTo}, extra...)
	if err := row.Scan(dest...); err != nil {
		return tm, err
	}
	tm.Kind, tm.Stage = hub.TimerKind(kind), hub.TimerStage(stage)
	tm.DueAt, tm.CreatedAt, tm.FiredAt = fromMicros(due), fromMicros(created), fromMicros(fired)
	return tm, nil
}

// ClaimDueTimers locks due timers. On PostgreSQL, rows another hub is
// firing are skipped rather than waited for; on SQLite the transaction is
// the only writer. Either way a timer is fired by exactly one transaction,
// which marks it before it commits.
func (t *Tx) ClaimDueTimers(ctx context.Context, now time.Time, limit int) ([]hub.Timer, error) {
	q := `SELECT ` + timerColumns + `, tr.case_digest FROM timers tm JOIN transfers tr ON tr.id = tm.transfer
WHERE tm.fired_at = 0 AND tm.due_at <= ? ORDER BY tm.due_at, tm.id LIMIT ?`
	if t.s.dialect == Postgres {
		q += ` FOR UPDATE OF tm SKIP LOCKED`
	}
	rows, err := t.tx.QueryContext(ctx, t.s.rebind(q), micros(now), limit)
	if err != nil {
		return nil, fmt.Errorf("claim timers: %w", err)
	}
	defer rows.Close()
	var out []hub.Timer
	for rows.Next() {
		var digest string
		tm, err := scanTimer(rows, &digest)
		if err != nil {
			return nil, err
		}
		tm.CaseDigest = digest
		out = append(out, tm)
	}
	return out, rows.Err()
}

func (t *Tx) MarkTimerFired(ctx context.Context, id int64, at time.Time, escalatedTo string) error {
	if _, err := t.exec(ctx, `UPDATE timers SET fired_at = ?, escalated_to = ? WHERE id = ?`, micros(at), escalatedTo, id); err != nil {
		return fmt.Errorf("mark timer fired: %w", err)
	}
	return nil
}

func (t *Tx) ReportsTo(ctx context.Context, agency string) (string, error) {
	var to string
	err := t.tx.QueryRowContext(ctx, t.s.rebind(`SELECT reports_to FROM agencies WHERE id = ?`), agency).Scan(&to)
	if errors.Is(err, sql.ErrNoRows) {
		return "", hub.ErrNotFound
	}
	return to, err
}

func (t *Tx) SetReportsTo(ctx context.Context, agency, reportsTo string) error {
	if _, err := t.exec(ctx, `UPDATE agencies SET reports_to = ? WHERE id = ?`, reportsTo, agency); err != nil {
		return fmt.Errorf("set reports_to: %w", err)
	}
	return nil
}

// Transfers lists the transfers an agency is a party to, or had a deadline
// escalated to, with their passed and unmet deadlines.
func (s *Store) Transfers(ctx context.Context, q hub.TransferQuery) ([]hub.TransferSummary, error) {
	where := []string{`(tr.sender = ? OR tr.recipient = ? OR tr.id IN (SELECT transfer FROM timers WHERE escalated_to = ? AND fired_at > 0))`}
	args := []any{q.Agency, q.Agency, q.Agency}
	if q.State != hub.StateNone {
		where = append(where, `tr.state = ?`)
		args = append(args, string(q.State))
	}
	if q.Overdue {
		where = append(where, `EXISTS (SELECT 1 FROM timers o WHERE o.transfer = tr.id AND o.fired_at > 0)`)
	}
	args = append(args, q.Limit)
	rows, err := s.db.QueryContext(ctx, s.rebind(`SELECT tr.id, tr.sender, tr.recipient, tr.case_digest, tr.state, tr.holder, tr.opened_at, tr.updated_at, tr.previous
FROM transfers tr WHERE `+strings.Join(where, " AND ")+` ORDER BY tr.updated_at DESC, tr.id LIMIT ?`), args...)
	if err != nil {
		return nil, fmt.Errorf("transfers: %w", err)
	}
	var out []hub.TransferSummary
	index := map[string]int{}
	for rows.Next() {
		var ts hub.TransferSummary
		var state string
		var opened, updated int64
		if err := rows.Scan(&ts.ID, &ts.Sender, &ts.Recipient, &ts.CaseDigest, &state, &ts.Holder, &opened, &updated, &ts.Previous); err != nil {
			rows.Close()
			return nil, err
		}
		ts.State, ts.OpenedAt, ts.UpdatedAt = hub.State(state), fromMicros(opened), fromMicros(updated)
		index[ts.ID] = len(out)
		out = append(out, ts)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return out, nil
	}
	ids := make([]any, 0, len(out))
	for _, ts := range out {
		ids = append(ids, ts.ID)
	}
	trows, err := s.db.QueryContext(ctx, s.rebind(`SELECT `+timerColumns+` FROM timers tm
WHERE tm.fired_at > 0 AND tm.transfer IN (`+qmarks(len(ids))+`) ORDER BY tm.due_at, tm.id`), ids...)
	if err != nil {
		return nil, fmt.Errorf("transfers: deadlines: %w", err)
	}
	defer trows.Close()
	for trows.Next() {
		tm, err := scanTimer(trows)
		if err != nil {
			return nil, err
		}
		i := index[tm.Transfer]
		out[i].Overdue = append(out[i].Overdue, tm)
	}
	return out, trows.Err()
}

// qmarks is n comma-separated placeholders.
func qmarks(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}
