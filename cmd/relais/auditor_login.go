package main

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/relais-hub/relais/adapters/console"
)

// auditorLoginCmd: `relais auditor login`, the auditor's side of the hub
// console's login. The console shows a one-time challenge; this command
// signs it with the auditor's key, on the auditor's machine, and prints the
// answer to paste into the page.
func auditorLoginCmd() *cobra.Command {
	var af auditFlags
	var challenge string
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Sign the hub console's login challenge with the auditor's key; paste the printed line into the console",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if af.Keys == "" {
				return errors.New("--keys is required (the directory written by 'relais auditor init')")
			}
			keys, err := loadAuditor(af.Keys)
			if err != nil {
				return err
			}
			c := &auditClient{hub: strings.TrimRight(af.Hub, "/"), lang: af.Lang, http: &http.Client{Timeout: 30 * time.Second}}
			var dir struct {
				Hub struct {
					ID string `json:"id"`
				} `json:"hub"`
			}
			if _, err := c.send(cmd.Context(), http.MethodGet, "/v1/directory", nil, "", &dir); err != nil {
				return fmt.Errorf("hub directory: %w", err)
			}
			answer, err := console.SignAuditorLogin(keys.Signing, keys.ID, dir.Hub.ID, challenge, time.Now())
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), answer)
			fmt.Fprintln(cmd.ErrOrStderr(), inLang(af.Lang, "collez cette ligne dans la console (valable 2 minutes, une seule fois)",
				"paste this line into the console (valid for 2 minutes, once)"))
			return nil
		},
	}
	cmd.Flags().StringVar(&af.Hub, "hub", envOr("RELAIS_HUB", "http://127.0.0.1:8470"), "hub URL (RELAIS_HUB)")
	cmd.Flags().StringVar(&af.Keys, "keys", envOr("RELAIS_AUDITOR_KEYS", ""), "auditor key directory written by 'relais auditor init' (RELAIS_AUDITOR_KEYS)")
	cmd.Flags().StringVar(&af.Lang, "lang", envOr("RELAIS_LANG", "fr"), "language of messages: fr or en")
	cmd.Flags().StringVar(&challenge, "challenge", "", "the login code the console shows")
	_ = cmd.MarkFlagRequired("challenge")
	return cmd
}
