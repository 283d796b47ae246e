package attachments

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/contracts/seal"
	"github.com/relais-hub/relais/tests/internal/relaistest"
)

// laneSlots is the hub's default number of attachment slots.
const laneSlots = 4

// A hub with every attachment slot held by a stalled upload (a field
// modem that stopped sending mid-chunk) still accepts a referral at once:
// attachments are served on their own lane, whose size is bounded.
func TestAReferralIsAcceptedWhileStalledUploadsHoldEveryAttachmentSlot(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	sender := w.client(senderID, w.hub.URL())

	type stalled struct {
		body *io.PipeWriter
		rest []byte   // what the modem has not sent yet
		done chan int // the PATCH's status, once answered
	}
	var uploads []stalled
	for i := range laneSlots {
		sealed := sealSmall(t, sender, 200<<10)
		create, _ := json.Marshal(map[string]any{"id": sealed.Ref.ID, "sha256": sealed.Ref.SHA256, "size": sealed.Ref.Size})
		if resp := w.request(t, senderID, http.MethodPost, "/v1/attachments", bytes.NewReader(create), nil); resp.StatusCode != http.StatusCreated {
			t.Fatalf("create %d: %d", i, resp.StatusCode)
		}
		ciphertext, _ := os.ReadFile(sealed.Path)
		pr, pw := io.Pipe()
		u := stalled{body: pw, rest: ciphertext[4096:], done: make(chan int, 1)}
		req, _ := http.NewRequest(http.MethodPatch, w.hub.URL()+"/v1/attachments/"+sealed.Ref.ID+"/upload", pr)
		req.ContentLength = int64(len(ciphertext))
		req.Header.Set("Content-Type", "application/offset+octet-stream")
		req.Header.Set("Upload-Offset", "0")
		tok, _ := seal.IssueToken(w.keys[senderID].Signing, senderID, "relais-hub", time.Minute, time.Now())
		req.Header.Set("Authorization", "Bearer "+tok)
		go func() {
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				u.done <- 0
				return
			}
			resp.Body.Close()
			u.done <- resp.StatusCode
		}()
		// The first kilobytes arrive, then the modem stalls.
		if _, err := pw.Write(ciphertext[:4096]); err != nil {
			t.Fatal(err)
		}
		uploads = append(uploads, u)
		t.Cleanup(func() { pw.CloseWithError(io.ErrUnexpectedEOF) })
	}

	// The lane is full: one more attachment request is told to come back.
	relaistest.Eventually(t, 20*time.Second, 100*time.Millisecond, func() error {
		sealed := sealSmall(t, sender, 1<<10)
		create, _ := json.Marshal(map[string]any{"id": sealed.Ref.ID, "sha256": sealed.Ref.SHA256, "size": sealed.Ref.Size})
		resp := w.request(t, senderID, http.MethodPost, "/v1/attachments", bytes.NewReader(create), nil)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			return errStatus(resp.StatusCode)
		}
		return nil
	})

	// A referral goes through meanwhile, while no stalled upload moved.
	_, s, err := sender.Send(ctx, referralDraft("CI-ABJ-2026-0501"))
	if err != nil {
		t.Fatalf("a referral while the attachment lane is full: %v", err)
	}
	for i, u := range uploads {
		select {
		case status := <-u.done:
			t.Fatalf("stalled upload %d was answered (%d) before the referral's acceptance", i, status)
		default:
		}
	}
	t.Logf("referral %s accepted while %d uploads held every attachment slot", s.ID, laneSlots)

	// The modems come back: every stalled upload completes its chunk.
	for _, u := range uploads {
		go func() { u.body.Write(u.rest); u.body.Close() }()
	}
	for i, u := range uploads {
		if status := <-u.done; status != http.StatusNoContent {
			t.Errorf("upload %d ended with %d once resumed", i, status)
		}
	}
}

type errStatus int

func (e errStatus) Error() string { return "status " + http.StatusText(int(e)) }

// sealSmall seals n random bytes for the recipient.
func sealSmall(t *testing.T, c *agency.Client, n int64) agency.SealedAttachment {
	t.Helper()
	path, _ := randomFile(t, t.TempDir(), n)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sa, err := c.SealAttachment(context.Background(), f, n, agency.AttachmentOptions{To: recipientID}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return sa
}
