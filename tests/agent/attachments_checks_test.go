package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/adapters/agent"
	"github.com/relais-hub/relais/contracts"
)

// sentFile is an attachment as the case worker attached it.
type sentFile struct {
	Path, Name string
	Size       int64
	SHA256     string
	// MessageID is the referral that carries it.
	MessageID string
}

// writeOriginals writes count files of size pseudo-random bytes (from
// rng: a logged seed replays them) and returns them with their SHA-256.
func writeOriginals(t testing.TB, dir string, count int, size int64, rng *rand.Rand) []sentFile {
	t.Helper()
	var key [32]byte
	for i := range key {
		key[i] = byte(rng.Uint32())
	}
	src := rand.NewChaCha8(key)
	buf := make([]byte, 1<<20)
	files := make([]sentFile, count)
	for i := range files {
		f := sentFile{Name: fmt.Sprintf("enquete-sociale-%02d.pdf", i+1), Size: size}
		f.Path = filepath.Join(dir, f.Name)
		out, err := os.OpenFile(f.Path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		for left := size; left > 0; {
			chunk := buf[:min(int64(len(buf)), left)]
			_, _ = src.Read(chunk)
			if _, err := io.MultiWriter(out, h).Write(chunk); err != nil {
				t.Fatal(err)
			}
			left -= int64(len(chunk))
		}
		if err := out.Close(); err != nil {
			t.Fatal(err)
		}
		f.SHA256 = hex.EncodeToString(h.Sum(nil))
		files[i] = f
	}
	return files
}

// composeAttachments queues one referral per file with `relais agent
// compose --attach`. The first compose runs undisturbed and is timed; each
// later one is killed after a random delay within 1.2 times that, then run
// again until it succeeds, so kills land while the file is encrypted, as
// it is committed, or after. It fills in the message ids and returns how
// many composes a kill interrupted.
func composeAttachments(t *testing.T, s *site, dir string, files []sentFile, rng *rand.Rand) int {
	t.Helper()
	var window time.Duration
	interrupted := 0
	for i := range files {
		draft, ids := referralDrafts(t, dir, fmt.Sprintf("with-scan-%02d", i+1), 1)
		files[i].MessageID = ids[0]
		var killAfter time.Duration
		if i > 0 {
			killAfter = 1 + time.Duration(rng.Int64N(int64(window)))
		}
		began := time.Now()
		hit, err := composeUntilQueued(s, draft, killAfter, "--attach", files[i].Path)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			window = time.Since(began) * 6 / 5
		}
		if hit {
			interrupted++
		}
	}
	return interrupted
}

// attachmentCheck is what assertAttachmentsArrivedOnce found.
type attachmentCheck struct {
	// Verified counts files stored by the recipient byte-identical to the
	// original; Duplicates any second copy, at the recipient or the hub.
	Verified, Duplicates int
	// LeftoverDownloads are partial downloads a kill left in the
	// recipient's directory (not duplicates: never made a received file).
	LeftoverDownloads     int
	LeftoverDownloadBytes int64
}

// assertAttachmentsArrivedOnce checks, once everything settled, that each
// referral that carried a file references exactly one attachment, that
// the recipient agent stored it once, decrypted, with its name, and
// byte-identical to the original (SHA-256 of the plaintext), and that the
// hub holds exactly one complete ciphertext per attachment, matching the
// signed digest and size, and no upload left partial.
func assertAttachmentsArrivedOnce(t testing.TB, hubData string, recipient *site, files []sentFile) attachmentCheck {
	t.Helper()
	var chk attachmentCheck
	a := openSite(t, recipient)
	defer a.Close()
	refs := map[string]contracts.AttachmentRef{}
	for _, f := range files {
		r, err := a.Read(context.Background(), f.MessageID)
		if err != nil {
			t.Errorf("%s (carrying %s): %v", f.MessageID, f.Name, err)
			continue
		}
		if len(r.Envelope.Attachments) != 1 || len(r.Attachments) != 1 {
			t.Errorf("%s references %d attachments and the recipient keeps %d, want 1 and 1", f.MessageID, len(r.Envelope.Attachments), len(r.Attachments))
			continue
		}
		ref, got := r.Envelope.Attachments[0], r.Attachments[0]
		if _, dup := refs[ref.ID]; dup {
			t.Errorf("attachment %s is referenced by two messages", ref.ID)
			chk.Duplicates++
		}
		refs[ref.ID] = ref
		switch sum, err := fileSHA256(got.Path); {
		case got.Failed != "" || got.Downloaded.IsZero():
			t.Errorf("%s: attachment %s not downloaded (failed: %q)", f.MessageID, ref.ID, got.Failed)
		case got.Name != f.Name || got.Size != f.Size:
			t.Errorf("%s: stored as %q, %d bytes; sent as %q, %d bytes", f.MessageID, got.Name, got.Size, f.Name, f.Size)
		case err != nil:
			t.Errorf("%s: %v", f.MessageID, err)
		case sum != f.SHA256:
			t.Errorf("%s: the stored file hashes to %s, the original to %s", f.MessageID, sum, f.SHA256)
		default:
			chk.Verified++
		}
		chk.countReceivedDir(t, filepath.Join(recipient.Dir, "attachments", "received", f.MessageID), ref.ID)
	}
	chk.Duplicates += checkHubBlobs(t, filepath.Join(hubData, "attachments"), refs)
	return chk
}

// countReceivedDir checks that a message's directory holds one received
// file, counting the partial downloads a kill left beside it.
func (chk *attachmentCheck) countReceivedDir(t testing.TB, dir, attachmentID string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Errorf("received attachments of %s: %v", filepath.Base(dir), err)
		return
	}
	for _, e := range entries {
		switch info, _ := e.Info(); {
		case e.Name() == attachmentID:
		case strings.HasPrefix(e.Name(), "."+attachmentID+".") && strings.HasSuffix(e.Name(), ".part") && info != nil:
			chk.LeftoverDownloads++
			chk.LeftoverDownloadBytes += info.Size()
		default:
			t.Errorf("the recipient keeps an unexpected file %s beside attachment %s", e.Name(), attachmentID)
			chk.Duplicates++
		}
	}
}

// checkHubBlobs compares the hub's attachment store with the references
// and returns how many blobs it holds beyond them.
func checkHubBlobs(t testing.TB, store string, refs map[string]contracts.AttachmentRef) (extra int) {
	t.Helper()
	complete, err := os.ReadDir(filepath.Join(store, "complete"))
	if err != nil {
		t.Fatalf("hub attachment store: %v", err)
	}
	for _, e := range complete {
		if _, ok := refs[e.Name()]; !ok {
			t.Errorf("the hub holds a complete attachment no message references: %s", e.Name())
			extra++
		}
	}
	for id, ref := range refs {
		path := filepath.Join(store, "complete", id)
		st, err := os.Stat(path)
		if err != nil {
			t.Errorf("the hub does not hold attachment %s: %v", id, err)
			continue
		}
		if sum, err := fileSHA256(path); err != nil || sum != ref.SHA256 || st.Size() != ref.Size {
			t.Errorf("the hub's ciphertext of %s: %d bytes, sha256 %s (%v); the envelope signed %d bytes, %s", id, st.Size(), sum, err, ref.Size, ref.SHA256)
		}
	}
	partial, err := os.ReadDir(filepath.Join(store, "partial"))
	if err != nil {
		t.Fatalf("hub attachment store: %v", err)
	}
	for _, e := range partial {
		t.Errorf("the hub still holds a partial upload: %s", e.Name())
	}
	return extra
}

// leftoverSealed counts the ciphertext files left in the sender's outgoing
// directory: a compose killed before its commit seals files no message
// references (the messages sent had theirs removed on acceptance).
func leftoverSealed(t *testing.T, s *site) int {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(s.Dir, "attachments", "outgoing"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return len(entries)
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// deliveryCounts are the figures a run prints.
type deliveryCounts struct {
	Composed, Sent, Accepted, Delivered, Stored, Receipted int
	Attachments, AttachmentsVerified                       int
	Duplicates, Lost                                       int
}

// countDeliveries tallies, per referral, the sender's outbox, the hub's
// trail events and the recipient's inbox and receipts. assertExactlyOnce
// says what is wrong; this says how much went right.
func countDeliveries(t *testing.T, hubURL string, sender, recipient *site, ids []string) deliveryCounts {
	t.Helper()
	c := deliveryCounts{Composed: len(ids)}
	sent, got := sender.outbox(t), recipient.received(t)
	receipts := map[string]int{}
	for _, o := range recipient.outbox(t) {
		if o.Kind == "receipt" {
			receipts[o.InReplyTo]++
		}
	}
	client := sender.client(t, hubURL)
	for _, id := range ids {
		if o := sent[id]; o.State == agent.StateSent {
			c.Sent++
		}
		if !sent[id].ReceiptedAt.IsZero() {
			c.Receipted++
		}
		if _, ok := got[id]; ok {
			c.Stored++
		} else {
			c.Lost++
		}
		c.Duplicates += max(0, receipts[id]-1)
		trail, err := trailWithin(client, id, 30*time.Second)
		if err != nil {
			t.Fatalf("trail %s: %v", id, err)
		}
		var accepted, delivered int
		for _, e := range trail.Events {
			switch {
			case e.MessageID == id && e.Type == "accepted":
				accepted++
			case e.MessageID == id && e.Type == "delivered":
				delivered++
			}
		}
		c.Accepted += accepted
		c.Delivered += delivered
		c.Duplicates += max(0, accepted-1) + max(0, delivered-1)
	}
	return c
}

// trailWithin fetches a trail, waiting out the hub's rate limit: reading
// every trail twice (assertExactlyOnce, then the counts) goes past the
// burst an agency is allowed (200 requests, then 50 a second).
func trailWithin(c *agency.Client, id string, patience time.Duration) (agency.Trail, error) {
	deadline := time.Now().Add(patience)
	for {
		trail, err := c.Trail(context.Background(), id)
		if !agency.IsCode(err, contracts.CodeRateLimited) || time.Now().After(deadline) {
			return trail, err
		}
		time.Sleep(time.Second)
	}
}
