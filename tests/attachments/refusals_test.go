package attachments

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/contracts"
)

func TestADamagedChunkIsRefusedAtFinishAndTheMessageWaitsForAWholeUpload(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	sender := w.client(senderID, w.hub.URL())
	path, _ := randomFile(t, t.TempDir(), 300<<10)
	plain, _ := os.Open(path)
	defer plain.Close()
	sealed, err := sender.SealAttachment(ctx, plain, 300<<10, agency.AttachmentOptions{To: recipientID, Name: "scan.pdf"}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ref := sealed.Ref
	create, _ := json.Marshal(map[string]any{"id": ref.ID, "sha256": ref.SHA256, "size": ref.Size})
	if resp := w.request(t, senderID, http.MethodPost, "/v1/attachments", bytes.NewReader(create), nil); resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, problemCode(t, resp))
	}
	ciphertext, _ := os.ReadFile(sealed.Path)
	damaged := bytes.Clone(ciphertext)
	damaged[100_000] ^= 1
	resp := w.request(t, senderID, http.MethodPatch, "/v1/attachments/"+ref.ID+"/upload", bytes.NewReader(damaged),
		map[string]string{"Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"})
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Upload-Offset") != strconv.FormatInt(ref.Size, 10) {
		t.Fatalf("patch: %d, offset %s", resp.StatusCode, resp.Header.Get("Upload-Offset"))
	}

	// A message referencing an upload that is not finished is refused.
	_, _, err = sender.Send(ctx, referralDraft("CI-ABJ-2026-0301", ref))
	if !agency.IsCode(err, contracts.CodeAttachmentNotUploaded) {
		t.Fatalf("a referral before the upload finished: want %s, got %v", contracts.CodeAttachmentNotUploaded, err)
	}
	resp = w.request(t, senderID, http.MethodPost, "/v1/attachments/"+ref.ID+"/finish", nil, nil)
	if code := problemCode(t, resp); resp.StatusCode != http.StatusUnprocessableEntity || code != string(contracts.CodeAttachmentDigestMismatch) {
		t.Fatalf("finish with a damaged chunk: %d %s", resp.StatusCode, code)
	}
	resp = w.request(t, senderID, http.MethodHead, "/v1/attachments/"+ref.ID+"/upload", nil, nil)
	if resp.Header.Get("Upload-Offset") != "0" {
		t.Fatalf("after a digest mismatch the upload is at %s, want 0", resp.Header.Get("Upload-Offset"))
	}
	if _, err := os.Stat(filepath.Join(w.hub.Data, "attachments", "partial", ref.ID)); err == nil {
		t.Fatal("the damaged bytes are still on the hub's disk")
	}

	// The client starts again, the hub verifies, the message goes.
	if err := sender.UploadSealedAttachment(ctx, sealed, fastRetries); err != nil {
		t.Fatal(err)
	}
	wrongSize := ref
	wrongSize.Size++
	if _, _, err := sender.Send(ctx, referralDraft("CI-ABJ-2026-0302", wrongSize)); !agency.IsCode(err, contracts.CodeAttachmentMismatch) {
		t.Fatalf("a referral whose reference differs from the upload: want %s, got %v", contracts.CodeAttachmentMismatch, err)
	}
	_, s, err := sender.Send(ctx, referralDraft("CI-ABJ-2026-0303", ref))
	if err != nil {
		t.Fatalf("the referral after a whole upload: %v", err)
	}

	// Bytes altered on the hub's disk are caught by the recipient.
	recipient := w.client(recipientID, w.hub.URL())
	o := receive(t, recipient, s.ID)
	stored := filepath.Join(w.hub.Data, "attachments", "complete", ref.ID)
	onDisk, err := os.ReadFile(stored)
	if err != nil {
		t.Fatal(err)
	}
	onDisk[200_000] ^= 1
	if err := os.WriteFile(stored, onDisk, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := download(recipient, o.Envelope.Attachments[0], t.TempDir(), fastRetries); err == nil {
		t.Fatal("an attachment altered on the hub downloaded without error")
	}
}

func TestOnlyThePartiesOfTheMessageDownloadAnAttachment(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	sender := w.client(senderID, w.hub.URL())
	path, want := randomFile(t, t.TempDir(), 100<<10)
	ref := upload(t, sender, path, fastRetries)

	// Before a message references it, even the recipient cannot read it.
	recipient := w.client(recipientID, w.hub.URL())
	if _, err := download(recipient, ref, t.TempDir(), fastRetries); !agency.IsCode(err, contracts.CodeNotFound) {
		t.Fatalf("a download before any message: want %s, got %v", contracts.CodeNotFound, err)
	}
	if _, _, err := sender.Send(ctx, referralDraft("CI-ABJ-2026-0401", ref)); err != nil {
		t.Fatal(err)
	}
	got, err := download(recipient, ref, t.TempDir(), fastRetries)
	if err != nil || got != want {
		t.Fatalf("the recipient's download: %s, %v", got, err)
	}

	stranger := w.client(strangerID, w.hub.URL())
	cases := []struct {
		name   string
		resp   func() *http.Response
		status int
		code   contracts.Code
	}{
		{name: "another agency cannot download it", resp: func() *http.Response {
			return w.request(t, strangerID, http.MethodGet, "/v1/attachments/"+ref.ID, nil, nil)
		}, status: http.StatusNotFound, code: contracts.CodeNotFound},
		{name: "the admin token cannot download it", resp: func() *http.Response {
			return w.request(t, "admin", http.MethodGet, "/v1/attachments/"+ref.ID, nil, nil)
		}, status: http.StatusForbidden, code: contracts.CodeForbidden},
		{name: "another agency cannot see the upload", resp: func() *http.Response {
			return w.request(t, strangerID, http.MethodHead, "/v1/attachments/"+ref.ID+"/upload", nil, nil)
		}, status: http.StatusNotFound},
		{name: "another agency cannot write to it", resp: func() *http.Response {
			return w.request(t, strangerID, http.MethodPatch, "/v1/attachments/"+ref.ID+"/upload", strings.NewReader("x"),
				map[string]string{"Content-Type": "application/offset+octet-stream", "Upload-Offset": strconv.FormatInt(ref.Size, 10)})
		}, status: http.StatusNotFound, code: contracts.CodeNotFound},
		{name: "another agency cannot take its id", resp: func() *http.Response {
			body, _ := json.Marshal(map[string]any{"id": ref.ID, "sha256": ref.SHA256, "size": ref.Size})
			return w.request(t, strangerID, http.MethodPost, "/v1/attachments", bytes.NewReader(body), nil)
		}, status: http.StatusConflict, code: contracts.CodeAttachmentExists},
		{name: "a range past the end is refused", resp: func() *http.Response {
			return w.request(t, recipientID, http.MethodGet, "/v1/attachments/"+ref.ID, nil, map[string]string{"Range": "bytes=" + strconv.FormatInt(ref.Size, 10) + "-"})
		}, status: http.StatusRequestedRangeNotSatisfiable, code: contracts.CodeRangeNotSatisfiable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := tc.resp()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.code != "" && problemCode(t, resp) != string(tc.code) {
				t.Fatalf("want code %s", tc.code)
			}
		})
	}
	if _, err := download(stranger, ref, t.TempDir(), fastRetries); err == nil {
		t.Fatal("the stranger's client downloaded the attachment")
	}
	// The sender, a party, may fetch it back (its client cannot unwrap the
	// key, which is the recipient's, but the hub serves the ciphertext).
	resp := w.request(t, senderID, http.MethodGet, "/v1/attachments/"+ref.ID, nil, map[string]string{"Range": "bytes=0-99"})
	if resp.StatusCode != http.StatusPartialContent || resp.ContentLength != 100 {
		t.Fatalf("the sender's ranged read: %d, %d bytes", resp.StatusCode, resp.ContentLength)
	}
}
