package stats

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Indexer keeps the opening codes statistics need (purpose, age band)
// from the opening envelopes, before an erasure empties them. A release
// catches up first; running the Indexer in the background as well keeps
// the window in which an erasure can beat it short.
type Indexer struct {
	Source Source
	// Interval between two catch-ups (DefaultIndexInterval when 0).
	Interval time.Duration
	Logger   *slog.Logger
}

// DefaultIndexInterval is how often Run catches up.
const DefaultIndexInterval = 10 * time.Second

// indexBatch bounds the envelopes read in one go.
const indexBatch = 500

// CatchUp indexes every opening not indexed yet and returns how many.
func (ix *Indexer) CatchUp(ctx context.Context) (int, error) {
	total := 0
	for {
		openings, err := ix.Source.UnindexedOpenings(ctx, indexBatch)
		if err != nil {
			return total, fmt.Errorf("index openings: %w", err)
		}
		if len(openings) == 0 {
			return total, nil
		}
		codes := make([]OpeningCodes, len(openings))
		for i, o := range openings {
			codes[i] = codesOf(o.Transfer, o.JWS)
		}
		if err := ix.Source.SaveOpeningCodes(ctx, codes); err != nil {
			return total, fmt.Errorf("index openings: %w", err)
		}
		total += len(codes)
		if len(openings) < indexBatch {
			return total, nil
		}
	}
}

// Run catches up every Interval until ctx ends.
func (ix *Indexer) Run(ctx context.Context) {
	interval := ix.Interval
	if interval <= 0 {
		interval = DefaultIndexInterval
	}
	log := ix.Logger
	if log == nil {
		log = slog.Default()
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		if _, err := ix.CatchUp(ctx); err != nil && ctx.Err() == nil {
			log.Warn("statistics index", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}
