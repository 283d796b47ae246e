package audit

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/transparency-dev/merkle/testonly"
)

func TestSQLiteBindsDollarPlaceholders(t *testing.T) {
	db, _ := openSQLite(t)
	var a, b string
	// Out of order and repeated: $N must bind the N-th argument, not the
	// N-th placeholder occurrence.
	if err := db.QueryRow(`SELECT $2 || $1, $1`, "x", "y").Scan(&a, &b); err != nil {
		t.Fatal(err)
	}
	if a != "yx" || b != "x" {
		t.Fatalf("got %q, %q; want \"yx\", \"x\"", a, b)
	}
}

func TestMigrationsAreIdempotentAndStartEmpty(t *testing.T) {
	forEachStore(t, func(t *testing.T, s store, db *sql.DB) {
		ctx := context.Background()
		if err := Migrate(ctx, db, s.dialect); err != nil {
			t.Fatalf("second migration: %v", err)
		}
		l := newLog(t, s.dialect, hubKey)
		size, root, err := l.Head(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		if size != 0 || !bytes.Equal(root, hasher.EmptyRoot()) {
			t.Fatalf("empty head = %d %x, want 0 and the empty root", size, root)
		}
	})
	if Migrations("mysql") != nil {
		t.Fatal("unknown dialect should have no migrations")
	}
}

// TestStoredTreeMatchesTheRFC6962TestVectors loads the reference leaves of
// the transparency-dev test set into the database and checks that the stored
// tree has the reference roots and serves the reference proofs.
func TestStoredTreeMatchesTheRFC6962TestVectors(t *testing.T) {
	vec := loadVectors(t)
	forEachStore(t, func(t *testing.T, s store, db *sql.DB) {
		ctx := context.Background()
		l := newLog(t, s.dialect, hubKey)
		for i, leaf := range testonly.LeafInputs() {
			inTx(t, db, func(tx *sql.Tx) {
				idx, err := l.appendLeaves(ctx, tx, [][]byte{leaf})
				if err != nil || idx != uint64(i) {
					t.Fatalf("append reference leaf %d: index %d, %v", i, idx, err)
				}
			})
			size, root, err := l.Head(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			if want := testonly.RootHashes()[size]; !bytes.Equal(root, want) {
				t.Fatalf("root at size %d = %x, want %x", size, root, want)
			}
		}
		for _, v := range vec.Inclusion {
			if v.Leaf == 0 {
				continue // the set's deliberately invalid {0, 0} entry
			}
			got, err := l.InclusionProof(ctx, db, v.Leaf-1, v.Size)
			if err != nil {
				t.Fatal(err)
			}
			if !equalProofs(got, v.Proof) {
				t.Errorf("inclusion proof of leaf %d in size %d differs from the reference", v.Leaf-1, v.Size)
			}
		}
		for _, v := range vec.Consistency {
			got, err := l.ConsistencyProof(ctx, db, v.Size1, v.Size2)
			if err != nil {
				t.Fatal(err)
			}
			if !equalProofs(got, v.Proof) {
				t.Errorf("consistency proof %d→%d differs from the reference", v.Size1, v.Size2)
			}
		}
	})
}

// TestEveryProofRoundTripsThroughTheVerifier appends events one transaction
// at a time and, at every size, proves every index and every pair of sizes,
// comparing with the transparency-dev reference tree and verifying through
// VerifyInclusion and VerifyConsistency.
func TestEveryProofRoundTripsThroughTheVerifier(t *testing.T) {
	forEachStore(t, func(t *testing.T, s store, db *sql.DB) {
		maxSize := 300
		if s.dialect == DialectPostgres {
			maxSize = 70 // each proof is a network round trip
		}
		if testing.Short() {
			maxSize = 40
		}
		ctx := context.Background()
		l := newLog(t, s.dialect, hubKey)
		ref := testonly.New(hasher)
		leaves := make([][]byte, 0, maxSize)
		roots := [][]byte{hasher.EmptyRoot()}
		for i := range maxSize {
			var idx uint64
			inTx(t, db, func(tx *sql.Tx) {
				var err error
				if idx, err = l.Append(ctx, tx, testEvent(i)); err != nil {
					t.Fatal(err)
				}
			})
			if idx != uint64(i) {
				t.Fatalf("append %d got index %d", i, idx)
			}
			_, raw, err := l.Leaf(ctx, db, idx)
			if err != nil {
				t.Fatal(err)
			}
			leaves = append(leaves, raw)
			ref.AppendData(raw)
			_, root, err := l.Head(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(root, ref.Hash()) {
				t.Fatalf("root at size %d differs from the reference tree", i+1)
			}
			roots = append(roots, root)
		}
		cp := func(size int) Checkpoint {
			return Checkpoint{Origin: testOrigin, Size: uint64(size), Root: roots[size]}
		}
		for size := 1; size <= maxSize; size++ {
			for index := range size {
				p, err := l.InclusionProof(ctx, db, uint64(index), uint64(size))
				if err != nil {
					t.Fatal(err)
				}
				want, _ := ref.InclusionProof(uint64(index), uint64(size))
				if !equalHashes(p, want) {
					t.Fatalf("inclusion proof (%d, %d) differs from the reference", index, size)
				}
				if err := VerifyInclusion(leaves[index], uint64(index), p, cp(size)); err != nil {
					t.Fatalf("inclusion (%d, %d): %v", index, size, err)
				}
			}
			for size1 := 0; size1 <= size; size1++ {
				p, err := l.ConsistencyProof(ctx, db, uint64(size1), uint64(size))
				if err != nil {
					t.Fatal(err)
				}
				want, _ := ref.ConsistencyProof(uint64(size1), uint64(size))
				if !equalHashes(p, want) {
					t.Fatalf("consistency proof %d→%d differs from the reference", size1, size)
				}
				if err := VerifyConsistency(cp(size1), cp(size), p); err != nil {
					t.Fatalf("consistency %d→%d: %v", size1, size, err)
				}
			}
		}
		// A proof only ever holds for its own leaf, index and size.
		p, _ := l.InclusionProof(ctx, db, 3, uint64(maxSize))
		wantFailure(t, VerifyInclusion(leaves[4], 3, p, cp(maxSize)), ErrNotIncluded, "audit_inclusion_failed")
		wantFailure(t, VerifyInclusion(leaves[3], 4, p, cp(maxSize)), ErrNotIncluded, "audit_inclusion_failed")
		wantFailure(t, VerifyInclusion(leaves[3], 3, p, cp(maxSize-1)), ErrNotIncluded, "audit_inclusion_failed")
	})
}

func TestProofsBeyondTheHeadAreRefused(t *testing.T) {
	db, _ := openSQLite(t)
	l := newLog(t, DialectSQLite, hubKey)
	appendEvents(t, db, l, 0, 5)
	ctx := context.Background()
	if _, err := l.InclusionProof(ctx, db, 2, 6); !errors.Is(err, ErrBeyondHead) {
		t.Fatalf("inclusion beyond head: %v", err)
	}
	if _, err := l.InclusionProof(ctx, db, 5, 5); err == nil {
		t.Fatal("inclusion of index == size accepted")
	}
	if _, err := l.ConsistencyProof(ctx, db, 2, 6); !errors.Is(err, ErrBeyondHead) {
		t.Fatalf("consistency beyond head: %v", err)
	}
	if _, _, err := l.Leaf(ctx, db, 5); !errors.Is(err, ErrNotFound) {
		t.Fatalf("leaf beyond head: %v", err)
	}
}

func TestARolledBackAppendLeavesNoTrace(t *testing.T) {
	forEachStore(t, func(t *testing.T, s store, db *sql.DB) {
		ctx := context.Background()
		l := newLog(t, s.dialect, hubKey)
		appendEvents(t, db, l, 0, 3)
		_, before, _ := l.Head(ctx, db)

		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if idx, err := l.Append(ctx, tx, testEvent(100)); err != nil || idx != 3 {
			t.Fatalf("append: %d %v", idx, err)
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		size, after, _ := l.Head(ctx, db)
		if size != 3 || !bytes.Equal(before, after) {
			t.Fatalf("head moved to %d after rollback", size)
		}
		// The next append takes the rolled-back index, and the tree stays
		// consistent with what was committed.
		appendEvents(t, db, l, 200, 1)
		p, err := l.ConsistencyProof(ctx, db, 3, 4)
		if err != nil {
			t.Fatal(err)
		}
		_, root4, _ := l.Head(ctx, db)
		if err := VerifyConsistency(Checkpoint{testOrigin, 3, before}, Checkpoint{testOrigin, 4, root4}, p); err != nil {
			t.Fatal(err)
		}
	})
}

func TestAppendBatchSequencesEventsInOrder(t *testing.T) {
	forEachStore(t, func(t *testing.T, s store, db *sql.DB) {
		ctx := context.Background()
		l := newLog(t, s.dialect, hubKey)
		appendEvents(t, db, l, 0, 2)
		events := make([]Event, 450) // more than one multi-row INSERT
		for i := range events {
			events[i] = testEvent(10 + i)
		}
		inTx(t, db, func(tx *sql.Tx) {
			first, err := l.AppendBatch(ctx, tx, events)
			if err != nil || first != 2 {
				t.Fatalf("batch: first %d, %v", first, err)
			}
		})
		ref := testonly.New(hasher)
		for i := range 452 {
			_, raw, err := l.Leaf(ctx, db, uint64(i))
			if err != nil {
				t.Fatal(err)
			}
			ref.AppendData(raw)
		}
		size, root, _ := l.Head(ctx, db)
		if size != 452 || !bytes.Equal(root, ref.Hash()) {
			t.Fatalf("head after batch: size %d, root matches reference: %v", size, bytes.Equal(root, ref.Hash()))
		}
		if ev, _, _ := l.Leaf(ctx, db, 451); ev.MessageID != testEvent(459).MessageID {
			t.Fatalf("last leaf is %s, want %s", ev.MessageID, testEvent(459).MessageID)
		}
		inTx(t, db, func(tx *sql.Tx) {
			bad := []Event{testEvent(1), {Type: "bad type"}}
			if _, err := l.AppendBatch(ctx, tx, bad); !errors.Is(err, ErrInvalidEvent) {
				t.Fatalf("batch with an invalid event: %v", err)
			}
		})
		if size2, _, _ := l.Head(ctx, db); size2 != size {
			t.Fatal("an invalid batch was partly logged")
		}
	})
}

// TestConcurrentWritersBuildOneLog simulates several hub processes (one
// *sql.DB each) appending to the same database at once: every append gets a
// distinct index and the result is one well-formed tree.
func TestConcurrentWritersBuildOneLog(t *testing.T) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			first, dsn := s.open(t)
			const writers, perWriter = 4, 25
			var mu sync.Mutex
			var got []uint64
			var wg sync.WaitGroup
			errs := make(chan error, writers)
			for w := range writers {
				db, err := sql.Open(s.driver, dsn)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				l := newLog(t, s.dialect, hubKey)
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range perWriter {
						idx, err := appendOnce(db, l, testEvent(1000*w+i))
						if err != nil {
							errs <- fmt.Errorf("writer %d append %d: %w", w, i, err)
							return
						}
						mu.Lock()
						got = append(got, idx)
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			slices.Sort(got)
			for i, idx := range got {
				if idx != uint64(i) {
					t.Fatalf("indexes are not 0..%d without gaps or repeats: %v", writers*perWriter-1, got)
				}
			}
			ctx := context.Background()
			l := newLog(t, s.dialect, hubKey)
			ref := testonly.New(hasher)
			for i := range writers * perWriter {
				_, raw, err := l.Leaf(ctx, first, uint64(i))
				if err != nil {
					t.Fatal(err)
				}
				ref.AppendData(raw)
			}
			size, root, _ := l.Head(ctx, first)
			if size != writers*perWriter || !bytes.Equal(root, ref.Hash()) {
				t.Fatalf("head size %d; root equals the tree of the stored leaves: %v", size, bytes.Equal(root, ref.Hash()))
			}
		})
	}
}

func appendOnce(db *sql.DB, l *Log, ev Event) (uint64, error) {
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	idx, err := l.Append(ctx, tx, ev)
	if err != nil {
		return 0, err
	}
	return idx, tx.Commit()
}

func TestCheckpointsAreSignedStoredAndStable(t *testing.T) {
	forEachStore(t, func(t *testing.T, s store, db *sql.DB) {
		ctx := context.Background()
		l := newLog(t, s.dialect, hubKey)
		if _, err := l.LatestCheckpoint(ctx, db); !errors.Is(err, ErrNotFound) {
			t.Fatalf("latest checkpoint of a new log: %v", err)
		}
		appendEvents(t, db, l, 0, 9)
		cp := mustCheckpoint(t, db, l)
		size, root, _ := l.Head(ctx, db)
		if cp.Size != size || !bytes.Equal(cp.Root, root) || cp.Origin != testOrigin {
			t.Fatalf("checkpoint %+v does not name the head (%d)", cp.Checkpoint, size)
		}
		parsed, err := ParseCheckpoint(cp.Note, testOrigin, l.PublicKey())
		if err != nil {
			t.Fatal(err)
		}
		if parsed.Size != 9 || !bytes.Equal(parsed.Root, root) {
			t.Fatalf("parsed checkpoint %+v", parsed)
		}
		if !bytes.HasPrefix(cp.Note, []byte(testOrigin+"\n9\n")) || !bytes.Contains(cp.Note, []byte("\n\n— "+testOrigin+" ")) {
			t.Fatalf("not a C2SP signed checkpoint:\n%s", cp.Note)
		}
		again := mustCheckpoint(t, db, l)
		if !bytes.Equal(again.Note, cp.Note) {
			t.Fatal("checkpointing the same head twice gave two different notes")
		}
		appendEvents(t, db, l, 9, 3)
		mustCheckpoint(t, db, l)
		latest, err := l.LatestCheckpoint(ctx, db)
		if err != nil || latest.Size != 12 {
			t.Fatalf("latest checkpoint size %d, %v", latest.Size, err)
		}
		old, err := l.CheckpointAt(ctx, db, 9)
		if err != nil || !bytes.Equal(old.Note, cp.Note) {
			t.Fatalf("checkpoint at 9: %v", err)
		}
	})
}

func TestNewRejectsABadConfig(t *testing.T) {
	cases := map[string]Config{
		"an unknown dialect":     {Origin: testOrigin, Signer: hubKey, Dialect: "mysql"},
		"no key":                 {Origin: testOrigin, Dialect: DialectSQLite},
		"an empty origin":        {Signer: hubKey, Dialect: DialectSQLite},
		"an origin with a space": {Origin: "relais hub", Signer: hubKey, Dialect: DialectSQLite},
		"an origin with a plus":  {Origin: "relais+hub", Signer: hubKey, Dialect: DialectSQLite},
		"an origin on two lines": {Origin: "relais\nhub", Signer: hubKey, Dialect: DialectSQLite},
	}
	for name, cfg := range cases {
		t.Run("it refuses "+name, func(t *testing.T) {
			if _, err := New(cfg); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func equalHashes(a, b [][]byte) bool {
	return slices.EqualFunc(a, b, bytes.Equal)
}
