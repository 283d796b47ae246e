//go:build cgo

package security

// The hub key on a PKCS#11 token (SoftHSM here, an HSM in production):
// receipts and checkpoints are signed on the token; hub processes logged in
// to the same token follow a rotation made by one of them; and a hub that
// ran on a file key moves onto the token by a logged rotation, its file key
// deleted and still trusted for what it signed.

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/relais-hub/relais/adapters/pkcs11"
	"github.com/relais-hub/relais/adapters/pkcs11/softhsm"
	"github.com/relais-hub/relais/contracts/seal"
	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/hub/audit"
	"github.com/relais-hub/relais/tests/internal/relaistest"
)

func openTestToken(t *testing.T, module string) *pkcs11.Token {
	t.Helper()
	tok, err := pkcs11.Open(pkcs11.Config{Module: module, Token: "relais-hub", PIN: softhsm.PIN})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tok.Close() })
	return tok
}

// verifyReceipt checks an acceptance receipt against a public key and
// returns the kid it names.
func verifyReceipt(t *testing.T, r response, pub ed25519.PublicKey, kid string) {
	t.Helper()
	receipt, _ := r.Doc["receipt"].(string)
	key, err := seal.SigningPublicKey(pub, kid)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := seal.Verify([]byte(receipt), hub.ReceiptTyp, func(string) (jwk.Key, error) { return key, nil }); err != nil {
		t.Fatalf("the receipt does not verify with %s: %v", kid, err)
	}
}

func TestHubProcessesSharingATokenSignOnItAndFollowItsRotation(t *testing.T) {
	ctx := context.Background()
	module := softhsm.Setup(t, "relais-hub")
	storeA := pkcs11.NewHubKeys(openTestToken(t, module), "")
	set, err := storeA.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	first := set.Current
	// Hub B is another process: its own login to the token.
	storeB := pkcs11.NewHubKeys(openTestToken(t, module), "")
	setB, err := storeB.LoadHubKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	fastReload := func(c *hub.Config) { c.HubKeyReload = 50 * time.Millisecond }
	a := newWorldWith(t, worldOptions{dir: dir, signer: first, keyStore: storeA, configure: fastReload})
	hwB := relaistest.NewWorld(t, relaistest.WorldOptions{
		HubID: secHubID, AdminToken: secAdminToken, AuditOrigin: "relais.test/security", Dir: dir,
		Signer: setB.Current, KeyStore: storeB, Configure: fastReload,
	})
	b := &world{hw: hwB, store: hwB.Store, url: hwB.URL(), logs: a.logs, ci: a.ci, ml: a.ml, bf: a.bf, sn: a.sn}

	_, jws := a.ci.seal(t, childReferral(a.ml.ID))
	r := b.accepted(t, jws)
	if kid := receiptKID(t, r); kid != first.KeyID() {
		t.Fatalf("hub B's receipt is signed by %s, want the token's key %s", kid, first.KeyID())
	}
	verifyReceipt(t, r, first.Public().(ed25519.PublicKey), first.KeyID())
	before := b.publishCheckpoint(t)

	out := relaistest.MustRun(t, relaisBin, "hub", "key", "rotate", "--hub", a.url, "--admin-token", secAdminToken, "--lang", "en")
	newKID := a.hw.Hub.PublicKey()
	kid, _ := newKID.KeyID()
	if kid == first.KeyID() || !strings.Contains(out.Stdout, kid) {
		t.Fatalf("after the rotation hub A signs with %s", kid)
	}
	onToken, err := openTestToken(t, module).FindKey(kid)
	if err != nil {
		t.Fatalf("the new key is not on the token: %v", err)
	}

	t.Run("hub B takes the new key from the token", func(t *testing.T) {
		relaistest.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
			if got, _ := b.hw.Hub.PublicKey().KeyID(); got != kid {
				return fmt.Errorf("hub B still signs with %s", got)
			}
			return nil
		})
		_, jws := a.ci.seal(t, childReferral(a.ml.ID))
		r := b.accepted(t, jws)
		verifyReceipt(t, r, onToken.Public().(ed25519.PublicKey), kid)
	})
	t.Run("hub B's checkpoints are signed with the new key and it still serves the old ones", func(t *testing.T) {
		latest := b.publishCheckpoint(t)
		if _, err := audit.ParseCheckpoint(latest, b.hw.Audit.Origin(), onToken.Public().(ed25519.PublicKey)); err != nil {
			t.Fatalf("hub B's new checkpoint with the new key: %v", err)
		}
		cp, err := audit.ParseCheckpoint(before, b.hw.Audit.Origin(), first.Public().(ed25519.PublicKey))
		if err != nil {
			t.Fatal(err)
		}
		r := b.adminGet(t, "/v1/audit/checkpoint?size="+strconv.FormatUint(cp.Size, 10))
		if r.Status != http.StatusOK || string(r.Body) != string(before) {
			t.Fatalf("the checkpoint signed before the rotation, from hub B: %d %s", r.Status, r.Body)
		}
	})
	t.Run("both hubs list the same key set", func(t *testing.T) {
		for name, w := range map[string]*world{"A": a, "B": b} {
			var doc struct {
				Keys []struct{ KID, Status string } `json:"keys"`
			}
			r := w.adminGet(t, "/v1/audit/keys")
			if err := json.Unmarshal(r.Body, &doc); err != nil || len(doc.Keys) != 2 ||
				doc.Keys[0].KID != kid || doc.Keys[1].KID != first.KeyID() || doc.Keys[1].Status != "retired" {
				t.Fatalf("hub %s lists %s", name, r.Body)
			}
		}
	})
}

func TestAHubMovesItsFileKeyOntoATokenByALoggedRotation(t *testing.T) {
	module := softhsm.Setup(t, "relais-hub")
	dir := t.TempDir()
	pinFile := filepath.Join(dir, "hsm.pin")
	if err := os.WriteFile(pinFile, []byte(softhsm.PIN+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	logPath := filepath.Join(dir, "hub.log")
	uri := "pkcs11:token=relais-hub?module-path=" + module + "&pin-source=file:" + pinFile

	// First on a file key: register an agency and sign a checkpoint.
	addr := relaistest.FreeAddr(t)
	h := relaistest.StartServe(t, t, relaisBin, addr, data, logPath)
	raw, err := os.ReadFile(filepath.Join(data, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(raw))
	w := &world{url: h.URL()}
	admin := map[string]string{"Authorization": "Bearer " + token}
	relaistest.RegisterAgency(t, h.URL(), token, filepath.Join(dir, "agency"), "ci.dpe-abidjan", "DPE Abidjan")
	if r := w.do(t, http.MethodPost, "/v1/audit/checkpoint", nil, admin); r.Status != http.StatusOK && r.Status != http.StatusCreated {
		t.Fatalf("checkpoint: %d %s", r.Status, r.Body)
	}
	fileKeys := hubKeyDoc(t, w, admin)
	before := w.do(t, http.MethodGet, "/v1/audit/checkpoint", nil, admin).Body
	h.Stop()

	// Then on the token.
	h = relaistest.StartServeArgs(t, t, relaisBin, addr, data, logPath, "--hub-key", uri)
	keys := hubKeyDoc(t, w, admin)
	if len(keys.Keys) != 2 || keys.Keys[1].KID != fileKeys.Keys[0].KID || keys.Keys[0].Status != "current" {
		t.Fatalf("after the move the key set is %+v, the file key was %s", keys.Keys, fileKeys.Keys[0].KID)
	}
	newKID := keys.Keys[0].KID
	onToken, err := openTestToken(t, module).FindKey(newKID)
	if err != nil {
		t.Fatalf("the current key is not on the token: %v", err)
	}
	if _, err := os.Stat(filepath.Join(data, hub.HubKeyFile)); !os.IsNotExist(err) {
		t.Fatalf("the file key is still on disk: %v", err)
	}
	list, err := hub.ReadHubKeyList(data)
	if err != nil {
		t.Fatal(err)
	}
	if kid, _ := list.Current.KeyID(); kid != newKID || len(list.Retired) != 1 {
		t.Fatalf("hub-keys.json lists %s and %d retired", kid, len(list.Retired))
	}
	latest := w.do(t, http.MethodGet, "/v1/audit/checkpoint", nil, admin).Body
	origin, _, _ := strings.Cut(string(latest), "\n")
	filePub := list.PublicKeys()[1]
	for name, pub := range map[string]ed25519.PublicKey{"file": filePub, "token": onToken.Public().(ed25519.PublicKey)} {
		if _, err := audit.ParseCheckpoint(latest, origin, pub); err != nil {
			t.Errorf("the handover checkpoint with the %s key alone: %v", name, err)
		}
	}
	cp, err := audit.ParseCheckpoint(before, origin, filePub)
	if err != nil {
		t.Fatal(err)
	}
	if r := w.do(t, http.MethodGet, "/v1/audit/checkpoint?size="+strconv.FormatUint(cp.Size, 10), nil, admin); string(r.Body) != string(before) {
		t.Fatalf("the file key's checkpoint after the move: %d %s", r.Status, r.Body)
	}
	h.Stop()

	t.Run("a restart finds the same key on the token and rotates nothing", func(t *testing.T) {
		h := relaistest.StartServeArgs(t, t, relaisBin, addr, data, logPath, "--hub-key", uri)
		defer h.Stop()
		again := hubKeyDoc(t, w, admin)
		if len(again.Keys) != 2 || again.Keys[0].KID != newKID {
			t.Fatalf("after a restart: %+v", again.Keys)
		}
	})
	t.Run("relais backup works without a private key file", func(t *testing.T) {
		res := relaistest.RunIn(t, relaisBin, dir, "backup", "--data", data, "--out", filepath.Join(dir, "backup.tar.gz"))
		if res.Code != 0 {
			t.Fatalf("backup: exit %d\n%s", res.Code, res.Output())
		}
	})
	t.Run("a wrong PIN stops the hub at start with a clear error and no PIN in it", func(t *testing.T) {
		bad := filepath.Join(dir, "bad.pin")
		if err := os.WriteFile(bad, []byte("not-the-pin-4242"), 0o600); err != nil {
			t.Fatal(err)
		}
		res := relaistest.RunIn(t, relaisBin, dir, "serve", "--listen", relaistest.FreeAddr(t), "--data", data,
			"--hub-key", strings.Replace(uri, pinFile, bad, 1))
		if res.Code == 0 || !strings.Contains(res.Output(), "login refused") || strings.Contains(res.Output(), "not-the-pin-4242") {
			t.Fatalf("exit %d\n%s", res.Code, res.Output())
		}
	})
}

type hubKeyList struct {
	Keys []struct{ KID, Status string } `json:"keys"`
}

func hubKeyDoc(t *testing.T, w *world, admin map[string]string) hubKeyList {
	t.Helper()
	r := w.do(t, http.MethodGet, "/v1/audit/keys", nil, admin)
	var doc hubKeyList
	if err := json.Unmarshal(r.Body, &doc); err != nil || len(doc.Keys) == 0 {
		t.Fatalf("GET /v1/audit/keys: %d %s", r.Status, r.Body)
	}
	return doc
}
