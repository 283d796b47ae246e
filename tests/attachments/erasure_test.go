package attachments

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/tests/internal/relaistest"
)

func TestErasingATransferDeletesItsAttachmentFromTheHubsDisk(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	sender, recipient := w.client(senderID, w.hub.URL()), w.client(recipientID, w.hub.URL())
	path, _ := randomFile(t, t.TempDir(), 64<<10)
	ref := upload(t, sender, path, fastRetries)
	env, s, err := sender.Send(ctx, referralDraft("CI-ABJ-2026-0601", ref))
	if err != nil {
		t.Fatal(err)
	}
	stored := filepath.Join(w.hub.Data, "attachments", "complete", ref.ID)
	if _, err := os.Stat(stored); err != nil {
		t.Fatalf("the attachment is not where the hub keeps it: %v", err)
	}
	receive(t, recipient, s.ID)

	follow := func(c *agency.Client, kind, to string, body any) {
		t.Helper()
		raw, _ := json.Marshal(body)
		if _, _, err := c.Send(ctx, agency.Draft{Kind: kind, To: to, Case: env.Case, Transfer: env.Transfer, Body: raw}); err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
	}
	follow(sender, "case.erasure_requested", recipientID, contracts.ErasureRequested{Reason: "sent_in_error"})
	follow(recipient, "case.erased", senderID, contracts.CaseErased{ErasedAt: time.Now().UTC().Truncate(time.Second)})
	if _, err := os.Stat(stored); err != nil {
		t.Fatalf("the attachment went before every party confirmed the erasure: %v", err)
	}
	follow(sender, "case.erased", recipientID, contracts.CaseErased{ErasedAt: time.Now().UTC().Truncate(time.Second)})

	relaistest.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		if _, err := os.Stat(stored); !errors.Is(err, fs.ErrNotExist) {
			return errors.New("the attachment is still on disk")
		}
		return nil
	})
	if _, err := download(recipient, ref, t.TempDir(), fastRetries); !agency.IsCode(err, contracts.CodeNotFound) {
		t.Fatalf("a download after erasure: want %s, got %v", contracts.CodeNotFound, err)
	}
}
