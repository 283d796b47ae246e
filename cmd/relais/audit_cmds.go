package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/relais-hub/relais/hub/audit"
)

// auditorCmd: `relais auditor init|register`.
func auditorCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "auditor", Short: "Create and register an auditor's keys (data-protection authority, secretariat, donor)"}
	var id, out, lang string
	initCmd := &cobra.Command{
		Use:   "init",
		Short: "Create an auditor's Ed25519 signing key (private JWK 0600, public JWKS)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := initAuditor(id, out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), inLang(lang, "clés de l'auditeur %s écrites dans %s (clé publique : %s)\n", "keys for auditor %s written to %s (public key: %s)\n"),
				id, out, filepath.Join(out, auditorPublicJWKSFile))
			return nil
		},
	}
	initCmd.Flags().StringVar(&id, "id", "", "auditor id, e.g. auditor:cdp-bf")
	initCmd.Flags().StringVar(&out, "out", "", "directory for the keys")
	initCmd.Flags().StringVar(&lang, "lang", envOr("RELAIS_LANG", "fr"), "fr or en")
	_ = initCmd.MarkFlagRequired("id")
	_ = initCmd.MarkFlagRequired("out")

	var hubURL, keysDir, name, adminToken string
	registerCmd := &cobra.Command{
		Use:   "register",
		Short: "Register an auditor and its public key with the hub (admin)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			keys, err := loadAuditor(keysDir)
			if err != nil {
				return err
			}
			jwks, err := keys.publicJWKS()
			if err != nil {
				return err
			}
			body, _ := json.Marshal(map[string]any{"id": keys.ID, "name": name, "jwks": json.RawMessage(jwks)})
			c := &auditClient{hub: trimURL(hubURL), lang: lang, http: http.DefaultClient}
			if _, err := c.send(cmd.Context(), http.MethodPost, "/v1/auditors", body, adminToken, nil); err != nil {
				return fmt.Errorf("register %s: %w", keys.ID, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), inLang(lang, "auditeur %s enregistré\n", "auditor %s registered\n"), keys.ID)
			return nil
		},
	}
	registerCmd.Flags().StringVar(&hubURL, "hub", envOr("RELAIS_HUB", "http://127.0.0.1:8470"), "hub URL (RELAIS_HUB)")
	registerCmd.Flags().StringVar(&keysDir, "keys", "", "auditor key directory written by 'relais auditor init'")
	registerCmd.Flags().StringVar(&name, "name", "", "the auditor's official name")
	registerCmd.Flags().StringVar(&adminToken, "admin-token", os.Getenv("RELAIS_ADMIN_TOKEN"), "hub admin token (RELAIS_ADMIN_TOKEN)")
	registerCmd.Flags().StringVar(&lang, "lang", envOr("RELAIS_LANG", "fr"), "fr or en")
	_ = registerCmd.MarkFlagRequired("keys")
	_ = registerCmd.MarkFlagRequired("name")
	cmd.AddCommand(initCmd, registerCmd, auditorLoginCmd())
	return cmd
}

func trimURL(u string) string {
	for len(u) > 0 && u[len(u)-1] == '/' {
		u = u[:len(u)-1]
	}
	return u
}

// auditCmd: `relais audit verify|watch|bundle|events|checkpoint|key`.
func auditCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Audit the hub: verify bundles offline, watch checkpoints, export a case's trail",
	}
	cmd.AddCommand(auditVerifyCmd(), auditWatchCmd(), auditBundleCmd(), auditEventsCmd(), auditCheckpointCmd(), auditKeyCmd())
	return cmd
}

func auditBundleCmd() *cobra.Command {
	var af auditFlags
	var transfers, cases []string
	var since, out string
	cmd := &cobra.Command{
		Use:   "bundle",
		Short: "Export the full audit trail of transfers or cases as a self-contained bundle",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(transfers)+len(cases) == 0 {
				return errors.New("name at least one --transfer or --case-digest")
			}
			c, err := af.client()
			if err != nil {
				return err
			}
			q := url.Values{"transfer": transfers, "case_digest": cases}
			if since != "" {
				size, err := checkpointSizeOf(since)
				if err != nil {
					return err
				}
				q.Set("since", strconv.FormatUint(size, 10))
			}
			raw, err := c.call(cmd.Context(), http.MethodGet, "/v1/audit/bundle", q, nil)
			if err != nil {
				return err
			}
			var shape struct {
				Events []json.RawMessage `json:"events"`
			}
			if err := json.Unmarshal(raw, &shape); err != nil {
				return fmt.Errorf("the hub's bundle is not JSON: %w", err)
			}
			if err := os.WriteFile(out, raw, 0o600); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), inLang(af.Lang, "%d événement(s) exporté(s) dans %s — vérifiez-le avec : relais audit verify %s --hub-key CLÉ\n",
				"%d event(s) exported to %s — verify it with: relais audit verify %s --hub-key KEY\n"), len(shape.Events), out, out)
			return nil
		},
	}
	af.register(cmd)
	cmd.Flags().StringArrayVar(&transfers, "transfer", nil, "transfer id (repeatable)")
	cmd.Flags().StringArrayVar(&cases, "case-digest", nil, "case digest, as shown in the transfer's trail (repeatable)")
	cmd.Flags().StringVar(&since, "since", "", "a checkpoint you verified earlier (e.g. the watch state file): the bundle then proves it extends it")
	cmd.Flags().StringVar(&out, "out", "", "bundle file to write")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

// checkpointSizeOf reads the size line of a checkpoint file without
// verifying it: the hub only uses it to pick a proof, which the verifier
// then checks against the verified file.
func checkpointSizeOf(path string) (uint64, error) {
	note, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	lines := bytes.SplitN(note, []byte("\n"), 3)
	if len(lines) < 3 {
		return 0, fmt.Errorf("%s is not a checkpoint", path)
	}
	size, err := strconv.ParseUint(string(lines[1]), 10, 63)
	if err != nil {
		return 0, fmt.Errorf("%s is not a checkpoint: %w", path, err)
	}
	return size, nil
}

func auditEventsCmd() *cobra.Command {
	var af auditFlags
	var transfers, cases []string
	var agencyID, from, to, cursor string
	var limit int
	var all, asJSON bool
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Search the audit log: by transfer, case digest, agency, time range",
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := af.client()
			if err != nil {
				return err
			}
			q := url.Values{"transfer": transfers, "case_digest": cases}
			for k, v := range map[string]string{"agency": agencyID, "from": from, "to": to, "cursor": cursor} {
				if v != "" {
					q.Set(k, v)
				}
			}
			if limit > 0 {
				q.Set("limit", strconv.Itoa(limit))
			}
			return printEvents(cmd.Context(), cmd.OutOrStdout(), c, q, all, asJSON, af.Lang)
		},
	}
	af.register(cmd)
	cmd.Flags().StringArrayVar(&transfers, "transfer", nil, "transfer id (repeatable)")
	cmd.Flags().StringArrayVar(&cases, "case-digest", nil, "case digest (repeatable)")
	cmd.Flags().StringVar(&agencyID, "agency", "", "agency (or auditor) id: events it sent, received or caused")
	cmd.Flags().StringVar(&from, "from", "", "from this time on (RFC 3339, e.g. 2026-03-01T00:00:00Z)")
	cmd.Flags().StringVar(&to, "to", "", "before this time (RFC 3339)")
	cmd.Flags().IntVar(&limit, "limit", 0, "events per page (default 100, at most 1000)")
	cmd.Flags().StringVar(&cursor, "cursor", "", "cursor returned by a previous page")
	cmd.Flags().BoolVar(&all, "all", false, "follow every page")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

type eventsPage struct {
	Events []struct {
		Index   uint64       `json:"index"`
		Event   *audit.Event `json:"event,omitempty"`
		Damaged bool         `json:"damaged,omitempty"`
	} `json:"events"`
	Cursor string `json:"cursor"`
	More   bool   `json:"more"`
}

func printEvents(ctx context.Context, w io.Writer, c *auditClient, q url.Values, all, asJSON bool, lang string) error {
	for {
		var page eventsPage
		raw, err := c.call(ctx, http.MethodGet, "/v1/audit/events", q, &page)
		if err != nil {
			return err
		}
		if asJSON {
			if _, err := w.Write(raw); err != nil {
				return err
			}
		} else {
			for _, e := range page.Events {
				if e.Damaged || e.Event == nil {
					fmt.Fprintf(w, "%s%-6d %s\n", inLang(lang, "n°", "#"), e.Index, inLang(lang,
						"✘ ENREGISTREMENT ENDOMMAGÉ OU ABSENT : le journal stocké a été altéré", "✘ DAMAGED OR MISSING LEAF: the stored log was altered"))
					continue
				}
				fmt.Fprintln(w, eventLine(e.Index, *e.Event, lang))
			}
		}
		if !all || !page.More {
			if !asJSON {
				fmt.Fprintf(w, inLang(lang, "— curseur suivant : %s%s\n", "— next cursor: %s%s\n"), page.Cursor,
					map[bool]string{true: inLang(lang, " (d'autres événements suivent)", " (more events follow)"), false: ""}[page.More])
			}
			return nil
		}
		q.Set("cursor", page.Cursor)
	}
}

func auditCheckpointCmd() *cobra.Command {
	var af auditFlags
	var size int64
	var publish bool
	cmd := &cobra.Command{
		Use:   "checkpoint",
		Short: "Print the hub's latest signed checkpoint (or one of a given size, or publish one now)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := af.client()
			if err != nil {
				return err
			}
			var note []byte
			switch {
			case publish:
				note, err = c.call(cmd.Context(), http.MethodPost, "/v1/audit/checkpoint", nil, nil)
			case size >= 0:
				note, err = c.call(cmd.Context(), http.MethodGet, "/v1/audit/checkpoint", url.Values{"size": {strconv.FormatInt(size, 10)}}, nil)
			default:
				note, err = c.checkpoint(cmd.Context())
			}
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(note)
			return err
		},
	}
	af.register(cmd)
	cmd.Flags().Int64Var(&size, "size", -1, "the stored checkpoint of this size")
	cmd.Flags().BoolVar(&publish, "publish", false, "ask the hub to sign and publish a checkpoint now")
	return cmd
}

func auditKeyCmd() *cobra.Command {
	var af auditFlags
	var out string
	cmd := &cobra.Command{
		Use:   "key",
		Short: "Fetch the hub's public audit key (compare it with the one published out of band!)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := af.client()
			if err != nil {
				return err
			}
			k, err := c.hubKey(cmd.Context())
			if err != nil {
				return err
			}
			if _, err := parseVerifierKey(k.NoteVerifier); err != nil {
				return fmt.Errorf("the hub's key: %w", err)
			}
			if out != "" {
				if err := os.WriteFile(out, []byte(k.NoteVerifier+"\n"), 0o644); err != nil {
					return err
				}
			}
			fmt.Fprintln(cmd.OutOrStdout(), k.NoteVerifier)
			return nil
		},
	}
	af.register(cmd)
	cmd.Flags().StringVar(&out, "out", "", "also write the key to this file (for 'relais audit verify --hub-key')")
	return cmd
}

// sleepCtx waits d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
