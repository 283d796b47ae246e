package audit_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	tlog "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/hub/audit"
	"github.com/relais-hub/relais/tests/internal/relaistest"
)

// The tamper suite plays someone with write access to the hub's SQLite
// file: a rogue operator, or an intruder. Some edits leave the stored tree
// as it was (the quick way, without the hub key): a fresh bundle's
// inclusion proofs then no longer lead to the signed root, and
// `relais audit verify` says so. Others recompute the whole tree and re-sign
// it with the hub's own key (a compromised hub): every new bundle is then
// self-consistent, but the auditor's watcher holds a checkpoint signed
// before the rewrite, and `relais audit watch` (or `verify --since` with
// the watcher's state) proves the history changed.

// bed is a hub with one complete CI → ML transfer, a published checkpoint
// the auditor's watcher verified, and a clean bundle that verified.
type bed struct {
	*world
	transfer string
	keyFile  string
	state    string
	// signed is the size of the checkpoint the watcher holds.
	signed int
}

func newBed(t *testing.T) *bed {
	t.Helper()
	w := newWorld(t)
	b := &bed{world: w, transfer: w.exchange(t, ciID, mlID, "CI-ABJ-2026-0042")}
	b.keyFile = filepath.Join(w.dir, "hub-key.txt")
	mustRelais(t, w.as("audit", "key", "--out", b.keyFile)...)
	mustRelais(t, w.as("audit", "checkpoint", "--publish")...)
	b.state = filepath.Join(w.dir, "watch", "state")
	if err := os.MkdirAll(filepath.Dir(b.state), 0o700); err != nil {
		t.Fatal(err)
	}
	if r := b.watch(t); r.Code != 0 {
		t.Fatalf("baseline watch failed: %s", r.Output())
	}
	cp, err := audit.ParseCheckpoint(must(os.ReadFile(b.state)), w.log.Origin(), w.log.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	b.signed = int(cp.Size)
	if r := b.verifyFreshBundle(t, false); r.Code != 0 {
		t.Fatalf("a clean bundle does not verify: %s", r.Output())
	}
	return b
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func (b *bed) watch(t *testing.T) relaistest.Result {
	t.Helper()
	return relais(t, b.as("audit", "watch", "--once", "--state", b.state, "--hub-key", b.keyFile)...)
}

// verifyFreshBundle exports the transfer's bundle from the hub as it now
// is and verifies it offline, against the watcher's checkpoint if since.
func (b *bed) verifyFreshBundle(t *testing.T, since bool) relaistest.Result {
	t.Helper()
	out := filepath.Join(t.TempDir(), "bundle.json")
	args := b.as("audit", "bundle", "--transfer", b.transfer, "--out", out)
	verify := []string{"audit", "verify", out, "--hub-key", b.keyFile}
	if since {
		args = append(args, "--since", b.state)
		verify = append(verify, "--since", b.state)
	}
	mustRelais(t, args...)
	return relais(t, verify...)
}

func (b *bed) exec(t *testing.T, query string, args ...any) {
	t.Helper()
	if _, err := b.store.DB().Exec(query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// leaves returns the stored leaves in index order.
func (b *bed) leaves(t *testing.T) [][]byte {
	t.Helper()
	rows, err := b.store.DB().Query(`SELECT data FROM audit_leaves ORDER BY idx`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var d []byte
		if err := rows.Scan(&d); err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

// indexOf finds the leaf index of the transfer's first event of type typ.
func (b *bed) indexOf(t *testing.T, typ hub.EventType) int {
	t.Helper()
	events, err := b.store.Trail(context.Background(), b.transfer)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(events, func(e hub.Event) bool { return e.Type == typ })
	if i < 0 {
		t.Fatalf("transfer has no %s event", typ)
	}
	return int(events[i].Index)
}

// edited re-encodes a leaf after fn changed its event: still a canonical,
// plausible event, only not the one that happened.
func edited(t *testing.T, leaf []byte, fn func(*audit.Event)) []byte {
	t.Helper()
	ev, err := audit.DecodeEvent(leaf)
	if err != nil {
		t.Fatal(err)
	}
	fn(&ev)
	out, err := ev.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// handedToBF rewrites an event as if the case had gone to Burkina Faso.
func handedToBF(ev *audit.Event) { ev.To, ev.Detail = bfID, "holder="+bfID }

// rewrite replaces the whole stored log by leaves the way a compromised
// hub would: the tree and the events index rebuilt to match, and a
// checkpoint signed with the hub's key at each of signAt and at the end —
// all in one transaction, so that the hub (still serving the auditor) sees
// the old log or the new one, never a mix.
func (b *bed) rewrite(t *testing.T, leaves [][]byte, signAt ...int) {
	t.Helper()
	ctx := context.Background()
	events := make([]audit.Event, len(leaves))
	for i, l := range leaves {
		ev, err := audit.DecodeEvent(l)
		if err != nil {
			t.Fatal(err)
		}
		events[i] = ev
	}
	tx, err := b.store.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	exec := func(query string, args ...any) {
		t.Helper()
		if _, err := tx.ExecContext(ctx, query, args...); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
	}
	for _, table := range []string{"audit_leaves", "audit_nodes", "audit_checkpoints", "events"} {
		exec(`DELETE FROM ` + table)
	}
	exec(`UPDATE audit_head SET size = 0, root = $1 WHERE id = 1`, rfc6962.DefaultHasher.EmptyRoot())
	if _, err := b.log.AppendBatch(ctx, tx, events); err != nil {
		t.Fatal(err)
	}
	for i, e := range events {
		exec(`INSERT INTO events (idx, type, at, message_id, transfer, kind, sender, recipient, actor, code, detail, jws_digest, case_digest)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`, i, string(e.Type), e.At.UnixMicro(), e.MessageID, e.Transfer, e.Kind,
			e.From, e.To, e.Actor, e.Code, e.Detail, e.BodyDigest, e.CaseDigest)
	}
	for _, size := range append(slices.Clone(signAt), len(leaves)) {
		root, note := b.sign(t, leaves[:size])
		exec(`INSERT INTO audit_checkpoints (size, root, note) VALUES ($1, $2, $3)`, size, root, string(note))
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// sign makes the checkpoint of leaves with the hub's private key: the RFC
// 6962 root, in a C2SP signed note, exactly as the hub signs its own.
func (b *bed) sign(t *testing.T, leaves [][]byte) ([]byte, []byte) {
	t.Helper()
	hasher := rfc6962.DefaultHasher
	rng := (&compact.RangeFactory{Hash: hasher.HashChildren}).NewEmptyRange(0)
	for _, l := range leaves {
		if err := rng.Append(hasher.HashLeaf(l), nil); err != nil {
			t.Fatal(err)
		}
	}
	root, err := rng.GetRootHash(nil)
	if err != nil {
		t.Fatal(err)
	}
	vkey, err := audit.VerifierKey(b.log.Origin(), b.log.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	body := tlog.Checkpoint{Origin: b.log.Origin(), Size: uint64(len(leaves)), Hash: root}
	signed, err := note.Sign(&note.Note{Text: string(body.Marshal())}, hubSigner{name: v.Name(), hash: v.KeyHash(), key: b.priv})
	if err != nil {
		t.Fatal(err)
	}
	return root, signed
}

// hubSigner signs notes with the hub's Ed25519 key.
type hubSigner struct {
	name string
	hash uint32
	key  ed25519.PrivateKey
}

func (s hubSigner) Name() string                    { return s.name }
func (s hubSigner) KeyHash() uint32                 { return s.hash }
func (s hubSigner) Sign(msg []byte) ([]byte, error) { return ed25519.Sign(s.key, msg), nil }

// outcome is what each tool reports after a tampering: the refusal code,
// or "" when the tool (rightly) finds nothing wrong from where it stands.
type outcome struct {
	verify      contracts.Code // a fresh bundle, verified on its own
	verifySince contracts.Code // a fresh bundle, verified against the watcher's checkpoint
	watch       contracts.Code
}

func TestEveryTamperingWithTheStoredLogIsDetected(t *testing.T) {
	const (
		inclusion   = contracts.CodeAuditInclusionFailed
		fork        = contracts.CodeAuditFork
		shrunk      = contracts.CodeAuditShrunk
		consistency = contracts.CodeAuditConsistencyFailed
	)
	cases := []struct {
		name   string
		tamper func(t *testing.T, b *bed)
		want   outcome
	}{
		{
			name: "a leaf edited in place",
			tamper: func(t *testing.T, b *bed) {
				k := b.indexOf(t, hub.EventTransferAccepted)
				b.exec(t, `UPDATE audit_leaves SET data = $1 WHERE idx = $2`, edited(t, b.leaves(t)[k], handedToBF), k)
			},
			want: outcome{verify: inclusion, verifySince: inclusion},
		},
		{
			name: "a leaf deleted in place, the later ones renumbered",
			tamper: func(t *testing.T, b *bed) {
				k := b.indexOf(t, hub.EventReceipted)
				b.exec(t, `DELETE FROM audit_leaves WHERE idx = $1`, k)
				// Two steps, so the primary key never collides mid-update.
				b.exec(t, `UPDATE audit_leaves SET idx = idx + 1000000 WHERE idx > $1`, k)
				b.exec(t, `UPDATE audit_leaves SET idx = idx - 1000001 WHERE idx > 1000000`)
			},
			want: outcome{verify: inclusion, verifySince: inclusion},
		},
		{
			name: "two leaves swapped in place",
			tamper: func(t *testing.T, b *bed) {
				i, j := b.indexOf(t, hub.EventAccepted), b.indexOf(t, hub.EventDelivered)
				leaves := b.leaves(t)
				b.exec(t, `UPDATE audit_leaves SET data = $1 WHERE idx = $2`, leaves[j], i)
				b.exec(t, `UPDATE audit_leaves SET data = $1 WHERE idx = $2`, leaves[i], j)
			},
			want: outcome{verify: inclusion, verifySince: inclusion},
		},
		{
			name: "a fork: a leaf edited, the tree recomputed and the same size re-signed with the hub key",
			tamper: func(t *testing.T, b *bed) {
				leaves := b.leaves(t)[:b.signed]
				k := b.indexOf(t, hub.EventTransferAccepted)
				leaves[k] = edited(t, leaves[k], handedToBF)
				b.rewrite(t, leaves)
			},
			want: outcome{verifySince: fork, watch: fork},
		},
		{
			name: "two leaves reordered, the tree recomputed and re-signed",
			tamper: func(t *testing.T, b *bed) {
				leaves := b.leaves(t)[:b.signed]
				i, j := b.indexOf(t, hub.EventAccepted), b.indexOf(t, hub.EventDelivered)
				leaves[i], leaves[j] = leaves[j], leaves[i]
				b.rewrite(t, leaves)
			},
			want: outcome{verifySince: fork, watch: fork},
		},
		{
			name: "a leaf deleted, the tree recomputed and re-signed",
			tamper: func(t *testing.T, b *bed) {
				leaves := b.leaves(t)[:b.signed]
				k := b.indexOf(t, hub.EventReceipted)
				b.rewrite(t, slices.Delete(leaves, k, k+1))
			},
			want: outcome{verifySince: shrunk, watch: shrunk},
		},
		{
			name: "the log truncated and re-signed",
			tamper: func(t *testing.T, b *bed) {
				// Keep the transfer, drop what followed it.
				last := slices.Max([]int{b.indexOf(t, hub.EventTransferAccepted), b.indexOf(t, hub.EventReceipted)})
				b.rewrite(t, b.leaves(t)[:last+1])
			},
			want: outcome{verifySince: shrunk, watch: shrunk},
		},
		{
			name: "a leaf edited, then the log re-signed at the old size and grown past it",
			tamper: func(t *testing.T, b *bed) {
				leaves := b.leaves(t)
				k := b.indexOf(t, hub.EventTransferAccepted)
				leaves[k] = edited(t, leaves[k], handedToBF)
				b.rewrite(t, leaves, b.signed)
			},
			want: outcome{verifySince: fork, watch: consistency},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := newBed(t)
			tc.tamper(t, b)
			check := func(tool string, r relaistest.Result, want contracts.Code) {
				t.Helper()
				switch {
				case want == "" && r.Code != 0:
					t.Errorf("%s fails where it has nothing to see: %s", tool, r.Output())
				case want != "" && r.Code == 0:
					t.Errorf("%s did not detect the tampering (want %s):\n%s", tool, want, r.Output())
				case want != "" && !strings.Contains(r.Output(), "["+string(want)+"]"):
					t.Errorf("%s failed without naming %s:\n%s", tool, want, r.Output())
				}
			}
			check("verify", b.verifyFreshBundle(t, false), tc.want.verify)
			check("verify --since", b.verifyFreshBundle(t, true), tc.want.verifySince)
			before := must(os.ReadFile(b.state))
			r := b.watch(t)
			check("watch", r, tc.want.watch)
			if tc.want.watch == "" {
				return
			}
			if !strings.Contains(r.Stderr, "ALERTE") {
				t.Errorf("watch failed without an alarm on stderr:\n%s", r.Stderr)
			}
			if after := must(os.ReadFile(b.state)); string(after) != string(before) {
				t.Error("a failed watch replaced the last verified checkpoint")
			}
			if _, err := os.Stat(b.state + ".rejected"); err != nil {
				t.Errorf("the rejected checkpoint was not kept as evidence: %v", err)
			}
		})
	}
}

func TestAnEditedBundleFileFailsVerification(t *testing.T) {
	b := newBed(t)
	clean := filepath.Join(b.dir, "clean.json")
	mustRelais(t, b.as("audit", "bundle", "--transfer", b.transfer, "--out", clean)...)
	var doc map[string]any
	if err := json.Unmarshal(must(os.ReadFile(clean)), &doc); err != nil {
		t.Fatal(err)
	}
	// Change an event in both its signed and readable forms, consistently.
	events := doc["events"].([]any)
	first := events[0].(map[string]any)
	var leaf []byte
	if err := json.Unmarshal(must(json.Marshal(first["leaf"])), &leaf); err != nil {
		t.Fatal(err)
	}
	forged := edited(t, leaf, handedToBF)
	first["leaf"] = forged
	first["event"] = json.RawMessage(forged)
	tampered := filepath.Join(b.dir, "tampered.json")
	if err := os.WriteFile(tampered, must(json.Marshal(doc)), 0o600); err != nil {
		t.Fatal(err)
	}
	r := relais(t, "audit", "verify", tampered, "--hub-key", b.keyFile, "--lang", "en")
	if r.Code == 0 || !strings.Contains(r.Stdout, "[audit_inclusion_failed]") || !strings.Contains(r.Stdout, "RESULT: FAILED") {
		t.Fatalf("an edited bundle passed or was not explained (exit %d):\n%s", r.Code, r.Output())
	}
}
