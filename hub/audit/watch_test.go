package audit

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"

	"github.com/relais-hub/relais/contracts"
	"golang.org/x/mod/sumdb/note"
)

func encodeRoot(r []byte) string { return base64.StdEncoding.EncodeToString(r) }

func TestWatcherFollowsAGrowingLogAndRemembersIt(t *testing.T) {
	ctx := context.Background()
	db, _ := openSQLite(t)
	l := newLog(t, DialectSQLite, hubKey)
	state := filepath.Join(t.TempDir(), "watch", "last")
	if err := os.MkdirAll(filepath.Dir(state), 0o700); err != nil {
		t.Fatal(err)
	}
	w, err := NewWatcher(state, testOrigin, l.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := w.Last(); ok {
		t.Fatal("a new watcher has a last checkpoint")
	}
	appendEvents(t, db, l, 0, 7)
	cp7 := mustCheckpoint(t, db, l)
	if err := w.Observe(cp7.Note, nil); err != nil {
		t.Fatalf("first checkpoint: %v", err)
	}
	appendEvents(t, db, l, 7, 6)
	cp13 := mustCheckpoint(t, db, l)

	wantFailure(t, w.Observe(cp13.Note, nil), ErrMissingProof, contracts.CodeAuditConsistencyFailed)
	p, err := l.ConsistencyProof(ctx, db, 7, 13)
	if err != nil {
		t.Fatal(err)
	}
	wrong := clone(p)
	wrong[0] = bytes.Repeat([]byte{1}, 32)
	wantFailure(t, w.Observe(cp13.Note, wrong), ErrInconsistent, contracts.CodeAuditConsistencyFailed)
	if err := w.Observe(cp13.Note, p); err != nil {
		t.Fatalf("grown checkpoint with its proof: %v", err)
	}
	if err := w.Observe(cp13.Note, nil); err != nil {
		t.Fatalf("the same checkpoint again: %v", err)
	}
	wantFailure(t, w.Observe(cp7.Note, nil), ErrShrunk, contracts.CodeAuditShrunk)

	again, err := NewWatcher(state, testOrigin, l.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	last, ok := again.Last()
	if !ok || last.Size != 13 || !bytes.Equal(last.Note, cp13.Note) {
		t.Fatalf("reloaded watcher remembers size %d, want 13", last.Size)
	}
	wantFailure(t, again.Observe(cp7.Note, nil), ErrShrunk, contracts.CodeAuditShrunk)
	entries, _ := os.ReadDir(filepath.Dir(state))
	if len(entries) != 1 {
		t.Fatalf("state directory holds %d files, want only the state (no temporary left)", len(entries))
	}
}

func TestWatcherRefusesATamperedStateFile(t *testing.T) {
	db, _ := openSQLite(t)
	l := newLog(t, DialectSQLite, hubKey)
	appendEvents(t, db, l, 0, 3)
	cp := mustCheckpoint(t, db, l)
	state := filepath.Join(t.TempDir(), "last")
	if err := os.WriteFile(state, editCheckpointBody(t, cp, 2, cp.Root), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := NewWatcher(state, testOrigin, l.PublicKey())
	wantFailure(t, err, ErrBadSignature, contracts.CodeAuditCheckpointInvalid)

	if err := os.WriteFile(state, cp.Note, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = NewWatcher(state, "another.log/example", l.PublicKey())
	if err == nil {
		t.Fatal("state of another log accepted")
	}
}

func TestParseCheckpointRefusesWhatIsNotAHubCheckpoint(t *testing.T) {
	db, _ := openSQLite(t)
	l := newLog(t, DialectSQLite, hubKey)
	appendEvents(t, db, l, 0, 3)
	cp := mustCheckpoint(t, db, l)
	pub := l.PublicKey()
	other := newLog(t, DialectSQLite, testKey("other"))
	forged, _ := other.sign(cp.Size, cp.Root)
	foreignOrigin, _ := New(Config{Origin: "another.log/example", Signer: hubKey, Dialect: DialectSQLite})
	foreign, _ := foreignOrigin.sign(cp.Size, cp.Root)
	body := string(cp.Note[:bytes.Index(cp.Note, []byte("\n\n"))+1])
	unsigned := []byte(body + "\n")
	signedExtension, err := note.Sign(&note.Note{Text: body + "extension line\n"}, l.signer)
	if err != nil {
		t.Fatal(err)
	}
	otherBody := "another.log/example\n3\n" + encodeRoot(cp.Root) + "\n"
	signedOtherBody, err := note.Sign(&note.Note{Text: otherBody}, l.signer)
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name     string
		text     []byte
		origin   string
		sentinel error
	}{
		{"a note signed by another key", forged.Note, testOrigin, ErrBadSignature},
		{"an edited size", editCheckpointBody(t, cp, 4, cp.Root), testOrigin, ErrBadSignature},
		{"an edited root", editCheckpointBody(t, cp, 3, bytes.Repeat([]byte{7}, 32)), testOrigin, ErrBadSignature},
		{"a checkpoint of another log", foreign.Note, testOrigin, ErrBadSignature},
		{"a checkpoint for the wrong expected origin", cp.Note, "another.log/example", ErrBadSignature},
		{"an unsigned body", unsigned, testOrigin, ErrMalformedCheckpoint},
		{"a signed body with extension lines", signedExtension, testOrigin, ErrMalformedCheckpoint},
		{"a signed body naming another origin", signedOtherBody, testOrigin, ErrWrongOrigin},
		{"garbage", []byte("not a note"), testOrigin, ErrMalformedCheckpoint},
	}
	for _, tc := range cases {
		t.Run("it refuses "+tc.name, func(t *testing.T) {
			_, err := ParseCheckpoint(tc.text, tc.origin, pub)
			wantFailure(t, err, tc.sentinel, contracts.CodeAuditCheckpointInvalid)
		})
	}
	if _, err := ParseCheckpoint(cp.Note, testOrigin, pub); err != nil {
		t.Fatalf("genuine checkpoint refused: %v", err)
	}
}
