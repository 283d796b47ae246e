package attachments

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/relais-hub/relais/contracts"
)

// BlobStore keeps attachment ciphertext: partial uploads, written at an
// offset and synced, and complete blobs, published atomically.
type BlobStore interface {
	// OpenPartial opens the partial blob id for appending at offset,
	// creating it when needed; bytes past offset (written but never
	// reported durable) are discarded first.
	OpenPartial(id string, offset int64) (PartialBlob, error)
	// ReadPartial opens the partial blob id for reading.
	ReadPartial(id string) (io.ReadCloser, error)
	// Publish atomically makes the partial blob id the complete blob id.
	Publish(id string) error
	// Open opens the complete blob id.
	Open(id string) (Blob, error)
	// Delete removes every byte stored for id; deleting nothing is no
	// error.
	Delete(id string) error
}

// PartialBlob is an upload being written.
type PartialBlob interface {
	io.Writer
	// Sync makes what was written durable.
	Sync() error
	Close() error
}

// Blob is a complete attachment being read.
type Blob interface {
	io.ReadSeekCloser
	Size() int64
}

// FileStore is the default BlobStore: files under one directory of the
// hub's data directory, "partial/<id>" while uploading and "complete/<id>"
// once published by an atomic rename. Ids are validated message ids, so
// they are safe file names.
type FileStore struct {
	dir string
}

// NewFileStore creates (if needed) and returns a store under dir.
func NewFileStore(dir string) (*FileStore, error) {
	for _, sub := range []string{"partial", "complete"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("attachment store: %w", err)
		}
	}
	return &FileStore{dir: dir}, nil
}

func (s *FileStore) path(kind, id string) (string, error) {
	if !contracts.ValidMessageID(id) {
		return "", fmt.Errorf("attachment store: invalid id")
	}
	return filepath.Join(s.dir, kind, id), nil
}

// Path is where the complete blob id lives (tests and operators).
func (s *FileStore) Path(id string) string {
	p, _ := s.path("complete", id)
	return p
}

// PartialPath is where the partial blob id lives.
func (s *FileStore) PartialPath(id string) string {
	p, _ := s.path("partial", id)
	return p
}

func (s *FileStore) OpenPartial(id string, offset int64) (PartialBlob, error) {
	p, err := s.path("partial", id)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("attachment store: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("attachment store: %w", err)
	}
	if st.Size() < offset {
		f.Close()
		return nil, fmt.Errorf("attachment store: partial blob has %d bytes, %d were durable", st.Size(), offset)
	}
	if err := f.Truncate(offset); err != nil {
		f.Close()
		return nil, fmt.Errorf("attachment store: %w", err)
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("attachment store: %w", err)
	}
	return f, nil
}

func (s *FileStore) ReadPartial(id string) (io.ReadCloser, error) {
	p, err := s.path("partial", id)
	if err != nil {
		return nil, err
	}
	return os.Open(p)
}

func (s *FileStore) Publish(id string) error {
	from, err := s.path("partial", id)
	if err != nil {
		return err
	}
	to, _ := s.path("complete", id)
	if err := os.Rename(from, to); err != nil {
		if _, statErr := os.Stat(to); errors.Is(err, fs.ErrNotExist) && statErr == nil {
			return nil // published before a crash, not yet recorded
		}
		return fmt.Errorf("attachment store: publish: %w", err)
	}
	// The rename is durable once the directory is synced.
	return syncDir(filepath.Dir(to))
}

func (s *FileStore) Open(id string) (Blob, error) {
	p, err := s.path("complete", id)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return fileBlob{File: f, size: st.Size()}, nil
}

func (s *FileStore) Delete(id string) error {
	for _, kind := range []string{"partial", "complete"} {
		p, err := s.path(kind, id)
		if err != nil {
			return err
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("attachment store: delete: %w", err)
		}
	}
	return nil
}

type fileBlob struct {
	*os.File
	size int64
}

func (b fileBlob) Size() int64 { return b.size }

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
