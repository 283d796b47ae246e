package audit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/relais-hub/relais/adapters/sqlstore"
	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/hub/audit"
	"github.com/relais-hub/relais/tests/internal/relaistest"
)

// Run with:
//
//	go test ./tests/audit -run '^$' -bench AcceptWithAudit -benchtime 2000x
//
// BenchmarkAcceptWithAudit measures what the audit log adds to accepting a
// message on the embedded default, inside the real acceptance: the hub
// accepts real signed, encrypted referrals through its pipeline on a SQLite
// file, and a timing decorator around the store clocks every audit append
// (the Merkle append plus its events index row) made inside the accepting
// transaction, and the transaction itself. Nothing is stubbed: the
// decorator delegates every call to the real store. The log is pre-filled
// to a realistic size first (a national network logs of the order of 10^5
// events a year).
func BenchmarkAcceptWithAudit(b *testing.B) {
	for _, size := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("log=%d", size), func(b *testing.B) {
			h, rec, from, to := benchHub(b, size)
			ctx := context.Background()
			for b.Loop() {
				if out := h.Submit(ctx, sealReferral(b, from, to)); out.Err != nil {
					b.Fatalf("submit: %v", out.Err)
				}
			}
			appends, txs := rec.sorted()
			if len(appends) == 0 {
				b.Fatal("no accepting transaction was timed")
			}
			med, p99 := appends[len(appends)/2], appends[len(appends)*99/100]
			b.ReportMetric(float64(med.Nanoseconds()), "audit-append-median-ns")
			b.ReportMetric(float64(p99.Nanoseconds()), "audit-append-p99-ns")
			b.ReportMetric(float64(txs[len(txs)/2].Nanoseconds()), "accept-tx-median-ns")
			fmt.Printf("audit append inside message acceptance (embedded SQLite, log of %d+ leaves, %d acceptances): median %v, p99 %v; accepting transaction median %v\n",
				size, len(appends), med.Round(time.Microsecond), p99.Round(time.Microsecond), txs[len(txs)/2].Round(time.Microsecond))
		})
	}
}

// recorder collects, for each accepting transaction, the time spent in
// audit appends and the time of the whole transaction.
type recorder struct {
	mu           sync.Mutex
	appends, txs []time.Duration
}

func (r *recorder) add(appends, tx time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.appends = append(r.appends, appends)
	r.txs = append(r.txs, tx)
}

func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.appends, r.txs = nil, nil
}

func (r *recorder) sorted() ([]time.Duration, []time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, t := slices.Clone(r.appends), slices.Clone(r.txs)
	slices.Sort(a)
	slices.Sort(t)
	return a, t
}

// timedStore is the real store with a stopwatch on its transactions.
type timedStore struct {
	*sqlstore.Store
	rec *recorder
}

func (s *timedStore) Update(ctx context.Context, fn func(hub.Tx) error) error {
	var tx *timedTx
	start := time.Now()
	err := s.Store.Update(ctx, func(inner hub.Tx) error {
		tx = &timedTx{Tx: inner}
		return fn(tx)
	})
	if err == nil && tx != nil && tx.accepting {
		s.rec.add(tx.appends, time.Since(start))
	}
	return err
}

// timedTx clocks the audit appends of one transaction; it is an accepting
// transaction when it logs an accepted event.
type timedTx struct {
	hub.Tx
	appends   time.Duration
	accepting bool
}

func (t *timedTx) AppendEvent(ctx context.Context, e hub.Event) (uint64, error) {
	start := time.Now()
	idx, err := t.Tx.AppendEvent(ctx, e)
	t.appends += time.Since(start)
	if e.Type == hub.EventAccepted {
		t.accepting = true
	}
	return idx, err
}

type benchParty struct {
	id       string
	sig, enc jwk.Key
}

func newBenchParty(b *testing.B, id string) benchParty {
	sig, err := seal.GenerateSigningKey(seal.NewKID(id + "#sig"))
	if err != nil {
		b.Fatal(err)
	}
	enc, err := seal.GenerateEncryptionKey(seal.NewKID(id + "#enc"))
	if err != nil {
		b.Fatal(err)
	}
	return benchParty{id: id, sig: sig, enc: enc}
}

// benchHub runs a hub on a timed SQLite store whose log already holds
// prefill leaves, with two registered agencies.
func benchHub(b *testing.B, prefill int) (*hub.Hub, *recorder, benchParty, benchParty) {
	b.Helper()
	ctx := context.Background()
	key, priv := relaistest.NewHubKey(b)
	log, store := relaistest.OpenAuditedStore(b, filepath.Join(b.TempDir(), "relais.db"), testHubID+"/audit", priv)
	prefillLog(b, store, log, prefill)
	rec := &recorder{}
	h := relaistest.StartHub(b, ctx, hub.Config{ID: testHubID, Key: key, Store: &timedStore{Store: store, rec: rec},
		CaseKey: relaistest.NewCaseKey(), Audit: log, CheckpointInterval: time.Hour})
	from, to := newBenchParty(b, ciID), newBenchParty(b, mlID)
	for _, p := range []benchParty{from, to} {
		set, _ := seal.PublicSet(p.sig, p.enc)
		jwks, _ := json.Marshal(set)
		if _, err := h.RegisterAgency(ctx, hub.Registration{ID: p.id, Country: contracts.AgencyCountry(p.id), Name: p.id, JWKS: jwks}, audit.ActorAdmin); err != nil {
			b.Fatal(err)
		}
	}
	rec.reset() // only acceptances from here on
	return h, rec, from, to
}

// prefillLog appends n commitments-only events straight to the log, in
// large batches, as years of traffic would have.
func prefillLog(b *testing.B, store *sqlstore.Store, log *audit.Log, n int) {
	b.Helper()
	ctx := context.Background()
	const batch = 10_000
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for done := 0; done < n; done += batch {
		events := make([]audit.Event, min(batch, n-done))
		for i := range events {
			k := done + i
			events[i] = audit.Event{Type: audit.TypeAccepted, At: at.Add(time.Duration(k) * time.Second), MessageID: contracts.NewMessageID(),
				Kind: "referral.request", From: bfID, To: mlID, Actor: bfID, BodyDigest: audit.BodyDigest(fmt.Appendf(nil, "jws-%d", k))}
			events[i].Transfer = events[i].MessageID
		}
		tx, err := store.DB().BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := log.AppendBatch(ctx, tx, events); err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
}

// sealReferral signs a referral with a body encrypted for the recipient.
func sealReferral(b *testing.B, from, to benchParty) []byte {
	body, _ := json.Marshal(contracts.ReferralRequest{
		Child:     contracts.Child{GivenNames: "Awa", Sex: "f", BirthDate: "2010-04-12"},
		Narrative: "Retrouvée seule à la gare routière ; souhaite rejoindre sa famille.",
		Urgency:   "normal",
	})
	jwe, err := seal.Encrypt(body, to.enc)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	id := contracts.NewMessageID()
	env := contracts.Envelope{
		V: 1, ID: id, Kind: "referral.request", From: from.id, To: to.id, Case: "CI-ABJ-2026-0042", Transfer: id, SentAt: now,
		Purpose: "protection_referral", DataCategories: []string{"identity", "narrative"},
		Consent: &contracts.Consent{Ref: "C-1", Basis: "consent", GivenBy: "parent", ChildAssent: true, AgeBand: "15-17",
			Recipients: []string{contracts.AgencyCountry(to.id)}, Purposes: []string{"protection_referral"},
			DataCategories: []string{"identity", "narrative"}, ObtainedAt: now.Add(-time.Hour)},
		Body: contracts.NewSealedBody(jwe),
	}
	payload, err := json.Marshal(env)
	if err != nil {
		b.Fatal(err)
	}
	jws, err := seal.Sign(payload, from.sig, seal.EnvelopeTyp)
	if err != nil {
		b.Fatal(err)
	}
	return jws
}
