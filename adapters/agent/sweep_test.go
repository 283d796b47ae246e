package agent

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestOpeningRemovesOnlyStaleLeftoversOfAnInterruptedRun(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "site")
	if _, err := Init(ctx, dir, InitOptions{Agency: "ci.dpe-abidjan", Hub: "http://127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	a := openTestAgent(t, dir, "ci.dpe-abidjan")
	now := time.Now()
	write := func(path string, age time.Duration) string {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, now.Add(-age), now.Add(-age)); err != nil {
			t.Fatal(err)
		}
		return path
	}
	received := filepath.Join(a.receivedDir(), "01JMSG")
	stalePart := write(filepath.Join(received, ".att1.123.part"), time.Hour)
	activePart := write(filepath.Join(received, ".att2.456.part"), time.Minute)
	kept := write(filepath.Join(received, "scan.pdf"), 48*time.Hour)
	orphan := write(filepath.Join(a.outgoingDir(), "orphan.rlat"), 3*time.Hour)
	fresh := write(filepath.Join(a.outgoingDir(), "being-written.rlat"), time.Minute)
	queued := write(filepath.Join(a.outgoingDir(), "queued.rlat"), 72*time.Hour)
	// The queued message's row names the file through another spelling of
	// the agent's directory.
	if _, err := a.db.db.ExecContext(ctx, `INSERT INTO outbox (id, kind, recipient, transfer, case_ref, origin, jws, body_bytes, created_at)
VALUES ('m', 'referral.request', 'ml.dnpef', 'm', 'C-1', 'compose', x'00', 1, 0)`); err != nil {
		t.Fatal(err)
	}
	if _, err := a.db.db.ExecContext(ctx, `INSERT INTO outbox_attachments (message_id, attachment_id, path, sha256, size) VALUES ('m', 'a', ?, 's', 1)`,
		filepath.Join("..", "elsewhere", "attachments", "outgoing", "queued.rlat")); err != nil {
		t.Fatal(err)
	}

	if n := a.sweepLeftovers(ctx, now); n != 2 {
		t.Errorf("removed %d files, want 2 (the stale partial download and the orphan ciphertext)", n)
	}
	for path, want := range map[string]bool{stalePart: false, orphan: false, activePart: true, kept: true, fresh: true, queued: true} {
		if _, err := os.Stat(path); (err == nil) != want {
			t.Errorf("%s: exists=%v, want %v", filepath.Base(path), err == nil, want)
		}
	}
}
