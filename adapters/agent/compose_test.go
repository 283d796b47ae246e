package agent

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/contracts"
)

func TestCompose(t *testing.T) {
	ctx := context.Background()
	th := newTestHub(t)
	ci, ml := newTestAgent(t, th, "ci.dpe-abidjan"), newTestAgent(t, th, "ml.dnpef")

	t.Run("composing needs the directory to have been synced once", func(t *testing.T) {
		if _, err := ci.Compose(ctx, referral(ml.ID, "CI-ABJ-2026-0100")); !errors.Is(err, ErrNoDirectory) {
			t.Fatalf("compose before any sync: %v, want ErrNoDirectory", err)
		}
	})
	mustSync(t, ci)
	ci.Faults.set(down)

	t.Run("the recipients to choose from come from the synced directory, offline", func(t *testing.T) {
		list, err := ci.Agencies(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, a := range list {
			ids = append(ids, a.ID)
		}
		if !slices.Contains(ids, ml.ID) || !slices.Contains(ids, ci.ID) {
			t.Fatalf("agencies: %v", ids)
		}
	})

	t.Run("composing works with the hub unreachable and queues the signed bytes", func(t *testing.T) {
		q := mustCompose(t, ci, referral(ml.ID, "CI-ABJ-2026-0101"))
		if q.Existing || q.JWSBytes == 0 || q.Transfer != q.ID {
			t.Fatalf("queued: %+v", q)
		}
		if o := outboxItem(t, ci, q.ID); o.State != StateQueued || o.Origin != OriginCompose {
			t.Fatalf("outbox: %+v", o)
		}
	})

	t.Run("the same draft composed again under its preset id is recognised, not queued twice", func(t *testing.T) {
		d := referral(ml.ID, "CI-ABJ-2026-0102")
		d.ID = contracts.NewMessageID()
		first := mustCompose(t, ci, d)
		// The body formatted differently is still the same draft.
		d.Body = json.RawMessage("  " + string(d.Body) + "\n")
		again := mustCompose(t, ci, d)
		if first.Existing || !again.Existing || again.ID != first.ID {
			t.Fatalf("first %+v, again %+v", first, again)
		}
		if n := countOutbox(t, ci, d.ID); n != 1 {
			t.Fatalf("%d outbox rows for %s", n, d.ID)
		}
	})

	t.Run("another draft under a used id is refused as duplicate_id", func(t *testing.T) {
		d := referral(ml.ID, "CI-ABJ-2026-0103")
		d.ID = contracts.NewMessageID()
		mustCompose(t, ci, d)
		d.Case = "CI-ABJ-2026-0104"
		_, err := ci.Compose(ctx, d)
		if contracts.CodeOf(err) != contracts.CodeDuplicateID {
			t.Fatalf("compose: %v, want duplicate_id", err)
		}
	})

	t.Run("a body that breaks its kind's contract is refused before anything is queued", func(t *testing.T) {
		d := referral(ml.ID, "CI-ABJ-2026-0105")
		d.Body = json.RawMessage(`{"child":{"given_names":"Awa"},"urgency":"someday"}`)
		before := mustStatus(t, ci).Queued
		if _, err := ci.Compose(ctx, d); contracts.CodeOf(err) != contracts.CodeBodyInvalid {
			t.Fatalf("compose: %v, want body_invalid", err)
		}
		if after := mustStatus(t, ci).Queued; after != before {
			t.Fatalf("queued went from %d to %d", before, after)
		}
	})

	t.Run("receipts are the agent's own and cannot be composed", func(t *testing.T) {
		_, err := ci.Compose(ctx, agency.Draft{Kind: "receipt", To: ml.ID, Case: "X", Body: json.RawMessage(`{}`)})
		if contracts.CodeOf(err) != contracts.CodeInvalidEnvelope {
			t.Fatalf("compose a receipt: %v", err)
		}
	})
}

func countOutbox(t *testing.T, a *testAgent, id string) int {
	t.Helper()
	var n int
	if err := a.db.db.QueryRow(`SELECT COUNT(*) FROM outbox WHERE id = ?`, id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestAnItemWaitsForAnOlderItemOfItsTransferButNotForOtherTransfers(t *testing.T) {
	ctx := context.Background()
	th := newTestHub(t)
	ci, ml := newTestAgent(t, th, "ci.dpe-abidjan"), newTestAgent(t, th, "ml.dnpef")
	mustSync(t, ci)
	first := mustCompose(t, ci, referral(ml.ID, "CI-ABJ-2026-0200"))
	sameTransfer := mustCompose(t, ci, agency.Draft{Kind: "transfer.revoked", To: ml.ID, Case: "CI-ABJ-2026-0200", Transfer: first.Transfer,
		Body: json.RawMessage(`{"reason":"sent_in_error"}`)})
	other := mustCompose(t, ci, referral(ml.ID, "CI-ABJ-2026-0201"))
	// The first item waits for an attachment upload.
	if err := ci.db.update(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO outbox_attachments (message_id, attachment_id, path, sha256, size) VALUES (?, ?, ?, ?, ?)`,
			first.ID, contracts.NewMessageID(), "attachments/x", "00", 1)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	due, ok, err := ci.db.nextDue(ctx)
	if err != nil || !ok || due.ID != other.ID {
		t.Fatalf("next due: %s (%v %v), want the other transfer's %s, not %s", due.ID, ok, err, other.ID, sameTransfer.ID)
	}
	if _, err := ci.db.db.ExecContext(ctx, `UPDATE outbox_attachments SET uploaded_at = ? WHERE message_id = ?`, time.Now().UnixMilli(), first.ID); err != nil {
		t.Fatal(err)
	}
	due, _, _ = ci.db.nextDue(ctx)
	if due.ID != first.ID {
		t.Fatalf("next due once uploaded: %s, want %s", due.ID, first.ID)
	}
}
