package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/relais-hub/relais/adapters/agency"
)

// agencyRotateCmd rotates one of an agency's keys: a new key is generated,
// registered with the hub (admin), and only then installed; the old
// encryption key is kept to decrypt what was already sent to it.
func agencyRotateCmd() *cobra.Command {
	var cf clientFlags
	var use, adminToken string
	cmd := &cobra.Command{
		Use:   "rotate",
		Short: "Replace an agency's signing or encryption key, keeping the old one valid until revoked (admin)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cf.Keys == "" {
				return errors.New("--keys is required (the directory written by 'relais agency init')")
			}
			keys, err := agency.Load(cf.Keys)
			if err != nil {
				return err
			}
			rot, err := agency.PrepareRotation(cf.Keys, use)
			if err != nil {
				return err
			}
			body, _ := json.Marshal(map[string]json.RawMessage{"jwk": rot.Public})
			var out struct {
				Key struct {
					KID string `json:"kid"`
				} `json:"key"`
			}
			path := "/v1/agencies/" + url.PathEscape(keys.ID) + "/keys"
			if err := adminPost(cmd.Context(), cf.Hub, adminToken, path, body, http.StatusCreated, &out); err != nil {
				if aerr := rot.Abandon(); aerr != nil {
					return errors.Join(err, aerr)
				}
				return fmt.Errorf("rotate %s key of %s: %w", use, keys.ID, err)
			}
			if _, err := rot.Commit(); err != nil {
				return fmt.Errorf("key %s is registered but could not be installed (the pending key file is in %s): %w", out.Key.KID, cf.Keys, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: new %s key %s registered and installed; revoke the old one once the overlap ends\n", keys.ID, use, out.Key.KID)
			return nil
		},
	}
	cf.register(cmd)
	cmd.Flags().StringVar(&use, "use", "", "which key to rotate: sig or enc")
	cmd.Flags().StringVar(&adminToken, "admin-token", os.Getenv("RELAIS_ADMIN_TOKEN"), "hub admin token (RELAIS_ADMIN_TOKEN)")
	_ = cmd.MarkFlagRequired("use")
	return cmd
}

// agencyRevokeCmd revokes an agency key on compromise or at the end of a
// rotation's overlap.
func agencyRevokeCmd() *cobra.Command {
	var hubURL, id, kid, adminToken, since string
	cmd := &cobra.Command{
		Use:   "revoke",
		Short: "Revoke an agency key: messages and tokens signed with it are refused from now on (admin)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := map[string]any{}
			if since != "" {
				at, err := time.Parse(time.RFC3339, since)
				if err != nil {
					return fmt.Errorf("--since must be an RFC 3339 time: %w", err)
				}
				req["revoked_at"] = at
			}
			body, _ := json.Marshal(req)
			var out struct {
				KID       string    `json:"kid"`
				RevokedAt time.Time `json:"revoked_at"`
			}
			path := "/v1/agencies/" + url.PathEscape(id) + "/keys/" + url.PathEscape(kid) + "/revoke"
			if err := adminPost(cmd.Context(), hubURL, adminToken, path, body, http.StatusOK, &out); err != nil {
				return fmt.Errorf("revoke %s of %s: %w", kid, id, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: key %s revoked as of %s\n", id, out.KID, out.RevokedAt.Format(time.RFC3339))
			return nil
		},
	}
	cmd.Flags().StringVar(&hubURL, "hub", envOr("RELAIS_HUB", "http://127.0.0.1:8470"), "hub URL (RELAIS_HUB)")
	cmd.Flags().StringVar(&id, "agency", "", "agency id")
	cmd.Flags().StringVar(&kid, "kid", "", "kid of the key to revoke")
	cmd.Flags().StringVar(&since, "since", "", "when the key is deemed compromised (RFC 3339, default now)")
	cmd.Flags().StringVar(&adminToken, "admin-token", os.Getenv("RELAIS_ADMIN_TOKEN"), "hub admin token (RELAIS_ADMIN_TOKEN)")
	_ = cmd.MarkFlagRequired("agency")
	_ = cmd.MarkFlagRequired("kid")
	return cmd
}

// adminPost posts JSON to the hub with the admin token and decodes the
// answer into out when the status is the expected one.
func adminPost(ctx context.Context, hubURL, adminToken, path string, body []byte, want int, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(hubURL, "/")+path, bytes.NewReader(body))
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
	if resp.StatusCode != want {
		var p map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&p)
		return fmt.Errorf("%v (%v): %v", p["title"], p["code"], p["detail"])
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
