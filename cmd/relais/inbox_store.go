package main

import (
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

// storedMessage is how 'relais inbox' keeps a received message on disk: the
// exact JWS (proof of what was received), the envelope, and the body in
// clear. The folder is private to the agency (0700, files 0600).
type storedMessage struct {
	Envelope contracts.Envelope `json:"envelope"`
	JWS      string             `json:"jws"`
	Body     json.RawMessage    `json:"body"`
	Received time.Time          `json:"received_at"`
}

// pullInbox drains the inbox into dir. A receipt is sent only after the
// message is durably on disk, so a power cut in between means a second
// delivery of a message already kept, never a receipt for a lost one.
func pullInbox(cmd *cobra.Command, c *agency.Client, dir string, wait time.Duration) (int, error) {
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
			o, err := c.Open(cmd.Context(), []byte(it.JWS))
			if err != nil {
				// A message that fails verification is left unreceipted in
				// the inbox and reported; it is never stored as genuine.
				fmt.Fprintf(cmd.ErrOrStderr(), "message %s refused: %v\n", it.ID, err)
				continue
			}
			if err := writeFileSync(filepath.Join(dir, o.Envelope.ID+".json"), storedMessage{
				Envelope: o.Envelope, JWS: it.JWS, Body: o.Plaintext, Received: it.ReceivedAt,
			}); err != nil {
				return total, err
			}
			if o.Envelope.Kind != "receipt" {
				if _, err := c.Receipt(cmd.Context(), o); err != nil && !agency.IsCode(err, contracts.CodeInvalidTransition) {
					return total, fmt.Errorf("receipt for %s: %w", it.ID, err)
				}
			}
			total++
			fmt.Fprintf(cmd.OutOrStdout(), "  %s  %s  de/from %s\n", o.Envelope.ID, o.Envelope.Kind, o.Envelope.From)
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
