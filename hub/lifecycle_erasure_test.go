package hub_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/hub/audit"
)

// After case.erasure_requested, each party confirms it erased its copy;
// with the last confirmation the hub empties the stored JWS of the
// transfer's messages, so the ciphertext is gone from the database and its
// files, while the metadata, the digests and the audit log's proofs remain.
func TestErasureDropsTheCiphertextAndTheAuditStillVerifies(t *testing.T) {
	ctx := context.Background()
	ci, ml := lifecycleParty(t, "ci.dpe-abidjan"), lifecycleParty(t, "ml.dnpef")
	w := newWorld(t, instanceOptions{interval: 10 * time.Millisecond}, regs(ci, ml)...)
	id := w.toAccepted(t, ci, ml)
	w.exchange(t, msg{kind: "family.assessment", from: ml, to: ci, transfer: id})
	w.exchange(t, msg{kind: "bid.decision", from: ci, to: ml, transfer: id})
	w.exchange(t, msg{kind: "return.plan", from: ci, to: ml, transfer: id})
	w.exchange(t, msg{kind: "case.closed", from: ml, to: ci, transfer: id, body: []byte(`{"reason":"reached_majority"}`)})
	// One alert is still waiting, unread, in Côte d'Ivoire's inbox.
	pending := w.send(t, msg{kind: "alert.child_missing", from: ml, to: ci, transfer: id})
	w.delivered(t, pending)

	before := messagesOf(t, w, id)
	var sealed [][]byte // a stretch of each sealed body's ciphertext
	for _, m := range before {
		if spec, _ := contracts.Kind(m.Kind); spec.PersonalData {
			sealed = append(sealed, ciphertextOf(t, m.JWS))
		}
	}
	if len(sealed) < 4 {
		t.Fatalf("only %d sealed messages to erase", len(sealed))
	}

	if !inFiles(t, w, sealed) {
		t.Fatal("the sealed bodies are not found in the database files before erasure: the check below would prove nothing")
	}

	w.exchange(t, msg{kind: "case.erasure_requested", from: ci, to: ml, transfer: id, body: []byte(`{"reason":"data_subject_request"}`)})
	w.exchange(t, msg{kind: "case.erased", from: ml, to: ci, transfer: id})
	// One confirmation is not enough: Côte d'Ivoire still holds its copy.
	for _, m := range messagesOf(t, w, id) {
		if len(m.JWS) == 0 {
			t.Fatalf("message %s (%s) erased before every party confirmed", m.ID, m.Kind)
		}
	}
	w.exchange(t, msg{kind: "case.erased", from: ci, to: ml, transfer: id})
	w.requireState(t, id, hub.StateErased, ml)

	kept := []string{"receipt", "case.erasure_requested", "case.erased"}
	erased := 0
	for _, m := range messagesOf(t, w, id) {
		was := before[m.ID]
		switch {
		case slices.Contains(kept, m.Kind):
			if len(m.JWS) == 0 {
				t.Errorf("%s %s lost its JWS, but it proves the erasure", m.Kind, m.ID)
			}
		case len(m.JWS) != 0:
			t.Errorf("%s %s still holds %d bytes of JWS", m.Kind, m.ID, len(m.JWS))
		case m.SHA256 != was.SHA256 || m.From != was.From || m.To != was.To || m.LeafIndex != was.LeafIndex || m.CaseDigest != was.CaseDigest:
			t.Errorf("%s %s lost its metadata: %+v", m.Kind, m.ID, m)
		default:
			erased++
		}
	}
	if erased == 0 {
		t.Fatal("nothing was erased")
	}
	if items, _ := w.store.Inbox(ctx, ci.ID, 0, 100); slices.ContainsFunc(items, func(it hub.InboxItem) bool { return it.ID == pending }) {
		t.Error("the erased alert is still offered in the inbox")
	}
	requireLink(t, w.trail(t, id), hub.EventCaseErased, "messages=")

	// Not in the database files either, once the hub reclaimed the space.
	eventually(t, "the ciphertext gone from the database files", func() bool { return !inFiles(t, w, sealed) })

	// The audit log never held the bytes: every event of the transfer is
	// still proven included in a signed checkpoint, and the accepted events
	// still commit to the digests of what was erased.
	trail := w.trail(t, id)
	if _, err := w.log.Checkpoint(ctx, w.store.DB()); err != nil {
		t.Fatal(err)
	}
	indexes := make([]uint64, 0, len(trail))
	for _, e := range trail {
		indexes = append(indexes, e.Index)
	}
	bundle, err := audit.BuildBundle(ctx, w.store.DB(), w.log, indexes)
	if err != nil {
		t.Fatal(err)
	}
	data, err := bundle.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	report, err := audit.VerifyBundle(data, w.dep.priv.Public().(ed25519.PublicKey))
	if err != nil || len(report.Verified) != len(trail) {
		t.Fatalf("bundle of the erased transfer: %d of %d verified, %v", len(report.Verified), len(trail), err)
	}
	for _, be := range bundle.Events {
		if be.Event.Type == audit.TypeAccepted {
			if m, ok := before[be.Event.MessageID]; ok && be.Event.BodyDigest != m.SHA256 {
				t.Errorf("leaf %d commits to %s, the message's digest is %s", be.Index, be.Event.BodyDigest, m.SHA256)
			}
		}
	}
}

// messagesOf reads every message of a transfer, by id.
func messagesOf(tb testing.TB, w *world, transfer string) map[string]hub.StoredMessage {
	tb.Helper()
	out := map[string]hub.StoredMessage{}
	for _, e := range w.trail(tb, transfer) {
		if e.Type != hub.EventAccepted {
			continue
		}
		m, err := w.store.Message(context.Background(), e.MessageID)
		if err != nil {
			tb.Fatal(err)
		}
		out[m.ID] = m
	}
	return out
}

// ciphertextOf returns 48 characters of a sealed message's JWS that encode
// bytes from the middle of its JWE ciphertext: what the database holds of
// the encrypted body, and found nowhere else.
func ciphertextOf(tb testing.TB, jws []byte) []byte {
	tb.Helper()
	parts := bytes.Split(jws, []byte("."))
	payload, err := base64.RawURLEncoding.DecodeString(string(parts[1]))
	if err != nil {
		tb.Fatal(err)
	}
	var env struct {
		Body string `json:"body"`
	}
	if err := json.Unmarshal(payload, &env); err != nil {
		tb.Fatal(err)
	}
	jwe := strings.Split(env.Body, ".")
	if len(jwe) != 5 || len(jwe[3]) < 80 {
		tb.Fatalf("not a JWE with a ciphertext of some length")
	}
	at := bytes.Index(payload, []byte(jwe[3])) + len(jwe[3])/2
	at -= at % 3 // base64 encodes each 3 payload bytes as 4 characters
	return parts[1][at/3*4 : at/3*4+48]
}

// inFiles reports whether any of the byte strings is in the SQLite
// database or its write-ahead log.
func inFiles(tb testing.TB, w *world, needles [][]byte) bool {
	tb.Helper()
	for _, name := range []string{w.dep.dbPath, w.dep.dbPath + "-wal"} {
		raw, err := os.ReadFile(name)
		if err != nil && !os.IsNotExist(err) {
			tb.Fatal(err)
		}
		for _, n := range needles {
			if bytes.Contains(raw, n) {
				return true
			}
		}
	}
	return false
}
