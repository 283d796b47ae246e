package attachments

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/relais-hub/relais/contracts"
)

const (
	ci     = "ci.dpe-abidjan"
	ml     = "ml.dnpef"
	bf     = "bf.dpe-bobo"
	attID  = "0193a5c2-7b1e-7c3d-8f4e-1a2b3c4d5e70"
	msgID  = "0193a5c2-7b1e-7c3d-8f4e-1a2b3c4d5e6f"
	otherA = "0193a5c2-7b1e-7c3d-8f4e-1a2b3c4d5e71"
)

type fixture struct {
	svc   *Service
	meta  *memMeta
	blobs *FileStore
	now   time.Time
	data  []byte
	sum   string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	blobs, err := NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{meta: newMemMeta(), blobs: blobs, now: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	f.svc, err = New(Config{Meta: f.meta, Blobs: blobs, SyncEvery: 64 << 10, UploadTTL: 48 * time.Hour,
		Now: func() time.Time { return f.now }, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	f.data = make([]byte, 300<<10)
	rand.Read(f.data)
	sum := sha256.Sum256(f.data)
	f.sum = hex.EncodeToString(sum[:])
	return f
}

func (f *fixture) create(t *testing.T) Record {
	t.Helper()
	r, created, err := f.svc.Create(context.Background(), ci, CreateRequest{ID: attID, SHA256: f.sum, Size: int64(len(f.data))})
	if err != nil || !created {
		t.Fatalf("create: %v (created %v)", err, created)
	}
	return r
}

// brokenReader yields n bytes then fails, like a dropped connection.
type brokenReader struct {
	r io.Reader
	n int
}

func (b *brokenReader) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, io.ErrUnexpectedEOF
	}
	n, err := b.r.Read(p[:min(len(p), b.n)])
	b.n -= n
	return n, err
}

func TestAnUploadCutOffResumesFromTheDurableOffsetAndFinishesVerified(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.create(t)
	r, err := f.svc.Append(ctx, ci, attID, 0, &brokenReader{r: bytes.NewReader(f.data), n: 100_000})
	if !errors.Is(err, ErrChunkInterrupted) || r.Offset != 100_000 {
		t.Fatalf("a cut chunk: offset %d, %v", r.Offset, err)
	}
	if st, _ := f.svc.Status(ctx, ci, attID); st.Offset != 100_000 {
		t.Fatalf("the durable offset is %d after the cut", st.Offset)
	}
	if _, err := f.svc.Append(ctx, ci, attID, 0, bytes.NewReader(f.data)); contracts.CodeOf(err) != contracts.CodeUploadOffsetMismatch {
		t.Fatalf("a chunk at the wrong offset: %v", err)
	}
	if _, err := f.svc.Finish(ctx, ci, attID); contracts.CodeOf(err) != contracts.CodeUploadOffsetMismatch {
		t.Fatalf("finishing half an upload: %v", err)
	}
	if r, err = f.svc.Append(ctx, ci, attID, 100_000, bytes.NewReader(f.data[100_000:])); err != nil || r.Offset != int64(len(f.data)) {
		t.Fatalf("the rest: offset %d, %v", r.Offset, err)
	}
	if r, err = f.svc.Finish(ctx, ci, attID); err != nil || r.State != StateComplete {
		t.Fatalf("finish: %+v, %v", r, err)
	}
	stored, _ := os.ReadFile(f.blobs.Path(attID))
	if !bytes.Equal(stored, f.data) {
		t.Fatal("the published blob differs from what was uploaded")
	}
	if _, err := os.Stat(f.blobs.PartialPath(attID)); !os.IsNotExist(err) {
		t.Fatal("the partial file is still there after publishing")
	}
	if r, err = f.svc.Finish(ctx, ci, attID); err != nil || r.State != StateComplete {
		t.Fatalf("finishing again is a no-op: %+v, %v", r, err)
	}
}

func TestUploadRefusals(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		run  func(f *fixture, t *testing.T) error
		code contracts.Code
	}{
		{name: "an upload over 50 MiB and its overhead is refused at creation", code: contracts.CodeAttachmentTooLarge, run: func(f *fixture, t *testing.T) error {
			_, _, err := f.svc.Create(ctx, ci, CreateRequest{ID: attID, SHA256: f.sum, Size: contracts.MaxAttachmentSize + 1})
			return err
		}},
		{name: "a digest that is not lower-case hex is refused", code: contracts.CodeBadRequest, run: func(f *fixture, t *testing.T) error {
			_, _, err := f.svc.Create(ctx, ci, CreateRequest{ID: attID, SHA256: "ABC", Size: 10})
			return err
		}},
		{name: "another agency cannot take an id in use", code: contracts.CodeAttachmentExists, run: func(f *fixture, t *testing.T) error {
			f.create(t)
			_, _, err := f.svc.Create(ctx, bf, CreateRequest{ID: attID, SHA256: f.sum, Size: int64(len(f.data))})
			return err
		}},
		{name: "the same id with another digest is refused", code: contracts.CodeAttachmentExists, run: func(f *fixture, t *testing.T) error {
			f.create(t)
			_, _, err := f.svc.Create(ctx, ci, CreateRequest{ID: attID, SHA256: otherSum, Size: int64(len(f.data))})
			return err
		}},
		{name: "another agency cannot write to an upload", code: contracts.CodeNotFound, run: func(f *fixture, t *testing.T) error {
			f.create(t)
			_, err := f.svc.Append(ctx, bf, attID, 0, bytes.NewReader(f.data))
			return err
		}},
		{name: "bytes past the declared size are refused", code: contracts.CodeAttachmentTooLarge, run: func(f *fixture, t *testing.T) error {
			f.create(t)
			_, err := f.svc.Append(ctx, ci, attID, 0, bytes.NewReader(append(bytes.Clone(f.data), 1)))
			return err
		}},
		{name: "a damaged upload fails its digest and starts again from zero", code: contracts.CodeAttachmentDigestMismatch, run: func(f *fixture, t *testing.T) error {
			f.create(t)
			damaged := bytes.Clone(f.data)
			damaged[5] ^= 1
			if _, err := f.svc.Append(ctx, ci, attID, 0, bytes.NewReader(damaged)); err != nil {
				return err
			}
			_, err := f.svc.Finish(ctx, ci, attID)
			if r, _ := f.svc.Status(ctx, ci, attID); r.Offset != 0 {
				return errors.New("the offset was not reset")
			}
			return err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			if got := contracts.CodeOf(tc.run(f, t)); got != tc.code {
				t.Fatalf("code %q, want %q", got, tc.code)
			}
		})
	}
}

var otherSum = hex.EncodeToString(make([]byte, 32))

func (f *fixture) upload(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	f.create(t)
	if _, err := f.svc.Append(ctx, ci, attID, 0, bytes.NewReader(f.data)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Finish(ctx, ci, attID); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) envelope() contracts.Envelope {
	return contracts.Envelope{ID: msgID, Kind: "referral.request", From: ci, To: ml, Transfer: msgID,
		Attachments: []contracts.AttachmentRef{{ID: attID, SHA256: f.sum, Size: int64(len(f.data))}}}
}

func TestOnlyTheMessagesPartiesReadAnAttachmentOnceLinked(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.upload(t)
	if _, _, err := f.svc.Open(ctx, ml, attID); contracts.CodeOf(err) != contracts.CodeNotFound {
		t.Fatalf("before any message links it: %v", err)
	}
	if err := CheckAndLink(ctx, f.meta, f.envelope(), f.now); err != nil {
		t.Fatal(err)
	}
	for _, reader := range []string{ci, ml} {
		blob, _, err := f.svc.Open(ctx, reader, attID)
		if err != nil {
			t.Fatalf("%s: %v", reader, err)
		}
		blob.Close()
	}
	if _, _, err := f.svc.Open(ctx, bf, attID); contracts.CodeOf(err) != contracts.CodeNotFound {
		t.Fatalf("a third agency: %v", err)
	}
}

func TestTheHubChecksEveryReferenceAgainstTheUpload(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name  string
		setup func(f *fixture, t *testing.T)
		edit  func(env *contracts.Envelope)
		code  contracts.Code
	}{
		{name: "a complete upload by the sender with the signed digest and size passes", setup: (*fixture).upload},
		{name: "an attachment never uploaded is refused", setup: func(*fixture, *testing.T) {}, code: contracts.CodeAttachmentNotUploaded},
		{name: "an unfinished upload is refused", setup: func(f *fixture, t *testing.T) { f.create(t) }, code: contracts.CodeAttachmentNotUploaded},
		{name: "another agency's upload under that id is refused", setup: (*fixture).upload, edit: func(env *contracts.Envelope) { env.From = bf }, code: contracts.CodeAttachmentNotUploaded},
		{name: "a different size is refused", setup: (*fixture).upload, edit: func(env *contracts.Envelope) { env.Attachments[0].Size-- }, code: contracts.CodeAttachmentMismatch},
		{name: "a different digest is refused", setup: (*fixture).upload, edit: func(env *contracts.Envelope) { env.Attachments[0].SHA256 = otherSum }, code: contracts.CodeAttachmentMismatch},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			tc.setup(f, t)
			env := f.envelope()
			if tc.edit != nil {
				tc.edit(&env)
			}
			err := CheckAndLink(ctx, f.meta, env, f.now)
			if got := contracts.CodeOf(err); got != tc.code {
				t.Fatalf("code %q, want %q", got, tc.code)
			}
			if links, _ := f.meta.AttachmentLinks(ctx, attID); (len(links) == 1) != (tc.code == "") {
				t.Fatalf("%d links after the check", len(links))
			}
		})
	}
}

func TestTheSweepsDeleteWhatTheHubMustNoLongerKeep(t *testing.T) {
	ctx := context.Background()
	retention := func(from, to, kind string, at time.Time) (time.Duration, bool) { return 30 * 24 * time.Hour, true }
	cases := []struct {
		name    string
		prepare func(f *fixture, t *testing.T)
		gone    bool
	}{
		{name: "an upload abandoned for longer than the TTL goes", gone: true, prepare: func(f *fixture, t *testing.T) {
			f.create(t)
			f.now = f.now.Add(49 * time.Hour)
		}},
		{name: "an upload touched within the TTL stays", prepare: func(f *fixture, t *testing.T) {
			f.create(t)
			f.now = f.now.Add(47 * time.Hour)
			f.svc.Append(ctx, ci, attID, 0, bytes.NewReader(f.data[:1000]))
			f.now = f.now.Add(47 * time.Hour)
		}},
		{name: "a complete attachment no message referenced goes after the TTL", gone: true, prepare: func(f *fixture, t *testing.T) {
			f.upload(t)
			f.now = f.now.Add(49 * time.Hour)
		}},
		{name: "a referenced attachment not yet receipted stays past the TTL", prepare: func(f *fixture, t *testing.T) {
			f.upload(t)
			CheckAndLink(ctx, f.meta, f.envelope(), f.now)
			f.now = f.now.Add(90 * 24 * time.Hour)
		}},
		{name: "a receipted attachment stays within the corridor's retention", prepare: func(f *fixture, t *testing.T) {
			f.upload(t)
			CheckAndLink(ctx, f.meta, f.envelope(), f.now)
			f.meta.receipted[msgID] = f.now
			f.now = f.now.Add(29 * 24 * time.Hour)
		}},
		{name: "a receipted attachment goes after the corridor's retention", gone: true, prepare: func(f *fixture, t *testing.T) {
			f.upload(t)
			CheckAndLink(ctx, f.meta, f.envelope(), f.now)
			f.meta.receipted[msgID] = f.now
			f.now = f.now.Add(31 * 24 * time.Hour)
		}},
		{name: "an attachment of an erased transfer goes at once", gone: true, prepare: func(f *fixture, t *testing.T) {
			f.upload(t)
			CheckAndLink(ctx, f.meta, f.envelope(), f.now)
			f.meta.erased[msgID] = true
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.svc.SetRetention(retention)
			tc.prepare(f, t)
			if _, err := f.svc.Sweep(ctx); err != nil {
				t.Fatal(err)
			}
			onDisk := exists(f.blobs.Path(attID)) || exists(f.blobs.PartialPath(attID))
			if onDisk == tc.gone {
				t.Fatalf("on disk after the sweep: %v, want gone=%v", onDisk, tc.gone)
			}
		})
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func TestTheLaneBoundsConcurrentRequestsAndTellsTheRestToComeBack(t *testing.T) {
	lane := NewLane(2, 20*time.Millisecond)
	ctx := context.Background()
	r1, err1 := lane.Acquire(ctx)
	r2, err2 := lane.Acquire(ctx)
	if err1 != nil || err2 != nil || lane.InUse() != 2 {
		t.Fatalf("two slots: %v %v, in use %d", err1, err2, lane.InUse())
	}
	if _, err := lane.Acquire(ctx); contracts.CodeOf(err) != contracts.CodeUnavailable {
		t.Fatalf("a third request: %v", err)
	}
	r1()
	r3, err := lane.Acquire(ctx)
	if err != nil {
		t.Fatalf("after a release: %v", err)
	}
	r2()
	r3()
	if lane.InUse() != 0 {
		t.Fatalf("%d slots still taken", lane.InUse())
	}
}

func TestFileStoreKeepsOnlyValidIdsInsideItsDirectory(t *testing.T) {
	dir := t.TempDir()
	s, err := NewFileStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.OpenPartial("../../etc/passwd", 0); err == nil {
		t.Fatal("a path as id was accepted")
	}
	w, err := s.OpenPartial(attID, 0)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("abcdef"))
	w.Close()
	// Bytes past the durable offset are discarded when the upload resumes.
	w, err = s.OpenPartial(attID, 3)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("XY"))
	w.Close()
	got, _ := os.ReadFile(filepath.Join(dir, "partial", attID))
	if string(got) != "abcXY" {
		t.Fatalf("partial blob holds %q", got)
	}
	if _, err := s.OpenPartial(attID, 10); err == nil {
		t.Fatal("resuming past the bytes on disk was accepted")
	}
}
