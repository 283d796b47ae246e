package agency

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/attach"
	"github.com/relais-hub/relais/contracts/seal"
)

// AttachmentOptions describe a file to attach and how to move it.
type AttachmentOptions struct {
	// To is the recipient agency: the content key is wrapped for it.
	To string
	// Name and MediaType travel encrypted inside the attachment.
	Name, MediaType string
	// SpoolDir holds the ciphertext while it uploads (default: the
	// system's temporary directory).
	SpoolDir string
	Transfer TransferOptions
}

// TransferOptions tune uploads and downloads over poor links.
type TransferOptions struct {
	// ChunkSize is the size of each upload request (default 256 KiB: a
	// chunk takes under a minute on a 56 kbit/s modem, and a dropped
	// connection loses at most one).
	ChunkSize int64
	// MaxStalls is how many consecutive attempts may fail without moving
	// a byte before giving up (default 30); any progress resets it.
	MaxStalls int
	// Backoff is the first wait after a failure, doubled up to MaxBackoff
	// (defaults 200 ms and 15 s), with jitter.
	Backoff, MaxBackoff time.Duration
}

func (o TransferOptions) withDefaults() TransferOptions {
	if o.ChunkSize <= 0 {
		o.ChunkSize = 256 << 10
	}
	if o.MaxStalls <= 0 {
		o.MaxStalls = 30
	}
	if o.Backoff <= 0 {
		o.Backoff = 200 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 15 * time.Second
	}
	return o
}

// SealedAttachment is a file encrypted for its recipient, ready to upload:
// the ciphertext in a local file and the reference the envelope signs. An
// agent seals offline, keeps both durably, and uploads when it can.
type SealedAttachment struct {
	Ref contracts.AttachmentRef `json:"ref"`
	// Path is the ciphertext file.
	Path string `json:"path"`
}

// SealAttachment encrypts size bytes of r for opts.To into a ciphertext
// file in dir (synced before returning) and returns it with its reference.
// It reads the recipient's key from the directory (cached after the first
// sync) and holds one 64 KiB segment in memory.
func (c *Client) SealAttachment(ctx context.Context, r io.Reader, size int64, opts AttachmentOptions, dir string) (SealedAttachment, error) {
	keys, err := c.agencyKeys(ctx, opts.To)
	if err != nil {
		return SealedAttachment{}, err
	}
	encKey, err := keyByUse(keys, "enc")
	if err != nil {
		return SealedAttachment{}, fmt.Errorf("recipient %s: %w", opts.To, err)
	}
	return SealAttachmentFor(r, size, encKey, opts, dir)
}

// SealAttachmentFor is SealAttachment with the recipient's public
// encryption key given, for an agent that composes with no network at all
// (it keeps the directory's keys itself).
func SealAttachmentFor(r io.Reader, size int64, encKey jwk.Key, opts AttachmentOptions, dir string) (SealedAttachment, error) {
	id := contracts.NewMessageID()
	contentKey, err := attach.NewContentKey()
	if err != nil {
		return SealedAttachment{}, err
	}
	wrapped, err := attach.WrapKey(contentKey, id, encKey)
	if err != nil {
		return SealedAttachment{}, err
	}
	if dir == "" {
		dir = os.TempDir()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return SealedAttachment{}, err
	}
	path := filepath.Join(dir, id+".rlat")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return SealedAttachment{}, fmt.Errorf("attachment spool: %w", err)
	}
	h := sha256.New()
	n, err := attach.Encrypt(io.MultiWriter(f, h), r, contentKey, id, attach.Meta{Name: opts.Name, MediaType: opts.MediaType, Size: size})
	if err == nil {
		err = f.Sync()
	}
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		_ = os.Remove(path)
		return SealedAttachment{}, err
	}
	return SealedAttachment{
		Ref:  contracts.AttachmentRef{ID: id, SHA256: hex.EncodeToString(h.Sum(nil)), Size: n, Key: wrapped},
		Path: path,
	}, nil
}

// UploadAttachment encrypts size bytes of r for opts.To, uploads the
// ciphertext (resuming after dropped connections) and returns the
// reference to put in Draft.Attachments. The spooled ciphertext is removed
// once the hub has verified it.
func (c *Client) UploadAttachment(ctx context.Context, r io.Reader, size int64, opts AttachmentOptions) (contracts.AttachmentRef, error) {
	sa, err := c.SealAttachment(ctx, r, size, opts, opts.SpoolDir)
	if err != nil {
		return contracts.AttachmentRef{}, err
	}
	defer os.Remove(sa.Path)
	if err := c.UploadSealedAttachment(ctx, sa, opts.Transfer); err != nil {
		return contracts.AttachmentRef{}, err
	}
	return sa.Ref, nil
}

// uploadState is the hub's view of an upload.
type uploadState struct {
	Offset int64  `json:"offset"`
	State  string `json:"state"`
}

// UploadSealedAttachment uploads a sealed attachment's ciphertext file. It
// announces the upload (again, harmlessly, after a restart), sends chunks
// from the hub's durable offset, asks for that offset again after any
// failure, and finishes: the hub checks the digest. It returns once the
// hub holds the whole, verified attachment.
func (c *Client) UploadSealedAttachment(ctx context.Context, sa SealedAttachment, opts TransferOptions) error {
	opts = opts.withDefaults()
	f, err := os.Open(sa.Path)
	if err != nil {
		return fmt.Errorf("attachment %s: %w", sa.Ref.ID, err)
	}
	defer f.Close()
	ref := sa.Ref
	create, _ := json.Marshal(map[string]any{"id": ref.ID, "sha256": ref.SHA256, "size": ref.Size})
	retry := newRetrier(opts)
	var st uploadState
	known := false
	restarts := 0
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var err error
		before := st.Offset
		switch {
		case !known:
			err = c.doAttachment(ctx, http.MethodPost, "/v1/attachments", "application/json", bytes.NewReader(create), nil, &st)
			known = err == nil
		case st.State == "complete":
			return nil
		case st.Offset >= ref.Size:
			err = c.doAttachment(ctx, http.MethodPost, "/v1/attachments/"+ref.ID+"/finish", "", nil, nil, &st)
			if IsCode(err, contracts.CodeAttachmentDigestMismatch) && restarts < maxUploadRestarts {
				// Bytes were damaged on the way; the hub discarded them:
				// start again from 0, a few times at most.
				restarts++
				st, err = uploadState{}, nil
			}
		default:
			err = c.patchChunk(ctx, f, ref, st.Offset, min(opts.ChunkSize, ref.Size-st.Offset), &st)
		}
		if err == nil {
			retry.progress()
			continue
		}
		if !transient(err) && !IsCode(err, contracts.CodeUploadOffsetMismatch) {
			return fmt.Errorf("attachment %s: %w", ref.ID, err)
		}
		if st.Offset > before {
			retry.progress()
		}
		if err := retry.stalled(ctx, err); err != nil {
			return fmt.Errorf("attachment %s: %w", ref.ID, err)
		}
		// Whatever broke, ask where the hub stands before going on.
		known = false
	}
}

// maxUploadRestarts bounds how often an upload starts again after the hub
// found its bytes damaged.
const maxUploadRestarts = 3

// patchChunk sends n bytes of the ciphertext from offset.
func (c *Client) patchChunk(ctx context.Context, f *os.File, ref contracts.AttachmentRef, offset, n int64, st *uploadState) error {
	hdr := http.Header{"Upload-Offset": {strconv.FormatInt(offset, 10)}}
	var resp http.Header
	err := c.doAttachment(ctx, http.MethodPatch, "/v1/attachments/"+ref.ID+"/upload", "application/offset+octet-stream",
		io.NewSectionReader(f, offset, n), hdr, &resp)
	if v, convErr := strconv.ParseInt(resp.Get("Upload-Offset"), 10, 64); convErr == nil {
		st.Offset = v
	}
	return err
}

// AttachmentOf finds the reference of attachment id in an opened message.
func AttachmentOf(o Opened, id string) (contracts.AttachmentRef, bool) {
	for _, a := range o.Envelope.Attachments {
		if a.ID == id {
			return a, true
		}
	}
	return contracts.AttachmentRef{}, false
}

// DownloadAttachment downloads an attachment of a message received by this
// agency, resuming with HTTP Range after dropped connections, and writes
// the decrypted file to w. The ciphertext is checked against the signed
// digest and size, and every segment is authenticated; on error, whatever
// was written to w must be discarded (write to a temporary file, keep it
// only on success). It returns the file's name, media type and size.
func (c *Client) DownloadAttachment(ctx context.Context, ref contracts.AttachmentRef, w io.Writer, opts TransferOptions) (attach.Meta, error) {
	key, err := attach.UnwrapKey(ref.Key, ref.ID, c.Keys.Encryption)
	if err != nil {
		return attach.Meta{}, err
	}
	pr, pw := io.Pipe()
	digest := sha256.New()
	fetched := make(chan error, 1)
	go func() {
		err := c.fetchCiphertext(ctx, ref, io.MultiWriter(pw, digest), opts)
		pw.CloseWithError(err)
		fetched <- err
	}()
	// Decrypt reads to the end of the stream, which the fetch closes once
	// it has every byte; on a decryption failure the pipe is closed so the
	// fetch stops at once.
	meta, decErr := attach.Decrypt(w, pr, key, ref.ID)
	pr.CloseWithError(errDecryptStopped)
	fetchErr := <-fetched
	switch {
	case fetchErr != nil && !errors.Is(fetchErr, errWriteFailed):
		return attach.Meta{}, fetchErr
	case hex.EncodeToString(digest.Sum(nil)) != ref.SHA256:
		return attach.Meta{}, fmt.Errorf("attachment %s: the downloaded ciphertext does not match the signed sha256", ref.ID)
	case decErr != nil:
		return attach.Meta{}, fmt.Errorf("attachment %s: %w", ref.ID, decErr)
	}
	return meta, nil
}

// fetchCiphertext writes exactly ref.Size bytes of the attachment to w,
// asking for the rest with a Range request after each break.
func (c *Client) fetchCiphertext(ctx context.Context, ref contracts.AttachmentRef, w io.Writer, opts TransferOptions) error {
	opts = opts.withDefaults()
	retry := newRetrier(opts)
	var got int64
	for got < ref.Size {
		before := got
		err := c.fetchFrom(ctx, ref, got, w, &got)
		if err == nil && got < ref.Size {
			err = io.ErrUnexpectedEOF
		}
		if err == nil {
			break
		}
		if got > before {
			retry.progress()
		}
		if !transient(err) {
			return fmt.Errorf("attachment %s: %w", ref.ID, err)
		}
		if err := retry.stalled(ctx, err); err != nil {
			return fmt.Errorf("attachment %s: %w", ref.ID, err)
		}
	}
	return nil
}

// errDecryptStopped ends a fetch whose bytes are no longer read.
var errDecryptStopped = errors.New("decryption stopped")

// errWriteFailed marks a failure of the local writer, which retrying the
// download cannot fix.
var errWriteFailed = errors.New("writing the download")

func (c *Client) fetchFrom(ctx context.Context, ref contracts.AttachmentRef, from int64, w io.Writer, got *int64) error {
	req, err := c.attachmentRequest(ctx, http.MethodGet, "/v1/attachments/"+ref.ID, "", nil)
	if err != nil {
		return err
	}
	if from > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(from, 10)+"-")
		req.Header.Set("If-Range", `"`+ref.SHA256+`"`)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPartialContent && from > 0:
	case resp.StatusCode == http.StatusOK && from == 0:
	case resp.StatusCode >= 300:
		return hubError(resp)
	default:
		return fmt.Errorf("attachment %s: unexpected status %d for offset %d", ref.ID, resp.StatusCode, from)
	}
	buf := make([]byte, 32<<10)
	for *got < ref.Size {
		n, readErr := resp.Body.Read(buf)
		if int64(n) > ref.Size-*got {
			return fmt.Errorf("attachment %s: the hub sent more than the signed size", ref.ID)
		}
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return fmt.Errorf("%w: %w", errWriteFailed, err)
			}
			*got += int64(n)
		}
		if readErr != nil {
			if errors.Is(readErr, io.EOF) {
				return nil
			}
			return readErr
		}
	}
	return nil
}

// doAttachment sends one authenticated attachment request; out receives
// the JSON answer, or the response headers when it is an *http.Header.
func (c *Client) doAttachment(ctx context.Context, method, path, contentType string, body io.Reader, hdr http.Header, out any) error {
	req, err := c.attachmentRequest(ctx, method, path, contentType, body)
	if err != nil {
		return err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if h, ok := out.(*http.Header); ok {
		*h = resp.Header
	}
	if resp.StatusCode >= 300 {
		return hubError(resp)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return err
	}
	if _, isHeader := out.(*http.Header); out != nil && !isHeader && len(raw) > 0 {
		return json.Unmarshal(raw, out)
	}
	return nil
}

func (c *Client) attachmentRequest(ctx context.Context, method, path, contentType string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.Hub+path, body)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept-Language", c.Lang)
	dir, err := c.Directory(ctx, false)
	if err != nil {
		return nil, err
	}
	tok, err := seal.IssueToken(c.Keys.Signing, c.Keys.ID, dir.Hub.ID, tokenTTL, time.Now())
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	return req, nil
}

// hubError reads a problem+json answer.
func hubError(resp *http.Response) error {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	he := &HubError{Status: resp.StatusCode}
	if json.Unmarshal(raw, &he.Raw) == nil {
		he.Code, _ = he.Raw["code"].(string)
		he.Title, _ = he.Raw["title"].(string)
		he.Detail, _ = he.Raw["detail"].(string)
	}
	if he.Code == "" {
		he.Code, he.Title = "http_"+strconv.Itoa(resp.StatusCode), resp.Status
	}
	return he
}

// transient reports whether retrying may help: the network, the hub's
// availability, a chunk that broke off. Refusals (not a party, too large,
// digest mismatch) are final, as is a local write failure.
func transient(err error) bool {
	if errors.Is(err, errWriteFailed) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var he *HubError
	if errors.As(err, &he) {
		return he.Status >= 500 || he.Status == http.StatusTooManyRequests || he.Code == string(contracts.CodeBadRequest) ||
			he.Code == string(contracts.CodeTokenReplayed) || he.Code == string(contracts.CodeTokenExpired)
	}
	return true
}

// retrier counts attempts without progress and waits between them with
// capped exponential backoff and jitter.
type retrier struct {
	opts   TransferOptions
	stalls int
}

func newRetrier(opts TransferOptions) *retrier { return &retrier{opts: opts.withDefaults()} }

func (r *retrier) progress() { r.stalls = 0 }

func (r *retrier) stalled(ctx context.Context, cause error) error {
	r.stalls++
	if r.stalls > r.opts.MaxStalls {
		return fmt.Errorf("no progress after %d attempts: %w", r.opts.MaxStalls, cause)
	}
	wait := r.opts.Backoff << min(r.stalls-1, 16)
	if wait > r.opts.MaxBackoff || wait <= 0 {
		wait = r.opts.MaxBackoff
	}
	wait = wait/2 + rand.N(wait/2+1)
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
