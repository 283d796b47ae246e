package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/hub/policy"
)

// storedMessage is how 'relais inbox' keeps a received message on disk: the
// exact JWS (proof of what was received), the envelope, and the body in
// clear. The folder is private to the agency (0700, files 0600).
type storedMessage struct {
	Envelope contracts.Envelope `json:"envelope"`
	JWS      string             `json:"jws"`
	Body     json.RawMessage    `json:"body"`
	// RawBody holds a decrypted body that is not even JSON (Body is then
	// null); only a message that broke the policy has one.
	RawBody  []byte    `json:"raw_body,omitempty"`
	Received time.Time `json:"received_at"`
	// Violation marks a message whose decrypted body broke the policy.
	Violation *storedViolation `json:"policy_violation,omitempty"`
}

// pullInbox drains the inbox into dir. A receipt is sent only after the
// message is durably on disk, so a power cut in between means a second
// delivery of a message already kept, never a receipt for a lost one.
func pullInbox(cmd *cobra.Command, c *agency.Client, dir string, wait time.Duration, attachDir string) (int, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, err
	}
	cursorFile := filepath.Join(dir, ".cursor")
	cursor := ""
	if b, err := os.ReadFile(cursorFile); err == nil {
		cursor = strings.TrimSpace(string(b))
	}
	total := 0
	for {
		items, next, err := c.Inbox(cmd.Context(), cursor, wait)
		if err != nil {
			return total, err
		}
		for _, it := range items {
			o, kept, err := keepMessage(cmd, c, dir, it)
			if err != nil {
				return total, err
			}
			if !kept {
				continue
			}
			if err := saveAttachments(cmd, c, o, attachDir); err != nil {
				return total, err
			}
			if o.Envelope.Kind != "receipt" {
				if _, err := c.Receipt(cmd.Context(), o); err != nil && !agency.IsCode(err, contracts.CodeInvalidTransition) {
					return total, fmt.Errorf("receipt for %s: %w", it.ID, err)
				}
			}
			total++
			fmt.Fprintf(cmd.OutOrStdout(), "  %s  %s  de/from %s\n", o.Envelope.ID, o.Envelope.Kind, o.Envelope.From)
			if o.Envelope.Kind == "consent.withdrawn" {
				say(cmd.ErrOrStderr(), c.Lang,
					"⚠ %s a retiré le consentement sous lequel il a partagé le transfert %s : n'utilisez plus ces informations que pour clôturer le dossier ou le faire effacer (réception confirmée).",
					"⚠ %s withdrew the consent under which it shared transfer %s: use that information only to close the case or have it erased (receipt sent).",
					o.Envelope.From, o.Envelope.Transfer)
			}
		}
		if next != "" && next != cursor {
			cursor = next
			if err := os.WriteFile(cursorFile, []byte(cursor+"\n"), 0o600); err != nil {
				return total, err
			}
		}
		if len(items) == 0 {
			return total, nil
		}
		wait = 0
	}
}

// writeFileSync writes v as JSON to path atomically and durably.
func writeFileSync(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// readStored finds the stored opening message of a transfer.
func readStored(dir, transfer string) (storedMessage, error) {
	var m storedMessage
	if !contracts.ValidMessageID(transfer) {
		return m, fmt.Errorf("%q is not a transfer id", transfer)
	}
	b, err := os.ReadFile(filepath.Join(dir, transfer+".json"))
	if errors.Is(err, os.ErrNotExist) {
		return m, fmt.Errorf("transfer %s is not in %s: run 'relais inbox' first", transfer, dir)
	}
	if err != nil {
		return m, err
	}
	return m, json.Unmarshal(b, &m)
}

// storedViolation marks a stored message whose decrypted body broke the
// policy: it did not follow its kind (body_invalid), or it carried data of
// categories its envelope did not declare (body_category_mismatch). The
// message is kept — it is what the sender signed — and the sender is told
// by a policy.violation message.
type storedViolation struct {
	Code       string   `json:"code"`
	Categories []string `json:"categories,omitempty"`
	// Report is the id of the policy.violation message sent back, chosen
	// before sending so that a report retried after a crash keeps it (the
	// hub then answers duplicate_id instead of taking a second report).
	Report   string `json:"report"`
	Reported bool   `json:"reported"`
	// Refused is the hub's code when it refused the report.
	Refused string `json:"report_refused,omitempty"`
}

// keepMessage verifies and decrypts one message, checks the body against
// its declared data categories, stores it durably, and reports a
// violation to the sender. It reports false for a message that failed
// verification or decryption: that one is left unreceipted in the inbox
// and is never stored as genuine.
func keepMessage(cmd *cobra.Command, c *agency.Client, dir string, it agency.InboxItem) (agency.Opened, bool, error) {
	ctx := cmd.Context()
	o, err := c.Open(ctx, []byte(it.JWS))
	var violation *storedViolation
	switch {
	case err == nil:
		violation = violationOf(o.Envelope.ID, policy.CheckBodyCategories(o.Envelope.Kind, o.Plaintext, o.Envelope.DataCategories))
	case o.Plaintext != nil:
		// The signature holds and the body was decrypted, but it does not
		// follow its kind: the sender signed it and answers for it.
		violation = violationOf(o.Envelope.ID, err)
	}
	if err != nil && violation == nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "message %s refused: %v\n", it.ID, err)
		return o, false, nil
	}
	path := filepath.Join(dir, o.Envelope.ID+".json")
	m := storedMessage{Envelope: o.Envelope, JWS: it.JWS, Received: it.ReceivedAt, Violation: violation}
	if json.Valid(o.Plaintext) {
		m.Body = o.Plaintext
	} else {
		m.RawBody = o.Plaintext
	}
	if violation != nil {
		violation.Report = earlierReport(path)
		if violation.Report == "" {
			violation.Report = contracts.NewMessageID()
		}
	}
	if err := writeFileSync(path, m); err != nil {
		return o, false, err
	}
	if violation == nil {
		return o, true, nil
	}
	// Never answer a report with a report: two faulty clients would
	// otherwise bounce reports between them.
	if o.Envelope.Kind != "policy.violation" {
		if err := sendViolationReport(ctx, c, o, violation); err != nil {
			return o, false, err
		}
		if err := writeFileSync(path, m); err != nil {
			return o, false, err
		}
	}
	warnViolation(cmd.ErrOrStderr(), c.Lang, o.Envelope, violation)
	return o, true, nil
}

// violationOf turns a body check's refusal into a violation mark; nil
// when the body is fine.
func violationOf(messageID string, err error) *storedViolation {
	v, ok := policy.NewPolicyViolation(messageID, err)
	if !ok {
		return nil
	}
	return &storedViolation{Code: v.Code, Categories: v.Categories}
}

// earlierReport is the report id chosen when this message was stored
// before, if it was.
func earlierReport(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	var prev storedMessage
	if json.Unmarshal(b, &prev) != nil || prev.Violation == nil || !contracts.ValidMessageID(prev.Violation.Report) {
		return ""
	}
	return prev.Violation.Report
}

// sendViolationReport sends the policy.violation message. A refusal is
// recorded in v and does not stop the inbox; a failure to reach the hub
// does, leaving the message in the inbox for the next pull.
func sendViolationReport(ctx context.Context, c *agency.Client, o agency.Opened, v *storedViolation) error {
	body := contracts.PolicyViolation{ViolatedMessage: o.Envelope.ID, Code: v.Code, Categories: v.Categories}
	_, err := c.ReportViolation(ctx, o, body, v.Report)
	var refused *agency.HubError
	switch {
	case err == nil || agency.IsCode(err, contracts.CodeDuplicateID):
		v.Reported, v.Refused = true, ""
	case errors.As(err, &refused) && refused.Status < 500:
		v.Refused = refused.Code
	default:
		return fmt.Errorf("policy violation report for %s: %w", o.Envelope.ID, err)
	}
	return nil
}

// warnViolation tells the case worker, without quoting the body.
func warnViolation(w io.Writer, lang string, env contracts.Envelope, v *storedViolation) {
	what := pick(isEnglish(lang), "le contenu ne respecte pas le format de son type", "the body does not follow its kind's format")
	if v.Code == string(contracts.CodeBodyCategoryMismatch) {
		what = fmt.Sprintf(pick(isEnglish(lang), "le contenu porte des données de catégories non déclarées (%s)", "the body carries data of undeclared categories (%s)"),
			strings.Join(v.Categories, ", "))
	}
	var outcome string
	switch {
	case v.Reported:
		outcome = fmt.Sprintf(pick(isEnglish(lang), "signalement policy.violation envoyé à %s (message %s)", "policy.violation report sent to %s (message %s)"), env.From, v.Report)
	case v.Refused != "":
		outcome = fmt.Sprintf(pick(isEnglish(lang), "le hub a refusé le signalement (%s)", "the hub refused the report (%s)"), v.Refused)
	default:
		outcome = pick(isEnglish(lang), "aucun signalement (c'est lui-même un signalement)", "no report (it is itself a report)")
	}
	say(w, lang, "⚠ message %s de %s : %s — conservé et marqué ; %s.", "⚠ message %s from %s: %s — kept and marked; %s.", env.ID, env.From, what, outcome)
}
