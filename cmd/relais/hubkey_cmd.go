package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/relais-hub/relais/adapters/pkcs11"
	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/hub/audit"
)

// The hub's own key: where `relais serve` keeps it, its passphrase, and the
// admin commands that rotate it, list the key set, and encrypt it at rest.

// hubKeyPassphrase is the passphrase of an encrypted hub.jwk: the file
// named by --hub-key-passphrase-file (mode 0600), else the environment's
// RELAIS_HUB_KEY_PASSPHRASE, else none (a plain key file).
func hubKeyPassphrase(file string) ([]byte, error) {
	if file == "" {
		return []byte(os.Getenv("RELAIS_HUB_KEY_PASSPHRASE")), nil
	}
	st, err := os.Stat(file)
	if err != nil {
		return nil, fmt.Errorf("hub key passphrase: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("hub key passphrase: %s is accessible to group or others: chmod 600 it", file)
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("hub key passphrase: %w", err)
	}
	pass := bytes.TrimRight(raw, "\r\n")
	if len(pass) == 0 {
		return nil, fmt.Errorf("hub key passphrase: %s is empty", file)
	}
	return pass, nil
}

// hubKeySource is where `relais serve` keeps the hub key: the data
// directory's files, or a PKCS#11 token (--hub-key pkcs11:...).
type hubKeySource struct {
	store hub.HubKeyStore
	set   hub.HubKeySet
	// moveToToken: the token holds no key set yet and the data directory
	// has a file key. The hub starts on the file key and rotates onto a key
	// generated on the token, so the file key is retired like any other:
	// logged, co-signing the handover checkpoint, trusted afterwards.
	moveToToken bool
	close       func()
}

// openHubKeys reads (or creates, on first start) the hub's key set.
func openHubKeys(ctx context.Context, o hubOptions) (*hubKeySource, error) {
	pass, err := hubKeyPassphrase(o.HubKeyPassphraseFile)
	if err != nil {
		return nil, err
	}
	files := hub.NewHubKeyFiles(o.Data, pass)
	if o.HubKey == "" || o.HubKey == "file" {
		set, err := files.LoadOrCreate(ctx)
		if err != nil {
			return nil, err
		}
		// Data directories of earlier versions list only retired keys:
		// list the current one too, for backups that cannot read hub.jwk.
		if list, err := hub.ReadHubKeyList(o.Data); err != nil || list.Current == nil {
			if err := hub.WriteHubKeyList(o.Data, set); err != nil {
				return nil, err
			}
		}
		return &hubKeySource{store: files, set: set, close: func() {}}, nil
	}
	if !strings.HasPrefix(o.HubKey, "pkcs11:") {
		return nil, fmt.Errorf("--hub-key: expected file or a pkcs11: URI")
	}
	cfg, err := pkcs11.ParseURI(o.HubKey)
	if err != nil {
		return nil, err
	}
	token, err := pkcs11.Open(cfg)
	if err != nil {
		return nil, err
	}
	src := &hubKeySource{store: pkcs11.NewHubKeys(token, o.Data), close: func() { _ = token.Close() }}
	src.set, err = src.store.LoadHubKeys(ctx)
	if errors.Is(err, fs.ErrNotExist) {
		src.set, err = files.Load()
		src.moveToToken = err == nil
		if errors.Is(err, fs.ErrNotExist) {
			src.set, err = src.store.(*pkcs11.HubKeys).Create(ctx)
		}
	}
	if err != nil {
		src.close()
		return nil, err
	}
	return src, nil
}

// moveHubKeyToToken finishes what openHubKeys began when moveToToken is
// set: the rotation onto the token, then the file key's removal.
func moveHubKeyToToken(ctx context.Context, h *hub.Hub, o hubOptions) error {
	k, err := h.RotateHubKey(ctx, audit.ActorAdmin)
	if err != nil {
		return fmt.Errorf("moving the hub key to the PKCS#11 token: %w", err)
	}
	if err := os.Remove(filepath.Join(o.Data, hub.HubKeyFile)); err != nil {
		return fmt.Errorf("hub key moved to the PKCS#11 token, but the old key file stays: %w", err)
	}
	o.Logger.Info("hub key moved to the PKCS#11 token; the file key is retired and deleted", "kid", k.KID)
	return nil
}

// hubCmd: `relais hub key rotate|list|encrypt`.
func hubCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "hub", Short: "Administer the hub itself"}
	key := &cobra.Command{Use: "key", Short: "The hub's signing key (receipts, audit checkpoints): rotate, list, encrypt"}
	key.AddCommand(hubKeyRotateCmd(), hubKeyListCmd(), hubKeyEncryptCmd())
	cmd.AddCommand(key)
	return cmd
}

// hubKeySetDoc is GET /v1/audit/keys.
type hubKeySetDoc struct {
	Origin string `json:"origin"`
	Keys   []struct {
		KID          string `json:"kid"`
		Status       string `json:"status"`
		NoteVerifier string `json:"note_verifier"`
		RetiredAt    string `json:"retired_at,omitempty"`
	} `json:"keys"`
}

func hubKeyRotateCmd() *cobra.Command {
	var hubURL, adminToken, lang string
	cmd := &cobra.Command{
		Use:   "rotate",
		Short: "Replace the hub's signing key by a new one; the old one stays trusted for what it signed (admin)",
		Long: `Asks the running hub to generate a new signing key, save it in its data
directory (encrypted if the hub has a passphrase), log the rotation in the
audit log and sign the checkpoint covering it with both keys. Checkpoints
and receipts signed before stay verifiable: the old public key is kept in
the hub's key set (GET /v1/audit/keys, 'relais hub key list').

With several hub processes on one store: on a shared PKCS#11 token the
others take the new key within --hub-key-reload (30 s); with key files,
copy hub.jwk and hub-keys.json of the hub that rotated to the others,
which take them at their next reload or at SIGHUP. Until then they sign
with the old key, which stays trusted.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if adminToken == "" {
				return errors.New(inLang(lang, "le jeton d'administration est requis (--admin-token ou RELAIS_ADMIN_TOKEN)", "the admin token is required (--admin-token or RELAIS_ADMIN_TOKEN)"))
			}
			c := &auditClient{hub: trimURL(hubURL), lang: lang, http: http.DefaultClient}
			var k struct {
				KID          string `json:"kid"`
				NoteVerifier string `json:"note_verifier"`
			}
			if _, err := c.send(cmd.Context(), http.MethodPost, "/v1/hub/keys/rotate", nil, adminToken, &k); err != nil {
				return fmt.Errorf("hub key rotation: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), inLang(lang, "nouvelle clé du hub : %s\nclé de vérification : %s\n", "new hub key: %s\nverifier key: %s\n"), k.KID, k.NoteVerifier)
			return nil
		},
	}
	cmd.Flags().StringVar(&hubURL, "hub", envOr("RELAIS_HUB", "http://127.0.0.1:8470"), "hub URL (RELAIS_HUB)")
	cmd.Flags().StringVar(&adminToken, "admin-token", os.Getenv("RELAIS_ADMIN_TOKEN"), "hub admin token (RELAIS_ADMIN_TOKEN)")
	cmd.Flags().StringVar(&lang, "lang", envOr("RELAIS_LANG", "fr"), "fr or en")
	return cmd
}

func hubKeyListCmd() *cobra.Command {
	var af auditFlags
	var out string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the hub's keys, current and retired (auditor or admin); --out keeps them for 'relais audit verify --hub-key'",
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := af.client()
			if err != nil {
				return err
			}
			raw, err := c.call(cmd.Context(), http.MethodGet, "/v1/audit/keys", nil, nil)
			if err != nil {
				return err
			}
			var doc hubKeySetDoc
			if err := json.Unmarshal(raw, &doc); err != nil {
				return fmt.Errorf("hub keys: %w", err)
			}
			if _, err := parseHubKeyText(raw); err != nil {
				return fmt.Errorf("hub keys: %w", err)
			}
			if out != "" {
				if err := os.WriteFile(out, raw, 0o644); err != nil {
					return err
				}
			}
			for _, k := range doc.Keys {
				status := k.Status
				if af.Lang != "en" {
					status = map[string]string{"current": "actuelle", "retired": "retirée"}[k.Status]
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%-9s %s %s %s\n", status, k.KID, k.NoteVerifier, k.RetiredAt)
			}
			return nil
		},
	}
	af.register(cmd)
	cmd.Flags().StringVar(&out, "out", "", "write the key set (JSON) to this file")
	return cmd
}

func hubKeyEncryptCmd() *cobra.Command {
	var data, passFile, lang string
	cmd := &cobra.Command{
		Use:   "encrypt",
		Short: "Encrypt the hub's private key at rest with a passphrase (hub stopped)",
		Long: `Rewrites DATA/hub.jwk encrypted with a passphrase (JWE, PBES2-HS512+A256KW,
600,000 iterations): the passphrase comes from --hub-key-passphrase-file or
RELAIS_HUB_KEY_PASSPHRASE, and 'relais serve' needs the same to start.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pass, err := hubKeyPassphrase(passFile)
			if err != nil {
				return err
			}
			if len(pass) == 0 {
				return errors.New(inLang(lang, "phrase de passe requise (--hub-key-passphrase-file ou RELAIS_HUB_KEY_PASSPHRASE)", "a passphrase is required (--hub-key-passphrase-file or RELAIS_HUB_KEY_PASSPHRASE)"))
			}
			set, err := hub.NewHubKeyFiles(data, nil).Load()
			if err != nil {
				return err
			}
			if err := hub.NewHubKeyFiles(data, pass).SaveHubKeys(cmd.Context(), set); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), inLang(lang, "clé du hub chiffrée", "hub key encrypted"))
			return nil
		},
	}
	cmd.Flags().StringVar(&data, "data", envOr("RELAIS_DATA", "relais-data"), "data directory (RELAIS_DATA)")
	cmd.Flags().StringVar(&passFile, "hub-key-passphrase-file", envOr("RELAIS_HUB_KEY_PASSPHRASE_FILE", ""), "file (mode 0600) holding the passphrase")
	cmd.Flags().StringVar(&lang, "lang", envOr("RELAIS_LANG", "fr"), "fr or en")
	return cmd
}

// parseHubKeySet reads the answer of GET /v1/audit/keys as trusted keys:
// the current key and the retired ones, all under the set's origin.
func parseHubKeySet(raw []byte) (trustedKey, error) {
	var doc struct {
		Origin string `json:"origin"`
		Keys   []struct {
			Status string `json:"status"`
			JWK    struct {
				Kty, Crv, X string
			} `json:"jwk"`
			NoteVerifier string `json:"note_verifier"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return trustedKey{}, fmt.Errorf("not a hub key set: %w", err)
	}
	if len(doc.Keys) == 0 {
		return trustedKey{}, errors.New("the hub key set is empty")
	}
	var k trustedKey
	for i, e := range doc.Keys {
		// Each key is checked against its own verifier key string, so a
		// JWK and a note key that disagree are refused.
		v, err := parseVerifierKey(e.NoteVerifier)
		if err != nil {
			return trustedKey{}, fmt.Errorf("hub key %d: %w", i, err)
		}
		x, err := base64.RawURLEncoding.DecodeString(e.JWK.X)
		if err != nil || e.JWK.Kty != "OKP" || e.JWK.Crv != "Ed25519" || !ed25519.PublicKey(x).Equal(v.Pub) {
			return trustedKey{}, fmt.Errorf("hub key %d: its JWK and its verifier key differ", i)
		}
		if doc.Origin != "" && v.Origin != doc.Origin {
			return trustedKey{}, fmt.Errorf("hub key %d is for log %q, the set for %q", i, v.Origin, doc.Origin)
		}
		if i == 0 {
			k = v
			continue
		}
		k.Retired = append(k.Retired, v.Pub)
	}
	if !strings.EqualFold(doc.Keys[0].Status, string(hub.HubKeyCurrent)) {
		return trustedKey{}, errors.New("the first key of the set is not the current one")
	}
	return k, nil
}
