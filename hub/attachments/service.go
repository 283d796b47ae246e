package attachments

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/relais-hub/relais/contracts"
)

// Config configures the Service.
type Config struct {
	Meta  MetaStore
	Blobs BlobStore
	// Lane bounds concurrent attachment requests (default 4 slots, 2 s
	// wait).
	Lane *Lane
	// SyncEvery is how many bytes an upload writes between two syncs to
	// disk; each sync makes the offset durable (default 1 MiB, a multiple
	// of the 64 KiB segments).
	SyncEvery int64
	// UploadTTL is how long an upload may stay untouched, and a complete
	// attachment unreferenced, before it is deleted (default 7 days).
	UploadTTL time.Duration
	// Retention is how long ciphertext is kept once the recipient has
	// receipted the message from `from` to `to` of kind (the corridor's
	// retention.delivered_ciphertext); ok false keeps it until erasure.
	Retention func(from, to, kind string, at time.Time) (d time.Duration, ok bool)
	// SweepInterval is how often Run looks for attachments to delete
	// (default 1 min).
	SweepInterval time.Duration
	Now           func() time.Time
	Logger        *slog.Logger
}

// Service runs the upload protocol and the lifecycle of stored attachments.
type Service struct {
	cfg  Config
	lane *Lane
	// locks serialises the requests on one attachment: two PATCHes of the
	// same upload (a client retrying while its first attempt is still
	// being read) must not interleave.
	locks sync.Map // id -> *sync.Mutex
}

// New builds a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Meta == nil || cfg.Blobs == nil {
		return nil, errors.New("attachments: a metadata store and a blob store are required")
	}
	if cfg.Lane == nil {
		cfg.Lane = NewLane(4, 2*time.Second)
	}
	if cfg.SyncEvery <= 0 {
		cfg.SyncEvery = 1 << 20
	}
	if cfg.UploadTTL <= 0 {
		cfg.UploadTTL = 7 * 24 * time.Hour
	}
	if cfg.SweepInterval <= 0 {
		cfg.SweepInterval = time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return time.Now().UTC() }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Service{cfg: cfg, lane: cfg.Lane}, nil
}

// Lane is the semaphore the HTTP handlers take for each request.
func (s *Service) Lane() *Lane { return s.lane }

// SetRetention sets the retention rule (the hub wires the corridors in).
func (s *Service) SetRetention(fn func(from, to, kind string, at time.Time) (time.Duration, bool)) {
	s.cfg.Retention = fn
}

func (s *Service) lock(id string) func() {
	m, _ := s.locks.LoadOrStore(id, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC() }

// CreateRequest announces an upload.
type CreateRequest struct {
	ID     string `json:"id"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// Create starts an upload for uploader, or returns the existing one when
// the same uploader announces the same id, digest and size again (a client
// resuming after a restart). created reports a new upload.
func (s *Service) Create(ctx context.Context, uploader string, req CreateRequest) (r Record, created bool, err error) {
	switch {
	case !contracts.ValidMessageID(req.ID):
		return Record{}, false, &contracts.Problem{Code: contracts.CodeBadRequest, Detail: "id must be a UUIDv7 or a ULID", Fields: []string{"id"}}
	case !validSHA256(req.SHA256):
		return Record{}, false, &contracts.Problem{Code: contracts.CodeBadRequest, Detail: "sha256 must be 64 lower-case hex digits", Fields: []string{"sha256"}}
	case req.Size > contracts.MaxAttachmentSize:
		return Record{}, false, contracts.Refuse(contracts.CodeAttachmentTooLarge, "size is limited to %d bytes", contracts.MaxAttachmentSize)
	case req.Size < 1:
		return Record{}, false, &contracts.Problem{Code: contracts.CodeBadRequest, Detail: "size must be at least 1", Fields: []string{"size"}}
	}
	now := s.now()
	r, created, err = s.cfg.Meta.CreateAttachment(ctx, Record{ID: req.ID, Uploader: uploader, SHA256: req.SHA256, Size: req.Size,
		State: StateUploading, CreatedAt: now, UpdatedAt: now})
	if err != nil {
		return Record{}, false, fmt.Errorf("create attachment: %w", err)
	}
	if !created && (r.Uploader != uploader || r.SHA256 != req.SHA256 || r.Size != req.Size || r.State == StateDeleted) {
		return Record{}, false, contracts.Refuse(contracts.CodeAttachmentExists, "attachment id %s is taken", req.ID)
	}
	return r, created, nil
}

// Status is the upload's state as its uploader sees it (HEAD).
func (s *Service) Status(ctx context.Context, uploader, id string) (Record, error) {
	return s.uploaderRecord(ctx, uploader, id)
}

// uploaderRecord returns the record if uploader owns it; anyone else is
// told it does not exist.
func (s *Service) uploaderRecord(ctx context.Context, uploader, id string) (Record, error) {
	if !contracts.ValidMessageID(id) {
		return Record{}, contracts.Refuse(contracts.CodeNotFound, "no such attachment")
	}
	r, err := s.cfg.Meta.Attachment(ctx, id)
	if errors.Is(err, ErrNotFound) || (err == nil && (r.Uploader != uploader || r.State == StateDeleted)) {
		return Record{}, contracts.Refuse(contracts.CodeNotFound, "no such upload")
	}
	if err != nil {
		return Record{}, fmt.Errorf("attachment: %w", err)
	}
	return r, nil
}

// Append writes body at offset of uploader's upload id, syncing to disk
// every SyncEvery bytes and recording each synced offset, so that a
// dropped connection loses at most the bytes since the last sync. It
// returns the record with the durable offset reached, also when the body
// broke off (err is then the read error).
func (s *Service) Append(ctx context.Context, uploader, id string, offset int64, body io.Reader) (Record, error) {
	unlock := s.lock(id)
	defer unlock()
	r, err := s.uploaderRecord(ctx, uploader, id)
	if err != nil {
		return Record{}, err
	}
	if r.State != StateUploading {
		return r, uploadOffsetProblem(r, "the upload is complete")
	}
	if offset != r.Offset {
		return r, uploadOffsetProblem(r, fmt.Sprintf("the upload is at offset %d", r.Offset))
	}
	f, err := s.cfg.Blobs.OpenPartial(id, r.Offset)
	if err != nil {
		return r, fmt.Errorf("attachment %s: %w", id, err)
	}
	defer f.Close()
	// Never accept a byte past the declared size.
	limited := io.LimitReader(body, r.Size-r.Offset+1)
	buf := chunkBuffers.Get().(*[]byte)
	defer chunkBuffers.Put(buf)
	var sinceSync int64
	durable := func() error {
		if sinceSync == 0 {
			return nil
		}
		if err := f.Sync(); err != nil {
			return fmt.Errorf("attachment %s: sync: %w", id, err)
		}
		r.Offset += sinceSync
		sinceSync = 0
		r.UpdatedAt = s.now()
		return s.cfg.Meta.SetAttachmentOffset(context.WithoutCancel(ctx), id, r.Offset, r.UpdatedAt)
	}
	for {
		n, readErr := limited.Read(*buf)
		if n > 0 {
			if r.Offset+sinceSync+int64(n) > r.Size {
				if err := durable(); err != nil {
					return r, err
				}
				return r, contracts.Refuse(contracts.CodeAttachmentTooLarge, "the upload would exceed its declared size of %d bytes", r.Size)
			}
			if _, err := f.Write((*buf)[:n]); err != nil {
				return r, fmt.Errorf("attachment %s: write: %w", id, err)
			}
			sinceSync += int64(n)
			if sinceSync >= s.cfg.SyncEvery {
				if err := durable(); err != nil {
					return r, err
				}
			}
		}
		if readErr != nil {
			// What arrived before the break is kept: the client resumes
			// from the durable offset.
			if err := durable(); err != nil {
				return r, err
			}
			if errors.Is(readErr, io.EOF) {
				return r, nil
			}
			return r, fmt.Errorf("attachment %s: %w: %w", id, ErrChunkInterrupted, readErr)
		}
	}
}

// chunkBuffers recycles the copy buffers of uploads: hundreds of chunk
// requests per file would otherwise leave 64 KiB of garbage each.
var chunkBuffers = sync.Pool{New: func() any {
	b := make([]byte, 64<<10)
	return &b
}}

func uploadOffsetProblem(r Record, detail string) *contracts.Problem {
	p := contracts.Refuse(contracts.CodeUploadOffsetMismatch, "%s", detail)
	p.Extra = map[string]any{"offset": r.Offset}
	return p
}

// Finish checks that the upload is whole and hashes to the declared digest,
// then publishes it. A digest mismatch discards the bytes: the client
// starts again from offset 0. Finishing a complete upload is a no-op.
func (s *Service) Finish(ctx context.Context, uploader, id string) (Record, error) {
	unlock := s.lock(id)
	defer unlock()
	r, err := s.uploaderRecord(ctx, uploader, id)
	if err != nil {
		return Record{}, err
	}
	if r.State == StateComplete {
		return r, nil
	}
	if r.Offset != r.Size {
		return r, uploadOffsetProblem(r, fmt.Sprintf("the upload has %d of %d bytes", r.Offset, r.Size))
	}
	sum, err := s.partialDigest(id, r.Size)
	if err != nil {
		return r, err
	}
	if sum != r.SHA256 {
		if err := s.cfg.Blobs.Delete(id); err != nil {
			return r, err
		}
		r.Offset, r.UpdatedAt = 0, s.now()
		if err := s.cfg.Meta.SetAttachmentOffset(ctx, id, 0, r.UpdatedAt); err != nil {
			return r, err
		}
		return r, contracts.Refuse(contracts.CodeAttachmentDigestMismatch, "the bytes received do not hash to the declared sha256")
	}
	if err := s.cfg.Blobs.Publish(id); err != nil {
		return r, err
	}
	r.State, r.CompletedAt = StateComplete, s.now()
	if err := s.cfg.Meta.SetAttachmentState(context.WithoutCancel(ctx), id, StateComplete, r.CompletedAt); err != nil {
		return r, err
	}
	return r, nil
}

// partialDigest hashes the partial blob, or the published one when a crash
// came between publishing it and recording that.
func (s *Service) partialDigest(id string, size int64) (string, error) {
	var src io.ReadCloser
	src, err := s.cfg.Blobs.ReadPartial(id)
	if err != nil {
		blob, openErr := s.cfg.Blobs.Open(id)
		if openErr != nil {
			return "", fmt.Errorf("attachment %s: %w", id, err)
		}
		src = blob
	}
	defer src.Close()
	h := sha256.New()
	n, err := io.Copy(h, src)
	if err != nil {
		return "", fmt.Errorf("attachment %s: hashing: %w", id, err)
	}
	if n != size {
		return "", contracts.Refuse(contracts.CodeUploadOffsetMismatch, "the stored upload has %d of %d bytes", n, size)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func validSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
