package security

// Hub key rotation with overlap, end to end: the admin rotates the hub's
// signing key with `relais hub key rotate`; the rotation is in the audit
// log; receipts are signed with the new key; checkpoints signed before the
// rotation are still served and verify, in the hub, after a restart, and
// offline with `relais audit verify` given the key set; and the private key
// is kept at rest in a 0600 file, encrypted when a passphrase is set.

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"

	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/hub/audit"
	"github.com/relais-hub/relais/tests/internal/relaistest"
)

// adminGet reads an admin-only or auditor route with the admin token.
func (w *world) adminGet(t *testing.T, path string) response {
	t.Helper()
	return w.get(t, path, secAdminToken)
}

// publishCheckpoint asks the hub to sign a checkpoint now and returns it.
func (w *world) publishCheckpoint(t *testing.T) []byte {
	t.Helper()
	r := w.do(t, http.MethodPost, "/v1/audit/checkpoint", nil, map[string]string{"Authorization": "Bearer " + secAdminToken})
	if r.Status != http.StatusOK && r.Status != http.StatusCreated {
		t.Fatalf("publish checkpoint: %d %s", r.Status, r.Body)
	}
	return r.Body
}

// receiptKID is the kid of the hub's acceptance receipt in an answer.
func receiptKID(t *testing.T, r response) string {
	t.Helper()
	receipt, _ := r.Doc["receipt"].(string)
	h, err := seal.ParseHeader([]byte(receipt), hub.ReceiptTyp)
	if err != nil {
		t.Fatalf("receipt: %v", err)
	}
	return h.Kid
}

// hubKeyEvents lists the hub_key_rotated events of the audit log.
func hubKeyEvents(t *testing.T, w *world) []audit.Event {
	t.Helper()
	ctx := context.Background()
	db := w.store.AuditDB()
	size, _, err := w.hw.Audit.Head(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	var out []audit.Event
	for i := uint64(0); i < size; i++ {
		ev, _, err := w.hw.Audit.Leaf(ctx, db, i)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type == audit.TypeHubKeyRotated {
			out = append(out, ev)
		}
	}
	return out
}

func TestHubKeyRotationKeepsEverythingSignedBeforeVerifiable(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	keyDir := t.TempDir()
	files := hub.NewHubKeyFiles(keyDir, nil)
	if err := w.hw.Hub.UseHubKeyStore(files, nil); err != nil {
		t.Fatal(err)
	}
	oldKID, _ := w.hw.Hub.PublicKey().KeyID()
	oldPub := w.hw.Audit.PublicKey()

	// Before: a referral accepted, its receipt signed by the old key, and
	// a checkpoint covering it.
	env, jws := w.ci.seal(t, childReferral(w.ml.ID))
	if kid := receiptKID(t, w.accepted(t, jws)); kid != oldKID {
		t.Fatalf("receipt signed by %s, want the hub key %s", kid, oldKID)
	}
	before := w.publishCheckpoint(t)
	cpBefore, err := audit.ParseCheckpoint(before, w.hw.Audit.Origin(), oldPub)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("an agency cannot rotate the hub key", func(t *testing.T) {
		r := w.do(t, http.MethodPost, "/v1/hub/keys/rotate", nil, map[string]string{"Authorization": "Bearer " + w.ci.token(t)})
		wantProblem(t, r, contracts.CodeForbidden)
		if n := len(hubKeyEvents(t, w)); n != 0 {
			t.Fatalf("%d rotation events after a refused rotation", n)
		}
	})

	out := relaistest.MustRun(t, relaisBin, "hub", "key", "rotate", "--hub", w.url, "--admin-token", secAdminToken, "--lang", "en")
	newKID, _ := w.hw.Hub.PublicKey().KeyID()
	newPub := w.hw.Audit.PublicKey()
	if newKID == oldKID || newPub.Equal(oldPub) || !strings.Contains(out.Stdout, newKID) {
		t.Fatalf("after `relais hub key rotate` (%q) the hub key is %s", out.Stdout, newKID)
	}

	t.Run("the rotation is in the audit log, naming both keys", func(t *testing.T) {
		events := hubKeyEvents(t, w)
		if len(events) != 1 {
			t.Fatalf("%d hub_key_rotated events, want 1", len(events))
		}
		e := events[0]
		if e.Actor != audit.ActorAdmin || e.Extra["kid"] != newKID || e.Extra["previous_kid"] != oldKID ||
			e.Extra["key"] != base64.RawURLEncoding.EncodeToString(newPub) || e.Extra["previous_key"] != base64.RawURLEncoding.EncodeToString(oldPub) {
			t.Fatalf("rotation event %+v", e)
		}
	})
	t.Run("the checkpoint covering the rotation is signed by both keys", func(t *testing.T) {
		latest := w.adminGet(t, "/v1/audit/checkpoint").Body
		for name, pub := range map[string]ed25519.PublicKey{"old": oldPub, "new": newPub} {
			if _, err := audit.ParseCheckpoint(latest, w.hw.Audit.Origin(), pub); err != nil {
				t.Errorf("with the %s key alone: %v", name, err)
			}
		}
	})
	t.Run("the key set lists the new key as current and the old one as retired", func(t *testing.T) {
		r := w.adminGet(t, "/v1/audit/keys")
		var set struct {
			Keys []struct{ KID, Status string } `json:"keys"`
		}
		if err := json.Unmarshal(r.Body, &set); err != nil || len(set.Keys) != 2 {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		if set.Keys[0].KID != newKID || set.Keys[0].Status != "current" || set.Keys[1].KID != oldKID || set.Keys[1].Status != "retired" {
			t.Fatalf("key set %+v", set.Keys)
		}
		wantProblem(t, w.get(t, "/v1/audit/keys", w.ml.token(t)), contracts.CodeForbidden)
	})
	t.Run("receipts are signed with the new key", func(t *testing.T) {
		_, jws := w.ci.seal(t, childReferral(w.ml.ID))
		if kid := receiptKID(t, w.accepted(t, jws)); kid != newKID {
			t.Fatalf("receipt signed by %s, want the new key %s", kid, newKID)
		}
	})
	t.Run("the checkpoint signed before the rotation is still served and verifies", func(t *testing.T) {
		r := w.adminGet(t, "/v1/audit/checkpoint?size="+strconv.FormatUint(cpBefore.Size, 10))
		if r.Status != http.StatusOK || string(r.Body) != string(before) {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
	})
	t.Run("a restarted hub trusts the retired key it finds on disk", func(t *testing.T) {
		set, err := files.Load()
		if err != nil {
			t.Fatal(err)
		}
		if kid := set.Current.KeyID(); kid != newKID || len(set.Retired) != 1 {
			t.Fatalf("on disk: current %s, %d retired", kid, len(set.Retired))
		}
		restarted, err := audit.New(audit.Config{Origin: w.hw.Audit.Origin(), Signer: set.Current, Dialect: audit.DialectSQLite})
		if err != nil {
			t.Fatal(err)
		}
		var retired ed25519.PublicKey
		if err := jwk.Export(set.Retired[0].Key, &retired); err != nil {
			t.Fatal(err)
		}
		if err := restarted.TrustRetired(retired); err != nil {
			t.Fatal(err)
		}
		if _, err := restarted.CheckpointAt(ctx, w.store.AuditDB(), cpBefore.Size); err != nil {
			t.Fatalf("the pre-rotation checkpoint after a restart: %v", err)
		}
	})
	t.Run("relais audit verify checks a bundle across the rotation with the key set, offline", func(t *testing.T) {
		dir := t.TempDir()
		relaistest.MustRun(t, relaisBin, "hub", "key", "list", "--hub", w.url, "--admin-token", secAdminToken, "--out", filepath.Join(dir, "keys.json"))
		if err := os.WriteFile(filepath.Join(dir, "before.cp"), before, 0o644); err != nil {
			t.Fatal(err)
		}
		w.publishCheckpoint(t)
		q := url.Values{"transfer": {env.Transfer}, "since": {strconv.FormatUint(cpBefore.Size, 10)}}
		bundle := w.adminGet(t, "/v1/audit/bundle?"+q.Encode())
		if bundle.Status != http.StatusOK {
			t.Fatalf("bundle: %d %s", bundle.Status, bundle.Body)
		}
		if err := os.WriteFile(filepath.Join(dir, "bundle.json"), bundle.Body, 0o644); err != nil {
			t.Fatal(err)
		}
		res := relaistest.RunIn(t, relaisBin, dir, "audit", "verify", "--hub-key", "keys.json", "--since", "before.cp", "--lang", "en", "bundle.json")
		if res.Code != 0 {
			t.Fatalf("verify with the key set: exit %d\n%s", res.Code, res.Output())
		}
		// With the old key alone the auditor is told to fetch the new one.
		oldVKey, err := audit.VerifierKey(w.hw.Audit.Origin(), oldPub)
		if err != nil {
			t.Fatal(err)
		}
		res = relaistest.RunIn(t, relaisBin, dir, "audit", "verify", "--hub-key-string", oldVKey, "--lang", "en", "bundle.json")
		if res.Code == 0 {
			t.Fatalf("a bundle signed by the new key verified with the old key alone:\n%s", res.Output())
		}
	})
}

func TestTheHubKeyAtRestIsPrivateAndOptionallyEncrypted(t *testing.T) {
	ctx := context.Background()
	pass := []byte("correct horse battery staple, Bamako 2026")
	dir := t.TempDir()
	files := hub.NewHubKeyFiles(dir, pass)
	set, err := files.LoadOrCreate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, hub.HubKeyFile)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("hub.jwk has mode %04o, want 0600", st.Mode().Perm())
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("the file holds no key material in clear", func(t *testing.T) {
		key, err := hub.ParseHubKeyFile(raw, pass)
		if err != nil {
			t.Fatal(err)
		}
		var priv ed25519.PrivateKey
		if err := jwk.Export(key, &priv); err != nil {
			t.Fatal(err)
		}
		if !priv.Public().(ed25519.PublicKey).Equal(set.Current.Public()) {
			t.Fatal("the file holds another key than the one saved")
		}
		d := base64.RawURLEncoding.EncodeToString(priv.Seed())
		if strings.Contains(string(raw), d) || strings.Contains(string(raw), `"d"`) || strings.HasPrefix(strings.TrimSpace(string(raw)), "{") {
			t.Fatal("the encrypted key file holds the key in clear")
		}
	})
	t.Run("the right passphrase opens it, the wrong one or none does not", func(t *testing.T) {
		again, err := files.Load()
		if err != nil {
			t.Fatal(err)
		}
		a, b := again.Current.KeyID(), set.Current.KeyID()
		if a != b {
			t.Fatalf("reloaded %s, saved %s", a, b)
		}
		if _, err := hub.NewHubKeyFiles(dir, []byte("wrong")).Load(); err == nil {
			t.Fatal("opened with a wrong passphrase")
		}
		if _, err := hub.NewHubKeyFiles(dir, nil).Load(); err == nil || !strings.Contains(err.Error(), "encrypted") {
			t.Fatalf("opened without a passphrase: %v", err)
		}
	})
	t.Run("a tampered file is refused", func(t *testing.T) {
		parts := strings.Split(strings.TrimSpace(string(raw)), ".")
		tag, _ := base64.RawURLEncoding.DecodeString(parts[4])
		tag[0] ^= 1
		parts[4] = base64.RawURLEncoding.EncodeToString(tag)
		if _, err := hub.ParseHubKeyFile([]byte(strings.Join(parts, ".")), pass); err == nil {
			t.Fatal("accepted a tampered key file")
		}
	})
	t.Run("a key file others can read is refused", func(t *testing.T) {
		if err := os.Chmod(path, 0o640); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(path, 0o600)
		if _, err := files.Load(); err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Fatalf("loaded a group-readable key: %v", err)
		}
	})
	t.Run("a plain key file is refused when a passphrase is set", func(t *testing.T) {
		plainDir := t.TempDir()
		if _, err := hub.NewHubKeyFiles(plainDir, nil).LoadOrCreate(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := hub.NewHubKeyFiles(plainDir, pass).Load(); err == nil {
			t.Fatal("a plain key was accepted where an encrypted one is expected")
		}
	})
}
