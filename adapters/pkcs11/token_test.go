//go:build cgo

package pkcs11

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"io/fs"
	"strings"
	"sync"
	"testing"

	p11 "github.com/miekg/pkcs11"

	"github.com/relais-hub/relais/adapters/pkcs11/softhsm"
	"github.com/relais-hub/relais/contracts/seal"
	"github.com/relais-hub/relais/hub"
)

func openToken(t *testing.T, module, label string) *Token {
	t.Helper()
	tok, err := Open(Config{Module: module, Token: label, PIN: softhsm.PIN})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tok.Close() })
	return tok
}

func TestAKeyMadeOnTheTokenSignsAndNeverLeavesIt(t *testing.T) {
	module := softhsm.Setup(t, "relais-hub")
	tok := openToken(t, module, "relais-hub")
	k, err := tok.GenerateKey("hub#sig-2026-11-22-0000000a")
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("relais.test/audit\n3\nroot\n")
	sig, err := k.Sign(nil, msg, crypto.Hash(0))
	if err != nil {
		t.Fatal(err)
	}
	if !ed25519.Verify(k.Public().(ed25519.PublicKey), msg, sig) {
		t.Fatal("the token's signature does not verify with its public key")
	}
	if _, err := k.Sign(nil, msg, crypto.SHA256); err == nil {
		t.Fatal("signed a prehashed message with Ed25519")
	}

	t.Run("the private key is sensitive and cannot be read", func(t *testing.T) {
		err := tok.do(func(ctx *p11.Ctx, s p11.SessionHandle) error {
			attrs, err := ctx.GetAttributeValue(s, k.priv, []*p11.Attribute{
				p11.NewAttribute(p11.CKA_SENSITIVE, nil), p11.NewAttribute(p11.CKA_EXTRACTABLE, nil)})
			if err != nil {
				return err
			}
			if attrs[0].Value[0] != 1 || attrs[1].Value[0] != 0 {
				t.Errorf("CKA_SENSITIVE %v CKA_EXTRACTABLE %v", attrs[0].Value, attrs[1].Value)
			}
			_, err = ctx.GetAttributeValue(s, k.priv, []*p11.Attribute{p11.NewAttribute(p11.CKA_VALUE, nil)})
			if !isCode(err, p11.CKR_ATTRIBUTE_SENSITIVE) {
				t.Errorf("reading CKA_VALUE: %v, want CKR_ATTRIBUTE_SENSITIVE", err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Run("another session finds the same key by kid", func(t *testing.T) {
		other := openToken(t, module, "relais-hub")
		found, err := other.FindKey("hub#sig-2026-11-22-0000000a")
		if err != nil {
			t.Fatal(err)
		}
		if !found.pub.Equal(k.pub) {
			t.Fatal("found another public key")
		}
		if _, err := other.FindKey("hub#sig-2026-11-22-0000000b"); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("an unknown kid: %v", err)
		}
		if _, err := tok.GenerateKey("hub#sig-2026-11-22-0000000a"); err == nil {
			t.Fatal("made a second key with the same kid")
		}
	})
	t.Run("concurrent signatures share the session pool", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for i := range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				m := []byte{byte(i)}
				sig, err := k.Sign(nil, m, crypto.Hash(0))
				if err == nil && !ed25519.Verify(k.pub, m, sig) {
					err = errors.New("bad signature")
				}
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestATokenIsRefusedWithAWrongPINOrLabel(t *testing.T) {
	module := softhsm.Setup(t, "relais-hub")
	_, err := Open(Config{Module: module, Token: "relais-hub", PIN: "wrong-pin-77"})
	if err == nil || !strings.Contains(err.Error(), "login refused") || strings.Contains(err.Error(), "wrong-pin-77") {
		t.Fatalf("wrong PIN: %v", err)
	}
	if _, err := Open(Config{Module: module, Token: "no-such-token", PIN: softhsm.PIN}); err == nil || !strings.Contains(err.Error(), "no token") {
		t.Fatalf("unknown label: %v", err)
	}
	if _, err := Open(Config{Module: "/nonexistent/libpkcs11.so", Token: "relais-hub", PIN: softhsm.PIN}); err == nil {
		t.Fatal("opened a module that does not exist")
	}
}

func TestTheHubKeySetOnTheTokenIsSharedByEveryProcessLoggedIn(t *testing.T) {
	ctx := context.Background()
	module := softhsm.Setup(t, "relais-hub")
	dir := t.TempDir()
	a := NewHubKeys(openToken(t, module, "relais-hub"), dir)
	first, err := a.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Create(ctx); err == nil {
		t.Fatal("made a second first key on a token that has one")
	}
	// Another hub process: its own login to the same token.
	b := NewHubKeys(openToken(t, module, "relais-hub"), "")
	got, err := b.LoadHubKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.Current.KeyID() != first.Current.KeyID() || len(got.Retired) != 0 {
		t.Fatalf("loaded %s with %d retired, want %s", got.Current.KeyID(), len(got.Retired), first.Current.KeyID())
	}

	// A rotation by a: b finds the new key and the old one retired.
	next, err := a.NewHubKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	oldPub, err := seal.SigningPublicKey(first.Current.Public().(ed25519.PublicKey), first.Current.KeyID())
	if err != nil {
		t.Fatal(err)
	}
	rotated := hub.HubKeySet{Current: next, Retired: []hub.RetiredHubKey{{Key: oldPub}}}
	if err := a.SaveHubKeys(ctx, rotated); err != nil {
		t.Fatal(err)
	}
	got, err = b.LoadHubKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.Current.KeyID() != next.KeyID() || len(got.Retired) != 1 {
		t.Fatalf("after the rotation b loads %s with %d retired", got.Current.KeyID(), len(got.Retired))
	}
	msg := []byte("checkpoint")
	sig, err := got.Current.Sign(nil, msg, crypto.Hash(0))
	if err != nil || !ed25519.Verify(next.Public().(ed25519.PublicKey), msg, sig) {
		t.Fatalf("b signs with the new key: %v", err)
	}

	t.Run("the public half is written to the data directory for backups", func(t *testing.T) {
		list, err := hub.ReadHubKeyList(dir)
		if err != nil {
			t.Fatal(err)
		}
		if kid, _ := list.Current.KeyID(); kid != next.KeyID() || len(list.Retired) != 1 {
			t.Fatalf("hub-keys.json lists %s and %d retired", kid, len(list.Retired))
		}
	})
	t.Run("a key held in memory is not saved as the token's", func(t *testing.T) {
		files := hub.NewHubKeyFiles(t.TempDir(), nil)
		mem, err := files.NewHubKey(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.SaveHubKeys(ctx, hub.HubKeySet{Current: mem}); err == nil {
			t.Fatal("saved a key that is not on the token")
		}
	})
	t.Run("a set naming a key the token does not hold, or another public key, is refused", func(t *testing.T) {
		files := hub.NewHubKeyFiles(t.TempDir(), nil)
		mem, _ := files.NewHubKey(ctx)
		raw, err := hub.MarshalHubKeyList(hub.HubKeySet{Current: mem})
		if err != nil {
			t.Fatal(err)
		}
		if err := a.token.WriteData(HubKeySetLabel, raw); err != nil {
			t.Fatal(err)
		}
		if _, err := b.LoadHubKeys(ctx); err == nil {
			t.Fatal("loaded a set whose current key is not on the token")
		}
		forged := strings.Replace(string(mustList(t, rotated)), pubX(t, next), pubX(t, mem), 1)
		if err := a.token.WriteData(HubKeySetLabel, []byte(forged)); err != nil {
			t.Fatal(err)
		}
		if _, err := b.LoadHubKeys(ctx); err == nil || !strings.Contains(err.Error(), "not the one the key set lists") {
			t.Fatalf("a set listing another public key for the token's kid: %v", err)
		}
	})
}

func mustList(t *testing.T, set hub.HubKeySet) []byte {
	t.Helper()
	raw, err := hub.MarshalHubKeyList(set)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// pubX is the base64url public key of a signer, as its JWK's "x".
func pubX(t *testing.T, s hub.HubSigner) string {
	t.Helper()
	return base64.RawURLEncoding.EncodeToString(s.Public().(ed25519.PublicKey))
}

func TestADataObjectWriteLeavesOneObjectAndReadersTakeTheNewest(t *testing.T) {
	module := softhsm.Setup(t, "relais-hub")
	tok := openToken(t, module, "relais-hub")
	if _, err := tok.ReadData("set"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("an empty token: %v", err)
	}
	for _, v := range []string{"one", "two", "three"} {
		if err := tok.WriteData("set", []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	objs, err := tok.dataObjects("set")
	if err != nil || len(objs) != 1 || objs[0].generation != 2 {
		t.Fatalf("after three writes: %+v, %v", objs, err)
	}
	// A crash between the creation of a newer object and the deletion of
	// the older one leaves both: readers take the newer.
	var gen [8]byte
	gen[7] = 9
	err = tok.do(func(ctx *p11.Ctx, s p11.SessionHandle) error {
		_, err := ctx.CreateObject(s, append(dataTemplate("set"), p11.NewAttribute(p11.CKA_TOKEN, true),
			p11.NewAttribute(p11.CKA_PRIVATE, true), p11.NewAttribute(p11.CKA_OBJECT_ID, gen[:]),
			p11.NewAttribute(p11.CKA_VALUE, []byte("after the crash"))))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := tok.ReadData("set"); err != nil || string(got) != "after the crash" {
		t.Fatalf("read %q, %v", got, err)
	}
	if err := tok.WriteData("set", []byte("four")); err != nil {
		t.Fatal(err)
	}
	if got, err := tok.ReadData("set"); err != nil || string(got) != "four" {
		t.Fatalf("read %q, %v", got, err)
	}
	if objs, _ := tok.dataObjects("set"); len(objs) != 1 {
		t.Fatalf("%d objects left", len(objs))
	}
}
