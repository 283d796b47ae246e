package attachments

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/tests/internal/relaistest"
)

// Agencies of the tests, all within the shipped bf-ci-ml agreement.
const (
	senderID    = "ci.dpe-abidjan"
	recipientID = "ml.dnpef"
	strangerID  = "bf.dpe-bobo"
)

// world is a `relais serve` process and three registered agencies.
type world struct {
	t          testing.TB
	dir        string
	hub        *relaistest.Hub
	adminToken string
	keyDirs    map[string]string
	keys       map[string]agency.Keys
}

func newWorld(t testing.TB) *world {
	t.Helper()
	dir := t.TempDir()
	data := filepath.Join(dir, "hub")
	h := relaistest.StartServe(t, t, relaisBin, relaistest.FreeAddr(t), data, filepath.Join(dir, "hub.log"))
	token, err := os.ReadFile(filepath.Join(data, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, dir: dir, hub: h, adminToken: strings.TrimSpace(string(token)), keyDirs: map[string]string{}, keys: map[string]agency.Keys{}}
	for _, id := range []string{senderID, recipientID, strangerID} {
		keyDir := filepath.Join(dir, "keys", id)
		w.keys[id] = relaistest.RegisterAgency(t, h.URL(), w.adminToken, keyDir, id, "Service "+id)
		w.keyDirs[id] = keyDir
	}
	t.Cleanup(func() {
		if t.Failed() {
			log, _ := os.ReadFile(h.Log)
			t.Logf("hub log (end):\n%s", tail(log, 6000))
		}
	})
	return w
}

// client is agency id's client, talking to url (the hub, or a proxy).
func (w *world) client(id, url string) *agency.Client {
	c := agency.New(url, w.keys[id])
	c.Lang = "en"
	return c
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

const referralBody = `{
  "child": {"given_names": "Aminata", "family_name": "Traoré", "sex": "f", "birth_date": "2012-05-04", "nationality": "ml"},
  "location": {"country": "ci", "admin_area": "CI-AB", "place": "Centre d'accueil de Treichville", "since": "2026-02-01"},
  "family": [{"relationship": "mother", "given_names": "Fatoumata", "status": "alive"}],
  "protection_concerns": {"codes": ["unaccompanied"]},
  "narrative": "Retrouvée seule à la gare routière d'Adjamé ; souhaite rejoindre sa mère.",
  "urgency": "normal"
}`

var referralCategories = []string{"identity", "location", "family", "protection_concerns", "narrative", "documents"}

func referralDraft(caseRef string, refs ...contracts.AttachmentRef) agency.Draft {
	return agency.Draft{
		Kind: "referral.request", To: recipientID, Case: caseRef, Purpose: "protection_referral",
		DataCategories: referralCategories,
		Consent: &contracts.Consent{
			Ref: "CONS-" + caseRef, Basis: "consent", GivenBy: "parent", ChildAssent: true, AgeBand: "12-14",
			Recipients: []string{contracts.AgencyCountry(recipientID)}, Purposes: []string{"protection_referral"},
			DataCategories: referralCategories, ObtainedAt: time.Now().UTC().Add(-24 * time.Hour).Truncate(time.Second),
		},
		Body:        json.RawMessage(referralBody),
		Attachments: refs,
	}
}

// randomFile writes n random bytes to a file and returns its path and
// SHA-256.
func randomFile(t testing.TB, dir string, n int64) (string, string) {
	t.Helper()
	path := filepath.Join(dir, "scan.pdf")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for left := n; left > 0; {
		chunk := buf[:min(int64(len(buf)), left)]
		if _, err := rand.Read(chunk); err != nil {
			t.Fatal(err)
		}
		f.Write(chunk)
		h.Write(chunk)
		left -= int64(len(chunk))
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path, hex.EncodeToString(h.Sum(nil))
}

// upload encrypts and uploads the file at path for the recipient.
func upload(t testing.TB, c *agency.Client, path string, opts agency.TransferOptions) contracts.AttachmentRef {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	ref, err := c.UploadAttachment(context.Background(), f, st.Size(), agency.AttachmentOptions{
		To: recipientID, Name: filepath.Base(path), MediaType: "application/pdf", SpoolDir: t.TempDir(), Transfer: opts,
	})
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	return ref
}

// receive pulls the recipient's inbox until the message id arrives and
// returns it opened.
func receive(t testing.TB, c *agency.Client, id string) agency.Opened {
	t.Helper()
	var found agency.Opened
	relaistest.Eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
		items, _, err := c.Inbox(context.Background(), "", 0)
		if err != nil {
			return err
		}
		for _, it := range items {
			if it.ID == id {
				found, err = c.Open(context.Background(), []byte(it.JWS))
				return err
			}
		}
		return os.ErrNotExist
	})
	return found
}

// download fetches and decrypts an attachment into a file, returning the
// plaintext's SHA-256.
func download(c *agency.Client, ref contracts.AttachmentRef, dir string, opts agency.TransferOptions) (string, error) {
	f, err := os.CreateTemp(dir, "download-*")
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := c.DownloadAttachment(context.Background(), ref, io.MultiWriter(f, h), opts); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
