package contracts

// Attachments (scanned forms, reports, photos) travel beside a message, not
// inside it: the sender encrypts each file for the recipient, uploads the
// ciphertext to the hub in resumable chunks, and the signed envelope
// references it. The reference carries nothing personal: the file's name and
// media type travel encrypted inside the attachment itself (contracts/attach).

const (
	// MaxAttachmentsPerMessage caps the references one message carries.
	MaxAttachmentsPerMessage = 16
	// MaxAttachmentPlaintext is the largest file a message may carry.
	MaxAttachmentPlaintext = 50 << 20
	// MaxAttachmentSize is the largest attachment ciphertext the hub
	// stores: the file plus at most 64 KiB of encryption overhead (stream
	// header, encrypted name and media type, one tag per 64 KiB chunk).
	MaxAttachmentSize = MaxAttachmentPlaintext + 64<<10
)

// AttachmentRef is the signed reference to one encrypted attachment. The
// hub accepts a message only when the sender has fully uploaded each
// referenced attachment with this digest and size; the recipient checks
// both again when it downloads.
type AttachmentRef struct {
	// ID is the attachment id, chosen by the sender like a message id
	// (UUIDv7 or ULID) so that a message can be sealed offline, before
	// the upload.
	ID string `json:"id" validate:"required,message_id"`
	// SHA256 is the lower-case hex SHA-256 of the ciphertext.
	SHA256 string `json:"sha256" validate:"required,sha256_hex"`
	// Size is the ciphertext size in bytes.
	Size int64 `json:"size" validate:"required,min=1,max=52494336"`
	// Key is the attachment's content key wrapped for the recipient: a
	// compact JWE under the same profile as sealed bodies.
	Key string `json:"key" validate:"required,max=4096,jwe_compact"`
}
