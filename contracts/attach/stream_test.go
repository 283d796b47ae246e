package attach

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/relais-hub/relais/contracts"
)

const (
	testID      = "0193a5c2-7b1e-7c3d-8f4e-1a2b3c4d5e70"
	otherTestID = "0193a5c2-7b1e-7c3d-8f4e-1a2b3c4d5e71"
)

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func newKey(t testing.TB) []byte {
	t.Helper()
	k, err := NewContentKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// sealed encrypts file as attachment id and returns the ciphertext.
func sealed(t testing.TB, key []byte, id string, file []byte, meta Meta) []byte {
	t.Helper()
	meta.Size = int64(len(file))
	var out bytes.Buffer
	n, err := Encrypt(&out, bytes.NewReader(file), key, id, meta)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(out.Len()) {
		t.Fatalf("Encrypt reported %d bytes, wrote %d", n, out.Len())
	}
	return out.Bytes()
}

func opened(key []byte, id string, ciphertext []byte) (Meta, []byte, error) {
	var out bytes.Buffer
	meta, err := Decrypt(&out, bytes.NewReader(ciphertext), key, id)
	return meta, out.Bytes(), err
}

func TestFilesOfEverySizeComeBackIntactWithTheirNameAndType(t *testing.T) {
	firstSegment := SegmentSize - HeaderLen - tagLen
	sizes := []int{0, 1, 1000, firstSegment - 60, firstSegment, firstSegment + 1, SegmentSize, 3*SegmentSize + 17, 1 << 20}
	key := newKey(t)
	for _, size := range sizes {
		file := randomBytes(t, size)
		meta := Meta{Name: "rapport d'enquête sociale.pdf", MediaType: "application/pdf"}
		ct := sealed(t, key, testID, file, meta)
		manifest, _ := encodeManifest(Meta{Name: meta.Name, MediaType: meta.MediaType, Size: int64(size)})
		if want := CiphertextSize(int64(size), len(manifest)); int64(len(ct)) != want {
			t.Errorf("size %d: ciphertext is %d bytes, CiphertextSize says %d", size, len(ct), want)
		}
		got, plain, err := opened(key, testID, ct)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if !bytes.Equal(plain, file) || got.Name != meta.Name || got.MediaType != meta.MediaType || got.Size != int64(size) {
			t.Fatalf("size %d: decrypted %d bytes, meta %+v", size, len(plain), got)
		}
	}
}

func TestTheFileNameNeverAppearsInTheCiphertext(t *testing.T) {
	ct := sealed(t, newKey(t), testID, []byte("scan"), Meta{Name: "passeport-aminata.jpg", MediaType: "image/jpeg"})
	for _, clear := range []string{"passeport", "aminata", "image/jpeg", "scan"} {
		if bytes.Contains(ct, []byte(clear)) {
			t.Fatalf("%q is readable in the ciphertext", clear)
		}
	}
}

func TestTamperedAttachmentsFailToDecrypt(t *testing.T) {
	key := newKey(t)
	file := randomBytes(t, 4*SegmentSize+100)
	ct := sealed(t, key, testID, file, Meta{Name: "a.pdf"})
	other := sealed(t, key, testID, randomBytes(t, len(file)), Meta{Name: "a.pdf"})
	seg := func(b []byte, i int) []byte { return b[i*SegmentSize : min((i+1)*SegmentSize, len(b))] }
	join := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	cases := []struct {
		name       string
		ciphertext []byte
		key        []byte
		id         string
	}{
		{name: "a stream cut at a segment boundary", ciphertext: ct[:2*SegmentSize], key: key, id: testID},
		{name: "a stream cut inside a segment", ciphertext: ct[:2*SegmentSize+500], key: key, id: testID},
		{name: "a stream without its last byte", ciphertext: ct[:len(ct)-1], key: key, id: testID},
		{name: "a stream cut inside the header", ciphertext: ct[:20], key: key, id: testID},
		{name: "two segments swapped", ciphertext: join(seg(ct, 0), seg(ct, 2), seg(ct, 1), ct[3*SegmentSize:]), key: key, id: testID},
		{name: "a segment dropped", ciphertext: join(seg(ct, 0), seg(ct, 1), ct[3*SegmentSize:]), key: key, id: testID},
		{name: "a segment taken from another file", ciphertext: join(seg(ct, 0), seg(other, 1), ct[2*SegmentSize:]), key: key, id: testID},
		{name: "one flipped bit in the middle", ciphertext: flipped(ct, 3*SegmentSize/2), key: key, id: testID},
		{name: "one flipped bit in the salt", ciphertext: flipped(ct, prefixLen+3), key: key, id: testID},
		{name: "bytes appended after the end", ciphertext: join(ct, []byte("more")), key: key, id: testID},
		{name: "the file presented under another attachment id", ciphertext: ct, key: key, id: otherTestID},
		{name: "the wrong content key", ciphertext: ct, key: newKey(t), id: testID},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := opened(tc.key, tc.id, tc.ciphertext)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("want ErrCorrupt, got %v", err)
			}
		})
	}
}

func flipped(b []byte, at int) []byte {
	out := bytes.Clone(b)
	out[at] ^= 0x10
	return out
}

func TestEncryptRefusesAFileWhoseSizeDiffersFromTheAnnouncedOne(t *testing.T) {
	key := newKey(t)
	for _, tc := range []struct {
		name     string
		file     []byte
		announce int64
	}{
		{name: "a file shorter than announced", file: []byte("abc"), announce: 4},
		{name: "a file longer than announced", file: []byte("abcde"), announce: 4},
		{name: "a file over the limit", file: nil, announce: contracts.MaxAttachmentPlaintext + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Encrypt(io.Discard, bytes.NewReader(tc.file), key, testID, Meta{Size: tc.announce})
			if err == nil {
				t.Fatal("encrypted anyway")
			}
		})
	}
}

func TestManifestLimits(t *testing.T) {
	for _, tc := range []struct {
		name string
		meta Meta
		ok   bool
	}{
		{name: "a plain name is accepted", meta: Meta{Name: "fiche.pdf", MediaType: "application/pdf", Size: 1}, ok: true},
		{name: "a name with a directory is refused", meta: Meta{Name: "../etc/passwd", Size: 1}},
		{name: "a name over 255 bytes is refused", meta: Meta{Name: strings.Repeat("é", 128), Size: 1}},
		{name: "a negative size is refused", meta: Meta{Size: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.meta.Check(); (err == nil) != tc.ok {
				t.Fatalf("Check() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestParseHeaderReadsTheClearHeaderOnly(t *testing.T) {
	ct := sealed(t, newKey(t), testID, []byte("x"), Meta{})
	h, err := ParseHeader(ct)
	if err != nil || h.Version != Version || len(h.Salt) != saltLen || len(h.NoncePrefix) != noncePrefixLen {
		t.Fatalf("ParseHeader = %+v, %v", h, err)
	}
	for _, bad := range [][]byte{ct[:HeaderLen-1], append([]byte("RLAX"), ct[4:]...), flipped(ct, len(Magic)), flipped(ct, prefixLen)} {
		if _, err := ParseHeader(bad); err == nil {
			t.Errorf("ParseHeader accepted %x", bad[:min(len(bad), 8)])
		}
	}
}
