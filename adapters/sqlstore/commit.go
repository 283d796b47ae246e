package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/relais-hub/relais/hub"
)

// Group commit.
//
// Every Update of the hub ends in a commit, and a commit waits for the disk
// (SQLite synchronous=FULL, PostgreSQL fsync): one commit per update caps the
// hub at a few hundred updates a second whatever the CPU. So updates are not
// committed one by one: one writer goroutine per store takes every update
// that is waiting, runs each inside its own savepoint of one transaction, and
// commits them together. An update that fails rolls back to its savepoint and
// gets its own error; the others commit. The audit events of all of them are
// appended to the log in one go just before the commit (audit.Batch).
//
// The writer is also what keeps PostgreSQL free of deadlocks between hub
// processes: every write transaction locks the audit log's head first, so
// transactions of different processes queue on that one row instead of
// locking transfers in different orders (the head is where they would have
// queued anyway: every transaction that logs an event appends to it).
//
// database/sql has no group commit, and neither has Watermill's SQL adapter
// (it commits per message), hence this file.

const (
	// maxBatchSQLite bounds the updates of one SQLite transaction.
	maxBatchSQLite = 256
	// maxBatchPostgres stays under the 64 subtransactions PostgreSQL caches
	// per backend: past them every snapshot taken anywhere reads pg_subtrans.
	maxBatchPostgres = 48
)

// errClosed answers an update submitted after Close.
var errClosed = errors.New("store is closed")

type pendingUpdate struct {
	ctx context.Context
	fn  func(hub.Tx) error
	// alone, when set instead of fn, runs on the writer outside any
	// transaction, between two batches (a WAL checkpoint).
	alone func() error
	done  chan error
}

// writer is the store's single committing goroutine.
type writer struct {
	updates chan *pendingUpdate
	// mu guards closed; Update holds it for reading while it hands an
	// update over, so Close (which takes it for writing) never closes the
	// channel under a sender.
	mu     sync.RWMutex
	closed bool
	done   chan struct{}
	// commits and updates count committed transactions and the updates
	// they carried.
	commits, carried atomic.Uint64
}

// CommitStats reports how many transactions the writer committed and how
// many updates they carried: their ratio is the group commit's batch size.
func (s *Store) CommitStats() (commits, updates uint64) {
	return s.writer.commits.Load(), s.writer.carried.Load()
}

func (s *Store) startWriter() {
	s.writer = &writer{updates: make(chan *pendingUpdate, s.maxBatch()), done: make(chan struct{})}
	go s.writeLoop()
}

func (s *Store) maxBatch() int {
	if s.dialect == Postgres {
		return maxBatchPostgres
	}
	return maxBatchSQLite
}

// stopWriter lets the writer commit what it was handed, then stops it.
func (s *Store) stopWriter() {
	w := s.writer
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.updates)
	}
	w.mu.Unlock()
	<-w.done
}

// Update runs fn in a transaction: everything fn wrote is committed, or
// nothing is. fn runs on the store's writer goroutine, together with other
// updates (see above); it must not call Update itself.
func (s *Store) Update(ctx context.Context, fn func(hub.Tx) error) error {
	return s.submit(&pendingUpdate{ctx: ctx, fn: fn, done: make(chan error, 1)})
}

// betweenWrites runs fn on the writer while no transaction is open.
func (s *Store) betweenWrites(ctx context.Context, fn func() error) error {
	return s.submit(&pendingUpdate{ctx: ctx, alone: fn, done: make(chan error, 1)})
}

func (s *Store) submit(u *pendingUpdate) error {
	if err := u.ctx.Err(); err != nil {
		return err
	}
	w := s.writer
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return errClosed
	}
	w.updates <- u
	w.mu.RUnlock()
	// Wait for the outcome even if ctx ends meanwhile: once handed over,
	// the update may commit, and the caller must not report otherwise.
	return <-u.done
}

func (s *Store) writeLoop() {
	defer close(s.writer.done)
	max := s.maxBatch()
	batch := make([]*pendingUpdate, 0, max)
	var held *pendingUpdate // taken from the queue, not yet run
	for {
		u := held
		held = nil
		if u == nil {
			var ok bool
			if u, ok = <-s.writer.updates; !ok {
				return
			}
		}
		if u.alone != nil {
			u.done <- u.alone()
			continue
		}
		batch = append(batch[:0], u)
	gather:
		for len(batch) < max {
			select {
			case next, ok := <-s.writer.updates:
				if !ok {
					break gather
				}
				if next.alone != nil {
					held = next
					break gather
				}
				batch = append(batch, next)
			default:
				break gather
			}
		}
		s.commitBatch(batch)
		clear(batch)
	}
}

func (s *Store) commitBatch(batch []*pendingUpdate) {
	if len(batch) == 1 {
		err := s.commitAlone(batch[0])
		if err == nil {
			s.writer.commits.Add(1)
			s.writer.carried.Add(1)
		}
		batch[0].done <- err
		return
	}
	errs, err := s.commitTogether(batch)
	if err != nil {
		// The transaction as a whole failed (a lost connection, a disk
		// error): none of it was committed, so each update runs again on
		// its own and gets its own answer.
		for _, u := range batch {
			u.done <- s.commitAlone(u)
		}
		return
	}
	s.writer.commits.Add(1)
	s.writer.carried.Add(uint64(len(batch)))
	for i, u := range batch {
		u.done <- errs[i]
	}
}

// begin opens a write transaction and, on PostgreSQL, locks the audit head
// before anything else (see the top of this file). With savepoint, the
// transaction also sets the savepoint its first update runs in, in the same
// round trip.
func (s *Store) begin(savepoint bool) (*Tx, error) {
	ctx := context.Background()
	sqlTx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	var first []string
	if s.dialect == Postgres {
		first = append(first, `SELECT 1 FROM audit_head WHERE id = 1 FOR UPDATE`)
	}
	if savepoint {
		first = append(first, `SAVEPOINT relais_update`)
	}
	if len(first) > 0 {
		// Statements without arguments go out together (PostgreSQL's
		// simple protocol; SQLite runs each in turn).
		if _, err := sqlTx.ExecContext(ctx, strings.Join(first, "; ")); err != nil {
			_ = sqlTx.Rollback()
			return nil, fmt.Errorf("begin: lock the audit head: %w", err)
		}
	}
	return &Tx{tx: txConn{tx: sqlTx, s: s}, s: s, events: s.audit.NewBatch()}, nil
}

// commit appends the transaction's audit events and commits.
func (t *Tx) commit() error {
	ctx := context.Background()
	if err := t.events.Flush(ctx, t.tx.tx); err != nil {
		_ = t.tx.tx.Rollback()
		return fmt.Errorf("append audit events: %w", err)
	}
	if err := t.tx.tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func (s *Store) commitAlone(u *pendingUpdate) error {
	if err := u.ctx.Err(); err != nil {
		return err
	}
	t, err := s.begin(false)
	if err != nil {
		return err
	}
	if err := u.run(t); err != nil {
		_ = t.tx.tx.Rollback()
		return err
	}
	return t.commit()
}

// run calls the update's function. A panic in it becomes that update's
// error: it runs on the writer goroutine, where an unrecovered panic would
// take every other update, and the hub, down with it.
func (u *pendingUpdate) run(t *Tx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("update panicked: %v", r)
		}
	}()
	return u.fn(t)
}

// commitTogether runs each update in a savepoint of one transaction and
// commits. It returns each update's own error, or an error of the
// transaction as a whole, in which case nothing was committed.
//
// One savepoint serves all the updates: a failed update rolls back to it
// (which keeps it), a successful one releases it and sets it again in the
// same round trip, and the commit releases the last.
func (s *Store) commitTogether(batch []*pendingUpdate) ([]error, error) {
	ctx := context.Background()
	t, err := s.begin(true)
	if err != nil {
		return nil, err
	}
	raw := t.tx.tx
	abort := func(err error) ([]error, error) {
		_ = raw.Rollback()
		return nil, err
	}
	errs := make([]error, len(batch))
	for i, u := range batch {
		if errs[i] = u.ctx.Err(); errs[i] != nil {
			continue
		}
		logged := t.events.Len()
		if errs[i] = u.run(t); errs[i] != nil {
			if _, err := raw.ExecContext(ctx, `ROLLBACK TO SAVEPOINT relais_update`); err != nil {
				return abort(fmt.Errorf("rollback to savepoint: %w", err))
			}
			t.events.Truncate(logged)
			continue
		}
		if i < len(batch)-1 {
			if _, err := raw.ExecContext(ctx, `RELEASE SAVEPOINT relais_update; SAVEPOINT relais_update`); err != nil {
				return abort(fmt.Errorf("savepoint: %w", err))
			}
		}
	}
	if err := t.commit(); err != nil {
		return nil, err
	}
	return errs, nil
}

// txConn runs a transaction's statements for the store's code. A statement
// runs with its caller's context values (request ids) but not its
// cancellation: the transaction is shared, and a client that hangs up must
// not abort other clients' updates (the writer's own bound is the commit).
// On SQLite, statements come from the store's prepared-statement cache.
type txConn struct {
	tx *sql.Tx
	s  *Store
}

func (c txConn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx = context.WithoutCancel(ctx)
	if st := c.s.stmts.get(ctx, c.s, query); st != nil {
		return c.tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return c.tx.ExecContext(ctx, query, args...)
}

func (c txConn) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	ctx = context.WithoutCancel(ctx)
	if st := c.s.stmts.get(ctx, c.s, query); st != nil {
		return c.tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return c.tx.QueryContext(ctx, query, args...)
}

func (c txConn) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	ctx = context.WithoutCancel(ctx)
	if st := c.s.stmts.get(ctx, c.s, query); st != nil {
		return c.tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return c.tx.QueryRowContext(ctx, query, args...)
}

// stmtCache keeps SQLite statements prepared. modernc.org/sqlite compiles
// every statement it is given as text anew, and compiling was 17 % of the
// embedded hub's CPU; pgx already caches prepared statements per connection,
// so PostgreSQL does without.
type stmtCache struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// maxCachedStmts bounds the cache: the store's statements are fixed texts,
// a few hundred at most; past the bound the cache starts over.
const maxCachedStmts = 512

// get returns query prepared, or nil when it should run unprepared (not
// SQLite, or the prepare failed: running it reports the error).
func (c *stmtCache) get(ctx context.Context, s *Store, query string) *sql.Stmt {
	if s.dialect != SQLite {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[query]; ok {
		return st
	}
	if c.m == nil || len(c.m) >= maxCachedStmts {
		for _, st := range c.m {
			st.Close()
		}
		c.m = make(map[string]*sql.Stmt)
	}
	st, err := s.db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	c.m[query] = st
	return st
}

// dbConn runs the store's reads outside transactions, through the same
// statement cache.
type dbConn struct{ s *Store }

func (c dbConn) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := c.s.stmts.get(ctx, c.s, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return c.s.db.QueryContext(ctx, query, args...)
}

func (c dbConn) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := c.s.stmts.get(ctx, c.s, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return c.s.db.QueryRowContext(ctx, query, args...)
}
