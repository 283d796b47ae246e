package main

import (
	"fmt"
	"mime"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/relais-hub/relais/adapters/agency"
)

// uploadAttachments encrypts each file for the draft's recipient, uploads
// it (resuming over a poor link) and adds its reference to the draft.
func uploadAttachments(cmd *cobra.Command, c *agency.Client, d *agency.Draft, files []string) error {
	for _, path := range files {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return err
		}
		name := filepath.Base(path)
		ref, err := c.UploadAttachment(cmd.Context(), f, st.Size(), agency.AttachmentOptions{
			To: d.To, Name: name, MediaType: mime.TypeByExtension(strings.ToLower(filepath.Ext(name))),
		})
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		d.Attachments = append(d.Attachments, ref)
		say(cmd.ErrOrStderr(), c.Lang, "pièce jointe %s chiffrée et téléversée (%d octets chiffrés)", "attachment %s encrypted and uploaded (%d encrypted bytes)", ref.ID, ref.Size)
	}
	return nil
}

// saveAttachments downloads, verifies and decrypts the attachments of a
// received message into dir/<message id>/, before its receipt is sent:
// the hub may delete delivered ciphertext once receipted. A file is
// written under a temporary name and kept only once it checked out.
func saveAttachments(cmd *cobra.Command, c *agency.Client, o agency.Opened, dir string) error {
	if dir == "" || len(o.Envelope.Attachments) == 0 {
		return nil
	}
	out := filepath.Join(dir, o.Envelope.ID)
	if err := os.MkdirAll(out, 0o700); err != nil {
		return err
	}
	for _, ref := range o.Envelope.Attachments {
		tmp, err := os.CreateTemp(out, ".download-*")
		if err != nil {
			return err
		}
		meta, err := c.DownloadAttachment(cmd.Context(), ref, tmp, agency.TransferOptions{})
		if err == nil {
			err = tmp.Sync()
		}
		if closeErr := tmp.Close(); err == nil {
			err = closeErr
		}
		if err != nil {
			os.Remove(tmp.Name())
			return fmt.Errorf("attachment %s of %s: %w", ref.ID, o.Envelope.ID, err)
		}
		name := safeFileName(meta.Name, ref.ID)
		if err := os.Rename(tmp.Name(), filepath.Join(out, name)); err != nil {
			return err
		}
		say(cmd.ErrOrStderr(), c.Lang, "  pièce jointe vérifiée : %s", "  attachment verified: %s", filepath.Join(out, name))
	}
	return nil
}

// safeFileName keeps the sender's file name when it is a plain name, and
// falls back to the attachment id.
func safeFileName(name, id string) string {
	name = filepath.Base(name)
	if name == "." || name == ".." || name == "/" || name == "" || strings.HasPrefix(name, ".") {
		return id
	}
	return name
}
