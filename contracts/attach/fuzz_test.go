package attach

import (
	"bytes"
	"io"
	"testing"
)

// FuzzParseHeader: the clear header decoder never panics, and what it
// accepts has the fixed layout.
func FuzzParseHeader(f *testing.F) {
	f.Add(sealed(f, newKey(f), testID, []byte("x"), Meta{})[:HeaderLen])
	f.Add([]byte(Magic))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b)
		if err != nil {
			return
		}
		if !bytes.HasPrefix(b, []byte(Magic)) || h.Version != Version || len(h.Salt) != saltLen || len(h.NoncePrefix) != noncePrefixLen {
			t.Fatalf("accepted a malformed header: %+v", h)
		}
	})
}

// FuzzDecodeManifest: whatever a (compromised) sender encrypts as the
// manifest, the recipient either refuses it or gets one within limits.
func FuzzDecodeManifest(f *testing.F) {
	f.Add([]byte(`{"name":"a.pdf","media_type":"application/pdf","size":3}`))
	f.Add([]byte(`{"size":-1}`))
	f.Add([]byte(`{"name":"../x","size":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeManifest(b)
		if err != nil {
			return
		}
		if err := m.Check(); err != nil {
			t.Fatalf("accepted a manifest that breaks the limits: %v", err)
		}
	})
}

// FuzzNewReader: arbitrary bytes presented as an attachment never panic
// and never decrypt.
func FuzzNewReader(f *testing.F) {
	key := newKey(f)
	f.Add(sealed(f, key, testID, []byte("hello"), Meta{Name: "a"}))
	f.Add([]byte("RLAT\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := NewReader(bytes.NewReader(b), key, testID)
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, r)
	})
}
