package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/relais-hub/relais/adapters/sqlstore"
	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/hub/audit"
)

// Updates run concurrently are committed together (group commit), but each
// keeps its own all-or-nothing: a failing update leaves neither rows nor
// audit leaves, the others commit, and the log's indexes stay dense and
// match what each update was told.
func TestConcurrentUpdatesCommitOrFailOnTheirOwn(t *testing.T) {
	eachStore(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := context.Background()
		seed(t, s, "ml-dnpef", "ci-dpe")
		const n = 200
		errFail := errors.New("refused on purpose")
		idx := make([]uint64, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := fmt.Sprintf("01JBATCH%018d", i)
				errs[i] = s.Update(ctx, func(tx hub.Tx) error {
					m := msg(id, "ci-dpe", "ml-dnpef")
					var err error
					if idx[i], err = tx.AppendEvent(ctx, hub.Event{Type: hub.EventAccepted, At: t0, MessageID: id, Transfer: id, Kind: m.Kind, From: m.From, To: m.To, Actor: m.From}); err != nil {
						return err
					}
					m.LeafIndex = idx[i]
					if err := tx.InsertMessage(ctx, m); err != nil {
						return err
					}
					if i%3 == 0 {
						// Written, then refused: the savepoint must undo the
						// message and forget the event.
						return errFail
					}
					return nil
				})
			}()
		}
		wg.Wait()
		if commits, updates := s.CommitStats(); commits >= updates {
			t.Fatalf("%d commits for %d updates: the updates were not committed together", commits, updates)
		} else {
			t.Logf("%d updates in %d commits", updates, commits)
		}

		committed := map[uint64]string{}
		for i := range n {
			id := fmt.Sprintf("01JBATCH%018d", i)
			_, err := s.Message(ctx, id)
			if i%3 == 0 {
				if !errors.Is(errs[i], errFail) {
					t.Fatalf("update %d: got %v, want its own error", i, errs[i])
				}
				if !errors.Is(err, hub.ErrNotFound) {
					t.Fatalf("refused update %d left its message behind (err=%v)", i, err)
				}
				continue
			}
			if errs[i] != nil {
				t.Fatalf("update %d failed: %v", i, errs[i])
			}
			if err != nil {
				t.Fatalf("committed update %d: %v", i, err)
			}
			if other, dup := committed[idx[i]]; dup {
				t.Fatalf("index %d handed to %s and %s", idx[i], other, id)
			}
			committed[idx[i]] = id
		}
		size, _, err := s.AuditLog().Head(ctx, s.AuditDB())
		if err != nil {
			t.Fatal(err)
		}
		if int(size) != len(committed) {
			t.Fatalf("log holds %d leaves, %d updates committed an event", size, len(committed))
		}
		for i := range size {
			ev, _, err := s.AuditLog().Leaf(ctx, s.AuditDB(), i)
			if err != nil {
				t.Fatalf("leaf %d: %v", i, err)
			}
			if committed[i] != ev.MessageID {
				t.Fatalf("leaf %d logs %s, but %s was told it had that index", i, ev.MessageID, committed[i])
			}
		}
		cp, err := s.AuditLog().Checkpoint(ctx, s.AuditDB())
		if err != nil {
			t.Fatal(err)
		}
		for i := range size {
			_, leaf, err := s.AuditLog().Leaf(ctx, s.AuditDB(), i)
			if err != nil {
				t.Fatal(err)
			}
			proof, err := s.AuditLog().InclusionProof(ctx, s.AuditDB(), i, cp.Size)
			if err != nil {
				t.Fatal(err)
			}
			if err := audit.VerifyInclusion(leaf, i, proof, cp.Checkpoint); err != nil {
				t.Fatalf("leaf %d does not verify against the checkpoint: %v", i, err)
			}
		}
	})
}

// An update whose caller gave up (context cancelled) while it waited is not
// run, and one that was already handed over still gets its outcome.
func TestUpdateWithCancelledContextChangesNothing(t *testing.T) {
	eachStore(t, func(t *testing.T, s *sqlstore.Store) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		ran := false
		err := s.Update(ctx, func(tx hub.Tx) error { ran = true; return nil })
		if !errors.Is(err, context.Canceled) || ran {
			t.Fatalf("cancelled update: err=%v ran=%v", err, ran)
		}
	})
}

// A panicking update fails on its own; the store's writer goes on serving
// the others.
func TestAPanickingUpdateFailsAloneAndTheWriterGoesOn(t *testing.T) {
	eachStore(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := context.Background()
		seed(t, s, "ml-dnpef", "ci-dpe")
		err := s.Update(ctx, func(tx hub.Tx) error {
			if err := tx.InsertMessage(ctx, msg("01JPANIC00000000000000000", "ci-dpe", "ml-dnpef")); err != nil {
				return err
			}
			panic("a bug in a use case")
		})
		if err == nil {
			t.Fatal("a panicking update reported success")
		}
		if _, err := s.Message(ctx, "01JPANIC00000000000000000"); !errors.Is(err, hub.ErrNotFound) {
			t.Fatalf("the panicking update's write was kept (err=%v)", err)
		}
		// The same inside a group commit: the others still commit.
		var wg sync.WaitGroup
		errs := make([]error, 30)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := fmt.Sprintf("01JAFTER%018d", i)
				errs[i] = s.Update(ctx, func(tx hub.Tx) error {
					if err := tx.InsertMessage(ctx, msg(id, "ci-dpe", "ml-dnpef")); err != nil {
						return err
					}
					if i == 7 {
						panic("a bug in a use case")
					}
					return nil
				})
			}()
		}
		wg.Wait()
		for i, err := range errs {
			_, found := s.Message(ctx, fmt.Sprintf("01JAFTER%018d", i))
			if i == 7 {
				if err == nil || !errors.Is(found, hub.ErrNotFound) {
					t.Fatalf("the panicking update in a batch: err=%v, its write kept=%v", err, found == nil)
				}
				continue
			}
			if err != nil || found != nil {
				t.Fatalf("update %d next to a panicking one: err=%v, read=%v", i, err, found)
			}
		}
	})
}
