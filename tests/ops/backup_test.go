package ops

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/contracts/seal"
	"github.com/relais-hub/relais/hub/audit"
	"github.com/relais-hub/relais/tests/internal/relaistest"
)

// auditOrigin is the audit log's name for `relais serve`'s default hub id.
const auditOrigin = "relais-hub/audit"

// TestBackupWhileRunningThenWipeAndRestoreKeepsTrailsInboxesAndProofs backs
// up a running embedded hub (while submissions keep arriving), wipes its
// data directory, restores it and restarts the hub: the trails and the
// inbox are as they were at the backup, what came after is gone and can be
// re-sent, the audit bundle built before the backup still verifies, and the
// log keeps growing as a provable extension of the pre-backup checkpoint.
func TestBackupWhileRunningThenWipeAndRestoreKeepsTrailsInboxesAndProofs(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	data := filepath.Join(root, "data")
	addr := relaistest.FreeAddr(t)
	logPath := filepath.Join(root, "hub.log")
	h := relaistest.StartServe(t, t, relaisBin, addr, data, logPath)
	token := strings.TrimSpace(string(mustRead(t, filepath.Join(data, "admin.token"))))
	pub := hubPublicKey(t, filepath.Join(data, "hub.jwk"))

	agencies := filepath.Join(root, "agencies")
	ci := register(t, h.URL(), token, agencies, "ci.dpe-abidjan")
	ml := register(t, h.URL(), token, agencies, "ml.dnpef")
	bf := register(t, h.URL(), token, agencies, "bf.dpe-bobo")

	// Before the backup: one referral answered and receipted both ways,
	// one waiting in Mali's inbox.
	first, _, err := ci.Send(ctx, referral(ml.Keys.ID, "CI-ABJ-2026-0311"))
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	answer, err := ml.Answer(ctx, pull(t, ml, first.ID).Envelope, true, "")
	if err != nil {
		t.Fatalf("answer: %v", err)
	}
	pull(t, ci, answer.ID)
	waiting, _, err := bf.Send(ctx, referral(ml.Keys.ID, "BF-BOB-2026-0042"))
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	var trailBefore agency.Trail
	relaistest.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		trailBefore, err = ci.Trail(ctx, first.Transfer)
		if err != nil {
			return err
		}
		return deliveredAll(trailBefore)
	})
	relaistest.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error { return inInbox(ctx, ml, waiting.ID) })

	// An auditor's bundle of the first transfer, under a fresh checkpoint.
	if r := adminDoToken(t, h.URL(), token, http.MethodPost, "/v1/audit/checkpoint", "", nil); r.status != http.StatusOK {
		t.Fatalf("publish checkpoint: %d %s", r.status, r.body)
	}
	bundleBefore := getBundle(t, h.URL(), token, first.Transfer, "")
	repBefore, err := audit.VerifyBundle(bundleBefore, pub)
	if err != nil {
		t.Fatalf("the bundle does not verify before the backup: %v", err)
	}
	cpBefore := repBefore.Checkpoint

	// The backup, while refused submissions keep appending to the log.
	stop := make(chan struct{})
	var traffic sync.WaitGroup
	traffic.Add(1)
	go func() {
		defer traffic.Done()
		for {
			select {
			case <-stop:
				return
			default:
				_, _ = bf.Submit(ctx, []byte("not-a-jws"))
			}
		}
	}()
	archive := filepath.Join(root, "backups", "relais.tar.gz")
	if err := os.MkdirAll(filepath.Dir(archive), 0o700); err != nil {
		t.Fatal(err)
	}
	out := mustRelais(t, "backup", "--data", data, "--out", archive)
	close(stop)
	traffic.Wait()
	if st, err := os.Stat(archive); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("archive: %v, mode %v; want 0600", err, st.Mode().Perm())
	}
	manifest := readManifest(t, archive)
	if manifest.Audit == nil || manifest.Audit.TreeSize < cpBefore.Size {
		t.Fatalf("the backup's audit log %+v does not reach the pre-backup checkpoint %d\n%s", manifest.Audit, cpBefore.Size, out.Stdout)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(archive), ".*")); len(leftovers) > 0 {
		t.Errorf("backup left temporary files: %v", leftovers)
	}

	// After the backup: a referral the restore will lose.
	lostEnv, lostJWS, err := ci.Seal(ctx, referral(ml.Keys.ID, "CI-ABJ-2026-0312"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ci.Submit(ctx, lostJWS); err != nil {
		t.Fatalf("submit: %v", err)
	}

	// Disaster: the hub stops and its data directory is gone.
	h.Stop()
	if err := os.RemoveAll(data); err != nil {
		t.Fatal(err)
	}
	mustRelais(t, "restore", "--in", archive, "--data", data)
	h = relaistest.StartServe(t, t, relaisBin, addr, data, logPath)

	// Trails and inboxes are as they were at the backup.
	trailAfter, err := ci.Trail(ctx, first.Transfer)
	if err != nil {
		t.Fatalf("trail after restore: %v", err)
	}
	if !reflect.DeepEqual(trailAfter, trailBefore) {
		t.Errorf("the trail changed across backup and restore:\nbefore %+v\nafter  %+v", trailBefore, trailAfter)
	}
	if err := inInbox(ctx, ml, waiting.ID); err != nil {
		t.Errorf("after restore: %v", err)
	}
	// What came after the backup is gone, and the sender can re-send it.
	if _, err := ci.Trail(ctx, lostEnv.Transfer); !agency.IsCode(err, "not_found") {
		t.Errorf("the transfer opened after the backup: %v, want not_found", err)
	}
	if _, err := ci.Submit(ctx, lostJWS); err != nil {
		t.Errorf("re-sending the lost referral: %v", err)
	}

	// The pre-backup checkpoint is served unchanged, the log grows from
	// it, and a consistency proof from it to a new checkpoint verifies.
	r := adminDoToken(t, h.URL(), token, http.MethodGet, "/v1/audit/checkpoint?size="+itoa(cpBefore.Size), "", nil)
	if r.status != http.StatusOK || !strings.Contains(string(bundleBefore), jsonString(t, string(r.body))) {
		t.Errorf("checkpoint %d after restore: %d %s", cpBefore.Size, r.status, r.body)
	}
	pull(t, ml, waiting.ID)
	r = adminDoToken(t, h.URL(), token, http.MethodPost, "/v1/audit/checkpoint", "", nil)
	if r.status != http.StatusOK {
		t.Fatalf("publish checkpoint after restore: %d %s", r.status, r.body)
	}
	cpAfter, err := audit.ParseCheckpoint(r.body, auditOrigin, pub)
	if err != nil || cpAfter.Size <= cpBefore.Size {
		t.Fatalf("checkpoint after restore: %+v, %v (before: %d)", cpAfter, err, cpBefore.Size)
	}
	var consistency struct{ Proof [][]byte }
	r = adminDoToken(t, h.URL(), token, http.MethodGet, "/v1/audit/proof/consistency?from="+itoa(cpBefore.Size)+"&to="+itoa(cpAfter.Size), "", nil)
	if r.status != http.StatusOK || json.Unmarshal(r.body, &consistency) != nil {
		t.Fatalf("consistency proof: %d %s", r.status, r.body)
	}
	if err := audit.VerifyConsistency(cpBefore, cpAfter, consistency.Proof); err != nil {
		t.Errorf("the restored log does not extend the pre-backup checkpoint: %v", err)
	}

	// The pre-backup bundle still verifies offline, and a new bundle of the
	// same transfer proves the same leaves under the new checkpoint, with
	// the proof that it extends the old one.
	if _, err := audit.VerifyBundle(bundleBefore, pub); err != nil {
		t.Errorf("the pre-backup bundle no longer verifies: %v", err)
	}
	bundleAfter := getBundle(t, h.URL(), token, first.Transfer, itoa(cpBefore.Size))
	repAfter, err := audit.VerifyBundle(bundleAfter, pub)
	if err != nil {
		t.Fatalf("the post-restore bundle does not verify: %v", err)
	}
	if repAfter.ConsistentFrom == nil || repAfter.ConsistentFrom.Size != cpBefore.Size {
		t.Errorf("the post-restore bundle proves consistency from %+v, want size %d", repAfter.ConsistentFrom, cpBefore.Size)
	}
	leaves := map[uint64][]byte{}
	for _, e := range decodeBundle(t, bundleAfter).Events {
		leaves[e.Index] = e.Leaf
	}
	for _, e := range decodeBundle(t, bundleBefore).Events {
		if !bytes.Equal(leaves[e.Index], e.Leaf) {
			t.Errorf("leaf %d differs between the bundles before and after the restore", e.Index)
		}
	}

	log := string(mustRead(t, logPath))
	if leak, found := containsAny(log, personalStrings); found {
		t.Errorf("the hub's log contains %q", leak)
	}
}

func TestRestoreRefusesANonEmptyDirectoryATamperedArchiveAndUnsafePaths(t *testing.T) {
	root := t.TempDir()
	data := filepath.Join(root, "data")
	h := relaistest.StartServe(t, t, relaisBin, relaistest.FreeAddr(t), data, filepath.Join(root, "hub.log"))
	token := strings.TrimSpace(string(mustRead(t, filepath.Join(data, "admin.token"))))
	register(t, h.URL(), token, filepath.Join(root, "agencies"), "ml.dnpef")
	if r := adminDoToken(t, h.URL(), token, http.MethodPost, "/v1/audit/checkpoint", "", nil); r.status != http.StatusOK {
		t.Fatalf("publish checkpoint: %d %s", r.status, r.body)
	}
	archive := filepath.Join(root, "relais.tar.gz")
	mustRelais(t, "backup", "--data", data, "--out", archive)
	h.Stop()

	if r := relais(t, "backup", "--data", data, "--out", archive); r.Code == 0 || !strings.Contains(r.Stderr, "already exists") {
		t.Errorf("backup over an existing archive: exit %d, %s", r.Code, r.Stderr)
	}
	if r := relais(t, "restore", "--in", archive, "--data", data); r.Code == 0 || !strings.Contains(r.Stderr, "--force") {
		t.Errorf("restore into the hub's own non-empty directory: exit %d, %s", r.Code, r.Stderr)
	}
	// --force replaces the hub files, including a stale write-ahead log.
	if err := os.WriteFile(filepath.Join(data, "relais.db-wal"), []byte("stale"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustRelais(t, "restore", "--in", archive, "--data", data, "--force")
	if _, err := os.Stat(filepath.Join(data, "relais.db-wal")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a stale relais.db-wal survived the restore: %v", err)
	}

	for _, c := range []struct {
		name, want string
		// resign recomputes the manifest after the edit, as a forger
		// would: only the audit log's signature can then tell.
		resign bool
		edit   func(t *testing.T, name string, body []byte, m *backupManifest) (string, []byte)
	}{
		{"a policy file altered after the backup", "differs from the manifest", false, func(_ *testing.T, name string, body []byte, _ *backupManifest) (string, []byte) {
			if strings.HasPrefix(name, "policies/") {
				body = append(bytes.Clone(body), '\n')
			}
			return name, body
		}},
		{"the store replaced by another file", "differs from the manifest", false, func(_ *testing.T, name string, body []byte, _ *backupManifest) (string, []byte) {
			if name == "relais.db" {
				body = bytes.Repeat([]byte{0}, len(body))
			}
			return name, body
		}},
		{"an audit event rewritten in a consistently re-hashed archive", "the log was altered", true, func(t *testing.T, name string, body []byte, _ *backupManifest) (string, []byte) {
			if name == "relais.db" {
				body = rewriteAuditEvent(t, body)
			}
			return name, body
		}},
		{"a file that climbs out of the data directory", "unsafe path", false, func(_ *testing.T, name string, body []byte, m *backupManifest) (string, []byte) {
			if name == "case.key" {
				for i := range m.Files {
					if m.Files[i].Path == name {
						m.Files[i].Path = "../case.key"
					}
				}
				return "../case.key", body
			}
			return name, body
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			bad := filepath.Join(t.TempDir(), "bad.tar.gz")
			rewriteArchive(t, archive, bad, c.resign, c.edit)
			target := filepath.Join(t.TempDir(), "data")
			r := relais(t, "restore", "--in", bad, "--data", target)
			if r.Code == 0 || !strings.Contains(r.Stderr, c.want) {
				t.Fatalf("restore of %s: exit %d, stderr %q; want a refusal naming %q", c.name, r.Code, r.Stderr, c.want)
			}
			if entries, _ := os.ReadDir(target); len(entries) > 0 {
				t.Errorf("a refused restore left files in the data directory: %v", entries)
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(target), "case.key")); err == nil {
				t.Error("a file was written outside the data directory")
			}
		})
	}
}

// backupManifest mirrors the archive's manifest.json.
type backupManifest struct {
	Format    string    `json:"format"`
	CreatedAt time.Time `json:"created_at"`
	Files     []struct {
		Path   string `json:"path"`
		Size   int64  `json:"size"`
		SHA256 string `json:"sha256"`
	} `json:"files"`
	Audit *struct {
		Origin         string `json:"origin"`
		CheckpointSize uint64 `json:"checkpoint_size"`
		CheckpointRoot string `json:"checkpoint_root"`
		TreeSize       uint64 `json:"tree_size"`
	} `json:"audit,omitempty"`
}

// archiveEntries reads every entry of a backup archive.
func archiveEntries(t *testing.T, path string) (names []string, bodies map[string][]byte) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	bodies = map[string][]byte{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return names, bodies
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, hdr.Name)
		bodies[hdr.Name] = b
	}
}

func readManifest(t *testing.T, path string) backupManifest {
	t.Helper()
	names, bodies := archiveEntries(t, path)
	if len(names) == 0 || names[0] != "manifest.json" {
		t.Fatalf("archive entries %v: manifest.json must come first", names)
	}
	var m backupManifest
	if err := json.Unmarshal(bodies["manifest.json"], &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// rewriteArchive copies a backup archive, letting edit change each file's
// name and content and the manifest; with resign, the manifest's sizes and
// digests are recomputed from the edited files.
func rewriteArchive(t *testing.T, from, to string, resign bool, edit func(*testing.T, string, []byte, *backupManifest) (string, []byte)) {
	t.Helper()
	names, bodies := archiveEntries(t, from)
	m := readManifest(t, from)
	type entry struct {
		name string
		body []byte
	}
	var entries []entry
	for _, name := range names[1:] {
		n, b := edit(t, name, bodies[name], &m)
		entries = append(entries, entry{n, b})
	}
	if resign {
		for i, f := range m.Files {
			for _, e := range entries {
				if e.name == f.Path {
					sum := sha256.Sum256(e.body)
					m.Files[i].Size, m.Files[i].SHA256 = int64(len(e.body)), hex.EncodeToString(sum[:])
				}
			}
		}
	}
	manifest, _ := json.Marshal(m)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range append([]entry{{"manifest.json", manifest}}, entries...) {
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o600, Size: int64(len(e.body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// rewriteAuditEvent changes the type of the first audit event in a copy of
// a SQLite store, the way someone editing the file would, and returns the
// edited file.
func rewriteAuditEvent(t *testing.T, store []byte) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "relais.db")
	if err := os.WriteFile(path, store, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	res, err := db.Exec(`UPDATE audit_leaves SET data = CAST(REPLACE(CAST(data AS TEXT), 'agency_registered', 'agency_registerex') AS BLOB) WHERE idx = 0`)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("rewrote %d audit events, want 1", n)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return mustRead(t, path)
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// hubPublicKey reads the hub's public key from its key file, as an auditor
// obtains it independently of the hub's answers.
func hubPublicKey(t *testing.T, path string) ed25519.PublicKey {
	t.Helper()
	k, err := seal.ReadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var priv ed25519.PrivateKey
	if err := jwk.Export(k, &priv); err != nil {
		t.Fatal(err)
	}
	return priv.Public().(ed25519.PublicKey)
}

// getBundle fetches the audit bundle of a transfer, with a consistency
// proof from the checkpoint of size since when given.
func getBundle(t *testing.T, hubURL, token, transfer, since string) []byte {
	t.Helper()
	path := "/v1/audit/bundle?transfer=" + transfer
	if since != "" {
		path += "&since=" + since
	}
	r := adminDoToken(t, hubURL, token, http.MethodGet, path, "", nil)
	if r.status != http.StatusOK {
		t.Fatalf("bundle: %d %s", r.status, r.body)
	}
	return r.body
}

func decodeBundle(t *testing.T, raw []byte) audit.Bundle {
	t.Helper()
	var b audit.Bundle
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	return b
}

// deliveredAll checks that every message accepted in a trail was
// delivered.
func deliveredAll(tr agency.Trail) error {
	accepted, delivered := map[string]bool{}, map[string]bool{}
	for _, e := range tr.Events {
		switch e.Type {
		case "accepted":
			accepted[e.MessageID] = true
		case "delivered":
			delivered[e.MessageID] = true
		}
	}
	for id := range accepted {
		if !delivered[id] {
			return errors.New("message " + id + " is not delivered yet")
		}
	}
	return nil
}

// inInbox checks that id waits in c's inbox.
func inInbox(ctx context.Context, c *agency.Client, id string) error {
	items, _, err := c.Inbox(ctx, "", 0)
	if err != nil {
		return err
	}
	for _, it := range items {
		if it.ID == id {
			return nil
		}
	}
	return errors.New("message " + id + " is not in " + c.Keys.ID + "'s inbox")
}

func itoa(n uint64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// jsonString is s as it appears inside a JSON document.
func jsonString(t *testing.T, s string) string {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Trim(string(b), `"`)
}
