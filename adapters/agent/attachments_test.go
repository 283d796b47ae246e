package agent

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// scan writes a file of size random bytes, as a scanned form would be
// (incompressible), and returns its path and content.
func scan(t *testing.T, name string, size int) (string, []byte) {
	t.Helper()
	b := make([]byte, size)
	_, _ = rand.Read(b)
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, b
}

func TestAReferralWithAnAttachmentComposedOfflineArrivesWithItVerified(t *testing.T) {
	ctx := context.Background()
	th := newTestHub(t)
	ci, ml := newTestAgent(t, th, "ci.dpe-abidjan"), newTestAgent(t, th, "ml.dnpef")
	mustSync(t, ci, ml)
	path, content := scan(t, "enquete-sociale.pdf", 300<<10)

	ci.Faults.set(down)
	q, err := ci.Compose(ctx, referral(ml.ID, "CI-ABJ-2026-0400"), Attachment{Path: path})
	if err != nil || q.Attachments != 1 {
		t.Fatalf("compose offline with an attachment: %+v %v", q, err)
	}
	sealed, _ := filepath.Glob(filepath.Join(ci.outgoingDir(), "*"))
	if len(sealed) != 1 {
		t.Fatalf("sealed files: %v", sealed)
	}
	if ciphertext, _ := os.ReadFile(sealed[0]); bytes.Contains(ciphertext, content[:64]) {
		t.Fatal("the sealed file holds the plaintext")
	}
	if st := mustStatus(t, ci); st.AttachmentsToUpload != 1 || st.Queued != 1 {
		t.Fatalf("status offline: %+v", st)
	}
	if due, _, _ := ci.db.nextDue(ctx); due.ID == q.ID {
		t.Fatal("the message is due before its attachment is uploaded")
	}

	ci.Faults.set(nil)
	mustSync(t, ci)
	if o := outboxItem(t, ci, q.ID); o.State != StateSent {
		t.Fatalf("after the sync: %+v", o)
	}
	if _, err := os.Stat(sealed[0]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the ciphertext is still spooled once the hub holds it: %v", err)
	}

	mustSync(t, ml)
	got, err := ml.Read(ctx, q.ID)
	if err != nil || len(got.Attachments) != 1 {
		t.Fatalf("read: %+v %v", got.Attachments, err)
	}
	a := got.Attachments[0]
	if a.Name != "enquete-sociale.pdf" || a.MediaType != "application/pdf" || a.Size != int64(len(content)) || a.Downloaded.IsZero() {
		t.Fatalf("received attachment: %+v", a)
	}
	if kept, err := os.ReadFile(a.Path); err != nil || !bytes.Equal(kept, content) {
		t.Fatalf("the kept file differs from the one sent (%v)", err)
	}
	if st := mustStatus(t, ml); st.AttachmentsToDownload != 0 || st.AttachmentsFailed != 0 {
		t.Fatalf("recipient status: %+v", st)
	}
}

func TestAnUploadGivesWayToAMessageComposedMeanwhile(t *testing.T) {
	th := newTestHub(t)
	dir := filepath.Join(t.TempDir(), "ci")
	cfg, err := Init(context.Background(), dir, InitOptions{Agency: "ci.dpe-abidjan", Hub: th.URL})
	if err != nil {
		t.Fatal(err)
	}
	th.register(t, cfg.KeysDir(dir), "ci.dpe-abidjan")
	ml := newTestAgent(t, th, "ml.dnpef")
	ci := openTestAgentWith(t, dir, "ci.dpe-abidjan", Options{OutboxPoll: 20 * time.Millisecond, InboxWait: 100 * time.Millisecond})
	mustSync(t, ci)
	// Each chunk of the upload takes a while, as on a slow link.
	var chunks atomic.Int64
	ci.Faults.set(func(r *http.Request) (*http.Response, error) {
		if r.Method == http.MethodPatch {
			chunks.Add(1)
			time.Sleep(60 * time.Millisecond)
		}
		return http.DefaultTransport.RoundTrip(r)
	})
	path, _ := scan(t, "photo.jpg", 2<<20)
	big := mustCompose(t, ci, referral(ml.ID, "CI-ABJ-2026-0410"), Attachment{Path: path})

	ctx, cancel := context.WithCancel(context.Background())
	running := make(chan error, 1)
	go func() { running <- ci.Run(ctx) }()
	defer func() {
		cancel()
		<-running
	}()
	eventually(t, 10*time.Second, 10*time.Millisecond, func() error {
		if chunks.Load() < 2 {
			return errors.New("the upload has not started")
		}
		return nil
	})
	small := mustCompose(t, ci, referral(ml.ID, "CI-ABJ-2026-0411"))
	eventually(t, 10*time.Second, 10*time.Millisecond, func() error {
		if outboxItem(t, ci, small.ID).State != StateSent {
			return errors.New("the small referral is not sent yet")
		}
		return nil
	})
	if o := outboxItem(t, ci, big.ID); o.State != StateQueued {
		t.Fatalf("the referral with the attachment left first: %+v", o)
	}
	atSmall := chunks.Load()
	if atSmall >= 32 {
		t.Fatalf("all %d chunks went before the small referral", atSmall)
	}
	eventually(t, 30*time.Second, 20*time.Millisecond, func() error {
		if o := outboxItem(t, ci, big.ID); o.State != StateSent {
			return errors.New("the referral with the attachment is not sent yet")
		}
		return nil
	})
	if chunks.Load() <= atSmall {
		t.Fatalf("the upload did not resume after the small referral")
	}
	t.Logf("the small referral left after %d of the attachment's chunks; %d chunk requests in all", atSmall, chunks.Load())
}

func TestADamagedAttachmentIsGivenUpAfterAFewDownloads(t *testing.T) {
	ctx := context.Background()
	th := newTestHub(t)
	ci, ml := newTestAgent(t, th, "ci.dpe-abidjan"), newTestAgent(t, th, "ml.dnpef")
	mustSync(t, ci, ml)
	path, _ := scan(t, "formulaire.png", 200<<10)
	mustCompose(t, ci, referral(ml.ID, "CI-ABJ-2026-0420"), Attachment{Path: path})
	mustSync(t, ci)
	var attachmentID string
	if err := ci.db.db.QueryRow(`SELECT attachment_id FROM outbox_attachments`).Scan(&attachmentID); err != nil {
		t.Fatal(err)
	}
	stored := th.Blobs.Path(attachmentID)
	blob, err := os.ReadFile(stored)
	if err != nil {
		t.Fatal(err)
	}
	blob[len(blob)/2] ^= 0xff
	if err := os.WriteFile(stored, blob, 0o600); err != nil {
		t.Fatal(err)
	}

	if _, err := ml.Pull(ctx, 0); err != nil {
		t.Fatal(err)
	}
	var failures int
	for attempt := 1; attempt <= maxDownloadAttempts; attempt++ {
		res, err := ml.DownloadAttachments(ctx)
		if res.Downloaded != 0 {
			t.Fatalf("attempt %d: a damaged attachment was kept", attempt)
		}
		if err != nil {
			failures++
		}
		if res.Failed == 1 {
			break
		}
	}
	st := mustStatus(t, ml)
	if st.AttachmentsFailed != 1 || st.AttachmentsToDownload != 0 {
		t.Fatalf("after %d failed downloads: %+v", failures, st)
	}
	if res, err := ml.DownloadAttachments(ctx); err != nil || res.Downloaded+res.Failed != 0 {
		t.Fatalf("a given-up attachment is downloaded again: %+v %v", res, err)
	}
	text := st.Text("en", time.Now())
	if !strings.Contains(text, "Attachments that could not be downloaded: 1") {
		t.Errorf("status:\n%s", text)
	}
	left, _ := filepath.Glob(filepath.Join(ml.receivedDir(), "*", "*"))
	if len(left) != 0 {
		t.Errorf("damaged bytes were left on disk: %v", left)
	}
}
