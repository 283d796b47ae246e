package sqlstore_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/relais-hub/relais/adapters/sqlstore"
	"github.com/relais-hub/relais/hub"
)

// update runs fn in a transaction and fails the test on error.
func update(t *testing.T, s *sqlstore.Store, fn func(ctx context.Context, tx hub.Tx) error) {
	t.Helper()
	ctx := context.Background()
	if err := s.Update(ctx, func(tx hub.Tx) error { return fn(ctx, tx) }); err != nil {
		t.Fatal(err)
	}
}

func timer(transfer, subject, party string, stage hub.TimerStage, due time.Time) hub.Timer {
	return hub.Timer{Transfer: transfer, Kind: hub.TimerAnswer, Subject: subject, Party: party, Stage: stage, DueAt: due, CreatedAt: t0}
}

func TestLifecycleStoreContract(t *testing.T) {
	ctx := context.Background()
	transfer := hub.Transfer{ID: "t1", Sender: "ci.a", Recipient: "ml.b", CaseDigest: "d", State: hub.StateAccepted, Holder: "ml.b", OpenedAt: t0, UpdatedAt: t0}

	t.Run("a sender's last seq is kept per transfer", func(t *testing.T) {
		eachStore(t, func(t *testing.T, s *sqlstore.Store) {
			update(t, s, func(ctx context.Context, tx hub.Tx) error {
				if n, err := tx.LastSeq(ctx, "t1", "ci.a"); err != nil || n != 0 {
					t.Fatalf("no seq yet: %d, %v", n, err)
				}
				if err := tx.SaveSeq(ctx, "t1", "ci.a", 1); err != nil {
					return err
				}
				if err := tx.SaveSeq(ctx, "t1", "ci.a", 2); err != nil {
					return err
				}
				return tx.SaveSeq(ctx, "t2", "ci.a", 7)
			})
			update(t, s, func(ctx context.Context, tx hub.Tx) error {
				a, _ := tx.LastSeq(ctx, "t1", "ci.a")
				b, _ := tx.LastSeq(ctx, "t1", "ml.b")
				if a != 2 || b != 0 {
					t.Fatalf("seqs = %d, %d", a, b)
				}
				return nil
			})
		})
	})

	t.Run("events of a transfer carry its holder unless they name one", func(t *testing.T) {
		eachStore(t, func(t *testing.T, s *sqlstore.Store) {
			update(t, s, func(ctx context.Context, tx hub.Tx) error {
				if err := tx.SaveTransfer(ctx, transfer); err != nil {
					return err
				}
				for _, e := range []hub.Event{
					{Type: hub.EventAccepted, At: t0, Transfer: "t1"},
					{Type: hub.EventAccepted, At: t0, Transfer: "t1", Holder: "ci.a"},
					{Type: hub.EventAccepted, At: t0, Transfer: "unknown"},
				} {
					if _, err := tx.AppendEvent(ctx, e); err != nil {
						return err
					}
				}
				return nil
			})
			trail, err := s.Trail(ctx, "t1")
			if err != nil || len(trail) != 2 || trail[0].Holder != "ml.b" || trail[1].Holder != "ci.a" {
				t.Fatalf("trail = %+v, %v", trail, err)
			}
			if other, _ := s.Trail(ctx, "unknown"); len(other) != 1 || other[0].Holder != "" {
				t.Fatalf("event of an unknown transfer: %+v", other)
			}
		})
	})

	t.Run("timers are replaced, cancelled by subject and party, and claimed once due", func(t *testing.T) {
		eachStore(t, func(t *testing.T, s *sqlstore.Store) {
			update(t, s, func(ctx context.Context, tx hub.Tx) error {
				if err := tx.SaveTransfer(ctx, transfer); err != nil {
					return err
				}
				return tx.ArmTimers(ctx, []hub.Timer{
					timer("t1", "state:x", "ci.a", hub.StageReminder, t0.Add(time.Hour)),
					timer("t1", "state:x", "ml.b", hub.StageReminder, t0.Add(time.Hour)),
					timer("t1", "m1", "ml.b", hub.StageReminder, t0.Add(2*time.Hour)),
					timer("t1", "m1", "ml.b", hub.StageEscalation, t0.Add(3*time.Hour)),
				})
			})
			update(t, s, func(ctx context.Context, tx hub.Tx) error {
				// Re-arming replaces; cancelling one party leaves the other.
				if err := tx.ArmTimers(ctx, []hub.Timer{timer("t1", "m1", "ml.b", hub.StageReminder, t0.Add(90*time.Minute))}); err != nil {
					return err
				}
				return tx.CancelTimers(ctx, "t1", "state:x", "ci.a")
			})
			var due []hub.Timer
			update(t, s, func(ctx context.Context, tx hub.Tx) error {
				var err error
				due, err = tx.ClaimDueTimers(ctx, t0.Add(2*time.Hour), 10)
				for _, tm := range due {
					if err := tx.MarkTimerFired(ctx, tm.ID, t0.Add(2*time.Hour), ""); err != nil {
						return err
					}
				}
				return err
			})
			if len(due) != 2 || due[0].Party != "ml.b" || due[0].Subject != "state:x" || due[1].Subject != "m1" ||
				!due[1].DueAt.Equal(t0.Add(90*time.Minute)) || due[0].CaseDigest != "d" {
				t.Fatalf("due = %+v", due)
			}
			update(t, s, func(ctx context.Context, tx hub.Tx) error {
				again, err := tx.ClaimDueTimers(ctx, t0.Add(2*time.Hour), 10)
				if len(again) != 0 {
					t.Fatalf("fired timers claimed again: %+v", again)
				}
				return err
			})
			list, err := s.Transfers(ctx, hub.TransferQuery{Agency: "ci.a", Overdue: true, Limit: 10})
			if err != nil || len(list) != 1 || len(list[0].Overdue) != 2 {
				t.Fatalf("overdue list = %+v, %v", list, err)
			}
			update(t, s, func(ctx context.Context, tx hub.Tx) error { return tx.CancelTimers(ctx, "t1", "", "") })
			if list, _ := s.Transfers(ctx, hub.TransferQuery{Agency: "ci.a", Overdue: true, Limit: 10}); len(list) != 0 {
				t.Fatalf("still overdue after cancelling everything: %+v", list)
			}
		})
	})

	t.Run("concurrent claims fire each due timer exactly once", func(t *testing.T) {
		eachStore(t, func(t *testing.T, s *sqlstore.Store) {
			var timers []hub.Timer
			for i := range 40 {
				timers = append(timers, timer("t1", "m"+string(rune('a'+i%26))+string(rune('a'+i/26)), "ml.b", hub.StageReminder, t0))
			}
			update(t, s, func(ctx context.Context, tx hub.Tx) error {
				if err := tx.SaveTransfer(ctx, transfer); err != nil {
					return err
				}
				return tx.ArmTimers(ctx, timers)
			})
			var mu sync.Mutex
			var claimed []int64
			var wg sync.WaitGroup
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						var got []hub.Timer
						err := s.Update(ctx, func(tx hub.Tx) error {
							var err error
							if got, err = tx.ClaimDueTimers(ctx, t0, 3); err != nil {
								return err
							}
							for _, tm := range got {
								if err := tx.MarkTimerFired(ctx, tm.ID, t0, ""); err != nil {
									return err
								}
							}
							return nil
						})
						if err != nil {
							t.Error(err)
							return
						}
						if len(got) == 0 {
							return
						}
						mu.Lock()
						for _, tm := range got {
							claimed = append(claimed, tm.ID)
						}
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			slices.Sort(claimed)
			if len(claimed) != 40 || len(slices.Compact(claimed)) != 40 {
				t.Fatalf("claimed %d timers (%d distinct), want 40 once each", len(claimed), len(slices.Compact(slices.Clone(claimed))))
			}
		})
	})

	t.Run("erasure empties the JWS of all but the kept kinds and clears their inbox and outbox", func(t *testing.T) {
		eachStore(t, func(t *testing.T, s *sqlstore.Store) {
			seed(t, s, "ci.a", "ml.b")
			m1, m2, r, e := msg("m1", "ci.a", "ml.b"), msg("m2", "ml.b", "ci.a"), msg("r1", "ml.b", "ci.a"), msg("e1", "ci.a", "ml.b")
			m2.Kind, r.Kind, e.Kind = "family.assessment", "receipt", "case.erased"
			m2.Transfer, r.Transfer, e.Transfer = "m1", "m1", "m1"
			insert(t, s, m1, m2, r, e)
			deliver(t, s, "m2") // waiting, unreceipted, in ci.a's inbox
			var n int
			update(t, s, func(ctx context.Context, tx hub.Tx) error {
				var err error
				n, err = tx.EraseTransfer(ctx, "m1", []string{"receipt", "case.erased"}, t0.Add(time.Hour))
				return err
			})
			if n != 2 {
				t.Fatalf("erased %d messages, want 2", n)
			}
			for id, kept := range map[string]bool{"m1": false, "m2": false, "r1": true, "e1": true} {
				got, err := s.Message(ctx, id)
				if err != nil || (len(got.JWS) > 0) != kept || got.SHA256 != "sha-"+id {
					t.Errorf("%s after erasure: %d bytes of JWS, digest %s, %v", id, len(got.JWS), got.SHA256, err)
				}
			}
			if items, _ := s.Inbox(ctx, "ci.a", 0, 10); slices.ContainsFunc(items, func(it hub.InboxItem) bool { return it.ID == "m2" }) {
				t.Error("an erased message is still in the inbox")
			}
			pending, _ := s.PendingOutbox(ctx, 10)
			for _, it := range pending {
				if it.MessageID == "m1" || it.MessageID == "m2" {
					t.Errorf("erased message %s is still to be delivered", it.MessageID)
				}
			}
			if err := s.ReclaimErased(ctx); err != nil {
				t.Fatal(err)
			}
		})
	})

	t.Run("senders, the latest of a kind, links and directorates", func(t *testing.T) {
		eachStore(t, func(t *testing.T, s *sqlstore.Store) {
			seed(t, s, "ml.dir", "ml.b", "ci.a")
			a, b := msg("h1", "ci.a", "ml.b"), msg("h2", "ml.b", "ci.a")
			a.Kind, b.Kind, a.Transfer, b.Transfer, a.LeafIndex, b.LeafIndex = "handover.confirmation", "handover.confirmation", "t1", "t1", 5, 9
			insert(t, s, a, b)
			update(t, s, func(ctx context.Context, tx hub.Tx) error {
				senders, err := tx.KindSenders(ctx, "t1", "handover.confirmation")
				if err != nil || !slices.Equal(senders, []string{"ci.a", "ml.b"}) {
					t.Fatalf("senders = %v, %v", senders, err)
				}
				if last, err := tx.LatestOfKind(ctx, "t1", "handover.confirmation"); err != nil || last.ID != "h2" {
					t.Fatalf("latest = %s, %v", last.ID, err)
				}
				if _, err := tx.LatestOfKind(ctx, "t1", "bid.decision"); err != hub.ErrNotFound {
					t.Fatalf("latest of a kind never sent: %v", err)
				}
				if err := tx.SaveTransfer(ctx, transfer); err != nil {
					return err
				}
				if err := tx.SaveTransfer(ctx, hub.Transfer{ID: "t2", Sender: "ci.a", Recipient: "bf.c", State: hub.StateRequested, Holder: "ci.a", OpenedAt: t0, UpdatedAt: t0.Add(time.Hour)}); err != nil {
					return err
				}
				if err := tx.LinkTransfer(ctx, "t2", "t1"); err != nil {
					return err
				}
				if err := tx.SetReportsTo(ctx, "ml.b", "ml.dir"); err != nil {
					return err
				}
				if to, err := tx.ReportsTo(ctx, "ml.b"); err != nil || to != "ml.dir" {
					t.Fatalf("reports_to = %q, %v", to, err)
				}
				if to, err := tx.ReportsTo(ctx, "ci.a"); err != nil || to != "" {
					t.Fatalf("reports_to of an agency without directorate = %q, %v", to, err)
				}
				if _, err := tx.ReportsTo(ctx, "zz.none"); err != hub.ErrNotFound {
					t.Fatalf("reports_to of an unknown agency: %v", err)
				}
				if err := tx.ArmTimers(ctx, []hub.Timer{timer("t1", "state:x", "ml.b", hub.StageEscalation, t0)}); err != nil {
					return err
				}
				due, err := tx.ClaimDueTimers(ctx, t0, 1)
				if err != nil || len(due) != 1 {
					t.Fatalf("claim: %+v, %v", due, err)
				}
				return tx.MarkTimerFired(ctx, due[0].ID, t0, "ml.dir")
			})
			list, err := s.Transfers(ctx, hub.TransferQuery{Agency: "ci.a", Limit: 10})
			if err != nil || len(list) != 2 || list[0].ID != "t2" || list[0].Previous != "t1" {
				t.Fatalf("ci.a's list = %+v, %v", list, err)
			}
			dir, err := s.Transfers(ctx, hub.TransferQuery{Agency: "ml.dir", Limit: 10})
			if err != nil || len(dir) != 1 || dir[0].ID != "t1" || dir[0].Overdue[0].EscalatedTo != "ml.dir" {
				t.Fatalf("the directorate's list = %+v, %v", dir, err)
			}
			if accepted, _ := s.Transfers(ctx, hub.TransferQuery{Agency: "ci.a", State: hub.StateRequested, Limit: 10}); len(accepted) != 1 || accepted[0].ID != "t2" {
				t.Fatalf("filtered by state: %+v", accepted)
			}
		})
	})
}
