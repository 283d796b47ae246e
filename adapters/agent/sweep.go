package agent

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Leftovers of a process killed mid-way (a power cut, SIGKILL):
//   - a download interrupted leaves "<dir>/.<id>.*.part", decrypted content
//     that no one will read: the download starts again from byte 0 under a
//     new name;
//   - a compose killed between encrypting an attachment and committing the
//     message leaves a ciphertext in the outgoing folder that no queued
//     message references.
//
// Both are removed when the agent opens, but only once they have not been
// written for a while: another process (a compose next to `agent run`, or a
// second `agent run`) may be writing them right now, and an active download
// or encryption writes every chunk, seconds apart even on a 56 kbit/s link.
const (
	stalePartial  = 10 * time.Minute
	staleOutgoing = time.Hour
)

func (a *Agent) sweepLeftovers(ctx context.Context, now time.Time) (removed int) {
	_ = filepath.WalkDir(a.receivedDir(), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(d.Name(), ".part") {
			return nil
		}
		if old(d, now, stalePartial) && os.Remove(path) == nil {
			removed++
		}
		return nil
	})
	referenced, err := a.db.outgoingPaths(ctx)
	if err != nil {
		a.log.WarnContext(ctx, "sweep of unsent attachments skipped", "error", err)
		return removed
	}
	entries, _ := os.ReadDir(a.outgoingDir())
	for _, d := range entries {
		path := filepath.Join(a.outgoingDir(), d.Name())
		if d.IsDir() || referenced[d.Name()] || !old(d, now, staleOutgoing) {
			continue
		}
		if os.Remove(path) == nil {
			removed++
		}
	}
	return removed
}

func old(d fs.DirEntry, now time.Time, age time.Duration) bool {
	info, err := d.Info()
	return err == nil && now.Sub(info.ModTime()) > age
}

// outgoingPaths lists the names of the attachment files queued messages
// still need. Names, not paths: the agent's directory may have been given
// as a relative path by one process and an absolute one by another, and
// each file's name is random and unique.
func (s *store) outgoingPaths(ctx context.Context) (map[string]bool, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT path FROM outbox_attachments`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	paths := map[string]bool{}
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, err
		}
		paths[filepath.Base(p)] = true
	}
	return paths, rows.Err()
}
