package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"testing"

	tlog "github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"

	"github.com/relais-hub/relais/contracts"
)

// Fuzz targets for the three decoders auditors run on data they receive:
// leaves, signed checkpoints and bundles. The shared property: no input
// makes them panic, and nothing is accepted that the hub did not sign.

// fuzzLog is a log of 12 events with checkpoints at sizes 5 and 12; signed
// remembers every checkpoint the hub key signed, by its note text.
type fuzzLog struct {
	log     *Log
	events  map[uint64][]byte
	signed  map[string]bool
	bundles [][]byte
}

func newFuzzLog(f *testing.F) *fuzzLog {
	f.Helper()
	ctx := context.Background()
	db, _ := openSQLite(f)
	l := newLog(f, DialectSQLite, hubKey)
	fl := &fuzzLog{log: l, events: map[uint64][]byte{}, signed: map[string]bool{}}
	appendEvents(f, db, l, 0, 5)
	first := mustCheckpoint(f, db, l)
	appendEvents(f, db, l, 5, 7)
	second := mustCheckpoint(f, db, l)
	for _, cp := range []SignedCheckpoint{first, second} {
		fl.signed[cp.Checkpoint.key()] = true
	}
	for i := uint64(0); i < 12; i++ {
		_, raw, err := l.Leaf(ctx, db, i)
		if err != nil {
			f.Fatal(err)
		}
		fl.events[i] = raw
	}
	for _, idx := range [][]uint64{{0}, {2, 3, 11}, {7}} {
		b, err := BuildBundle(ctx, db, l, idx)
		if err != nil {
			f.Fatal(err)
		}
		if idx[0] == 7 {
			if err := b.AddConsistency(ctx, db, l, first.Size); err != nil {
				f.Fatal(err)
			}
		}
		raw, err := b.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		fl.bundles = append(fl.bundles, raw)
	}
	f.Add(first.Note)
	f.Add(second.Note)
	return fl
}

// key identifies a checkpoint body.
func (c Checkpoint) key() string {
	return string(tlog.Checkpoint{Origin: c.Origin, Size: c.Size, Hash: c.Root}.Marshal())
}

func FuzzDecodeEvent(f *testing.F) {
	for i := 0; i < 4; i++ {
		raw, err := testEvent(i).Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	rejected := Event{Type: TypeRejected, At: baseTime, Actor: ActorHub, Code: "alg_not_allowed", Detail: "alg \"none\"",
		Extra: map[string]string{"kid": "bf.dpe-bobo#sig-1"}}
	raw, err := rejected.Encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	f.Add([]byte(`{"v":1,"type":"accepted","at":"2025-03-14T09:26:53.589Z","type":"rejected"}`))
	f.Add([]byte(`{"v":2,"type":"accepted","at":"2025-03-14T09:26:53.589Z"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := DecodeEvent(data)
		if err != nil {
			return
		}
		// One event, one encoding: what was accepted re-encodes to the
		// very same bytes and is a valid event.
		again, err := ev.Encode()
		if err != nil {
			t.Fatalf("accepted an event that does not re-encode: %v", err)
		}
		if !bytes.Equal(again, data) {
			t.Fatalf("accepted a non-canonical leaf:\n got %q\nwant %q", data, again)
		}
		if err := ev.Validate(); err != nil {
			t.Fatalf("accepted an invalid event: %v", err)
		}
	})
}

func FuzzParseCheckpoint(f *testing.F) {
	fl := newFuzzLog(f)
	pub := hubKey.Public().(ed25519.PublicKey)
	other := testKey("another hub")
	foreign, err := note.Sign(&note.Note{Text: string(tlog.Checkpoint{Origin: testOrigin, Size: 3, Hash: make([]byte, 32)}.Marshal())},
		&noteSigner{name: testOrigin, hash: 1, key: other})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(foreign)
	f.Add([]byte("relais.hub.test/log\n3\n\n\n— relais.hub.test/log AAAA\n"))
	f.Fuzz(func(t *testing.T, text []byte) {
		cp, err := ParseCheckpoint(text, testOrigin, pub)
		if err != nil {
			if c := contracts.CodeOf(err); c != contracts.CodeAuditCheckpointInvalid && c != contracts.CodeInternal {
				t.Fatalf("refusal with code %q: %v", c, err)
			}
			return
		}
		if !fl.signed[cp.key()] {
			t.Fatalf("accepted a checkpoint the hub never signed: %+v", cp)
		}
	})
}

func FuzzVerifyBundle(f *testing.F) {
	fl := newFuzzLog(f)
	pub := hubKey.Public().(ed25519.PublicKey)
	for _, b := range fl.bundles {
		f.Add(b)
	}
	f.Add([]byte(`{"format":"relais-audit-bundle/v1","origin":"relais.hub.test/log","events":[{"index":0}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := VerifyBundle(data, pub)
		for _, fail := range rep.Failures {
			if fail.Code == "" {
				t.Fatalf("failure without a code: %v", fail)
			}
		}
		if err != nil {
			if len(rep.Failures) == 0 {
				t.Fatalf("refused without naming a failure: %v", err)
			}
			return
		}
		if !fl.signed[rep.Checkpoint.key()] {
			t.Fatalf("verified against a checkpoint the hub never signed: %+v", rep.Checkpoint)
		}
		for _, v := range rep.Verified {
			leaf, ok := fl.events[v.Index]
			if !ok {
				t.Fatalf("verified event %d, which the log does not hold", v.Index)
			}
			want, err := DecodeEvent(leaf)
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := v.Event.Encode(); !bytes.Equal(got, leaf) {
				t.Fatalf("verified event %d as %+v, the log holds %+v", v.Index, v.Event, want)
			}
		}
		if rep.ConsistentFrom != nil && !fl.signed[rep.ConsistentFrom.key()] {
			t.Fatalf("proved consistency from a checkpoint the hub never signed: %+v", rep.ConsistentFrom)
		}
	})
}
