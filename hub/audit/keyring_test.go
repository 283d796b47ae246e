package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"strings"
	"testing"

	"github.com/relais-hub/relais/contracts"
)

func TestARotationKeepsEveryEarlierCheckpointVerifiable(t *testing.T) {
	ctx := context.Background()
	db, _ := openSQLite(t)
	oldKey, newKey := testKey("hub key 2025"), testKey("hub key 2026")
	oldPub, newPub := oldKey.Public().(ed25519.PublicKey), newKey.Public().(ed25519.PublicKey)
	l := newLog(t, DialectSQLite, oldKey)
	appendEvents(t, db, l, 0, 6)
	before := mustCheckpoint(t, db, l)

	if err := l.BeginRotation(newKey); err != nil {
		t.Fatal(err)
	}
	appendEvents(t, db, l, 6, 1) // the rotation's own event, in the hub
	handover := mustCheckpoint(t, db, l)
	l.EndRotation()
	appendEvents(t, db, l, 7, 5)
	after := mustCheckpoint(t, db, l)

	t.Run("the checkpoint signed before the rotation is still read back and verified", func(t *testing.T) {
		got, err := l.CheckpointAt(ctx, db, before.Size)
		if err != nil || !bytes.Equal(got.Note, before.Note) {
			t.Fatalf("CheckpointAt(%d) = %v", before.Size, err)
		}
		if _, err := ParseCheckpointWithKeys(before.Note, testOrigin, l.PublicKeys()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("the handover checkpoint verifies with the old key alone and with the new key alone", func(t *testing.T) {
		for name, pub := range map[string]ed25519.PublicKey{"old": oldPub, "new": newPub} {
			if _, err := ParseCheckpoint(handover.Note, testOrigin, pub); err != nil {
				t.Errorf("with the %s key: %v", name, err)
			}
		}
	})
	t.Run("after the handover only the new key signs", func(t *testing.T) {
		if _, err := ParseCheckpoint(after.Note, testOrigin, oldPub); err == nil {
			t.Fatal("the old key still signs after the rotation ended")
		}
		if _, err := ParseCheckpoint(after.Note, testOrigin, newPub); err != nil {
			t.Fatal(err)
		}
		if !l.PublicKey().Equal(newPub) {
			t.Fatal("the current key is not the new one")
		}
	})
	t.Run("a bundle built after the rotation proves it extends a checkpoint signed before it", func(t *testing.T) {
		b, err := BuildBundle(ctx, db, l, []uint64{2, 9})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.AddConsistency(ctx, db, l, before.Size); err != nil {
			t.Fatal(err)
		}
		data, err := b.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		rep, err := VerifyBundleWithKeys(data, []ed25519.PublicKey{newPub, oldPub})
		if err != nil {
			t.Fatal(err)
		}
		if rep.ConsistentFrom == nil || rep.ConsistentFrom.Size != before.Size || len(rep.Verified) != 2 {
			t.Fatalf("report %+v", rep)
		}
		// Trusting only the old key is not enough for a bundle signed by
		// the new one: the auditor must fetch the key set.
		_, err = VerifyBundle(data, oldPub)
		wantFailure(t, err, ErrKeyMismatch, contracts.CodeAuditBundleInvalid)
	})
	t.Run("a restarted log that trusts the retired key reads every checkpoint", func(t *testing.T) {
		again := newLog(t, DialectSQLite, newKey)
		if _, err := again.CheckpointAt(ctx, db, before.Size); err == nil {
			t.Fatal("read a checkpoint of a key it was not told about")
		}
		if err := again.TrustRetired(oldPub); err != nil {
			t.Fatal(err)
		}
		for _, cp := range []SignedCheckpoint{before, handover, after} {
			if _, err := again.CheckpointAt(ctx, db, cp.Size); err != nil {
				t.Errorf("checkpoint %d: %v", cp.Size, err)
			}
		}
	})
}

func TestAnAbortedRotationRestoresTheKey(t *testing.T) {
	oldKey := testKey("hub key kept")
	l := newLog(t, DialectSQLite, oldKey)
	if err := l.BeginRotation(testKey("hub key abandoned")); err != nil {
		t.Fatal(err)
	}
	if err := l.BeginRotation(testKey("a third key")); err != ErrRotating {
		t.Fatalf("a second rotation during the first: %v", err)
	}
	l.AbortRotation()
	if !l.PublicKey().Equal(oldKey.Public()) || len(l.PublicKeys()) != 1 || len(l.signers()) != 1 {
		t.Fatalf("keys after the abort: %d trusted, %d signing", len(l.PublicKeys()), len(l.signers()))
	}
	if err := l.BeginRotation(oldKey); err == nil || !strings.Contains(err.Error(), "already") {
		t.Fatalf("rotating to the current key: %v", err)
	}
}

func TestABadSignatureByATrustedKeyIsNotExcusedByAnother(t *testing.T) {
	db, _ := openSQLite(t)
	oldKey, newKey := testKey("hub key A"), testKey("hub key B")
	l := newLog(t, DialectSQLite, oldKey)
	appendEvents(t, db, l, 0, 3)
	if err := l.BeginRotation(newKey); err != nil {
		t.Fatal(err)
	}
	cp := mustCheckpoint(t, db, l)
	// Corrupt the second signature line (the new key's), keep the first.
	lines := strings.Split(strings.TrimSuffix(string(cp.Note), "\n"), "\n")
	last := lines[len(lines)-1]
	sig := []byte(last)
	sig[len(sig)-3] ^= 0x01
	if sig[len(sig)-3] == '=' || sig[len(sig)-3] == '+' || sig[len(sig)-3] == '/' {
		sig[len(sig)-3] = 'A'
	}
	lines[len(lines)-1] = string(sig)
	forged := []byte(strings.Join(lines, "\n") + "\n")
	_, err := ParseCheckpointWithKeys(forged, testOrigin, []ed25519.PublicKey{oldKey.Public().(ed25519.PublicKey), newKey.Public().(ed25519.PublicKey)})
	wantFailure(t, err, ErrBadSignature, contracts.CodeAuditCheckpointInvalid)
}

func TestCheckpointsPublishedDuringARotationAllVerify(t *testing.T) {
	ctx := context.Background()
	db, _ := openSQLite(t)
	oldKey, newKey := testKey("hub key before"), testKey("hub key after")
	l := newLog(t, DialectSQLite, oldKey)
	appendEvents(t, db, l, 0, 3)
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		// The publisher keeps signing while the rotation happens.
		for {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			if _, err := l.Checkpoint(ctx, db); err != nil {
				done <- err
				return
			}
		}
	}()
	// Besides the concurrent publisher (which a loaded machine may not
	// schedule in time), one checkpoint per phase: before, during and
	// after the rotation.
	appendEvents(t, db, l, 3, 3)
	mustCheckpoint(t, db, l)
	if err := l.BeginRotation(newKey); err != nil {
		t.Fatal(err)
	}
	appendEvents(t, db, l, 6, 3)
	mustCheckpoint(t, db, l)
	l.EndRotation()
	appendEvents(t, db, l, 9, 3)
	close(stop)
	if err := <-done; err != nil {
		t.Fatalf("publisher: %v", err)
	}
	mustCheckpoint(t, db, l)
	rows, err := db.QueryContext(ctx, `SELECT size, note FROM audit_checkpoints ORDER BY size`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var size int64
		var note string
		if err := rows.Scan(&size, &note); err != nil {
			t.Fatal(err)
		}
		if _, err := l.ParseCheckpoint([]byte(note)); err != nil {
			t.Errorf("checkpoint %d: %v", size, err)
		}
		n++
	}
	if n < 3 {
		t.Fatalf("only %d checkpoints stored", n)
	}
}
