package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Publisher signs and stores a checkpoint at a fixed interval whenever the
// log has grown since the last stored checkpoint. With several hub
// processes, each may run one: the stored checkpoints decide whether the log
// grew, and signing the same head twice gives the same checkpoint.
type Publisher struct {
	Log      *Log
	DB       *sql.DB
	Interval time.Duration
	// OnPublish, if set, is called with every new checkpoint.
	OnPublish func(SignedCheckpoint)
	// OnError, if set, is called with every failed attempt; the publisher
	// keeps running and retries at the next tick.
	OnError func(error)
}

// Run publishes until ctx is done, starting with one attempt immediately.
// It returns nil when ctx is cancelled.
func (p *Publisher) Run(ctx context.Context) error {
	if p.Log == nil || p.DB == nil || p.Interval <= 0 {
		return fmt.Errorf("audit: publisher needs a log, a database and a positive interval")
	}
	ticker := time.NewTicker(p.Interval)
	defer ticker.Stop()
	for {
		if _, published, err := p.PublishIfGrown(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if p.OnError != nil {
				p.OnError(err)
			}
		} else if published != nil && p.OnPublish != nil {
			p.OnPublish(*published)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

// PublishIfGrown publishes a checkpoint if the head is larger than the
// latest stored checkpoint (or none is stored yet). It returns the head size
// and the new checkpoint, nil when there was nothing to publish.
func (p *Publisher) PublishIfGrown(ctx context.Context) (uint64, *SignedCheckpoint, error) {
	size, _, err := p.Log.Head(ctx, p.DB)
	if err != nil {
		return 0, nil, err
	}
	latest, err := p.Log.LatestCheckpoint(ctx, p.DB)
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return size, nil, err
	case latest.Size >= size:
		return size, nil, nil
	}
	cp, err := p.Log.Checkpoint(ctx, p.DB)
	if err != nil {
		return size, nil, err
	}
	return cp.Size, &cp, nil
}

// RunCheckpointer publishes a checkpoint every interval when the log grew,
// until ctx is done. Failed attempts are retried at the next tick; use a
// Publisher directly to observe them.
func (l *Log) RunCheckpointer(ctx context.Context, db *sql.DB, interval time.Duration) error {
	p := &Publisher{Log: l, DB: db, Interval: interval}
	return p.Run(ctx)
}
