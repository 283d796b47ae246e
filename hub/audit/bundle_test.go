package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relais-hub/relais/contracts"
)

// threeCountryTrail is the audit trail of a transfer from Burkina Faso to
// Côte d'Ivoire, forwarded to Mali, with a rejection, receipts and an
// auditor query, all commitments only.
func threeCountryTrail() []Event {
	key := []byte("hub audit hmac key")
	caseBF := CaseDigest(key, "bf.dpe-bobo", "BF-2025-0042")
	caseCI := CaseDigest(key, "ci.dpe-abidjan", "CI-25-117")
	at := func(min int) time.Time { return baseTime.Add(time.Duration(min) * time.Minute) }
	const t1, t2 = "01959d2c-7a3e-7c11-8d2a-1f0e3b5c9a01", "01959d2c-9b10-7f42-a3c1-5d7e2a6b4c02"
	return []Event{
		{Type: TypeAccepted, At: at(0), MessageID: t1, Transfer: t1, Kind: "referral.request", From: "bf.dpe-bobo", To: "ci.dpe-abidjan", Actor: "bf.dpe-bobo", CaseDigest: caseBF, BodyDigest: BodyDigest([]byte("jws-1"))},
		{Type: TypeDelivered, At: at(3), MessageID: t1, Transfer: t1, Kind: "referral.request", From: "bf.dpe-bobo", To: "ci.dpe-abidjan", Actor: ActorHub},
		{Type: TypeReceipted, At: at(4), MessageID: "01959d2c-8000-7000-8000-000000000003", Transfer: t1, Kind: "receipt", From: "ci.dpe-abidjan", To: "bf.dpe-bobo", Actor: "ci.dpe-abidjan", BodyDigest: BodyDigest([]byte("jws-2"))},
		{Type: TypeTransferAccepted, At: at(60), MessageID: "01959d2c-8000-7000-8000-000000000004", Transfer: t1, Kind: "referral.accepted", From: "ci.dpe-abidjan", To: "bf.dpe-bobo", Actor: "ci.dpe-abidjan", CaseDigest: caseCI, Detail: "accepted"},
		{Type: TypeRejected, At: at(61), Kind: "referral.request", From: "ci.dpe-abidjan", To: "ml.dnpef", Actor: "ci.dpe-abidjan", Code: "consent_scope", BodyDigest: BodyDigest([]byte("jws-3"))},
		{Type: TypeAccepted, At: at(75), MessageID: t2, Transfer: t2, Kind: "referral.request", From: "ci.dpe-abidjan", To: "ml.dnpef", Actor: "ci.dpe-abidjan", CaseDigest: caseCI, BodyDigest: BodyDigest([]byte("jws-4")), Extra: map[string]string{"previous_transfer": t1}},
		{Type: TypeDelivered, At: at(80), MessageID: t2, Transfer: t2, Kind: "referral.request", From: "ci.dpe-abidjan", To: "ml.dnpef", Actor: ActorHub},
		{Type: TypeAuditorQuery, At: at(900), Actor: "auditor.cnil-bf", Detail: "trail_export", CaseDigest: caseBF},
	}
}

func TestAThreeCountryBundleVerifiesOfflineWithOnlyThePublicKey(t *testing.T) {
	forEachStore(t, func(t *testing.T, s store, db *sql.DB) {
		ctx := context.Background()
		l := newLog(t, s.dialect, hubKey)
		appendEvents(t, db, l, 0, 5) // unrelated traffic before
		var indexes []uint64
		for _, ev := range threeCountryTrail() {
			inTx(t, db, func(tx *sql.Tx) {
				idx, err := l.Append(ctx, tx, ev)
				if err != nil {
					t.Fatal(err)
				}
				indexes = append(indexes, idx)
			})
			appendEvents(t, db, l, 100+len(indexes), 2) // interleaved traffic
		}
		mustCheckpoint(t, db, l)
		b, err := BuildBundle(ctx, db, l, indexes)
		if err != nil {
			t.Fatal(err)
		}
		data, err := b.Marshal()
		if err != nil {
			t.Fatal(err)
		}

		// The auditor's side: a fresh directory, the bundle file, the hub's
		// public key, no database and no hub.
		dir := t.TempDir()
		path := filepath.Join(dir, "trail.json")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		onDisk, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		pub := append(ed25519.PublicKey(nil), hubKey.Public().(ed25519.PublicKey)...)
		rep, err := VerifyBundle(onDisk, pub)
		if err != nil {
			t.Fatalf("bundle does not verify: %v", err)
		}
		if len(rep.Verified) != len(threeCountryTrail()) || len(rep.Failures) != 0 {
			t.Fatalf("verified %d events with %d failures", len(rep.Verified), len(rep.Failures))
		}
		for i, v := range rep.Verified {
			want, _ := threeCountryTrail()[i].Encode()
			got, _ := v.Event.Encode()
			if v.Index != indexes[i] || !bytes.Equal(got, want) {
				t.Fatalf("verified event %d is %s at %d, want %s at %d", i, got, v.Index, want, indexes[i])
			}
		}
		if rep.Checkpoint.Size != 5+8*3 || rep.Origin != testOrigin {
			t.Fatalf("report checkpoint %+v", rep.Checkpoint)
		}
		countries := map[string]bool{}
		for _, v := range rep.Verified {
			for _, party := range []string{v.Event.From, v.Event.To} {
				if cc, _, ok := strings.Cut(party, "."); ok {
					countries[cc] = true
				}
			}
		}
		if len(countries) != 3 {
			t.Fatalf("trail spans countries %v, want bf, ci and ml", countries)
		}
	})
}

// bundleFixture is a log of 20 events with a checkpoint, and a bundle of
// some of them, as JSON the tests can tamper with.
func bundleFixture(t *testing.T) (*sql.DB, *Log, *Bundle) {
	t.Helper()
	db, _ := openSQLite(t)
	l := newLog(t, DialectSQLite, hubKey)
	appendEvents(t, db, l, 0, 20)
	mustCheckpoint(t, db, l)
	b, err := BuildBundle(context.Background(), db, l, []uint64{2, 3, 11})
	if err != nil {
		t.Fatal(err)
	}
	return db, l, b
}

func marshalled(t *testing.T, b *Bundle) []byte {
	t.Helper()
	data, err := b.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestVerifyBundleNamesWhatFailed(t *testing.T) {
	pub := hubKey.Public().(ed25519.PublicKey)
	_, _, good := bundleFixture(t)
	if _, err := VerifyBundle(marshalled(t, good), pub); err != nil {
		t.Fatalf("untampered bundle: %v", err)
	}
	clone := func() *Bundle {
		var b Bundle
		if err := json.Unmarshal(marshalled(t, good), &b); err != nil {
			t.Fatal(err)
		}
		return &b
	}
	cases := []struct {
		name     string
		tamper   func(b *Bundle) []byte
		sentinel error
		code     contracts.Code
		index    int // -1: not about one event
	}{
		{"a leaf edited in the bundle", func(b *Bundle) []byte {
			ev := b.Events[1].Event
			ev.To = "ml.dnpef"
			b.Events[1].Leaf, _ = ev.Encode()
			b.Events[1].Event = ev
			return marshalled(t, b)
		}, ErrNotIncluded, contracts.CodeAuditInclusionFailed, 3},
		{"an index changed", func(b *Bundle) []byte {
			b.Events[0].Index = 4
			return marshalled(t, b)
		}, ErrNotIncluded, contracts.CodeAuditInclusionFailed, 4},
		{"a proof hash altered", func(b *Bundle) []byte {
			b.Events[2].InclusionProof[0][5] ^= 1
			return marshalled(t, b)
		}, ErrNotIncluded, contracts.CodeAuditInclusionFailed, 11},
		{"a proof hash dropped", func(b *Bundle) []byte {
			b.Events[2].InclusionProof = b.Events[2].InclusionProof[1:]
			return marshalled(t, b)
		}, ErrNotIncluded, contracts.CodeAuditInclusionFailed, 11},
		{"the readable event differing from the leaf", func(b *Bundle) []byte {
			b.Events[0].Event.Code = "signature_invalid"
			return marshalled(t, b)
		}, ErrEventMismatch, contracts.CodeAuditBundleInvalid, 2},
		{"an event listed twice", func(b *Bundle) []byte {
			b.Events = append(b.Events, b.Events[0])
			return marshalled(t, b)
		}, ErrDuplicateIndex, contracts.CodeAuditBundleInvalid, 2},
		{"a non-canonical leaf", func(b *Bundle) []byte {
			b.Events[0].Leaf = append([]byte(" "), b.Events[0].Leaf...)
			return marshalled(t, b)
		}, ErrBundleMalformed, contracts.CodeAuditBundleInvalid, 2},
		{"the checkpoint size edited", func(b *Bundle) []byte {
			b.Checkpoint = strings.Replace(b.Checkpoint, "\n20\n", "\n21\n", 1)
			return marshalled(t, b)
		}, ErrBadSignature, contracts.CodeAuditCheckpointInvalid, -1},
		{"the checkpoint signed by another key", func(b *Bundle) []byte {
			other := newLog(t, DialectSQLite, testKey("attacker"))
			cp, _ := ParseCheckpoint([]byte(b.Checkpoint), testOrigin, pub)
			forged, _ := other.sign(cp.Size, cp.Root)
			b.Checkpoint = string(forged.Note)
			return marshalled(t, b)
		}, ErrBadSignature, contracts.CodeAuditCheckpointInvalid, -1},
		{"another hub key named", func(b *Bundle) []byte {
			b.HubPublicKey, _ = NewHubKey(testOrigin, testKey("attacker").Public().(ed25519.PublicKey))
			return marshalled(t, b)
		}, ErrKeyMismatch, contracts.CodeAuditBundleInvalid, -1},
		{"another format", func(b *Bundle) []byte {
			b.Format = "relais-audit-bundle/v0"
			return marshalled(t, b)
		}, ErrBundleMalformed, contracts.CodeAuditBundleInvalid, -1},
		{"an unknown field", func(b *Bundle) []byte {
			return bytes.Replace(marshalled(t, b), []byte(`"format"`), []byte(`"child_name": "x", "format"`), 1)
		}, ErrBundleMalformed, contracts.CodeAuditBundleInvalid, -1},
	}
	for _, tc := range cases {
		t.Run("it detects "+tc.name, func(t *testing.T) {
			rep, err := VerifyBundle(tc.tamper(clone()), pub)
			wantFailure(t, err, tc.sentinel, tc.code)
			f, ok := FailureOf(err)
			if !ok {
				t.Fatalf("error %v carries no Failure", err)
			}
			if tc.index >= 0 && (!f.HasIndex || f.Index != uint64(tc.index)) {
				t.Fatalf("failure names index %d (has %v), want %d", f.Index, f.HasIndex, tc.index)
			}
			if tc.index >= 0 && (!strings.Contains(f.Message("en"), "event ") || !strings.Contains(f.Message("fr"), "événement ")) {
				t.Fatalf("messages do not name the event: %q / %q", f.Message("en"), f.Message("fr"))
			}
			if f.Message("en") == f.Message("fr") {
				t.Fatalf("French and English messages are the same: %q", f.Message("en"))
			}
			if len(rep.Failures) == 0 {
				t.Fatal("report lists no failure")
			}
		})
	}
}

func TestVerifyBundleReportsEveryFailingEventAndKeepsTheGoodOnes(t *testing.T) {
	pub := hubKey.Public().(ed25519.PublicKey)
	_, _, b := bundleFixture(t)
	b.Events[0].InclusionProof[0][0] ^= 1
	b.Events[2].InclusionProof[0][0] ^= 1
	rep, err := VerifyBundle(marshalled(t, b), pub)
	wantFailure(t, err, ErrNotIncluded, contracts.CodeAuditInclusionFailed)
	if len(rep.Failures) != 2 || rep.Failures[0].Index != 2 || rep.Failures[1].Index != 11 {
		t.Fatalf("failures %+v, want events 2 and 11", rep.Failures)
	}
	if len(rep.Verified) != 1 || rep.Verified[0].Index != 3 {
		t.Fatalf("verified %+v, want event 3 only", rep.Verified)
	}
}

func TestBundleConsistencyProofIsVerified(t *testing.T) {
	ctx := context.Background()
	pub := hubKey.Public().(ed25519.PublicKey)
	db, l, _ := bundleFixture(t)
	appendEvents(t, db, l, 20, 13)
	mustCheckpoint(t, db, l)
	b, err := BuildBundle(ctx, db, l, []uint64{25})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.AddConsistency(ctx, db, l, 20); err != nil {
		t.Fatal(err)
	}
	rep, err := VerifyBundle(marshalled(t, b), pub)
	if err != nil {
		t.Fatal(err)
	}
	if rep.ConsistentFrom == nil || rep.ConsistentFrom.Size != 20 {
		t.Fatalf("consistency not reported: %+v", rep.ConsistentFrom)
	}
	b.Consistency.Proof[1][0] ^= 1
	_, err = VerifyBundle(marshalled(t, b), pub)
	wantFailure(t, err, ErrInconsistent, contracts.CodeAuditConsistencyFailed)
}

func TestBuildBundleRefusesEventsNoCheckpointCovers(t *testing.T) {
	ctx := context.Background()
	db, l, _ := bundleFixture(t)
	appendEvents(t, db, l, 20, 1)
	if _, err := BuildBundle(ctx, db, l, []uint64{20}); !errors.Is(err, ErrNotCheckpointed) {
		t.Fatalf("bundle of an uncheckpointed event: %v", err)
	}
	mustCheckpoint(t, db, l)
	if _, err := BuildBundle(ctx, db, l, []uint64{20}); err != nil {
		t.Fatalf("after a checkpoint: %v", err)
	}
}
