package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/spf13/cobra"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
)

// Auditor key rotation, split between the two people it involves: the
// auditor, who alone holds its private keys, and the hub operator, who
// alone holds the admin token.
//
//	auditor:  relais auditor key new --keys DIR       (writes the new key pair, pending)
//	operator: relais auditor key add --auditor ID --jwk DIR/signing.pending.public.jwk
//	auditor:  relais auditor key install --keys DIR   (checks the hub takes it, then uses it)
//	operator: relais auditor key revoke --auditor ID --kid OLD
//
// The old key keeps working until it is revoked, so nothing breaks
// between the steps.

// Files of a pending auditor key, beside those of `relais auditor init`.
const (
	auditorPendingKeyFile    = "signing.pending.jwk"
	auditorPendingPublicFile = "signing.pending.public.jwk"
)

// auditorWithKeyCmd is `relais auditor` with its `key` commands.
func auditorWithKeyCmd() *cobra.Command {
	cmd := auditorCmd()
	cmd.AddCommand(auditorKeyCmd())
	return cmd
}

// auditorKeyCmd: `relais auditor key new|add|install|revoke|list`.
func auditorKeyCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "key", Short: "Rotate and revoke an auditor's signing keys: new, add (admin), install, revoke (admin), list"}
	cmd.AddCommand(auditorKeyNewCmd(), auditorKeyAddCmd(), auditorKeyInstallCmd(), auditorKeyRevokeCmd(), auditorKeyListCmd())
	return cmd
}

func auditorKeyNewCmd() *cobra.Command {
	var keysDir, lang string
	cmd := &cobra.Command{
		Use:   "new",
		Short: "Create the auditor's next signing key, pending until the hub operator adds its public half",
		RunE: func(cmd *cobra.Command, _ []string) error {
			kid, pubPath, err := newPendingAuditorKey(keysDir)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), inLang(lang,
				"nouvelle clé %s en attente ; envoyez %s à l'opérateur du hub, puis lancez 'relais auditor key install'\n",
				"new key %s pending; send %s to the hub operator, then run 'relais auditor key install'\n"), kid, pubPath)
			return nil
		},
	}
	cmd.Flags().StringVar(&keysDir, "keys", envOr("RELAIS_AUDITOR_KEYS", ""), "auditor key directory written by 'relais auditor init' (RELAIS_AUDITOR_KEYS)")
	cmd.Flags().StringVar(&lang, "lang", envOr("RELAIS_LANG", "fr"), "language of messages: fr or en")
	_ = cmd.MarkFlagRequired("keys")
	return cmd
}

// newPendingAuditorKey writes a new signing key pair for the auditor
// whose keys are in dir: the private key (0600) and its public JWK, to
// hand to the operator. A pending key already there is kept, never
// overwritten: it may already be registered.
func newPendingAuditorKey(dir string) (kid, pubPath string, err error) {
	current, err := loadAuditor(dir)
	if err != nil {
		return "", "", err
	}
	pending := filepath.Join(dir, auditorPendingKeyFile)
	if _, err := os.Stat(pending); err == nil {
		return "", "", fmt.Errorf("%s already holds a pending key: install it ('relais auditor key install') or remove it first", pending)
	}
	k, err := seal.GenerateSigningKey(seal.NewKID(current.ID + "#sig"))
	if err != nil {
		return "", "", err
	}
	pub, err := seal.PublicKey(k)
	if err != nil {
		return "", "", err
	}
	pubJSON, err := json.MarshalIndent(pub, "", "  ")
	if err != nil {
		return "", "", fmt.Errorf("encode public key: %w", err)
	}
	if err := seal.WriteKeyFile(pending, k); err != nil {
		return "", "", err
	}
	pubPath = filepath.Join(dir, auditorPendingPublicFile)
	if err := os.WriteFile(pubPath, append(pubJSON, '\n'), 0o644); err != nil {
		return "", "", err
	}
	kid, _ = k.KeyID()
	return kid, pubPath, nil
}

func auditorKeyAddCmd() *cobra.Command {
	var hubURL, adminToken, lang, id, jwkFile string
	cmd := &cobra.Command{
		Use:   "add",
		Short: "Add an auditor's new public signing key; its current keys stay valid until revoked (admin)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			raw, err := os.ReadFile(jwkFile)
			if err != nil {
				return fmt.Errorf("public key: %w", err)
			}
			body, err := json.Marshal(map[string]json.RawMessage{"jwk": raw})
			if err != nil {
				return errors.New(inLang(lang, "--jwk doit contenir une clé publique JWK (JSON)", "--jwk must hold a public JWK (JSON)"))
			}
			var out struct {
				Key auditorKeyLine `json:"key"`
			}
			c := adminClient(hubURL, adminToken, lang)
			if err := c.admin(cmd.Context(), http.MethodPost, auditorKeysPath(id), body, &out); err != nil {
				return fmt.Errorf("add key to %s: %w", id, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), inLang(lang,
				"%s : clé %s ajoutée ; les clés précédentes restent valides jusqu'à leur révocation\n",
				"%s: key %s added; the previous keys stay valid until revoked\n"), id, out.Key.KID)
			return nil
		},
	}
	adminKeyFlags(cmd, &hubURL, &adminToken, &lang, &id)
	cmd.Flags().StringVar(&jwkFile, "jwk", "", "the auditor's new public key (signing.pending.public.jwk, written by 'relais auditor key new')")
	_ = cmd.MarkFlagRequired("jwk")
	return cmd
}

func auditorKeyRevokeCmd() *cobra.Command {
	var hubURL, adminToken, lang, id, kid, since string
	cmd := &cobra.Command{
		Use:   "revoke",
		Short: "Revoke an auditor key: tokens signed with it are refused from now on (admin)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := map[string]any{}
			if since != "" {
				at, err := time.Parse(time.RFC3339, since)
				if err != nil {
					return errors.New(inLang(lang, "--since doit être une heure RFC 3339, par ex. 2026-03-01T08:00:00Z", "--since must be an RFC 3339 time, e.g. 2026-03-01T08:00:00Z"))
				}
				req["revoked_at"] = at
			}
			body, _ := json.Marshal(req)
			var out auditorRevocationLine
			c := adminClient(hubURL, adminToken, lang)
			if err := c.admin(cmd.Context(), http.MethodPost, auditorKeysPath(id)+"/"+url.PathEscape(kid)+"/revoke", body, &out); err != nil {
				return fmt.Errorf("revoke %s of %s: %w", kid, id, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), inLang(lang, "%s : clé %s révoquée depuis %s\n", "%s: key %s revoked as of %s\n"),
				id, out.KID, out.RevokedAt.Format(time.RFC3339))
			return nil
		},
	}
	adminKeyFlags(cmd, &hubURL, &adminToken, &lang, &id)
	cmd.Flags().StringVar(&kid, "kid", "", "kid of the key to revoke")
	cmd.Flags().StringVar(&since, "since", "", "when the key is deemed compromised (RFC 3339, default now)")
	_ = cmd.MarkFlagRequired("kid")
	return cmd
}

// adminKeyFlags are the flags of the admin's auditor key commands.
func adminKeyFlags(cmd *cobra.Command, hubURL, adminToken, lang, id *string) {
	cmd.Flags().StringVar(hubURL, "hub", envOr("RELAIS_HUB", "http://127.0.0.1:8470"), "hub URL (RELAIS_HUB)")
	cmd.Flags().StringVar(adminToken, "admin-token", os.Getenv("RELAIS_ADMIN_TOKEN"), "hub admin token (RELAIS_ADMIN_TOKEN)")
	cmd.Flags().StringVar(lang, "lang", envOr("RELAIS_LANG", "fr"), "language of messages: fr or en")
	cmd.Flags().StringVar(id, "auditor", "", "auditor id, e.g. auditor:cdp-bf")
	_ = cmd.MarkFlagRequired("auditor")
}

func auditorKeyInstallCmd() *cobra.Command {
	var af auditFlags
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Start signing with the pending key, once the hub operator has added it; the old key is kept aside",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if af.Keys == "" {
				return errors.New("--keys is required (the directory written by 'relais auditor init')")
			}
			kid, old, err := installPendingAuditorKey(cmd.Context(), af)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), inLang(af.Lang,
				"la clé %s est désormais utilisée ; demandez à l'opérateur du hub de révoquer l'ancienne (%s)\n",
				"key %s is now in use; ask the hub operator to revoke the old one (%s)\n"), kid, old)
			return nil
		},
	}
	af.register(cmd)
	return cmd
}

// installPendingAuditorKey makes the pending key the auditor's signing key,
// after checking that the hub accepts a token it signs: installing a key
// the hub does not know would lock the auditor out. The old private key is
// kept as signing-<kid>.jwk (for the record; it signs nothing more).
func installPendingAuditorKey(ctx context.Context, af auditFlags) (newKID, oldKID string, err error) {
	current, err := loadAuditor(af.Keys)
	if err != nil {
		return "", "", err
	}
	pendingPath := filepath.Join(af.Keys, auditorPendingKeyFile)
	pending, err := seal.ReadKeyFile(pendingPath)
	if err != nil {
		return "", "", fmt.Errorf("%s: %w (create one with 'relais auditor key new')", pendingPath, err)
	}
	newKID, _ = pending.KeyID()
	oldKID, _ = current.Signing.KeyID()
	probe := &auditClient{hub: trimURL(af.Hub), lang: af.Lang, http: &http.Client{Timeout: 30 * time.Second},
		keys: &auditorKeys{ID: current.ID, Signing: pending}}
	if _, err := probe.call(ctx, http.MethodGet, auditorKeysPath(current.ID), nil, nil); err != nil {
		if agency.IsCode(err, contracts.CodeTokenInvalid) {
			return "", "", errors.New(inLang(af.Lang,
				"le hub ne connaît pas encore la clé "+newKID+" : l'opérateur doit d'abord l'ajouter ('relais auditor key add') ; rien n'a changé",
				"the hub does not know key "+newKID+" yet: the operator must add it first ('relais auditor key add'); nothing was changed"))
		}
		return "", "", fmt.Errorf("check the pending key with the hub: %w", err)
	}
	signing := filepath.Join(af.Keys, auditorSigningKeyFile)
	if err := os.Rename(signing, filepath.Join(af.Keys, "signing-"+fileSafe(oldKID)+".jwk")); err != nil {
		return "", "", fmt.Errorf("keep the old key: %w", err)
	}
	if err := os.Rename(pendingPath, signing); err != nil {
		return "", "", fmt.Errorf("install the new key: %w", err)
	}
	installed := auditorKeys{ID: current.ID, Signing: pending}
	pub, err := installed.publicJWKS()
	if err != nil {
		return "", "", err
	}
	if err := os.WriteFile(filepath.Join(af.Keys, auditorPublicJWKSFile), pub, 0o644); err != nil {
		return "", "", err
	}
	if err := os.Remove(filepath.Join(af.Keys, auditorPendingPublicFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", "", err
	}
	return newKID, oldKID, nil
}

var fileUnsafe = regexp.MustCompile(`[^A-Za-z0-9._-]`)

// fileSafe turns a kid into a file name part.
func fileSafe(kid string) string { return fileUnsafe.ReplaceAllString(kid, "_") }

func auditorKeyListCmd() *cobra.Command {
	var af auditFlags
	var id string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List an auditor's valid and revoked keys (admin, or the auditor itself with --keys)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := af.client()
			if err != nil {
				return err
			}
			if c.keys != nil {
				if id != "" && id != c.keys.ID {
					return errors.New(inLang(af.Lang, "un auditeur ne lit que ses propres clés", "an auditor reads only its own keys"))
				}
				id = c.keys.ID
			}
			if id == "" {
				return errors.New("--auditor is required with --admin-token")
			}
			var doc auditorKeyListDoc
			raw, err := c.call(cmd.Context(), http.MethodGet, auditorKeysPath(id), nil, &doc)
			if err != nil {
				return fmt.Errorf("keys of %s: %w", id, err)
			}
			if asJSON {
				_, err := cmd.OutOrStdout().Write(raw)
				return err
			}
			printAuditorKeys(cmd.OutOrStdout(), af.Lang, doc)
			return nil
		},
	}
	af.register(cmd)
	cmd.Flags().StringVar(&id, "auditor", "", "auditor id (with --admin-token)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the hub's JSON answer")
	return cmd
}

// auditorKeyLine and auditorRevocationLine are the hub's answers about one
// key (adapters/httpapi/auditor_keys.go).
type auditorKeyLine struct {
	KID     string    `json:"kid"`
	Status  string    `json:"status"`
	AddedAt time.Time `json:"added_at"`
}

type auditorRevocationLine struct {
	KID       string    `json:"kid"`
	AddedAt   time.Time `json:"added_at"`
	RevokedAt time.Time `json:"revoked_at"`
}

type auditorKeyListDoc struct {
	Auditor string                  `json:"auditor"`
	Keys    []auditorKeyLine        `json:"keys"`
	Revoked []auditorRevocationLine `json:"revoked"`
}

func printAuditorKeys(w io.Writer, lang string, doc auditorKeyListDoc) {
	status := map[string]string{"current": inLang(lang, "actuelle", "current"), "previous": inLang(lang, "précédente", "previous")}
	fmt.Fprintf(w, inLang(lang, "auditeur %s\n", "auditor %s\n"), doc.Auditor)
	for _, k := range doc.Keys {
		fmt.Fprintf(w, inLang(lang, "  %-10s %s  ajoutée le %s\n", "  %-10s %s  added %s\n"), status[k.Status], k.KID, k.AddedAt.Format(time.RFC3339))
	}
	for _, r := range doc.Revoked {
		fmt.Fprintf(w, inLang(lang, "  %-10s %s  révoquée depuis %s\n", "  %-10s %s  revoked as of %s\n"), inLang(lang, "révoquée", "revoked"), r.KID, r.RevokedAt.Format(time.RFC3339))
	}
}

func auditorKeysPath(id string) string { return "/v1/auditors/" + url.PathEscape(id) + "/keys" }

// adminClient calls the hub with the admin token, in the user's language.
func adminClient(hubURL, adminToken, lang string) *auditClient {
	return &auditClient{hub: trimURL(hubURL), lang: lang, adminToken: adminToken, http: &http.Client{Timeout: 30 * time.Second}}
}

// admin sends body with the admin token, refusing to go without one.
func (c *auditClient) admin(ctx context.Context, method, path string, body []byte, out any) error {
	if c.adminToken == "" {
		return errors.New(inLang(c.lang, "le jeton d'administration est requis (--admin-token ou RELAIS_ADMIN_TOKEN)", "the admin token is required (--admin-token or RELAIS_ADMIN_TOKEN)"))
	}
	_, err := c.send(ctx, method, path, body, c.adminToken, out)
	return err
}
