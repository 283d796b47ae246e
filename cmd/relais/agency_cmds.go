package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/contracts"
)

// clientFlags are the flags every agency-side command shares.
type clientFlags struct {
	Hub  string
	Keys string
	Lang string
}

func (f *clientFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.Hub, "hub", envOr("RELAIS_HUB", "http://127.0.0.1:8470"), "hub URL (RELAIS_HUB)")
	cmd.Flags().StringVar(&f.Keys, "keys", envOr("RELAIS_KEYS", ""), "agency key directory written by 'relais agency init' (RELAIS_KEYS)")
	cmd.Flags().StringVar(&f.Lang, "lang", envOr("RELAIS_LANG", "fr"), "language of messages: fr or en")
}

func (f *clientFlags) client() (*agency.Client, error) {
	if f.Keys == "" {
		return nil, errors.New("--keys is required (the directory written by 'relais agency init')")
	}
	keys, err := agency.Load(f.Keys)
	if err != nil {
		return nil, err
	}
	c := agency.New(f.Hub, keys)
	c.Lang = f.Lang
	return c, nil
}

func agencyCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "agency", Short: "Create and register an agency's keys"}
	var id, out string
	initCmd := &cobra.Command{
		Use:   "init",
		Short: "Create an agency's signing and encryption keys (private JWKs 0600, public JWKS)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := agency.Init(id, out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "keys for %s written to %s (public keys: %s)\n", id, out, filepath.Join(out, "public.jwks"))
			return nil
		},
	}
	initCmd.Flags().StringVar(&id, "id", "", "agency id, e.g. bf.dpe-bobo")
	initCmd.Flags().StringVar(&out, "out", "", "directory for the keys")
	_ = initCmd.MarkFlagRequired("id")
	_ = initCmd.MarkFlagRequired("out")

	var cf clientFlags
	var name, adminToken, reportsTo string
	var supervisors []string
	registerCmd := &cobra.Command{
		Use:   "register",
		Short: "Register an agency and its public keys with the hub (admin)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			keys, err := agency.Load(cf.Keys)
			if err != nil {
				return err
			}
			var supervisorJWKS []byte
			if len(supervisors) > 0 {
				if supervisorJWKS, err = agency.ReadSupervisorJWKS(supervisors...); err != nil {
					return err
				}
			}
			return registerAgencyWith(cmd.Context(), cmd.OutOrStdout(), cf.Hub, adminToken, keys,
				agencyProfile{Name: name, SupervisorJWKS: supervisorJWKS, ReportsTo: reportsTo})
		},
	}
	cf.register(registerCmd)
	registerCmd.Flags().StringVar(&name, "name", "", "the agency's official name")
	registerCmd.Flags().StringArrayVar(&supervisors, "supervisors", nil, "supervisors' public keys (a JWKS file or a directory written by 'relais supervisor init'; repeatable): the second person who approves best-interests overrides")
	registerCmd.Flags().StringVar(&reportsTo, "reports-to", "", "the agency's central directorate (a registered agency of the same country), told when deadlines are missed")
	registerCmd.Flags().StringVar(&adminToken, "admin-token", os.Getenv("RELAIS_ADMIN_TOKEN"), "hub admin token (RELAIS_ADMIN_TOKEN)")
	_ = registerCmd.MarkFlagRequired("name")
	cmd.AddCommand(initCmd, registerCmd, agencyRotateCmd(), agencyRevokeCmd())
	return cmd
}

func registerAgency(ctx context.Context, out io.Writer, hubURL, adminToken string, keys agency.Keys, name string) error {
	return registerAgencyWith(ctx, out, hubURL, adminToken, keys, agencyProfile{Name: name})
}

// agencyProfile is what a registration says of an agency besides its keys.
type agencyProfile struct {
	Name string
	// SupervisorJWKS, optional, are the supervisors' public keys.
	SupervisorJWKS []byte
	// ReportsTo, optional, is the agency's central directorate.
	ReportsTo string
}

// registerAgencyWith registers an agency with its profile.
func registerAgencyWith(ctx context.Context, out io.Writer, hubURL, adminToken string, keys agency.Keys, p agencyProfile) error {
	jwks, err := keys.PublicJWKS()
	if err != nil {
		return err
	}
	reg := map[string]any{"id": keys.ID, "country": contracts.AgencyCountry(keys.ID), "name": p.Name, "jwks": json.RawMessage(jwks)}
	if len(p.SupervisorJWKS) > 0 {
		reg["supervisors"] = json.RawMessage(p.SupervisorJWKS)
	}
	if p.ReportsTo != "" {
		reg["reports_to"] = p.ReportsTo
	}
	body, _ := json.Marshal(reg)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(hubURL, "/")+"/v1/agencies", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		var p map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&p)
		return fmt.Errorf("register %s: %v (%v)", keys.ID, p["title"], p["code"])
	}
	fmt.Fprintf(out, "%s registered\n", keys.ID)
	return nil
}

func sendCmd() *cobra.Command {
	var cf clientFlags
	var file, to, kind, caseRef string
	var attachFiles []string
	cmd := &cobra.Command{
		Use:   "send",
		Short: "Build, encrypt, sign and submit a message from a JSON file",
		Long: `The file holds the message as a draft:
  {"kind": "referral.request", "to": "ml.dnpef", "case": "CI-ABJ-2026-0042",
   "purpose": "protection_referral", "data_categories": ["identity", ...],
   "consent": {...}, "body": {...the child's file...}}
The body is validated against the kind's contract, encrypted for the
recipient and signed with the agency's key; nothing leaves in clear.
A draft may preset its message "id" (a UUIDv7): a best-interests override
carries "consent": {"basis": "best_interests_override", "override":
{"reason": ..., "approval": ...}, ...} where the approval is a supervisor's
signature over that id ('relais approve'). A refusal by the corridor
policy is explained rule by rule.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			raw, err := os.ReadFile(file)
			if err != nil {
				return err
			}
			var d agency.Draft
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&d); err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			if to != "" {
				d.To = to
			}
			if kind != "" {
				d.Kind = kind
			}
			if caseRef != "" {
				d.Case = caseRef
			}
			if err := uploadAttachments(cmd, c, &d, attachFiles); err != nil {
				return err
			}
			env, s, err := c.Send(cmd.Context(), d)
			if err != nil {
				explainRefusal(cmd.ErrOrStderr(), err, cf.Lang)
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s → %s : %s (transfer %s, journal #%d)\n", env.Kind, env.From, env.To, s.ID, env.Transfer, s.LeafIndex)
			return nil
		},
	}
	cf.register(cmd)
	cmd.Flags().StringVar(&file, "file", "", "draft JSON file")
	cmd.Flags().StringVar(&to, "to", "", "recipient agency id (overrides the file)")
	cmd.Flags().StringVar(&kind, "kind", "", "message kind (overrides the file)")
	cmd.Flags().StringVar(&caseRef, "case", "", "your pseudonymous case reference (overrides the file)")
	cmd.Flags().StringArrayVar(&attachFiles, "attach", nil, "file to attach, encrypted for the recipient and uploaded before the message (repeatable; 50 MiB each at most)")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

func inboxCmd() *cobra.Command {
	var cf clientFlags
	var out, attachDir string
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "inbox",
		Short: "Pull the inbox: verify, decrypt, store each message, then send its receipt",
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			if out == "" {
				out = filepath.Join(cf.Keys, "inbox")
			}
			n, err := pullInbox(cmd, c, out, wait, attachDir)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d message(s) → %s\n", n, out)
			return nil
		},
	}
	cf.register(cmd)
	cmd.Flags().StringVar(&out, "out", "", "folder for received messages (default KEYS/inbox)")
	cmd.Flags().DurationVar(&wait, "wait", 0, "long-poll up to this long when the inbox is empty")
	cmd.Flags().StringVar(&attachDir, "save-attachments", "", "download, verify and decrypt attachments into DIR/<message id>/ before sending the receipt")
	return cmd
}

func answerCmd(accept bool) *cobra.Command {
	var cf clientFlags
	var transfer, reason, inbox string
	use, short := "accept", "Accept a referral received in the inbox"
	if !accept {
		use, short = "decline", "Decline a referral received in the inbox, with a reason code"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			if inbox == "" {
				inbox = filepath.Join(cf.Keys, "inbox")
			}
			opening, err := readStored(inbox, transfer)
			if err != nil {
				return err
			}
			s, err := c.Answer(cmd.Context(), opening.Envelope, accept, reason)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s (journal #%d)\n", use, s.ID, s.LeafIndex)
			return nil
		},
	}
	cf.register(cmd)
	cmd.Flags().StringVar(&transfer, "transfer", "", "transfer id (the referral's message id)")
	cmd.Flags().StringVar(&inbox, "inbox", "", "folder where 'relais inbox' stored messages (default KEYS/inbox)")
	_ = cmd.MarkFlagRequired("transfer")
	if !accept {
		cmd.Flags().StringVar(&reason, "reason", "", "reason code: "+strings.Join(contracts.DeclineReasons.Codes(), ", "))
		_ = cmd.MarkFlagRequired("reason")
	}
	return cmd
}

func trailCmd() *cobra.Command {
	var cf clientFlags
	var transfer string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "trail",
		Short: "Show a transfer's trail as a timeline",
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			t, err := c.Trail(cmd.Context(), transfer)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(t)
			}
			fmt.Fprint(cmd.OutOrStdout(), renderTrail(t, cf.Lang))
			return nil
		},
	}
	cf.register(cmd)
	cmd.Flags().StringVar(&transfer, "transfer", "", "transfer id")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	_ = cmd.MarkFlagRequired("transfer")
	return cmd
}
