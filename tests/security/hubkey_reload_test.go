package security

// Hub processes whose key files are copies (several hosts, one PostgreSQL):
// the operator copies the files of the hub that rotated to the others,
// which take the new key at their next reload; a key set that does not
// follow theirs (another hub's, an older copy) is not taken.

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/tests/internal/relaistest"
)

func copyKeyFiles(t *testing.T, from, to string) {
	t.Helper()
	for _, name := range []string{hub.HubKeyFile, hub.HubRetiredKeyFile} {
		raw, err := os.ReadFile(filepath.Join(from, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, name), raw, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAHubTakesARotatedKeyFromCopiedFilesAndNothingElse(t *testing.T) {
	ctx := context.Background()
	dirA, dirB := t.TempDir(), t.TempDir()
	filesA := hub.NewHubKeyFiles(dirA, nil)
	set, err := filesA.LoadOrCreate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	copyKeyFiles(t, dirA, dirB)
	filesB := hub.NewHubKeyFiles(dirB, nil)
	setB, err := filesB.Load()
	if err != nil {
		t.Fatal(err)
	}
	shared := t.TempDir()
	a := newWorldWith(t, worldOptions{dir: shared, signer: set.Current, keyStore: filesA})
	hwB := relaistest.NewWorld(t, relaistest.WorldOptions{
		HubID: secHubID, AdminToken: secAdminToken, AuditOrigin: "relais.test/security", Dir: shared,
		Signer: setB.Current, KeyStore: filesB,
	})
	first := set.Current.KeyID()

	if changed, err := hwB.Hub.ReloadHubKeys(ctx); err != nil || changed {
		t.Fatalf("a reload with nothing new: changed %v, %v", changed, err)
	}
	rotated, err := a.hw.Hub.RotateHubKey(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	if changed, err := hwB.Hub.ReloadHubKeys(ctx); err != nil || changed {
		t.Fatalf("before the files are copied: changed %v, %v", changed, err)
	}
	copyKeyFiles(t, dirA, dirB)
	if changed, err := hwB.Hub.ReloadHubKeys(ctx); err != nil || !changed {
		t.Fatalf("after the copy: changed %v, %v", changed, err)
	}
	keys := hwB.Hub.HubKeys()
	if keys[0].KID != rotated.KID || len(keys) != 2 || keys[1].KID != first {
		t.Fatalf("hub B's keys after the reload: %+v", keys)
	}
	if !hwB.Audit.PublicKey().Equal(keys[0].Public) {
		t.Fatal("hub B's audit log does not sign with the new key")
	}

	t.Run("an unrelated key set is not taken", func(t *testing.T) {
		other := t.TempDir()
		if _, err := hub.NewHubKeyFiles(other, nil).LoadOrCreate(ctx); err != nil {
			t.Fatal(err)
		}
		copyKeyFiles(t, other, dirB)
		changed, err := hwB.Hub.ReloadHubKeys(ctx)
		if err == nil || changed {
			t.Fatalf("took a key that does not follow its own: changed %v, %v", changed, err)
		}
		if hwB.Hub.HubKeys()[0].KID != rotated.KID {
			t.Fatal("hub B's key changed")
		}
	})
}
