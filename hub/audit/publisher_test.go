package audit

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestPublisherPublishesOnlyWhenTheLogGrew(t *testing.T) {
	ctx := context.Background()
	db, _ := openSQLite(t)
	l := newLog(t, DialectSQLite, hubKey)
	p := &Publisher{Log: l, DB: db, Interval: time.Hour}

	_, cp, err := p.PublishIfGrown(ctx)
	if err != nil || cp == nil || cp.Size != 0 {
		t.Fatalf("first publication of an empty log: %+v, %v", cp, err)
	}
	if _, cp, err := p.PublishIfGrown(ctx); err != nil || cp != nil {
		t.Fatalf("published %+v (%v) although nothing was appended", cp, err)
	}
	appendEvents(t, db, l, 0, 4)
	if _, cp, err := p.PublishIfGrown(ctx); err != nil || cp == nil || cp.Size != 4 {
		t.Fatalf("after growth: %+v, %v", cp, err)
	}
	if _, cp, err := p.PublishIfGrown(ctx); err != nil || cp != nil {
		t.Fatalf("published %+v (%v) twice at the same size", cp, err)
	}
}

func TestRunCheckpointerPublishesAtItsIntervalUntilCancelled(t *testing.T) {
	db, _ := openSQLite(t)
	l := newLog(t, DialectSQLite, hubKey)
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var published []uint64
	p := &Publisher{Log: l, DB: db, Interval: 10 * time.Millisecond,
		OnPublish: func(cp SignedCheckpoint) { mu.Lock(); published = append(published, cp.Size); mu.Unlock() },
		OnError:   func(err error) { t.Errorf("publisher: %v", err) },
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()

	latestSize := func() uint64 {
		cp, err := l.LatestCheckpoint(context.Background(), db)
		if errors.Is(err, ErrNotFound) {
			return 0
		}
		if err != nil {
			t.Errorf("latest: %v", err)
		}
		return cp.Size
	}
	appendEvents(t, db, l, 0, 3)
	eventually(t, 5*time.Second, "a checkpoint of size 3", func() bool { return latestSize() == 3 })
	appendEvents(t, db, l, 3, 2)
	eventually(t, 5*time.Second, "a checkpoint of size 5", func() bool { return latestSize() == 5 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run returned %v after cancel", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i < len(published); i++ {
		if published[i] <= published[i-1] {
			t.Fatalf("published sizes %v: a size was published twice", published)
		}
	}
}

func TestLogRunCheckpointerStopsWithItsContext(t *testing.T) {
	db, _ := openSQLite(t)
	l := newLog(t, DialectSQLite, hubKey)
	appendEvents(t, db, l, 0, 2)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.RunCheckpointer(ctx, db, 10*time.Millisecond) }()
	eventually(t, 5*time.Second, "the first checkpoint", func() bool {
		cp, err := l.LatestCheckpoint(context.Background(), db)
		return err == nil && cp.Size == 2
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("RunCheckpointer did not stop")
	}
}
