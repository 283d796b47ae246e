package attachments

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned by stores for an unknown attachment.
var ErrNotFound = errors.New("attachment not found")

// ErrChunkInterrupted is returned by Append when the chunk's body broke
// off (the connection dropped): what arrived until the last sync is kept.
var ErrChunkInterrupted = errors.New("the chunk broke off")

// State is where an attachment stands.
type State string

const (
	// StateUploading: created, bytes arriving.
	StateUploading State = "uploading"
	// StateComplete: every byte arrived and matched the digest.
	StateComplete State = "complete"
	// StateDeleted: the ciphertext was deleted (retention, erasure); the
	// row stays so that the links keep their history and a download says
	// the attachment is gone.
	StateDeleted State = "deleted"
)

// Record is an attachment's metadata: no name, no type, nothing personal.
type Record struct {
	ID       string
	Uploader string
	// SHA256 and Size are those declared at creation, of the ciphertext.
	SHA256 string
	Size   int64
	// Offset is the durable offset: bytes written and synced to disk.
	Offset      int64
	State       State
	CreatedAt   time.Time
	UpdatedAt   time.Time
	CompletedAt time.Time
	DeletedAt   time.Time
}

// Link records that an accepted message references an attachment: it
// makes the message's parties readers of it, and ties the attachment to
// the transfer's erasure and the corridor's retention.
type Link struct {
	AttachmentID string
	MessageID    string
	Transfer     string
	From, To     string
	Kind         string
	LinkedAt     time.Time
}

// LinkedMessage is a link with its message's receipt time, for retention.
type LinkedMessage struct {
	Link
	// ReceiptedAt is when the recipient receipted the message (zero: not
	// yet).
	ReceiptedAt time.Time
}

// MetaStore keeps attachment metadata (adapters/sqlstore implements it in
// the hub's database).
type MetaStore interface {
	// CreateAttachment inserts r unless an attachment with its id exists;
	// it returns the stored record and whether it was created.
	CreateAttachment(ctx context.Context, r Record) (Record, bool, error)
	// Attachment returns the record, or ErrNotFound.
	Attachment(ctx context.Context, id string) (Record, error)
	// SetAttachmentOffset records a new durable offset of an upload.
	SetAttachmentOffset(ctx context.Context, id string, offset int64, at time.Time) error
	// SetAttachmentState moves an attachment to state (complete, deleted).
	SetAttachmentState(ctx context.Context, id string, state State, at time.Time) error
	// DeleteAttachment removes an attachment's row (abandoned uploads).
	DeleteAttachment(ctx context.Context, id string) error
	// AttachmentLinks lists the messages that reference an attachment.
	AttachmentLinks(ctx context.Context, id string) ([]Link, error)
	// AbandonedAttachments lists, up to limit, uploads not touched since
	// before and complete attachments no message referenced since before.
	AbandonedAttachments(ctx context.Context, before time.Time, limit int) ([]Record, error)
	// ErasedAttachments lists, up to limit, stored attachments referenced
	// by a message of an erased transfer.
	ErasedAttachments(ctx context.Context, limit int) ([]string, error)
	// LinkedComplete lists the links of complete, referenced attachments
	// with their messages' receipt times, for the retention sweep.
	LinkedComplete(ctx context.Context, limit int) ([]LinkedMessage, error)
}

// TxStore is what the hub's accepting transaction reads and writes: the
// check that each referenced attachment was uploaded, and the links,
// committed with the message or not at all.
type TxStore interface {
	Attachment(ctx context.Context, id string) (Record, error)
	LinkAttachment(ctx context.Context, l Link) error
}
