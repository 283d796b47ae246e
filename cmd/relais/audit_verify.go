package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/relais-hub/relais/hub/audit"
)

func auditVerifyCmd() *cobra.Command {
	var keyFile, keyString, since, lang string
	cmd := &cobra.Command{
		Use:   "verify BUNDLE",
		Short: "Check an audit bundle OFFLINE with only the hub's public key",
		Long: `Checks, without any network access, that every event of the bundle is in
the log signed by the hub: the checkpoint's signature against the hub key you
trust, each event's inclusion proof, and that the readable events are the
signed ones. With --since, also checks that the bundle's checkpoint extends
a checkpoint you verified earlier (e.g. the state file of 'relais audit
watch'). Exits with a non-zero status on any failure.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := loadTrustedKey(keyFile, keyString)
			if err != nil {
				return err
			}
			data, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			c := verifyBundleFile(args[0], data, key, lang)
			if since != "" {
				checkSince(c, since, key)
			}
			renderBundleCheck(cmd.OutOrStdout(), c, lang)
			if c.failed() {
				return errors.New(inLang(lang, "le dossier d'audit n'est pas vérifié", "the audit bundle did not verify"))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&keyFile, "hub-key", "", "file holding the hub's public key (from 'relais audit key --out', GET /v1/audit/key, or a JWK)")
	cmd.Flags().StringVar(&keyString, "hub-key-string", "", "the hub's public key as a note verifier key string (origin+hash+key)")
	cmd.Flags().StringVar(&since, "since", "", "a checkpoint you verified earlier (e.g. the watch state file); the bundle must extend it")
	cmd.Flags().StringVar(&lang, "lang", envOr("RELAIS_LANG", "fr"), "language of the report: fr or en")
	return cmd
}

// verifyBundleFile runs the offline verification.
func verifyBundleFile(name string, data []byte, key trustedKey, lang string) *bundleCheck {
	c := &bundleCheck{File: name, Lang: lang}
	var shape struct {
		Origin string            `json:"origin"`
		Events []json.RawMessage `json:"events"`
	}
	_ = json.Unmarshal(data, &shape)
	c.Total = len(shape.Events)
	c.Key = key.verifierString(shape.Origin)
	c.Report, c.Err = audit.VerifyBundleWithKeys(data, key.all())
	if c.Err == nil && key.Origin != "" && c.Report.Origin != key.Origin {
		c.Err = fmt.Errorf("%s", fmt.Sprintf(inLang(lang, "le dossier est celui du journal %q, la clé de confiance celle du journal %q",
			"the bundle is for log %q, the trusted key for log %q"), c.Report.Origin, key.Origin))
	}
	return c
}

// checkSince compares the bundle's checkpoint with one verified earlier.
func checkSince(c *bundleCheck, path string, key trustedKey) {
	if c.failed() {
		return
	}
	note, err := os.ReadFile(path)
	if err != nil {
		c.Err = err
		return
	}
	trusted, err := audit.ParseCheckpointWithKeys(note, c.Report.Origin, key.all())
	if err != nil {
		c.fail(err)
		return
	}
	c.Since = &trusted
	rep := c.Report
	if rep.ConsistentFrom != nil && rep.ConsistentFrom.Size == trusted.Size {
		// The bundle proved its checkpoint extends one of this size: it must
		// be the very checkpoint the auditor holds.
		err = audit.VerifyConsistency(trusted, *rep.ConsistentFrom, nil)
	} else {
		// Same size: the roots must agree (else a fork). Smaller: the log
		// shrank. Larger: only a consistency proof from this checkpoint
		// (export with --since) shows the log merely grew.
		err = audit.VerifyConsistency(trusted, rep.Checkpoint, nil)
	}
	if err != nil {
		c.fail(err)
		return
	}
	c.SinceOK = true
}

// fail records a failure found after VerifyBundle.
func (c *bundleCheck) fail(err error) {
	if f, ok := audit.FailureOf(err); ok {
		c.Report.Failures = append(c.Report.Failures, f)
	}
	if c.Err == nil {
		c.Err = err
	}
}
