package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/contracts"
)

func supervisorCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "supervisor", Short: "A supervisor's own key: the second person who approves best-interests overrides"}
	var agencyID, out, lang string
	initCmd := &cobra.Command{
		Use:   "init",
		Short: "Create a supervisor's Ed25519 signing key (private JWK 0600, public JWKS to register with the agency)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := agency.InitSupervisor(agencyID, out)
			if err != nil {
				return err
			}
			say(cmd.OutOrStdout(), lang,
				"clé de responsable %s pour %s écrite dans %s\n  clé publique : %s — à enregistrer avec 'relais agency register --supervisors %s'",
				"supervisor key %s for %s written to %s\n  public key: %s — register it with 'relais agency register --supervisors %s'",
				s.KID(), s.Agency, out, filepath.Join(out, "supervisor.jwks"), out)
			return nil
		},
	}
	initCmd.Flags().StringVar(&agencyID, "agency", "", "the supervisor's agency id, e.g. ci.dpe-abidjan")
	initCmd.Flags().StringVar(&out, "out", "", "directory for the supervisor's key (not the agency's key directory)")
	initCmd.Flags().StringVar(&lang, "lang", envOr("RELAIS_LANG", "fr"), "language: fr or en")
	_ = initCmd.MarkFlagRequired("agency")
	_ = initCmd.MarkFlagRequired("out")
	cmd.AddCommand(initCmd)
	return cmd
}

func approveCmd() *cobra.Command {
	var keysDir, messageID, reason, draftFile, lang string
	cmd := &cobra.Command{
		Use:   "approve",
		Short: "As a supervisor, approve a best-interests override for one message: prints the approval JWS",
		Long: `Signs, with the supervisor's own key, the id of the message to send and
the override reason (` + strings.Join(contracts.OverrideReasons.Codes(), ", ") + `).
The approval JWS is printed alone on standard output; it goes in the
draft's consent.override.approval, and the draft must carry the same "id".

With --draft, the draft file is completed in place: an id is chosen if it
has none, and consent.override gets the reason and the approval. Read the
draft before approving it: the approval is your signature.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if keysDir == "" {
				return errors.New("--keys is required (the directory written by 'relais supervisor init')")
			}
			s, err := agency.LoadSupervisor(keysDir)
			if err != nil {
				return err
			}
			if draftFile != "" {
				return approveDraft(cmd, s, draftFile, reason, lang)
			}
			if messageID == "" || reason == "" {
				return errors.New("--message-id and --reason are required (or --draft)")
			}
			approval, err := s.Approve(messageID, reason, time.Now())
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), approval)
			say(cmd.ErrOrStderr(), lang, "dérogation (%s) validée par %s pour le message %s", "override (%s) approved by %s for message %s", reason, s.KID(), messageID)
			return nil
		},
	}
	cmd.Flags().StringVar(&keysDir, "keys", envOr("RELAIS_SUPERVISOR_KEYS", ""), "supervisor key directory written by 'relais supervisor init' (RELAIS_SUPERVISOR_KEYS)")
	cmd.Flags().StringVar(&messageID, "message-id", "", "id of the message to approve (the draft's \"id\")")
	cmd.Flags().StringVar(&reason, "reason", "", "override reason: "+strings.Join(contracts.OverrideReasons.Codes(), ", "))
	cmd.Flags().StringVar(&draftFile, "draft", "", "draft JSON file to complete in place with an id and the approval")
	cmd.Flags().StringVar(&lang, "lang", envOr("RELAIS_LANG", "fr"), "language: fr or en")
	return cmd
}

// approveDraft completes a draft under a best-interests override with its
// id and the supervisor's approval.
func approveDraft(cmd *cobra.Command, s agency.Supervisor, path, reason, lang string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var d agency.Draft
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if d.Consent == nil || d.Consent.Basis != "best_interests_override" {
		return fmt.Errorf("%s: consent.basis must be best_interests_override to be approved", path)
	}
	if reason == "" && d.Consent.Override != nil {
		reason = d.Consent.Override.Reason
	}
	if reason == "" {
		return fmt.Errorf("--reason is required: %s", strings.Join(contracts.OverrideReasons.Codes(), ", "))
	}
	if d.ID == "" {
		d.ID = contracts.NewMessageID()
	}
	approval, err := s.Approve(d.ID, reason, time.Now())
	if err != nil {
		return err
	}
	d.Consent.Override = &contracts.Override{Reason: reason, Approval: approval}
	out, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(out, '\n'), info.Mode().Perm()); err != nil {
		return err
	}
	fmt.Fprintln(cmd.OutOrStdout(), approval)
	say(cmd.ErrOrStderr(), lang, "dérogation (%s) validée par %s pour le message %s ; brouillon %s complété",
		"override (%s) approved by %s for message %s; draft %s completed", reason, s.KID(), d.ID, path)
	return nil
}
