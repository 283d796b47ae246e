package agent

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"os"
	"path/filepath"
	"time"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/contracts"
)

// Attachments (scanned forms, reports, photos) are encrypted for the
// recipient when the message is composed, offline like the message: the
// ciphertext waits in the agent directory, and the signed envelope
// references it by id, SHA-256 and size. They then move on a lane of their
// own, below the messages:
//
//   - the upload lane sends one attachment at a time, in chunks that resume
//     after a dropped connection, and gives way as soon as a message is due
//     (it cancels the upload — at most a chunk is sent again — and resumes
//     once the messages have left), so a 20 MiB scan on a 56 kbit/s link
//     never holds back a referral;
//   - a message that carries attachments is submitted once they are all
//     uploaded (the hub refuses it before), still in its transfer's order;
//   - the download lane fetches the attachments of stored messages, resuming
//     with HTTP Range, verifies them against the signed digest and keeps the
//     decrypted file only once complete.

// Attachment is a file to send with a message.
type Attachment struct {
	Path string `json:"path"`
	// Name is the file name the recipient sees (default: Path's base
	// name); it travels encrypted, as does MediaType (default: from the
	// extension).
	Name      string `json:"name,omitempty"`
	MediaType string `json:"media_type,omitempty"`
}

// ReceivedAttachment is an attachment of a stored message.
type ReceivedAttachment struct {
	ID string
	// Name, MediaType and Size are known once it is downloaded; Path is
	// then the decrypted file.
	Name       string
	MediaType  string
	Size       int64
	Path       string
	Downloaded time.Time
	// Failed is the reason it will not be downloaded (a refusal code, or
	// download_failed after repeated failures); empty while it may be.
	Failed string
}

// attachmentTransfer chunks uploads at 64 KiB: about 9 s at 56 kbit/s, so
// giving way to a message loses little, and a dropped connection less.
var attachmentTransfer = agency.TransferOptions{ChunkSize: 64 << 10}

// maxDownloadAttempts bounds the complete downloads of an attachment that
// fail verification: each may cost megabytes of a prepaid plan.
const maxDownloadAttempts = 3

func (a *Agent) outgoingDir() string { return filepath.Join(a.dir, "attachments", "outgoing") }
func (a *Agent) receivedDir() string { return filepath.Join(a.dir, "attachments", "received") }

func (f Attachment) withDefaults() Attachment {
	if f.Name == "" {
		f.Name = filepath.Base(f.Path)
	}
	if f.MediaType == "" {
		f.MediaType = mime.TypeByExtension(filepath.Ext(f.Path))
	}
	if f.MediaType == "" {
		f.MediaType = "application/octet-stream"
	}
	return f
}

// sealAttachments encrypts the files for d.To into the outgoing directory.
// On error, the files already sealed are removed.
func (a *Agent) sealAttachments(ctx context.Context, to string, files []Attachment) ([]agency.SealedAttachment, error) {
	if len(files) > contracts.MaxAttachmentsPerMessage {
		return nil, contracts.Refuse(contracts.CodeInvalidEnvelope, "at most %d attachments per message", contracts.MaxAttachmentsPerMessage)
	}
	var sealed []agency.SealedAttachment
	for _, f := range files {
		sa, err := a.sealAttachment(ctx, to, f.withDefaults())
		if err != nil {
			removeSealed(sealed)
			return nil, err
		}
		sealed = append(sealed, sa)
	}
	return sealed, nil
}

func (a *Agent) sealAttachment(ctx context.Context, to string, f Attachment) (agency.SealedAttachment, error) {
	in, err := os.Open(f.Path)
	if err != nil {
		return agency.SealedAttachment{}, fmt.Errorf("attachment: %w", err)
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return agency.SealedAttachment{}, err
	}
	if st.Size() > contracts.MaxAttachmentPlaintext {
		return agency.SealedAttachment{}, contracts.Refuse(contracts.CodeAttachmentTooLarge, "%s is %d bytes", f.Name, st.Size())
	}
	return a.sealer.SealAttachment(ctx, in, st.Size(), agency.AttachmentOptions{To: to, Name: f.Name, MediaType: f.MediaType}, a.outgoingDir())
}

func removeSealed(sealed []agency.SealedAttachment) {
	for _, sa := range sealed {
		_ = os.Remove(sa.Path)
	}
}

func insertOutgoingAttachmentsTx(ctx context.Context, tx *sql.Tx, messageID string, sealed []agency.SealedAttachment) error {
	for _, sa := range sealed {
		if _, err := tx.ExecContext(ctx, `INSERT INTO outbox_attachments (message_id, attachment_id, path, sha256, size) VALUES (?, ?, ?, ?, ?)`,
			messageID, sa.Ref.ID, sa.Path, sa.Ref.SHA256, sa.Ref.Size); err != nil {
			return err
		}
	}
	return nil
}

// pendingUpload is the next attachment to upload.
type pendingUpload struct {
	MessageID string
	Sealed    agency.SealedAttachment
}

// nextUpload returns the oldest queued message's first attachment not yet
// uploaded.
func (s *store) nextUpload(ctx context.Context) (pendingUpload, bool, error) {
	var p pendingUpload
	err := s.db.QueryRowContext(ctx, `SELECT a.message_id, a.attachment_id, a.path, a.sha256, a.size
		FROM outbox_attachments a JOIN outbox o ON o.id = a.message_id
		WHERE a.uploaded_at IS NULL AND o.state = 'queued'
		ORDER BY o.seq, a.attachment_id LIMIT 1`).Scan(&p.MessageID, &p.Sealed.Ref.ID, &p.Sealed.Path, &p.Sealed.Ref.SHA256, &p.Sealed.Ref.Size)
	if errors.Is(err, sql.ErrNoRows) {
		return p, false, nil
	}
	return p, err == nil, err
}

func (s *store) markUploaded(ctx context.Context, p pendingUpload, now time.Time) error {
	return s.update(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE outbox_attachments SET uploaded_at = ?, last_error = '' WHERE message_id = ? AND attachment_id = ?`,
			millis(now), p.MessageID, p.Sealed.Ref.ID)
		return err
	})
}

func (s *store) noteUploadError(ctx context.Context, p pendingUpload, code string) error {
	return s.update(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE outbox_attachments SET last_error = ? WHERE message_id = ? AND attachment_id = ?`,
			code, p.MessageID, p.Sealed.Ref.ID)
		return err
	})
}

// removeSentAttachments deletes the ciphertext files of a message the hub
// accepted: it holds them now.
func (a *Agent) removeSentAttachments(ctx context.Context, messageID string) {
	rows, err := a.db.db.QueryContext(ctx, `SELECT path FROM outbox_attachments WHERE message_id = ?`, messageID)
	if err != nil {
		return
	}
	defer rows.Close()
	for rows.Next() {
		var path string
		if rows.Scan(&path) == nil {
			_ = os.Remove(path)
		}
	}
}

// UploadResult counts what an upload pass did.
type UploadResult struct {
	Uploaded int
	// Refused counts messages settled as refused because the hub refused
	// one of their attachments.
	Refused int
	// Yielded is true when the pass stopped to let due messages go first.
	Yielded bool
}

// uploadYieldPoll is how often an upload checks whether a message became
// due and it must give way.
const uploadYieldPoll = 200 * time.Millisecond

// UploadAttachments uploads pending attachments, oldest message first,
// until none is left, a message becomes due (it then yields), or the hub
// cannot be reached.
func (a *Agent) UploadAttachments(ctx context.Context) (UploadResult, error) {
	var res UploadResult
	if err := a.requireKeys(); err != nil {
		return res, err
	}
	for {
		if due, err := a.messageDue(ctx); err != nil || due {
			res.Yielded = due
			return res, err
		}
		p, ok, err := a.db.nextUpload(ctx)
		if err != nil || !ok {
			return res, err
		}
		yielded, err := a.uploadOne(ctx, p)
		switch {
		case yielded:
			res.Yielded = true
			return res, nil
		case err == nil:
			res.Uploaded++
			a.signal()
		default:
			if he, refused := refusal(err); refused {
				a.log.WarnContext(ctx, "attachment refused by the hub", "message", p.MessageID, "attachment", p.Sealed.Ref.ID, "code", he.Code)
				if err := a.db.markRefused(ctx, p.MessageID, he.Code, "attachment "+p.Sealed.Ref.ID+": "+he.Detail, time.Now()); err != nil {
					return res, err
				}
				res.Refused++
				continue
			}
			if ctx.Err() == nil {
				if nErr := a.db.noteUploadError(ctx, p, errorCode(err)); nErr != nil {
					return res, errors.Join(err, nErr)
				}
			}
			return res, err
		}
	}
}

func (a *Agent) messageDue(ctx context.Context) (bool, error) {
	_, due, err := a.db.nextDue(ctx)
	return due, err
}

// uploadOne uploads one attachment, cancelling the upload when a message
// becomes due; it reports whether it gave way.
func (a *Agent) uploadOne(ctx context.Context, p pendingUpload) (yielded bool, err error) {
	uploadCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var gaveWay bool
	watching := make(chan struct{})
	go func() {
		defer close(watching)
		tick := time.NewTicker(uploadYieldPoll)
		defer tick.Stop()
		for {
			select {
			case <-uploadCtx.Done():
				return
			case <-tick.C:
				if due, _ := a.messageDue(uploadCtx); due {
					gaveWay = true
					cancel()
					return
				}
			}
		}
	}()
	err = a.mover.UploadSealedAttachment(uploadCtx, p.Sealed, attachmentTransfer)
	cancel()
	<-watching
	if gaveWay && ctx.Err() == nil {
		a.log.InfoContext(ctx, "attachment upload gives way to messages", "attachment", p.Sealed.Ref.ID)
		return true, nil
	}
	if err != nil {
		return false, err
	}
	a.log.InfoContext(ctx, "attachment uploaded", "message", p.MessageID, "attachment", p.Sealed.Ref.ID, "bytes", p.Sealed.Ref.Size)
	return false, a.db.markUploaded(ctx, p, time.Now())
}

// insertIncomingAttachmentsTx records the attachments a stored message
// references, for the download lane.
func insertIncomingAttachmentsTx(ctx context.Context, tx *sql.Tx, env contracts.Envelope) error {
	for _, ref := range env.Attachments {
		raw, err := json.Marshal(ref)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO inbox_attachments (message_id, attachment_id, ref) VALUES (?, ?, ?)
			ON CONFLICT (message_id, attachment_id) DO NOTHING`, env.ID, ref.ID, raw); err != nil {
			return err
		}
	}
	return nil
}

type pendingDownload struct {
	MessageID string
	Ref       contracts.AttachmentRef
}

func (s *store) nextDownload(ctx context.Context) (pendingDownload, bool, error) {
	var p pendingDownload
	var raw []byte
	err := s.db.QueryRowContext(ctx, `SELECT message_id, ref FROM inbox_attachments
		WHERE downloaded_at IS NULL AND failed_code = '' ORDER BY rowid LIMIT 1`).Scan(&p.MessageID, &raw)
	if errors.Is(err, sql.ErrNoRows) {
		return p, false, nil
	}
	if err != nil {
		return p, false, err
	}
	return p, true, json.Unmarshal(raw, &p.Ref)
}

// DownloadResult counts what a download pass did.
type DownloadResult struct {
	Downloaded int
	Failed     int
}

// DownloadAttachments fetches the attachments of stored messages until
// none is left or the hub cannot be reached.
func (a *Agent) DownloadAttachments(ctx context.Context) (DownloadResult, error) {
	var res DownloadResult
	if err := a.requireKeys(); err != nil {
		return res, err
	}
	for {
		p, ok, err := a.db.nextDownload(ctx)
		if err != nil || !ok {
			return res, err
		}
		err = a.downloadOne(ctx, p)
		if err == nil {
			res.Downloaded++
			continue
		}
		if ctx.Err() != nil {
			return res, err
		}
		failed, fErr := a.noteDownloadFailure(ctx, p, err)
		if fErr != nil {
			return res, errors.Join(err, fErr)
		}
		if !failed {
			return res, err
		}
		res.Failed++
		a.log.WarnContext(ctx, "attachment will not be downloaded", "message", p.MessageID, "attachment", p.Ref.ID, "error", errorCode(err))
	}
}

// downloadOne downloads, verifies and decrypts one attachment into a
// temporary file, made the received file only once complete and synced.
func (a *Agent) downloadOne(ctx context.Context, p pendingDownload) error {
	dir := filepath.Join(a.receivedDir(), p.MessageID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+p.Ref.ID+".*.part")
	if err != nil {
		return err
	}
	done := false
	defer func() {
		if !done {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	meta, err := a.mover.DownloadAttachment(ctx, p.Ref, tmp, attachmentTransfer)
	if err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	final := filepath.Join(dir, p.Ref.ID)
	if err := os.Rename(tmp.Name(), final); err != nil {
		return err
	}
	done = true
	if err := syncDir(dir); err != nil {
		return err
	}
	a.log.InfoContext(ctx, "attachment downloaded", "message", p.MessageID, "attachment", p.Ref.ID, "bytes", meta.Size)
	return a.db.update(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE inbox_attachments SET path = ?, name = ?, media_type = ?, size = ?, downloaded_at = ?, last_error = ''
			WHERE message_id = ? AND attachment_id = ?`, final, meta.Name, meta.MediaType, meta.Size, millis(time.Now()), p.MessageID, p.Ref.ID)
		return err
	})
}

// noteDownloadFailure records a failed download and reports whether the
// attachment is now given up: the hub refused it, or it failed
// maxDownloadAttempts times (a corrupt or tampered file would otherwise be
// downloaded again and again).
func (a *Agent) noteDownloadFailure(ctx context.Context, p pendingDownload, cause error) (bool, error) {
	code := errorCode(cause)
	failed := ""
	if _, refused := refusal(cause); refused {
		failed = code
	}
	var attempts int
	err := a.db.update(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `UPDATE inbox_attachments SET attempts = attempts + 1, last_error = ?
			WHERE message_id = ? AND attachment_id = ? RETURNING attempts`, code, p.MessageID, p.Ref.ID).Scan(&attempts); err != nil {
			return err
		}
		if failed == "" && attempts >= maxDownloadAttempts {
			failed = "download_failed"
		}
		if failed == "" {
			return nil
		}
		_, err := tx.ExecContext(ctx, `UPDATE inbox_attachments SET failed_code = ? WHERE message_id = ? AND attachment_id = ?`, failed, p.MessageID, p.Ref.ID)
		return err
	})
	return failed != "", err
}

func (s *store) receivedAttachments(ctx context.Context, messageID string) ([]ReceivedAttachment, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT attachment_id, name, media_type, size, path, downloaded_at, failed_code
		FROM inbox_attachments WHERE message_id = ? ORDER BY rowid`, messageID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ReceivedAttachment
	for rows.Next() {
		var r ReceivedAttachment
		var at sql.NullInt64
		if err := rows.Scan(&r.ID, &r.Name, &r.MediaType, &r.Size, &r.Path, &at, &r.Failed); err != nil {
			return nil, err
		}
		r.Downloaded = fromMillis(at)
		out = append(out, r)
	}
	return out, rows.Err()
}

// attachmentCounts are the attachment figures of the status.
type attachmentCounts struct {
	ToUpload, ToDownload, Failed int
}

func (s *store) countAttachments(ctx context.Context) (attachmentCounts, error) {
	var c attachmentCounts
	err := s.db.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM outbox_attachments a JOIN outbox o ON o.id = a.message_id WHERE a.uploaded_at IS NULL AND o.state = 'queued'),
		(SELECT COUNT(*) FROM inbox_attachments WHERE downloaded_at IS NULL AND failed_code = ''),
		(SELECT COUNT(*) FROM inbox_attachments WHERE failed_code <> '')`).Scan(&c.ToUpload, &c.ToDownload, &c.Failed)
	return c, err
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
