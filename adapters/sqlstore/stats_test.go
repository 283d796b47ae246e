package sqlstore_test

import (
	"context"
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/relais-hub/relais/adapters/sqlstore"
	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/hub/services"
	"github.com/relais-hub/relais/hub/stats"
)

// openingJWS is a compact JWS whose payload is an envelope with a purpose
// and a consent age band (signature and body are not read by statistics).
func openingJWS(purpose, ageBand string) []byte {
	payload := `{"v":1,"kind":"referral.request","purpose":"` + purpose + `","consent":{"age_band":"` + ageBand + `"},"body":"eyJ.a.b.c.d"}`
	return []byte("eyJhbGciOiJFZERTQSJ9." + base64.RawURLEncoding.EncodeToString([]byte(payload)) + ".c2ln")
}

// openTransfer stores a transfer, its opening message and the trail
// events given (type, hours after t0, detail, code).
type trailStep struct {
	typ    hub.EventType
	hours  int
	detail string
	code   string
	msg    string
}

func openTransfer(t *testing.T, s *sqlstore.Store, id, from, to string, jws []byte, steps ...trailStep) {
	t.Helper()
	ctx := context.Background()
	err := s.Update(ctx, func(tx hub.Tx) error {
		if err := tx.SaveTransfer(ctx, hub.Transfer{ID: id, Sender: from, Recipient: to, CaseDigest: "d-" + id,
			State: hub.StateRequested, Holder: from, OpenedAt: t0, UpdatedAt: t0}); err != nil {
			return err
		}
		m := msg(id, from, to)
		m.JWS = jws
		if err := tx.InsertMessage(ctx, m); err != nil {
			return err
		}
		for _, st := range steps {
			if _, err := tx.AppendEvent(ctx, hub.Event{Type: st.typ, At: t0.Add(time.Duration(st.hours) * time.Hour), Transfer: id,
				MessageID: st.msg, Detail: st.detail, Code: st.code, Actor: "hub"}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func at(hours int) time.Time { return t0.Add(time.Duration(hours) * time.Hour) }

func TestStatisticsFacts(t *testing.T) {
	ctx := context.Background()
	eachStore(t, func(t *testing.T, s *sqlstore.Store) {
		seed(t, s, "ci.a", "ml.b")
		openTransfer(t, s, "t-return", "ci.a", "ml.b", openingJWS("family_tracing", "6-11"),
			trailStep{typ: hub.EventAccepted, hours: 0, msg: "t-return"},
			trailStep{typ: hub.EventReceipted, hours: 2, msg: "t-return"},
			trailStep{typ: hub.EventReceipted, hours: 30, msg: "some-other-message"},
			trailStep{typ: hub.EventTransferAccepted, hours: 5},
			trailStep{typ: hub.EventStateChanged, hours: 50, detail: "from=accepted to=assessed"},
			trailStep{typ: hub.EventStateChanged, hours: 60, detail: "from=assessed to=return_decided", code: "return"},
			trailStep{typ: hub.EventReminder, hours: 70, detail: "timer=answer overdue=ci.a due=x"},
			trailStep{typ: hub.EventReminder, hours: 80, detail: "timer=answer overdue=ci.a due=x"},
			trailStep{typ: hub.EventStateChanged, hours: 90, detail: "from=return_planned to=handed_over"},
			trailStep{typ: hub.EventStateChanged, hours: 120, detail: "from=following_up to=closed", code: "reintegrated"},
		)
		// Erased before statistics indexed it: its envelope is gone.
		openTransfer(t, s, "t-erased", "ml.b", "ci.a", []byte{},
			trailStep{typ: hub.EventTransferDeclined, hours: 3, code: "capacity"},
		)
		openTransfer(t, s, "t-local", "ml.b", "ci.a", openingJWS("protection_referral", "15-17"),
			trailStep{typ: hub.EventStateChanged, hours: 40, detail: "from=assessed to=local_integration holder=ml.b", code: "local_integration"},
		)

		ix := stats.Indexer{Source: s}
		if n, err := ix.CatchUp(ctx); err != nil || n != 3 {
			t.Fatalf("indexed %d, %v; want 3", n, err)
		}
		if n, err := ix.CatchUp(ctx); err != nil || n != 0 {
			t.Fatalf("indexed again %d, %v; want nothing", n, err)
		}
		facts, err := s.Facts(ctx, at(1000))
		if err != nil {
			t.Fatal(err)
		}
		byID := map[string]stats.Fact{}
		for _, f := range facts {
			byID[f.Transfer] = f
		}
		want := map[string]stats.Fact{
			"t-return": {Transfer: "t-return", Sender: "ci.a", Recipient: "ml.b", Purpose: "family_tracing", AgeBand: "6-11", Outcome: "return",
				Opened: t0, Received: at(2), Accepted: at(5), Assessed: at(50), Decided: at(60), HandedOver: at(90), Closed: at(120), FirstOverdue: at(70)},
			"t-erased": {Transfer: "t-erased", Sender: "ml.b", Recipient: "ci.a", Opened: t0, Declined: at(3)},
			"t-local":  {Transfer: "t-local", Sender: "ml.b", Recipient: "ci.a", Purpose: "protection_referral", AgeBand: "15-17", Outcome: "local_integration", Opened: t0, Decided: at(40)},
		}
		if len(byID) != len(want) {
			t.Fatalf("got %d facts, want %d: %+v", len(byID), len(want), facts)
		}
		for id, w := range want {
			if g := byID[id]; !sameFact(g, w) {
				t.Errorf("%s:\n got %+v\nwant %+v", id, g, w)
			}
		}
		if facts, err := s.Facts(ctx, t0); err != nil || len(facts) != 0 {
			t.Errorf("facts opened before t0: %v, %v; want none", facts, err)
		}
	})
}

func sameFact(a, b stats.Fact) bool {
	times := func(f stats.Fact) []time.Time {
		return []time.Time{f.Opened, f.Received, f.Accepted, f.Declined, f.Assessed, f.Decided, f.HandedOver, f.Closed, f.FirstOverdue}
	}
	ta, tb := times(a), times(b)
	for i := range ta {
		if !ta[i].Equal(tb[i]) {
			return false
		}
	}
	return a.Transfer == b.Transfer && a.Sender == b.Sender && a.Recipient == b.Recipient &&
		a.Purpose == b.Purpose && a.AgeBand == b.AgeBand && a.Outcome == b.Outcome
}

func TestStatisticsAuthoritiesAreStored(t *testing.T) {
	ctx := context.Background()
	eachStore(t, func(t *testing.T, s *sqlstore.Store) {
		if _, err := s.StatsReader(ctx, "statistics:instat-ml"); !errors.Is(err, hub.ErrNotFound) {
			t.Fatalf("unknown authority: %v", err)
		}
		r := stats.Reader{ID: "statistics:instat-ml", Name: "Institut national de la statistique du Mali", JWKS: []byte(`{"keys":[]}`), RegisteredAt: t0}
		if err := s.Update(ctx, func(tx hub.Tx) error { return tx.(stats.ReaderTx).InsertStatsReader(ctx, r) }); err != nil {
			t.Fatal(err)
		}
		got, err := s.StatsReader(ctx, r.ID)
		if err != nil || got.Name != r.Name || string(got.JWKS) != string(r.JWKS) || !got.RegisteredAt.Equal(t0) {
			t.Fatalf("got %+v, %v", got, err)
		}
	})
}

func TestDirectoryRecordsKeepTheirHistory(t *testing.T) {
	ctx := context.Background()
	eachStore(t, func(t *testing.T, s *sqlstore.Store) {
		v1 := services.Record{Agency: "ml.dnpef", Country: "ml", Version: 1, ValidFrom: "2024-01-01",
			Name:     contracts.Label{FR: "Direction nationale de la promotion de l'enfant et de la famille"},
			Areas:    []services.Area{{Code: "ML", Level: "country", Name: "Mali"}},
			Services: []string{"family_tracing"}, Languages: []string{"fr"}, PublishedAt: t0}
		v2 := v1
		v2.Version, v2.ValidFrom, v2.Name.FR = 2, "2025-07-01", "Direction nationale de la protection de l'enfant"
		other := v1
		other.Agency = "ci.dpe"
		write := func(fn func(services.Tx) error) {
			t.Helper()
			if err := s.Update(ctx, func(tx hub.Tx) error { return fn(tx.(services.Tx)) }); err != nil {
				t.Fatal(err)
			}
		}
		write(func(tx services.Tx) error { return tx.InsertDirectoryRecord(ctx, v1) })
		write(func(tx services.Tx) error { return tx.InsertDirectoryRecord(ctx, other) })
		write(func(tx services.Tx) error {
			if err := tx.EndDirectoryRecord(ctx, "ml.dnpef", 1, v2.ValidFrom); err != nil {
				return err
			}
			return tx.InsertDirectoryRecord(ctx, v2)
		})
		if err := s.Update(ctx, func(tx hub.Tx) error { return tx.(services.Tx).InsertDirectoryRecord(ctx, v2) }); err == nil {
			t.Fatal("a version number taken twice was accepted")
		}
		history, err := s.DirectoryRecords(ctx, "ml.dnpef")
		if err != nil {
			t.Fatal(err)
		}
		if len(history) != 2 || history[0].ValidTo != "2025-07-01" || history[1].ValidTo != "" ||
			history[0].Name.FR != v1.Name.FR || history[1].Name.FR != v2.Name.FR || !history[1].PublishedAt.Equal(t0) {
			t.Fatalf("history %+v", history)
		}
		all, err := s.DirectoryRecords(ctx, "")
		if err != nil || len(all) != 3 || all[0].Agency != "ci.dpe" {
			t.Fatalf("all records: %+v, %v", all, err)
		}
	})
}
