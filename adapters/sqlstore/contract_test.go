package sqlstore_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/relais-hub/relais/adapters/sqlstore"
	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/hub/audit"
)

// stores returns a fresh store per engine: SQLite always, PostgreSQL when
// RELAIS_TEST_POSTGRES names a database (tests/run.sh always sets it).
func stores(t *testing.T) map[string]func(t *testing.T) *sqlstore.Store {
	out := map[string]func(t *testing.T) *sqlstore.Store{
		"sqlite": func(t *testing.T) *sqlstore.Store {
			s, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "relais.db"), testLog(t, audit.DialectSQLite))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
	}
	if dsn := os.Getenv("RELAIS_TEST_POSTGRES"); dsn != "" {
		out["postgres"] = func(t *testing.T) *sqlstore.Store {
			return freshPostgres(t, dsn)
		}
	} else {
		t.Log("RELAIS_TEST_POSTGRES is unset: the PostgreSQL half of the contract suite does not run (tests/run.sh sets it)")
	}
	return out
}

// freshPostgres gives each test its own schema so tests never see each
// other's rows.
func freshPostgres(t *testing.T, dsn string) *sqlstore.Store {
	t.Helper()
	ctx := context.Background()
	schema := "t_" + sanitize(t.Name()) + "_" + time.Now().Format("150405000000")
	admin, err := sqlstore.OpenPostgres(ctx, dsn, testLog(t, audit.DialectPostgres))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.DB().ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatal(err)
	}
	admin.Close()
	s, err := sqlstore.OpenPostgres(ctx, withSearchPath(dsn, schema), testLog(t, audit.DialectPostgres))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		if a, err := sqlstore.OpenPostgres(ctx, dsn, testLog(t, audit.DialectPostgres)); err == nil {
			a.DB().ExecContext(ctx, `DROP SCHEMA `+schema+` CASCADE`)
			a.Close()
		}
	})
	return s
}

func testLog(t *testing.T, dialect string) *audit.Log {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(nil)
	l, err := audit.New(audit.Config{Origin: "test/audit", Signer: priv, Dialect: dialect})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func withSearchPath(dsn, schema string) string {
	sep := "?"
	for _, c := range dsn {
		if c == '?' {
			sep = "&"
		}
	}
	return dsn + sep + "search_path=" + schema
}

func sanitize(s string) string {
	b := []byte{}
	for _, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			b = append(b, c)
		case c >= 'A' && c <= 'Z':
			b = append(b, c+32)
		default:
			b = append(b, '_')
		}
	}
	if len(b) > 30 {
		b = b[len(b)-30:]
	}
	return string(b)
}

func eachStore(t *testing.T, fn func(t *testing.T, s *sqlstore.Store)) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) { fn(t, open(t)) })
	}
}

var t0 = time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)

func seed(t *testing.T, s *sqlstore.Store, agencies ...string) {
	t.Helper()
	ctx := context.Background()
	err := s.Update(ctx, func(tx hub.Tx) error {
		for _, a := range agencies {
			if err := tx.InsertAgency(ctx, hub.Agency{ID: a, Country: "ML", Name: a, JWKS: []byte(`{"keys":[]}`), RegisteredAt: t0}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func msg(id, from, to string) hub.StoredMessage {
	return hub.StoredMessage{ID: id, Kind: "referral.request", From: from, To: to, Transfer: id, JWS: []byte("jws-" + id),
		SHA256: "sha-" + id, Receipt: []byte("receipt-" + id), AcceptedAt: t0}
}

func insert(t *testing.T, s *sqlstore.Store, ms ...hub.StoredMessage) {
	t.Helper()
	ctx := context.Background()
	if err := s.Update(ctx, func(tx hub.Tx) error {
		for _, m := range ms {
			if err := tx.InsertMessage(ctx, m); err != nil {
				return err
			}
			if err := tx.Enqueue(ctx, hub.OutboxItem{MessageID: m.ID, Recipient: m.To, CreatedAt: t0}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func deliver(t *testing.T, s *sqlstore.Store, id string) bool {
	t.Helper()
	var fresh bool
	ctx := context.Background()
	if err := s.Update(ctx, func(tx hub.Tx) error {
		var err error
		fresh, err = tx.MarkDelivered(ctx, id, t0.Add(time.Second))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return fresh
}

func TestStoreContract(t *testing.T) {
	ctx := context.Background()

	t.Run("a message round-trips and a missing one is ErrNotFound", func(t *testing.T) {
		eachStore(t, func(t *testing.T, s *sqlstore.Store) {
			seed(t, s, "ci.a", "ml.b")
			m := msg("m1", "ci.a", "ml.b")
			m.InReplyTo, m.CaseDigest, m.LeafIndex = "m0", "digest", 42
			insert(t, s, m)
			got, err := s.Message(ctx, "m1")
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != m.ID || string(got.JWS) != string(m.JWS) || got.LeafIndex != 42 || got.InReplyTo != "m0" || !got.AcceptedAt.Equal(t0) || !got.DeliveredAt.IsZero() {
				t.Fatalf("got %+v", got)
			}
			if _, err := s.Message(ctx, "nope"); !errors.Is(err, hub.ErrNotFound) {
				t.Fatalf("missing message: %v", err)
			}
		})
	})

	t.Run("a failed transaction writes nothing", func(t *testing.T) {
		eachStore(t, func(t *testing.T, s *sqlstore.Store) {
			seed(t, s, "ci.a", "ml.b")
			boom := errors.New("boom")
			err := s.Update(ctx, func(tx hub.Tx) error {
				if err := tx.InsertMessage(ctx, msg("m1", "ci.a", "ml.b")); err != nil {
					return err
				}
				if _, err := tx.AppendEvent(ctx, hub.Event{Type: hub.EventAccepted, At: t0, Transfer: "m1"}); err != nil {
					return err
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatalf("err = %v", err)
			}
			if _, err := s.Message(ctx, "m1"); !errors.Is(err, hub.ErrNotFound) {
				t.Fatal("message survived a rolled-back transaction")
			}
			if tr, _ := s.Trail(ctx, "m1"); len(tr) != 0 {
				t.Fatal("event survived a rolled-back transaction")
			}
		})
	})

	t.Run("the same id cannot be inserted twice", func(t *testing.T) {
		eachStore(t, func(t *testing.T, s *sqlstore.Store) {
			seed(t, s, "ci.a", "ml.b")
			insert(t, s, msg("m1", "ci.a", "ml.b"))
			err := s.Update(ctx, func(tx hub.Tx) error { return tx.InsertMessage(ctx, msg("m1", "ci.a", "ml.b")) })
			if err == nil {
				t.Fatal("duplicate insert succeeded")
			}
		})
	})

	t.Run("delivery is idempotent and orders each inbox", func(t *testing.T) {
		eachStore(t, func(t *testing.T, s *sqlstore.Store) {
			seed(t, s, "ci.a", "ml.b", "bf.c")
			insert(t, s, msg("m1", "ci.a", "ml.b"), msg("m2", "ci.a", "bf.c"), msg("m3", "ci.a", "ml.b"))
			if items, _ := s.Inbox(ctx, "ml.b", 0, 10); len(items) != 0 {
				t.Fatal("undelivered message in inbox")
			}
			for _, id := range []string{"m3", "m2", "m1"} {
				if !deliver(t, s, id) {
					t.Fatalf("first delivery of %s not fresh", id)
				}
			}
			if deliver(t, s, "m3") {
				t.Fatal("second delivery reported fresh")
			}
			items, err := s.Inbox(ctx, "ml.b", 0, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(items) != 2 || items[0].ID != "m3" || items[1].ID != "m1" || items[0].Seq != 1 || items[1].Seq != 2 {
				t.Fatalf("inbox = %+v", items)
			}
			after, _ := s.Inbox(ctx, "ml.b", 1, 10)
			if len(after) != 1 || after[0].ID != "m1" {
				t.Fatalf("inbox after 1 = %+v", after)
			}
			if other, _ := s.Inbox(ctx, "bf.c", 0, 10); len(other) != 1 || other[0].ID != "m2" || other[0].Seq != 1 {
				t.Fatalf("bf.c inbox = %+v", other)
			}
		})
	})

	t.Run("receipted messages leave the inbox, once", func(t *testing.T) {
		eachStore(t, func(t *testing.T, s *sqlstore.Store) {
			seed(t, s, "ci.a", "ml.b")
			insert(t, s, msg("m1", "ci.a", "ml.b"))
			deliver(t, s, "m1")
			var first, second bool
			s.Update(ctx, func(tx hub.Tx) error {
				first, _ = tx.MarkReceipted(ctx, "m1", "r1", t0)
				second, _ = tx.MarkReceipted(ctx, "m1", "r2", t0)
				return nil
			})
			if !first || second {
				t.Fatalf("receipted first=%v second=%v", first, second)
			}
			if items, _ := s.Inbox(ctx, "ml.b", 0, 10); len(items) != 0 {
				t.Fatalf("receipted message still in inbox: %+v", items)
			}
			if m, _ := s.Message(ctx, "m1"); m.ReceiptedBy != "r1" {
				t.Fatalf("receipted by %q", m.ReceiptedBy)
			}
		})
	})

	t.Run("a cursor consumes only the kinds named and only up to it", func(t *testing.T) {
		eachStore(t, func(t *testing.T, s *sqlstore.Store) {
			seed(t, s, "ci.a", "ml.b")
			r1, r2, ref := msg("r1", "ci.a", "ml.b"), msg("r2", "ci.a", "ml.b"), msg("x1", "ci.a", "ml.b")
			r1.Kind, r2.Kind = "receipt", "receipt"
			insert(t, s, r1, ref, r2)
			for _, id := range []string{"r1", "x1", "r2"} {
				deliver(t, s, id)
			}
			s.Update(ctx, func(tx hub.Tx) error { return tx.ConsumeInbox(ctx, "ml.b", 2, []string{"receipt"}, t0) })
			items, _ := s.Inbox(ctx, "ml.b", 0, 10)
			if len(items) != 2 || items[0].ID != "x1" || items[1].ID != "r2" {
				t.Fatalf("inbox = %+v", items)
			}
		})
	})

	t.Run("the outbox hands out items in order and forgets dequeued ones", func(t *testing.T) {
		eachStore(t, func(t *testing.T, s *sqlstore.Store) {
			seed(t, s, "ci.a", "ml.b")
			insert(t, s, msg("m1", "ci.a", "ml.b"), msg("m2", "ci.a", "ml.b"))
			items, err := s.PendingOutbox(ctx, 10)
			if err != nil || len(items) != 2 || items[0].MessageID != "m1" || items[1].MessageID != "m2" {
				t.Fatalf("outbox = %+v, %v", items, err)
			}
			s.Update(ctx, func(tx hub.Tx) error { return tx.Dequeue(ctx, items[0].Seq) })
			items, _ = s.PendingOutbox(ctx, 10)
			if len(items) != 1 || items[0].MessageID != "m2" {
				t.Fatalf("outbox after dequeue = %+v", items)
			}
		})
	})

	t.Run("two relays never claim the same delivery while a lease holds", func(t *testing.T) {
		eachStore(t, func(t *testing.T, s *sqlstore.Store) {
			if s.Dialect() == sqlstore.SQLite {
				t.Skip("SQLite serves a single hub process: outbox leases do not apply")
			}
			seed(t, s, "ci.a", "ml.b")
			insert(t, s, msg("m1", "ci.a", "ml.b"), msg("m2", "ci.a", "ml.b"), msg("m3", "ci.a", "ml.b"))
			first, err := s.ClaimOutbox(ctx, "hub-1", 2, time.Minute)
			if err != nil || len(first) != 2 || first[0].MessageID != "m1" || first[1].MessageID != "m2" {
				t.Fatalf("first claim = %+v, %v", first, err)
			}
			second, _ := s.ClaimOutbox(ctx, "hub-2", 10, time.Minute)
			if len(second) != 1 || second[0].MessageID != "m3" {
				t.Fatalf("second claim = %+v", second)
			}
			if none, _ := s.ClaimOutbox(ctx, "hub-3", 10, time.Minute); len(none) != 0 {
				t.Fatalf("leased deliveries claimed again: %+v", none)
			}
		})
	})

	t.Run("a delivery whose lease ran out is claimed again", func(t *testing.T) {
		eachStore(t, func(t *testing.T, s *sqlstore.Store) {
			if s.Dialect() == sqlstore.SQLite {
				t.Skip("SQLite serves a single hub process: outbox leases do not apply")
			}
			seed(t, s, "ci.a", "ml.b")
			insert(t, s, msg("m1", "ci.a", "ml.b"))
			if got, _ := s.ClaimOutbox(ctx, "dead-hub", 10, -time.Second); len(got) != 1 {
				t.Fatalf("claim = %+v", got)
			}
			got, err := s.ClaimOutbox(ctx, "hub-2", 10, time.Minute)
			if err != nil || len(got) != 1 || got[0].MessageID != "m1" {
				t.Fatalf("reclaim = %+v, %v", got, err)
			}
		})
	})

	t.Run("a restarted relay takes back its own claims at once", func(t *testing.T) {
		eachStore(t, func(t *testing.T, s *sqlstore.Store) {
			seed(t, s, "ci.a", "ml.b")
			insert(t, s, msg("m1", "ci.a", "ml.b"))
			if got, _ := s.ClaimOutbox(ctx, "hub-1", 10, time.Hour); len(got) != 1 {
				t.Fatalf("claim = %+v", got)
			}
			got, err := s.ClaimOutbox(ctx, "hub-1", 10, time.Hour)
			if err != nil || len(got) != 1 || got[0].MessageID != "m1" {
				t.Fatalf("reclaim by the same owner = %+v, %v", got, err)
			}
		})
	})

	t.Run("transfers are created then updated in place", func(t *testing.T) {
		eachStore(t, func(t *testing.T, s *sqlstore.Store) {
			tr := hub.Transfer{ID: "t1", Sender: "ci.a", Recipient: "ml.b", CaseDigest: "d", State: hub.StateRequested, Holder: "ci.a", OpenedAt: t0, UpdatedAt: t0}
			s.Update(ctx, func(tx hub.Tx) error { return tx.SaveTransfer(ctx, tr) })
			tr.State, tr.Holder, tr.UpdatedAt = hub.StateAccepted, "ml.b", t0.Add(time.Hour)
			s.Update(ctx, func(tx hub.Tx) error { return tx.SaveTransfer(ctx, tr) })
			got, err := s.Transfer(ctx, "t1")
			if err != nil || got.State != hub.StateAccepted || got.Holder != "ml.b" || !got.OpenedAt.Equal(t0) || !got.UpdatedAt.Equal(t0.Add(time.Hour)) {
				t.Fatalf("transfer = %+v, %v", got, err)
			}
			err = s.Update(ctx, func(tx hub.Tx) error {
				_, err := tx.TransferForUpdate(ctx, "nope")
				return err
			})
			if !errors.Is(err, hub.ErrNotFound) {
				t.Fatalf("missing transfer: %v", err)
			}
		})
	})

	t.Run("events get consecutive indexes, also under concurrent writers", func(t *testing.T) {
		eachStore(t, func(t *testing.T, s *sqlstore.Store) {
			var wg sync.WaitGroup
			errs := make(chan error, 40)
			for i := 0; i < 40; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- s.Update(ctx, func(tx hub.Tx) error {
						_, err := tx.AppendEvent(ctx, hub.Event{Type: hub.EventAccepted, At: t0, Transfer: "t1", Kind: "referral.request"})
						return err
					})
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			trail, err := s.Trail(ctx, "t1")
			if err != nil || len(trail) != 40 {
				t.Fatalf("trail has %d events, %v", len(trail), err)
			}
			for i, e := range trail {
				if e.Index != uint64(i) {
					t.Fatalf("event %d has index %d", i, e.Index)
				}
			}
		})
	})

	t.Run("a token id is accepted once", func(t *testing.T) {
		eachStore(t, func(t *testing.T, s *sqlstore.Store) {
			exp := time.Now().Add(time.Minute)
			first, err := s.UseToken(ctx, "ci.a", "j1", exp)
			if err != nil || !first {
				t.Fatalf("first use: %v %v", first, err)
			}
			again, _ := s.UseToken(ctx, "ci.a", "j1", exp)
			other, _ := s.UseToken(ctx, "ml.b", "j1", exp)
			if again || !other {
				t.Fatalf("replay accepted=%v, other issuer accepted=%v", again, other)
			}
		})
	})

	t.Run("opening an existing store keeps its data", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "relais.db")
		s, err := sqlstore.OpenSQLite(ctx, path, testLog(t, audit.DialectSQLite))
		if err != nil {
			t.Fatal(err)
		}
		seed(t, s, "ci.a", "ml.b")
		insert(t, s, msg("m1", "ci.a", "ml.b"))
		s.Close()
		s, err = sqlstore.OpenSQLite(ctx, path, testLog(t, audit.DialectSQLite))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, err := s.Message(ctx, "m1"); err != nil {
			t.Fatalf("message lost across reopen: %v", err)
		}
	})
}
