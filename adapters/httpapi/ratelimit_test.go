package httpapi

import (
	"fmt"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

func TestTheBucketTableStaysBoundedUnderForgedNames(t *testing.T) {
	b := newBuckets(rate.Every(time.Second), 3)
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	for i := 0; i < maxBuckets+500; i++ {
		b.get(fmt.Sprintf("forged-%d", i), now)
	}
	if n := len(b.m); n != maxBuckets {
		t.Fatalf("%d buckets after %d names, want the table capped at %d", n, maxBuckets+500, maxBuckets)
	}
	// Past the cap, newcomers share the overflow bucket...
	if got := b.get("newcomer", now); got != b.overflow {
		t.Fatal("a name past the cap got a bucket of its own")
	}
	// ...until idle, full buckets are dropped to make room.
	later := now.Add(bucketIdle + time.Minute)
	if got := b.get("newcomer", later); got == b.overflow {
		t.Fatal("idle buckets were not reclaimed")
	}
	if n := len(b.m); n > maxBuckets {
		t.Fatalf("%d buckets after reclaiming", n)
	}
}

func TestABucketInUseIsNotReclaimed(t *testing.T) {
	b := newBuckets(rate.Every(time.Hour), 2)
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	busy := b.get("ml.dnpef", now)
	busy.AllowN(now, 2) // empty: it holds state worth keeping
	for i := 0; i < maxBuckets; i++ {
		b.get(fmt.Sprintf("forged-%d", i), now)
	}
	later := now.Add(bucketIdle + time.Minute)
	b.get("newcomer", later) // sweeps the idle, full buckets
	if got := b.get("ml.dnpef", later); got != busy {
		t.Fatal("an emptied bucket was reclaimed: its owner got a fresh burst")
	}
}

func TestDisabledRatesMakeNoTable(t *testing.T) {
	if newBuckets(0, 10) != nil {
		t.Fatal("a zero rate built a table")
	}
}
