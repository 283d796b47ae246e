package agent

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/relais-hub/relais/adapters/agency"
)

var passphrase = []byte("Kora et balafon, 7 soirs à Ségou")

func initAgent(t *testing.T, o InitOptions) (string, Config) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "agent")
	if o.Hub == "" {
		o.Hub = "http://127.0.0.1:1"
	}
	cfg, err := Init(context.Background(), dir, o)
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	return dir, cfg
}

func TestPassphraseProtectedKeys(t *testing.T) {
	ctx := context.Background()
	dir, cfg := initAgent(t, InitOptions{Agency: "ci.dpe-abidjan", Passphrase: passphrase})
	keys := cfg.KeysDir(dir)

	t.Run("no private key reaches the disk in clear", func(t *testing.T) {
		for _, f := range []string{signingKeyFile, encryptionKeyFile} {
			if _, err := os.Stat(filepath.Join(keys, f)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s exists in clear (%v)", f, err)
			}
			raw, err := os.ReadFile(filepath.Join(keys, f+lockedSuffix))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(raw), `"d"`) {
				t.Errorf("%s holds a private member in clear", f+lockedSuffix)
			}
		}
	})

	cases := []struct {
		name       string
		passphrase []byte
		want       error
	}{
		{"the agent does not start without the passphrase", nil, ErrPassphraseRequired},
		{"the agent does not start with a wrong passphrase", []byte("balafon"), ErrWrongPassphrase},
		{"the agent starts with the passphrase", passphrase, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, err := Open(ctx, dir, Options{Passphrase: c.passphrase})
			if !errors.Is(err, c.want) {
				t.Fatalf("open: %v, want %v", err, c.want)
			}
			if err == nil {
				defer a.Close()
				if a.keys.ID != "ci.dpe-abidjan" || a.keys.Signing == nil || len(a.keys.Encryption) != 1 {
					t.Fatalf("keys: %+v", a.keys)
				}
			}
		})
	}

	t.Run("without the passphrase the local store still opens for the status", func(t *testing.T) {
		a, err := Open(ctx, dir, Options{WithoutKeys: true})
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		if _, err := a.Status(ctx, true); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Push(ctx); !errors.Is(err, ErrNoKeys) {
			t.Fatalf("push without keys: %v", err)
		}
	})

	t.Run("the signing key file cannot pass for the encryption key file", func(t *testing.T) {
		swapped := filepath.Join(t.TempDir(), "swapped")
		if err := os.CopyFS(swapped, os.DirFS(keys)); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{signingKeyFile, encryptionKeyFile} {
			if err := os.Chmod(filepath.Join(swapped, f+lockedSuffix), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		sig, _ := os.ReadFile(filepath.Join(swapped, signingKeyFile+lockedSuffix))
		if err := os.WriteFile(filepath.Join(swapped, encryptionKeyFile+lockedSuffix), sig, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := loadKeys(swapped, passphrase); err == nil {
			t.Fatal("a signing key was accepted as the encryption key")
		}
	})

	t.Run("a locked file asking for absurd key derivation costs is refused before deriving", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "greedy.locked")
		raw, _ := os.ReadFile(filepath.Join(keys, signingKeyFile+lockedSuffix))
		var f lockedKeyFile
		if err := json.Unmarshal(raw, &f); err != nil {
			t.Fatal(err)
		}
		f.Memory = 1 << 30
		raw, _ = json.Marshal(f)
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := readLockedKey(path, "sig", passphrase); err == nil || !strings.Contains(err.Error(), "out of bounds") {
			t.Fatalf("read: %v", err)
		}
	})
}

func TestAdoptingExistingKeys(t *testing.T) {
	ctx := context.Background()
	existing := filepath.Join(t.TempDir(), "keys")
	if _, err := agency.Init("ml.dnpef", existing); err != nil {
		t.Fatal(err)
	}

	t.Run("an agent adopts the keys of 'relais agency init' as they are", func(t *testing.T) {
		dir, cfg := initAgent(t, InitOptions{ExistingKeys: existing})
		if cfg.Agency != "ml.dnpef" || cfg.KeysDir(dir) != existing {
			t.Fatalf("config: %+v", cfg)
		}
		a, err := Open(ctx, dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		a.Close()
	})

	t.Run("keys of another agency are refused", func(t *testing.T) {
		_, err := Init(ctx, filepath.Join(t.TempDir(), "agent"), InitOptions{Agency: "ci.dpe-abidjan", Hub: "http://127.0.0.1:1", ExistingKeys: existing})
		if err == nil || !strings.Contains(err.Error(), "ml.dnpef") {
			t.Fatalf("init: %v", err)
		}
	})

	t.Run("existing keys protected with a passphrase are locked in place", func(t *testing.T) {
		dir, _ := initAgent(t, InitOptions{ExistingKeys: existing, Passphrase: passphrase})
		if _, err := os.Stat(filepath.Join(existing, signingKeyFile)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("the plain signing key is still there: %v", err)
		}
		a, err := Open(ctx, dir, Options{Passphrase: passphrase})
		if err != nil {
			t.Fatal(err)
		}
		a.Close()
	})
}

func TestFilesOthersCanReadAreRefused(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		file func(dir string, cfg Config) string
	}{
		{"a private key file readable by the group", func(dir string, cfg Config) string { return filepath.Join(cfg.KeysDir(dir), signingKeyFile) }},
		{"the database, which holds decrypted files", func(dir string, _ Config) string { return filepath.Join(dir, databaseFile) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir, cfg := initAgent(t, InitOptions{Agency: "ci.dpe-abidjan"})
			if _, err := Open(ctx, dir, Options{}); err != nil {
				t.Fatalf("open before the chmod: %v", err)
			}
			if err := os.Chmod(c.file(dir, cfg), 0o640); err != nil {
				t.Fatal(err)
			}
			_, err := Open(ctx, dir, Options{})
			if err == nil || !strings.Contains(err.Error(), "group or others") {
				t.Fatalf("open: %v", err)
			}
		})
	}

	t.Run("a locked key file readable by others is refused too", func(t *testing.T) {
		dir, cfg := initAgent(t, InitOptions{Agency: "ci.dpe-abidjan", Passphrase: passphrase})
		if err := os.Chmod(filepath.Join(cfg.KeysDir(dir), encryptionKeyFile+lockedSuffix), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(ctx, dir, Options{Passphrase: passphrase}); err == nil || !strings.Contains(err.Error(), "group or others") {
			t.Fatalf("open: %v", err)
		}
	})

	t.Run("a new database is created private whatever the umask", func(t *testing.T) {
		dir, _ := initAgent(t, InitOptions{Agency: "ci.dpe-abidjan"})
		st, err := os.Stat(filepath.Join(dir, databaseFile))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("database mode: %v %v", st.Mode().Perm(), err)
		}
	})
}
