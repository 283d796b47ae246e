package attach

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/tink-crypto/tink-go/v2/streamingaead/subtle"

	"github.com/relais-hub/relais/contracts"
)

const (
	// Magic opens every attachment.
	Magic = "RLAT"
	// Version is the format version written after the magic.
	Version = 1
	// SegmentSize is the ciphertext size of every segment but the last.
	SegmentSize = 64 << 10
	// KeySize is the size of a content key.
	KeySize = 32

	prefixLen = len(Magic) + 1
	saltLen   = KeySize
	// noncePrefixLen and tagLen are fixed by Tink's AES-GCM-HKDF.
	noncePrefixLen = subtle.AESGCMHKDFNoncePrefixSizeInBytes
	tagLen         = subtle.AESGCMHKDFTagSizeInBytes
	// tinkHeaderLen is Tink's header: one length byte, the salt and the
	// nonce prefix.
	tinkHeaderLen = 1 + saltLen + noncePrefixLen
	// HeaderLen is the clear header: prefix and Tink header.
	HeaderLen = prefixLen + tinkHeaderLen

	// MaxNameBytes and MaxMediaTypeBytes bound the encrypted manifest.
	MaxNameBytes      = 255
	MaxMediaTypeBytes = 127
	maxManifestLen    = 1024
)

// ErrCorrupt is returned when an attachment does not decrypt: it was
// altered, truncated, reordered, is another file's, or the key is wrong.
var ErrCorrupt = errors.New("attach: the attachment is corrupt, truncated or not for this key")

// Header is the clear header of an attachment, as ParseHeader reads it.
type Header struct {
	Version     int
	Salt        []byte
	NoncePrefix []byte
}

// ParseHeader reads the clear header at the start of an attachment. It
// needs no key: the hub and tools use it to tell an attachment from other
// bytes before anything else.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderLen {
		return Header{}, fmt.Errorf("attach: header is %d bytes, want %d", len(b), HeaderLen)
	}
	if string(b[:len(Magic)]) != Magic {
		return Header{}, errors.New("attach: not a Relais attachment (bad magic)")
	}
	if v := int(b[len(Magic)]); v != Version {
		return Header{}, fmt.Errorf("attach: format version %d is not supported", v)
	}
	t := b[prefixLen:HeaderLen]
	if int(t[0]) != tinkHeaderLen {
		return Header{}, fmt.Errorf("attach: stream header length %d, want %d", t[0], tinkHeaderLen)
	}
	return Header{
		Version:     Version,
		Salt:        bytes.Clone(t[1 : 1+saltLen]),
		NoncePrefix: bytes.Clone(t[1+saltLen:]),
	}, nil
}

// Meta is what the encrypted manifest says about the file.
type Meta struct {
	// Name is the file's name as the sender gave it (no directories).
	Name string `json:"name,omitempty"`
	// MediaType is the file's media type ("application/pdf").
	MediaType string `json:"media_type,omitempty"`
	// Size is the file's size in bytes.
	Size int64 `json:"size"`
}

// Check applies the manifest's limits.
func (m Meta) Check() error {
	switch {
	case m.Size < 0 || m.Size > contracts.MaxAttachmentPlaintext:
		return fmt.Errorf("attach: file size %d is outside 0..%d", m.Size, contracts.MaxAttachmentPlaintext)
	case len(m.Name) > MaxNameBytes || !utf8.ValidString(m.Name) || bytes.ContainsAny([]byte(m.Name), "/\\\x00"):
		return errors.New("attach: file name must be valid UTF-8, at most 255 bytes, without / \\ or NUL")
	case len(m.MediaType) > MaxMediaTypeBytes || !utf8.ValidString(m.MediaType):
		return errors.New("attach: media type must be valid UTF-8, at most 127 bytes")
	}
	return nil
}

// encodeManifest frames the manifest: 2-byte big-endian length, JSON.
func encodeManifest(m Meta) ([]byte, error) {
	if err := m.Check(); err != nil {
		return nil, err
	}
	js, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	if len(js) > maxManifestLen {
		return nil, errors.New("attach: manifest too long")
	}
	out := binary.BigEndian.AppendUint16(nil, uint16(len(js)))
	return append(out, js...), nil
}

// DecodeManifest decodes the manifest JSON (without its length prefix),
// strictly: known members only, within the limits.
func DecodeManifest(b []byte) (Meta, error) {
	if len(b) == 0 || len(b) > maxManifestLen {
		return Meta{}, fmt.Errorf("attach: manifest of %d bytes", len(b))
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var m Meta
	if err := dec.Decode(&m); err != nil {
		return Meta{}, fmt.Errorf("attach: manifest: %w", err)
	}
	if dec.More() {
		return Meta{}, errors.New("attach: manifest: trailing data")
	}
	if err := m.Check(); err != nil {
		return Meta{}, err
	}
	return m, nil
}

// CiphertextSize is the size of the attachment of a file of plaintextSize
// bytes whose manifest encodes to manifestLen bytes (length prefix
// included).
func CiphertextSize(plaintextSize int64, manifestLen int) int64 {
	pt := plaintextSize + int64(manifestLen)
	firstPT := int64(SegmentSize - HeaderLen - tagLen)
	segments := int64(1)
	if pt > firstPT {
		full := int64(SegmentSize - tagLen)
		segments += (pt - firstPT + full - 1) / full
	}
	return int64(HeaderLen) + pt + segments*tagLen
}

// associatedData binds the attachment id and the format prefix into every
// segment: a segment or a whole file presented under another id fails.
func associatedData(id string) []byte {
	ad := []byte("relais-attachment-v1\x00")
	ad = append(ad, id...)
	ad = append(ad, 0)
	return append(ad, Magic...)
}

func newPrimitive(key []byte) (*subtle.AESGCMHKDF, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("attach: content key is %d bytes, want %d", len(key), KeySize)
	}
	return subtle.NewAESGCMHKDF(key, "SHA256", KeySize, SegmentSize, prefixLen)
}
