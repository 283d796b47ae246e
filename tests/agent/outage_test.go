package agent

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relais-hub/relais/tests/internal/relaistest"
)

func TestDuringAHubOutageTheAgentQueuesAndDrainsOnceTheHubIsBack(t *testing.T) {
	n := newNetwork(t)
	ci := n.newSite(t, senderID, n.Hub.URL())
	ml := n.newSite(t, recipientID, n.Hub.URL())
	ci.mustStart(t)
	ml.mustStart(t)
	relaistest.Eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
		if ci.status(t).LastSync.IsZero() || ml.status(t).LastSync.IsZero() {
			return fmt.Errorf("the agents have not reached the hub yet")
		}
		return nil
	})

	n.Hub.Kill(t)
	outage := time.Now()
	file, ids := referralDrafts(t, n.Root, "during-outage", 12)
	out := relaistest.MustRun(t, relaisBin, "agent", "compose", "--dir", ci.Dir, "--file", file, "--lang", "en")
	if got := strings.Count(out.Stdout, "queued "); got != len(ids) {
		t.Fatalf("compose with the hub down queued %d of %d:\n%s", got, len(ids), out.Stdout)
	}
	// One more referral carries a scanned form, sealed offline too.
	scanned := make([]byte, 150<<10)
	_, _ = rand.Read(scanned)
	scanPath := filepath.Join(n.Root, "fiche-signaletique.pdf")
	if err := os.WriteFile(scanPath, scanned, 0o600); err != nil {
		t.Fatal(err)
	}
	withScan, scanIDs := referralDrafts(t, n.Root, "with-scan", 1)
	relaistest.MustRun(t, relaisBin, "agent", "compose", "--dir", ci.Dir, "--file", withScan, "--attach", scanPath)
	ids = append(ids, scanIDs...)

	// The status tells the case worker what waits and that the hub cannot
	// be reached, in French by default, and falls back to what it knew
	// of the overdue transfers.
	relaistest.Eventually(t, 20*time.Second, 100*time.Millisecond, func() error {
		st := ci.status(t)
		if st.Queued != len(ids) || st.LastErrorAt.Before(outage) {
			return fmt.Errorf("status during the outage: %d queued, last error %q at %s", st.Queued, st.LastError, st.LastErrorAt)
		}
		return nil
	})
	fr := relaistest.MustRun(t, relaisBin, "agent", "status", "--dir", ci.Dir).Stdout
	for _, want := range []string{fmt.Sprintf("Envois en attente : %d", len(ids)), "Dernier échec : unreachable", "Transferts en retard (dernier état connu"} {
		if !strings.Contains(fr, want) {
			t.Errorf("status during the outage lacks %q:\n%s", want, fr)
		}
	}
	// Long enough for the agents to back off to their cap.
	time.Sleep(2 * time.Second)

	n.restartHub(t)
	settled(t, ci, ml, ids, 60*time.Second)
	assertExactlyOnce(t, n.Hub.URL(), ci, ml, ids)
	en := relaistest.MustRun(t, relaisBin, "agent", "status", "--dir", ci.Dir, "--lang", "en").Stdout
	for _, want := range []string{"Queued outgoing items: 0", "Awaiting the recipient's receipt: 0", "Overdue transfers (hub, just now): 0"} {
		if !strings.Contains(en, want) {
			t.Errorf("status after the outage lacks %q:\n%s", want, en)
		}
	}
	inbox := relaistest.MustRun(t, relaisBin, "agent", "inbox", "--dir", ml.Dir, "--lang", "en").Stdout
	if !strings.Contains(inbox, fmt.Sprintf("%d message(s)", len(ids))) {
		t.Errorf("the recipient's inbox lists:\n%s", inbox)
	}
	read := relaistest.MustRun(t, relaisBin, "agent", "read", "--dir", ml.Dir, ids[0]).Stdout
	if !strings.Contains(read, "Kadiatou Aminata") || !strings.Contains(read, "Demande de prise en charge") {
		t.Errorf("agent read shows:\n%s", read)
	}
	// The scanned form arrives whole, after its referral.
	relaistest.Eventually(t, 30*time.Second, 100*time.Millisecond, func() error {
		if st := ml.status(t); st.AttachmentsToDownload > 0 || st.AttachmentsFailed > 0 {
			return fmt.Errorf("%d attachments to download, %d failed", st.AttachmentsToDownload, st.AttachmentsFailed)
		}
		return nil
	})
	read = relaistest.MustRun(t, relaisBin, "agent", "read", "--dir", ml.Dir, "--lang", "en", scanIDs[0]).Stdout
	const prefix = "attachment: fiche-signaletique.pdf (application/pdf, 153600 bytes) → "
	i := strings.Index(read, prefix)
	if i < 0 {
		t.Fatalf("agent read shows:\n%s", read)
	}
	kept, err := os.ReadFile(strings.TrimSpace(strings.SplitN(read[i+len(prefix):], "\n", 2)[0]))
	if err != nil || !bytes.Equal(kept, scanned) {
		t.Fatalf("the received scan differs from the one sent (%v)", err)
	}
}
