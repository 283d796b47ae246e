package attach

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/relais-hub/relais/contracts"
)

// NewContentKey returns a fresh random content key: one per attachment.
func NewContentKey() ([]byte, error) {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("attach: content key: %w", err)
	}
	return k, nil
}

// Encrypt streams exactly meta.Size bytes from r into an attachment written
// to w, for attachment id under key, and returns the ciphertext size. It
// holds one 64 KiB segment in memory whatever the file's size. A reader
// shorter or longer than meta.Size is an error: the size is part of the
// encrypted manifest.
func Encrypt(w io.Writer, r io.Reader, key []byte, id string, meta Meta) (int64, error) {
	if !contracts.ValidMessageID(id) {
		return 0, fmt.Errorf("attach: attachment id %q is not a UUIDv7 or ULID", id)
	}
	manifest, err := encodeManifest(meta)
	if err != nil {
		return 0, err
	}
	p, err := newPrimitive(key)
	if err != nil {
		return 0, err
	}
	cw := &countingWriter{w: w}
	if _, err := cw.Write(append([]byte(Magic), Version)); err != nil {
		return cw.n, fmt.Errorf("attach: writing header: %w", err)
	}
	enc, err := p.NewEncryptingWriter(cw, associatedData(id))
	if err != nil {
		return cw.n, fmt.Errorf("attach: %w", err)
	}
	if _, err := enc.Write(manifest); err != nil {
		return cw.n, fmt.Errorf("attach: writing manifest: %w", err)
	}
	n, err := io.Copy(enc, io.LimitReader(r, meta.Size))
	if err != nil {
		return cw.n, fmt.Errorf("attach: encrypting: %w", err)
	}
	if n != meta.Size {
		return cw.n, fmt.Errorf("attach: the file has %d bytes, %d were announced", n, meta.Size)
	}
	var probe [1]byte
	if extra, _ := io.ReadFull(r, probe[:]); extra > 0 {
		return cw.n, fmt.Errorf("attach: the file is longer than the %d bytes announced", meta.Size)
	}
	if err := enc.Close(); err != nil {
		return cw.n, fmt.Errorf("attach: finishing: %w", err)
	}
	if want := CiphertextSize(meta.Size, len(manifest)); cw.n != want {
		return cw.n, fmt.Errorf("attach: wrote %d bytes, the format says %d", cw.n, want)
	}
	return cw.n, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Reader decrypts an attachment as it is read. Bytes it returns are
// authenticated segment by segment, but the file is complete and intact
// only once Read has returned io.EOF: a consumer writes to a temporary
// place and keeps the result only then.
type Reader struct {
	// Meta is the decrypted manifest.
	Meta Meta
	dec  io.Reader
	left int64
}

// NewReader reads the header and the encrypted manifest of the attachment
// id from r, with its content key.
func NewReader(r io.Reader, key []byte, id string) (*Reader, error) {
	p, err := newPrimitive(key)
	if err != nil {
		return nil, err
	}
	var prefix [prefixLen]byte
	if _, err := io.ReadFull(r, prefix[:]); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrCorrupt, err)
	}
	if string(prefix[:len(Magic)]) != Magic || prefix[len(Magic)] != Version {
		return nil, fmt.Errorf("%w: not a version %d attachment", ErrCorrupt, Version)
	}
	dec, err := p.NewDecryptingReader(r, associatedData(id))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	var lenBuf [2]byte
	if _, err := io.ReadFull(dec, lenBuf[:]); err != nil {
		return nil, fmt.Errorf("%w: manifest: %v", ErrCorrupt, err)
	}
	n := int(binary.BigEndian.Uint16(lenBuf[:]))
	if n == 0 || n > maxManifestLen {
		return nil, fmt.Errorf("%w: manifest length %d", ErrCorrupt, n)
	}
	manifest := make([]byte, n)
	if _, err := io.ReadFull(dec, manifest); err != nil {
		return nil, fmt.Errorf("%w: manifest: %v", ErrCorrupt, err)
	}
	meta, err := DecodeManifest(manifest)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return &Reader{Meta: meta, dec: dec, left: meta.Size}, nil
}

// Read returns decrypted file bytes. The end of the file is reported only
// after the last segment authenticated and the size matched the manifest.
func (r *Reader) Read(p []byte) (int, error) {
	n, err := r.dec.Read(p)
	r.left -= int64(n)
	if r.left < 0 {
		return 0, fmt.Errorf("%w: longer than the %d bytes announced", ErrCorrupt, r.Meta.Size)
	}
	switch {
	case err == nil:
		return n, nil
	case errors.Is(err, io.EOF):
		if r.left != 0 {
			return n, fmt.Errorf("%w: %d bytes missing", ErrCorrupt, r.left)
		}
		return n, io.EOF
	default:
		return n, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
}

// Decrypt writes the file held in the attachment id to w and returns its
// manifest. On error, what was written to w must be discarded.
func Decrypt(w io.Writer, r io.Reader, key []byte, id string) (Meta, error) {
	dr, err := NewReader(r, key, id)
	if err != nil {
		return Meta{}, err
	}
	if _, err := io.Copy(w, dr); err != nil {
		return dr.Meta, err
	}
	return dr.Meta, nil
}
