package sqlstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/relais-hub/relais/adapters/sqlstore"
	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/hub/audit"
)

func TestAuditorsAreStoredOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := context.Background()
		if _, err := s.Auditor(ctx, "auditor:cdp-bf"); !errors.Is(err, hub.ErrNotFound) {
			t.Fatalf("unknown auditor: %v, want ErrNotFound", err)
		}
		a := hub.Auditor{ID: "auditor:cdp-bf", Name: "CIL", JWKS: []byte(`{"keys":[]}`), RegisteredAt: time.UnixMicro(1_700_000_000_000_000).UTC()}
		if err := s.Update(ctx, func(tx hub.Tx) error { return tx.InsertAuditor(ctx, a) }); err != nil {
			t.Fatal(err)
		}
		got, err := s.Auditor(ctx, a.ID)
		if err != nil || got.Name != a.Name || string(got.JWKS) != string(a.JWKS) || !got.RegisteredAt.Equal(a.RegisteredAt) {
			t.Fatalf("read back %+v, %v; want %+v", got, err, a)
		}
		if err := s.Update(ctx, func(tx hub.Tx) error { return tx.InsertAuditor(ctx, a) }); err == nil {
			t.Fatal("the same auditor was inserted twice")
		}
	})
}

// auditFixture logs, in order: two events of transfer T1 (opened by ci
// under digest D1; the second carries ml's own digest of the case), one of
// transfer T2 (bf, digest D2), and an auditor query.
type auditFixture struct {
	t1, t2, d1, d1ml, d2 string
	at                   []time.Time
}

func newAuditFixture(t *testing.T, s *sqlstore.Store) auditFixture {
	t.Helper()
	ctx := context.Background()
	f := auditFixture{
		t1: "01a1ffe0-0000-7000-8000-000000000001", t2: "01a1ffe0-0000-7000-8000-000000000002",
		d1: strings.Repeat("1", 64), d1ml: strings.Repeat("a", 64), d2: strings.Repeat("2", 64),
	}
	base := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	for i := range 4 {
		f.at = append(f.at, base.Add(time.Duration(i)*time.Hour))
	}
	err := s.Update(ctx, func(tx hub.Tx) error {
		for _, tr := range []hub.Transfer{
			{ID: f.t1, Sender: "ci.dpe-abidjan", Recipient: "ml.dnpef", CaseDigest: f.d1, State: "requested", Holder: "ci.dpe-abidjan", OpenedAt: base, UpdatedAt: base},
			{ID: f.t2, Sender: "bf.dpe-bobo", Recipient: "ml.dnpef", CaseDigest: f.d2, State: "requested", Holder: "bf.dpe-bobo", OpenedAt: base, UpdatedAt: base},
		} {
			if err := tx.SaveTransfer(ctx, tr); err != nil {
				return err
			}
		}
		for _, e := range []hub.Event{
			{Type: hub.EventAccepted, At: f.at[0], MessageID: f.t1, Transfer: f.t1, From: "ci.dpe-abidjan", To: "ml.dnpef", Actor: "ci.dpe-abidjan", CaseDigest: f.d1},
			{Type: hub.EventAccepted, At: f.at[1], MessageID: "01a1ffe0-0000-7000-8000-000000000003", Transfer: f.t1, From: "ml.dnpef", To: "ci.dpe-abidjan", Actor: "ml.dnpef", CaseDigest: f.d1ml},
			{Type: hub.EventAccepted, At: f.at[2], MessageID: f.t2, Transfer: f.t2, From: "bf.dpe-bobo", To: "ml.dnpef", Actor: "bf.dpe-bobo", CaseDigest: f.d2},
		} {
			if _, err := tx.AppendEvent(ctx, e); err != nil {
				return err
			}
		}
		_, err := tx.AppendAuditEvent(ctx, audit.Event{Type: audit.TypeAuditorQuery, At: f.at[3], Actor: "auditor:cdp-bf",
			Extra: map[string]string{"endpoint": "events", "transfer": f.t1}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func indexes(t *testing.T, s *sqlstore.Store, q hub.AuditQuery) []uint64 {
	t.Helper()
	if q.Limit == 0 {
		q.Limit = 100
	}
	entries, err := s.AuditEvents(context.Background(), q)
	if err != nil {
		t.Fatalf("audit events %+v: %v", q, err)
	}
	out := []uint64{}
	for _, e := range entries {
		if _, err := audit.DecodeEvent(e.Leaf); err != nil {
			t.Fatalf("entry %d: %v", e.Index, err)
		}
		out = append(out, e.Index)
	}
	return out
}

func TestAuditEventsSelectsLeavesByTransferCaseAgencyTimeAndCursor(t *testing.T) {
	eachStore(t, func(t *testing.T, s *sqlstore.Store) {
		f := newAuditFixture(t, s)
		cases := []struct {
			name string
			q    hub.AuditQuery
			want []uint64
		}{
			{"everything", hub.AuditQuery{}, []uint64{0, 1, 2, 3}},
			{"one transfer", hub.AuditQuery{Transfers: []string{f.t1}}, []uint64{0, 1}},
			{"two transfers", hub.AuditQuery{Transfers: []string{f.t1, f.t2}}, []uint64{0, 1, 2}},
			{"the opener's case digest, with the events other parties logged under theirs", hub.AuditQuery{CaseDigests: []string{f.d1}}, []uint64{0, 1}},
			{"another party's own digest only", hub.AuditQuery{CaseDigests: []string{f.d1ml}}, []uint64{1}},
			{"a transfer or a case", hub.AuditQuery{Transfers: []string{f.t2}, CaseDigests: []string{f.d1}}, []uint64{0, 1, 2}},
			{"an agency as sender, recipient or actor", hub.AuditQuery{Agency: "bf.dpe-bobo"}, []uint64{2}},
			{"an auditor as actor", hub.AuditQuery{Agency: "auditor:cdp-bf"}, []uint64{3}},
			{"a time range, from included and to excluded", hub.AuditQuery{From: f.at[1], To: f.at[3]}, []uint64{1, 2}},
			{"a cursor and a limit", hub.AuditQuery{Start: 1, Limit: 2}, []uint64{1, 2}},
			{"filters combined", hub.AuditQuery{Transfers: []string{f.t1}, Agency: "ml.dnpef", From: f.at[1]}, []uint64{1}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				got := indexes(t, s, tc.q)
				if len(got) != len(tc.want) {
					t.Fatalf("indexes %v, want %v", got, tc.want)
				}
				for i := range got {
					if got[i] != tc.want[i] {
						t.Fatalf("indexes %v, want %v", got, tc.want)
					}
				}
			})
		}
	})
}

func TestAuditEventsKeepTheirExtraAndShowAMissingLeaf(t *testing.T) {
	eachStore(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := context.Background()
		f := newAuditFixture(t, s)
		entries, err := s.AuditEvents(ctx, hub.AuditQuery{Agency: "auditor:cdp-bf", Limit: 10})
		if err != nil || len(entries) != 1 {
			t.Fatalf("auditor's events: %d, %v", len(entries), err)
		}
		ev, err := audit.DecodeEvent(entries[0].Leaf)
		if err != nil || ev.Extra["transfer"] != f.t1 || ev.Extra["endpoint"] != "events" || !ev.At.Equal(f.at[3]) {
			t.Fatalf("logged query %+v, %v", ev, err)
		}
		if _, err := s.DB().ExecContext(ctx, `DELETE FROM audit_leaves WHERE idx = 1`); err != nil {
			t.Fatal(err)
		}
		entries, err = s.AuditEvents(ctx, hub.AuditQuery{Transfers: []string{f.t1}, Limit: 10})
		if err != nil || len(entries) != 2 || entries[1].Index != 1 || entries[1].Leaf != nil {
			t.Fatalf("with leaf 1 deleted: %+v, %v; want index 1 listed with no leaf", entries, err)
		}
	})
}
