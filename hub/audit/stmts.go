package audit

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
)

// stmtCache keeps prepared statements per *sql.DB for the read paths.
// modernc.org/sqlite prepares every unprepared query anew, and for the node
// lookup of a proof the prepare costs about three times the lookup itself.
// Queries through a *sql.Tx are not cached: a transaction does not reveal its
// database, and appends run one lookup each.
type stmtCache struct {
	mu sync.Mutex
	m  map[stmtKey]*sql.Stmt
}

type stmtKey struct {
	db    *sql.DB
	query string
}

// maxCachedStmts bounds the cache (node lookups vary by node count, so a
// database needs at most a few hundred); past it the cache starts over.
const maxCachedStmts = 1024

func (c *stmtCache) prepared(ctx context.Context, db *sql.DB, query string) (*sql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := stmtKey{db, query}
	if st, ok := c.m[key]; ok {
		return st, nil
	}
	if c.m == nil || len(c.m) >= maxCachedStmts {
		for _, st := range c.m {
			st.Close()
		}
		c.m = make(map[stmtKey]*sql.Stmt)
	}
	st, err := db.PrepareContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	c.m[key] = st
	return st, nil
}

func (c *stmtCache) query(ctx context.Context, q Querier, query string, args ...any) (*sql.Rows, error) {
	db, ok := q.(*sql.DB)
	if !ok {
		return q.QueryContext(ctx, query, args...)
	}
	st, err := c.prepared(ctx, db, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

func (c *stmtCache) queryRow(ctx context.Context, q Querier, query string, args ...any) (*sql.Row, error) {
	db, ok := q.(*sql.DB)
	if !ok {
		return q.QueryRowContext(ctx, query, args...), nil
	}
	st, err := c.prepared(ctx, db, query)
	if err != nil {
		return nil, err
	}
	return st.QueryRowContext(ctx, args...), nil
}
