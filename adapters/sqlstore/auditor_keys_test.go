package sqlstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/relais-hub/relais/adapters/sqlstore"
	"github.com/relais-hub/relais/hub"
)

// insertAuditors registers auditors whose JWKS is a JSON list of labels
// (the store keeps the bytes as they are; the hub parses them).
func insertAuditors(t *testing.T, s *sqlstore.Store, ids ...string) {
	t.Helper()
	ctx := context.Background()
	err := s.Update(ctx, func(tx hub.Tx) error {
		for _, id := range ids {
			if err := tx.InsertAuditor(ctx, hub.Auditor{ID: id, Name: id, JWKS: []byte(`[]`), RegisteredAt: t0}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func keyTx(t *testing.T, tx hub.Tx) hub.AuditorKeyTx {
	t.Helper()
	ktx, ok := tx.(hub.AuditorKeyTx)
	if !ok {
		t.Fatal("the store's transactions do not keep auditor keys")
	}
	return ktx
}

func TestAuditorKeyRecordsAreKeptPerKidAndRevocationsReplaceThem(t *testing.T) {
	eachStore(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := context.Background()
		insertAuditors(t, s, "auditor:secretariat", "auditor:cdp-bf")
		added := t0.Add(time.Hour)
		revoked := t0.Add(2 * time.Hour)
		err := s.Update(ctx, func(tx hub.Tx) error {
			ktx := keyTx(t, tx)
			for _, r := range []hub.AuditorKeyRecord{
				{Auditor: "auditor:cdp-bf", KID: "cdp-2", JWK: []byte(`{"kid":"cdp-2"}`), AddedAt: added},
				{Auditor: "auditor:secretariat", KID: "sec-2", JWK: []byte(`{"kid":"sec-2"}`), AddedAt: added.Add(time.Minute)},
			} {
				if err := ktx.InsertAuditorKeyRecord(ctx, r); err != nil {
					return err
				}
			}
			// A registration key revoked has no record yet: the
			// revocation creates it.
			if err := ktx.SaveAuditorKeyRecord(ctx, hub.AuditorKeyRecord{Auditor: "auditor:cdp-bf", KID: "cdp-1", JWK: []byte(`{"kid":"cdp-1"}`), AddedAt: t0, RevokedAt: revoked}); err != nil {
				return err
			}
			seen, err := ktx.AuditorKeyRecords(ctx, "auditor:cdp-bf")
			if err != nil {
				return err
			}
			if len(seen) != 2 {
				return fmt.Errorf("the transaction sees %d records of its own, want 2", len(seen))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.AuditorKeyRecords(ctx, "auditor:cdp-bf")
		if err != nil {
			t.Fatal(err)
		}
		want := []hub.AuditorKeyRecord{
			{Auditor: "auditor:cdp-bf", KID: "cdp-1", JWK: []byte(`{"kid":"cdp-1"}`), AddedAt: t0, RevokedAt: revoked},
			{Auditor: "auditor:cdp-bf", KID: "cdp-2", JWK: []byte(`{"kid":"cdp-2"}`), AddedAt: added},
		}
		if !sameRecords(got, want) {
			t.Fatalf("records of auditor:cdp-bf = %+v, want %+v", got, want)
		}
		all, err := s.AuditorKeyRecords(ctx, "")
		if err != nil || len(all) != 3 || all[2].KID != "sec-2" {
			t.Fatalf("every record, oldest first = %+v, %v", all, err)
		}

		// Revoking the added key replaces its record.
		err = s.Update(ctx, func(tx hub.Tx) error {
			return keyTx(t, tx).SaveAuditorKeyRecord(ctx, hub.AuditorKeyRecord{Auditor: "auditor:cdp-bf", KID: "cdp-2", JWK: []byte(`{"kid":"cdp-2"}`), AddedAt: added, RevokedAt: revoked})
		})
		if err != nil {
			t.Fatal(err)
		}
		got, _ = s.AuditorKeyRecords(ctx, "auditor:cdp-bf")
		if len(got) != 2 || !got[1].RevokedAt.Equal(revoked) || !got[1].AddedAt.Equal(added) {
			t.Fatalf("after the revocation: %+v", got)
		}
	})
}

func TestAKidIsRecordedOnceAndAFailedKeyChangeLeavesNothing(t *testing.T) {
	eachStore(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := context.Background()
		insertAuditors(t, s, "auditor:cdp-bf", "auditor:cdp-ml")
		rec := hub.AuditorKeyRecord{Auditor: "auditor:cdp-bf", KID: "k-1", JWK: []byte(`{}`), AddedAt: t0}
		if err := s.Update(ctx, func(tx hub.Tx) error { return keyTx(t, tx).InsertAuditorKeyRecord(ctx, rec) }); err != nil {
			t.Fatal(err)
		}
		err := s.Update(ctx, func(tx hub.Tx) error {
			ktx := keyTx(t, tx)
			if err := ktx.SetAuditorJWKS(ctx, "auditor:cdp-ml", []byte(`["k-1"]`)); err != nil {
				return err
			}
			other := rec
			other.Auditor = "auditor:cdp-ml"
			return ktx.InsertAuditorKeyRecord(ctx, other)
		})
		if err == nil {
			t.Fatal("the same kid was recorded for a second auditor")
		}
		a, err := s.Auditor(ctx, "auditor:cdp-ml")
		if err != nil || string(a.JWKS) != `[]` {
			t.Fatalf("the failed change left the JWKS %q (%v), want it unchanged", a.JWKS, err)
		}
		if recs, _ := s.AuditorKeyRecords(ctx, "auditor:cdp-ml"); len(recs) != 0 {
			t.Fatalf("the failed change left records %+v", recs)
		}
	})
}

func TestUnknownAuditorsAreNotFoundByKeyChanges(t *testing.T) {
	eachStore(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := context.Background()
		for name, fn := range map[string]func(hub.AuditorKeyTx) error{
			"locking it": func(ktx hub.AuditorKeyTx) error {
				_, err := ktx.AuditorForUpdate(ctx, "auditor:nobody")
				return err
			},
			"setting its keys": func(ktx hub.AuditorKeyTx) error {
				return ktx.SetAuditorJWKS(ctx, "auditor:nobody", []byte(`[]`))
			},
		} {
			err := s.Update(ctx, func(tx hub.Tx) error { return fn(keyTx(t, tx)) })
			if !errors.Is(err, hub.ErrNotFound) {
				t.Errorf("%s: %v, want ErrNotFound", name, err)
			}
		}
		if list, err := s.Auditors(ctx); err != nil || len(list) != 0 {
			t.Fatalf("auditors of an empty store: %+v, %v", list, err)
		}
	})
}

// Concurrent key changes of one auditor each read its keys and write them
// back with one more: they must queue (on the store's writer, on the audit
// head every write transaction locks, and on the auditor's row that
// AuditorForUpdate locks), so that none is lost.
func TestConcurrentKeyChangesOfOneAuditorAreNotLost(t *testing.T) {
	eachStore(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := context.Background()
		insertAuditors(t, s, "auditor:cdp-bf", "auditor:secretariat")
		const n = 12
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = s.Update(ctx, func(tx hub.Tx) error {
					ktx := keyTx(t, tx)
					a, err := ktx.AuditorForUpdate(ctx, "auditor:cdp-bf")
					if err != nil {
						return err
					}
					var kids []string
					if err := json.Unmarshal(a.JWKS, &kids); err != nil {
						return err
					}
					kid := fmt.Sprintf("k-%02d", i)
					jwks, _ := json.Marshal(append(kids, kid))
					if err := ktx.SetAuditorJWKS(ctx, a.ID, jwks); err != nil {
						return err
					}
					return ktx.InsertAuditorKeyRecord(ctx, hub.AuditorKeyRecord{Auditor: a.ID, KID: kid, JWK: []byte(`{}`), AddedAt: t0})
				})
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("change %d: %v", i, err)
			}
		}
		a, err := s.Auditor(ctx, "auditor:cdp-bf")
		if err != nil {
			t.Fatal(err)
		}
		var kids []string
		if err := json.Unmarshal(a.JWKS, &kids); err != nil {
			t.Fatal(err)
		}
		slices.Sort(kids)
		want := make([]string, n)
		for i := range n {
			want[i] = fmt.Sprintf("k-%02d", i)
		}
		if !slices.Equal(kids, want) {
			t.Fatalf("after %d concurrent additions the auditor holds %v, want %v", n, kids, want)
		}
		list, err := s.Auditors(ctx)
		if err != nil || len(list) != 2 || list[0].ID != "auditor:cdp-bf" || list[1].ID != "auditor:secretariat" || !list[1].RegisteredAt.Equal(t0) {
			t.Fatalf("auditors = %+v, %v", list, err)
		}
	})
}

func sameRecords(got, want []hub.AuditorKeyRecord) bool {
	return slices.EqualFunc(got, want, func(a, b hub.AuditorKeyRecord) bool {
		return a.Auditor == b.Auditor && a.KID == b.KID && string(a.JWK) == string(b.JWK) &&
			a.AddedAt.Equal(b.AddedAt) && a.RevokedAt.Equal(b.RevokedAt)
	})
}
