package sqlstore_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/relais-hub/relais/adapters/sqlstore"
	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/hub/attachments"
)

const (
	attA = "0193a5c2-7b1e-7c3d-8f4e-1a2b3c4d5e70"
	attB = "0193a5c2-7b1e-7c3d-8f4e-1a2b3c4d5e71"
	attC = "0193a5c2-7b1e-7c3d-8f4e-1a2b3c4d5e72"
)

func attachmentRecord(id string, at time.Time) attachments.Record {
	return attachments.Record{ID: id, Uploader: "ci.dpe-abidjan", SHA256: "ab", Size: 10, State: attachments.StateUploading, CreatedAt: at, UpdatedAt: at}
}

func TestTheStoreKeepsAttachmentStateLinksAndTheSweepsQueries(t *testing.T) {
	eachStore(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := context.Background()
		seed(t, s, "ci.dpe-abidjan", "ml.dnpef")
		m := msg("0193a5c2-7b1e-7c3d-8f4e-1a2b3c4d5e6f", "ci.dpe-abidjan", "ml.dnpef")
		insert(t, s, m)

		r, created, err := s.CreateAttachment(ctx, attachmentRecord(attA, t0))
		if err != nil || !created || r.State != attachments.StateUploading {
			t.Fatalf("create: %+v %v %v", r, created, err)
		}
		again := attachmentRecord(attA, t0.Add(time.Hour))
		again.Uploader = "bf.dpe-bobo"
		if r, created, err := s.CreateAttachment(ctx, again); err != nil || created || r.Uploader != "ci.dpe-abidjan" {
			t.Fatalf("a second create must return the first record: %+v %v %v", r, created, err)
		}
		if err := s.SetAttachmentOffset(ctx, attA, 10, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := s.SetAttachmentState(ctx, attA, attachments.StateComplete, t0.Add(2*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if r, err := s.Attachment(ctx, attA); err != nil || r.Offset != 10 || r.State != attachments.StateComplete || !r.CompletedAt.Equal(t0.Add(2*time.Minute)) {
			t.Fatalf("after upload: %+v %v", r, err)
		}
		for _, id := range []string{attB, attC} {
			if _, _, err := s.CreateAttachment(ctx, attachmentRecord(id, t0)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.SetAttachmentState(ctx, attC, attachments.StateComplete, t0); err != nil {
			t.Fatal(err)
		}

		// A's link is written in the accepting transaction.
		if err := s.Update(ctx, func(tx hub.Tx) error {
			if _, err := tx.(attachments.TxStore).Attachment(ctx, attA); err != nil {
				return err
			}
			return tx.(attachments.TxStore).LinkAttachment(ctx, attachments.Link{AttachmentID: attA, MessageID: m.ID,
				Transfer: m.Transfer, From: m.From, To: m.To, Kind: m.Kind, LinkedAt: t0})
		}); err != nil {
			t.Fatal(err)
		}
		links, err := s.AttachmentLinks(ctx, attA)
		if err != nil || len(links) != 1 || links[0].To != "ml.dnpef" {
			t.Fatalf("links: %+v %v", links, err)
		}

		// Abandoned: B (an upload) and C (complete, never referenced), not A.
		abandoned, err := s.AbandonedAttachments(ctx, t0.Add(time.Hour), 10)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range abandoned {
			ids = append(ids, r.ID)
		}
		slices.Sort(ids)
		if !slices.Equal(ids, []string{attB, attC}) {
			t.Fatalf("abandoned: %v", ids)
		}

		linked, err := s.LinkedComplete(ctx, 10)
		if err != nil || len(linked) != 1 || linked[0].AttachmentID != attA || !linked[0].ReceiptedAt.IsZero() {
			t.Fatalf("linked complete: %+v %v", linked, err)
		}
		if erased, err := s.ErasedAttachments(ctx, 10); err != nil || len(erased) != 0 {
			t.Fatalf("erased before any erasure: %v %v", erased, err)
		}
		if err := s.Update(ctx, func(tx hub.Tx) error {
			return tx.SaveTransfer(ctx, hub.Transfer{ID: m.Transfer, Sender: m.From, Recipient: m.To, State: hub.StateErased, Holder: m.To, OpenedAt: t0, UpdatedAt: t0})
		}); err != nil {
			t.Fatal(err)
		}
		if erased, err := s.ErasedAttachments(ctx, 10); err != nil || !slices.Equal(erased, []string{attA}) {
			t.Fatalf("erased after the transfer's erasure: %v %v", erased, err)
		}
		if err := s.SetAttachmentState(ctx, attA, attachments.StateDeleted, t0); err != nil {
			t.Fatal(err)
		}
		if erased, err := s.ErasedAttachments(ctx, 10); err != nil || len(erased) != 0 {
			t.Fatalf("a deleted attachment is listed again: %v %v", erased, err)
		}
		if err := s.DeleteAttachment(ctx, attB); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Attachment(ctx, attB); err != attachments.ErrNotFound {
			t.Fatalf("a deleted row: %v", err)
		}
	})
}
