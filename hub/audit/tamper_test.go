package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/relais-hub/relais/contracts"
)

// These tests play an attacker with write access to the hub's database who
// tampers with the stored log in every way, with or without recomputing the
// tree, and with or without the hub's signing key. Each tampering must be
// caught by the offline bundle verifier or by a watcher that saw an earlier
// checkpoint.

// tamperFixture is a hub log of 20 events with a published checkpoint, and
// an auditor's watcher that has already verified that checkpoint.
type tamperFixture struct {
	db      *sql.DB
	log     *Log
	cp      SignedCheckpoint
	watcher *Watcher
	state   string
	pub     ed25519.PublicKey
}

func newTamperFixture(t *testing.T, s store) *tamperFixture {
	t.Helper()
	db, _ := s.open(t)
	l := newLog(t, s.dialect, hubKey)
	appendEvents(t, db, l, 0, 20)
	cp := mustCheckpoint(t, db, l)
	state := filepath.Join(t.TempDir(), "last-checkpoint")
	w, err := NewWatcher(state, testOrigin, l.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Observe(cp.Note, nil); err != nil {
		t.Fatal(err)
	}
	return &tamperFixture{db: db, log: l, cp: cp, watcher: w, state: state, pub: l.PublicKey()}
}

func (f *tamperFixture) exec(t *testing.T, query string, args ...any) {
	t.Helper()
	if _, err := f.db.Exec(query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// leaves returns the stored leaf bytes in index order.
func (f *tamperFixture) leaves(t *testing.T) [][]byte {
	t.Helper()
	rows, err := f.db.Query(`SELECT data FROM audit_leaves ORDER BY idx`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var d []byte
		if err := rows.Scan(&d); err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

// rewrite replaces the whole stored log by leaves, recomputing every hash
// and the head, so that the database is internally consistent again.
func (f *tamperFixture) rewrite(t *testing.T, leaves [][]byte) {
	t.Helper()
	f.exec(t, `DELETE FROM audit_leaves`)
	f.exec(t, `DELETE FROM audit_nodes`)
	f.exec(t, `UPDATE audit_head SET size = 0, root = $1 WHERE id = 1`, hasher.EmptyRoot())
	inTx(t, f.db, func(tx *sql.Tx) {
		if _, err := f.log.appendLeaves(context.Background(), tx, leaves); err != nil {
			t.Fatal(err)
		}
	})
}

// resignWithHubKey plays a compromised (or buggy) hub: it drops the stored
// checkpoints and signs the rewritten head with the real key.
func (f *tamperFixture) resignWithHubKey(t *testing.T) SignedCheckpoint {
	t.Helper()
	f.exec(t, `DELETE FROM audit_checkpoints`)
	return mustCheckpoint(t, f.db, f.log)
}

// resignWithoutHubKey plays an attacker without the key: same origin,
// another key.
func (f *tamperFixture) resignWithoutHubKey(t *testing.T) SignedCheckpoint {
	t.Helper()
	size, root, err := f.log.Head(context.Background(), f.db)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := newLog(t, DialectSQLite, testKey("attacker")).sign(size, root)
	if err != nil {
		t.Fatal(err)
	}
	return forged
}

// verifyStored builds a bundle of indexes from the stored log as the hub
// would serve it (proofs from the stored nodes, the stored checkpoint) and
// verifies it offline.
func (f *tamperFixture) verifyStored(t *testing.T, indexes ...uint64) (Report, error) {
	t.Helper()
	b, err := BuildBundle(context.Background(), f.db, f.log, indexes)
	if err != nil {
		t.Fatalf("build bundle: %v", err)
	}
	return VerifyBundle(marshalled(t, b), f.pub)
}

// assertWatcherKept checks a refused checkpoint left the watcher's state,
// in memory and on disk, at the original checkpoint.
func (f *tamperFixture) assertWatcherKept(t *testing.T) {
	t.Helper()
	last, ok := f.watcher.Last()
	if !ok || !bytes.Equal(last.Note, f.cp.Note) {
		t.Fatal("watcher moved to a refused checkpoint")
	}
	onDisk, err := os.ReadFile(f.state)
	if err != nil || !bytes.Equal(onDisk, f.cp.Note) {
		t.Fatalf("watcher state file changed after a refused checkpoint (%v)", err)
	}
}

func editedLeaf(t *testing.T, i int) []byte {
	ev := testEvent(i)
	ev.To = "ml.dnpef" // the record now says the child went elsewhere
	data, err := ev.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestTamperingWithTheStoredLogIsDetected(t *testing.T) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			t.Run("an edited leaf fails its inclusion proof", func(t *testing.T) {
				f := newTamperFixture(t, s)
				f.exec(t, `UPDATE audit_leaves SET data = $1 WHERE idx = 7`, editedLeaf(t, 7))
				rep, err := f.verifyStored(t, 6, 7, 8)
				wantFailure(t, err, ErrNotIncluded, contracts.CodeAuditInclusionFailed)
				if len(rep.Failures) != 1 || rep.Failures[0].Index != 7 || len(rep.Verified) != 2 {
					t.Fatalf("failures %+v, verified %d: want only event 7 to fail", rep.Failures, len(rep.Verified))
				}
			})
			t.Run("an edited leaf with a recomputed tree fails against the signed checkpoint", func(t *testing.T) {
				f := newTamperFixture(t, s)
				leaves := f.leaves(t)
				leaves[7] = editedLeaf(t, 7)
				f.rewrite(t, leaves)
				_, err := f.verifyStored(t, 7)
				wantFailure(t, err, ErrNotIncluded, contracts.CodeAuditInclusionFailed)
			})
			t.Run("an edited leaf re-signed without the hub key is refused", func(t *testing.T) {
				f := newTamperFixture(t, s)
				leaves := f.leaves(t)
				leaves[7] = editedLeaf(t, 7)
				f.rewrite(t, leaves)
				forged := f.resignWithoutHubKey(t)
				wantFailure(t, f.watcher.Observe(forged.Note, nil), ErrBadSignature, contracts.CodeAuditCheckpointInvalid)
				f.assertWatcherKept(t)
				b, err := BuildBundle(context.Background(), f.db, f.log, []uint64{7})
				if err != nil {
					t.Fatal(err)
				}
				b.Checkpoint = string(forged.Note)
				_, err = VerifyBundle(marshalled(t, b), f.pub)
				wantFailure(t, err, ErrBadSignature, contracts.CodeAuditCheckpointInvalid)
			})
			t.Run("an edited leaf re-signed with the hub key is a fork", func(t *testing.T) {
				f := newTamperFixture(t, s)
				leaves := f.leaves(t)
				leaves[7] = editedLeaf(t, 7)
				f.rewrite(t, leaves)
				forked := f.resignWithHubKey(t)
				if forked.Size != f.cp.Size {
					t.Fatalf("re-signed size %d", forked.Size)
				}
				// The rewritten, re-signed log is self-consistent: a bundle
				// alone cannot tell; the watcher's memory of history can.
				if _, err := f.verifyStored(t, 7); err != nil {
					t.Fatalf("a consistently rewritten log verifies on its own: %v", err)
				}
				wantFailure(t, f.watcher.Observe(forked.Note, nil), ErrFork, contracts.CodeAuditFork)
				f.assertWatcherKept(t)
			})
			t.Run("a deleted leaf leaves a hole the hub cannot prove", func(t *testing.T) {
				f := newTamperFixture(t, s)
				f.exec(t, `DELETE FROM audit_leaves WHERE idx = 5`)
				if _, err := BuildBundle(context.Background(), f.db, f.log, []uint64{5}); !errors.Is(err, ErrNotFound) {
					t.Fatalf("bundle of a deleted leaf: %v", err)
				}
			})
			t.Run("a deleted leaf with the later ones renumbered fails inclusion", func(t *testing.T) {
				f := newTamperFixture(t, s)
				f.exec(t, `DELETE FROM audit_leaves WHERE idx = 5`)
				renumber(t, f, 6, 20, -1)
				rep, err := f.verifyStored(t, 4, 5, 6)
				wantFailure(t, err, ErrNotIncluded, contracts.CodeAuditInclusionFailed)
				if len(rep.Failures) != 2 || rep.Failures[0].Index != 5 || rep.Failures[1].Index != 6 {
					t.Fatalf("failures %+v, want events 5 and 6", rep.Failures)
				}
			})
			t.Run("a deleted leaf with a recomputed tree re-signed with the hub key is a shrink", func(t *testing.T) {
				f := newTamperFixture(t, s)
				leaves := f.leaves(t)
				f.rewrite(t, append(leaves[:5:5], leaves[6:]...))
				shrunk := f.resignWithHubKey(t)
				wantFailure(t, f.watcher.Observe(shrunk.Note, nil), ErrShrunk, contracts.CodeAuditShrunk)
				f.assertWatcherKept(t)
			})
			t.Run("a deleted leaf replaced by a filler and re-signed with the hub key is a fork", func(t *testing.T) {
				f := newTamperFixture(t, s)
				leaves := f.leaves(t)
				filler, _ := testEvent(999).Encode()
				f.rewrite(t, append(append(leaves[:5:5], leaves[6:]...), filler))
				forked := f.resignWithHubKey(t)
				wantFailure(t, f.watcher.Observe(forked.Note, nil), ErrFork, contracts.CodeAuditFork)
			})
			t.Run("two reordered leaves both fail inclusion", func(t *testing.T) {
				f := newTamperFixture(t, s)
				leaves := f.leaves(t)
				f.exec(t, `UPDATE audit_leaves SET data = $1 WHERE idx = 3`, leaves[4])
				f.exec(t, `UPDATE audit_leaves SET data = $1 WHERE idx = 4`, leaves[3])
				rep, err := f.verifyStored(t, 3, 4)
				wantFailure(t, err, ErrNotIncluded, contracts.CodeAuditInclusionFailed)
				if len(rep.Failures) != 2 || len(rep.Verified) != 0 {
					t.Fatalf("failures %+v: want events 3 and 4", rep.Failures)
				}
			})
			t.Run("two reordered leaves with a recomputed tree re-signed with the hub key are a fork", func(t *testing.T) {
				f := newTamperFixture(t, s)
				leaves := f.leaves(t)
				leaves[3], leaves[4] = leaves[4], leaves[3]
				f.rewrite(t, leaves)
				_, err := f.verifyStored(t, 3)
				wantFailure(t, err, ErrNotIncluded, contracts.CodeAuditInclusionFailed)
				forked := f.resignWithHubKey(t)
				wantFailure(t, f.watcher.Observe(forked.Note, nil), ErrFork, contracts.CodeAuditFork)
			})
			t.Run("a truncated log re-signed without the hub key is refused", func(t *testing.T) {
				f := newTamperFixture(t, s)
				f.rewrite(t, f.leaves(t)[:12])
				forged := f.resignWithoutHubKey(t)
				wantFailure(t, f.watcher.Observe(forged.Note, nil), ErrBadSignature, contracts.CodeAuditCheckpointInvalid)
				f.assertWatcherKept(t)
			})
			t.Run("a truncated log with the old checkpoint's text edited is refused", func(t *testing.T) {
				f := newTamperFixture(t, s)
				f.rewrite(t, f.leaves(t)[:12])
				_, root, _ := f.log.Head(context.Background(), f.db)
				edited := editCheckpointBody(t, f.cp, 12, root)
				wantFailure(t, f.watcher.Observe(edited, nil), ErrBadSignature, contracts.CodeAuditCheckpointInvalid)
				f.assertWatcherKept(t)
			})
			t.Run("a truncated log re-signed with the hub key is a shrink", func(t *testing.T) {
				f := newTamperFixture(t, s)
				f.rewrite(t, f.leaves(t)[:12])
				shrunk := f.resignWithHubKey(t)
				wantFailure(t, f.watcher.Observe(shrunk.Note, nil), ErrShrunk, contracts.CodeAuditShrunk)
				f.assertWatcherKept(t)
			})
		})
	}
}

// renumber shifts the index of leaves [from, to) by delta.
func renumber(t *testing.T, f *tamperFixture, from, to, delta int) {
	t.Helper()
	for i := from; i < to; i++ {
		f.exec(t, `UPDATE audit_leaves SET idx = $1 WHERE idx = $2`, i+delta, i)
	}
}

// editCheckpointBody rewrites the size and root lines of a signed note,
// keeping the original signature line.
func editCheckpointBody(t *testing.T, cp SignedCheckpoint, size uint64, root []byte) []byte {
	t.Helper()
	text := string(cp.Note)
	body, sigs, ok := strings.Cut(text, "\n\n")
	if !ok {
		t.Fatalf("not a signed note: %q", text)
	}
	lines := strings.Split(body, "\n")
	lines[1] = strconv.FormatUint(size, 10)
	lines[2] = encodeRoot(root)
	return []byte(strings.Join(lines, "\n") + "\n\n" + sigs)
}

// TestTwoCorrectlySignedCheckpointsOfEqualSizeAreAFork simulates a
// compromised or buggy hub that shows two audiences two different logs, both
// signed with the real key.
func TestTwoCorrectlySignedCheckpointsOfEqualSizeAreAFork(t *testing.T) {
	ctx := context.Background()
	dbA, _ := openSQLite(t)
	dbB, _ := openSQLite(t)
	l := newLog(t, DialectSQLite, hubKey)
	appendEvents(t, dbA, l, 0, 20)
	appendEvents(t, dbB, l, 0, 10) // a shared prefix, then the views diverge
	appendEvents(t, dbB, l, 500, 10)
	cpA, cpB := mustCheckpoint(t, dbA, l), mustCheckpoint(t, dbB, l)
	if cpA.Size != cpB.Size || bytes.Equal(cpA.Root, cpB.Root) {
		t.Fatal("fixture is not a fork")
	}
	for _, cp := range []SignedCheckpoint{cpA, cpB} {
		if _, err := ParseCheckpoint(cp.Note, testOrigin, l.PublicKey()); err != nil {
			t.Fatalf("both checkpoints must be correctly signed: %v", err)
		}
	}
	wantFailure(t, VerifyConsistency(cpA.Checkpoint, cpB.Checkpoint, nil), ErrFork, contracts.CodeAuditFork)

	state := filepath.Join(t.TempDir(), "state")
	w, err := NewWatcher(state, testOrigin, l.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Observe(cpA.Note, nil); err != nil {
		t.Fatal(err)
	}
	wantFailure(t, w.Observe(cpB.Note, nil), ErrFork, contracts.CodeAuditFork)
	bogus, _ := l.ConsistencyProof(ctx, dbB, 10, 20)
	wantFailure(t, w.Observe(cpB.Note, bogus), ErrFork, contracts.CodeAuditFork)

	// The diverging view keeps growing: a larger checkpoint with a valid
	// proof from its own history still does not extend what was seen.
	appendEvents(t, dbB, l, 600, 5)
	cpB25 := mustCheckpoint(t, dbB, l)
	p, err := l.ConsistencyProof(ctx, dbB, 20, 25)
	if err != nil {
		t.Fatal(err)
	}
	wantFailure(t, w.Observe(cpB25.Note, p), ErrInconsistent, contracts.CodeAuditConsistencyFailed)
	if last, _ := w.Last(); !bytes.Equal(last.Note, cpA.Note) {
		t.Fatal("watcher moved to a forked checkpoint")
	}
}
