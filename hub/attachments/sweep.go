package attachments

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// sweepBatch bounds each query of a sweep.
const sweepBatch = 500

// Run sweeps every SweepInterval until ctx ends.
func (s *Service) Run(ctx context.Context) {
	ticker := time.NewTicker(s.cfg.SweepInterval)
	defer ticker.Stop()
	for {
		if _, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.cfg.Logger.Warn("attachment sweep", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// Sweep deletes what the hub must no longer keep and reports how many
// attachments it deleted: those of erased transfers, those past the
// corridor's retention after the recipient's receipt, and abandoned
// uploads.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	erased, err := s.SweepErased(ctx)
	if err != nil {
		return erased, err
	}
	retained, err := s.sweepRetention(ctx)
	if err != nil {
		return erased + retained, err
	}
	abandoned, err := s.sweepAbandoned(ctx)
	return erased + retained + abandoned, err
}

// SweepErased deletes the ciphertext of every attachment referenced by a
// message of an erased transfer. The hub calls it as soon as an erasure
// commits, and Run again in case a crash came in between.
func (s *Service) SweepErased(ctx context.Context) (int, error) {
	ids, err := s.cfg.Meta.ErasedAttachments(ctx, sweepBatch)
	if err != nil {
		return 0, fmt.Errorf("erased attachments: %w", err)
	}
	n := 0
	for _, id := range ids {
		if err := s.deleteBlob(ctx, id); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// sweepRetention deletes attachments whose every referencing message was
// receipted more than the corridor's retention ago.
func (s *Service) sweepRetention(ctx context.Context) (int, error) {
	if s.cfg.Retention == nil {
		return 0, nil
	}
	links, err := s.cfg.Meta.LinkedComplete(ctx, sweepBatch)
	if err != nil {
		return 0, fmt.Errorf("linked attachments: %w", err)
	}
	if len(links) == sweepBatch {
		// The last attachment's links may be cut off: judge it next time.
		last := links[len(links)-1].AttachmentID
		for len(links) > 0 && links[len(links)-1].AttachmentID == last {
			links = links[:len(links)-1]
		}
	}
	now := s.now()
	due := map[string]bool{}
	var order []string
	for _, l := range links {
		if _, seen := due[l.AttachmentID]; !seen {
			due[l.AttachmentID] = true
			order = append(order, l.AttachmentID)
		}
		if !due[l.AttachmentID] {
			continue
		}
		keep, ok := s.cfg.Retention(l.From, l.To, l.Kind, l.LinkedAt)
		if l.ReceiptedAt.IsZero() || !ok || now.Before(l.ReceiptedAt.Add(keep)) {
			due[l.AttachmentID] = false
		}
	}
	n := 0
	for _, id := range order {
		if !due[id] {
			continue
		}
		if err := s.deleteBlob(ctx, id); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// sweepAbandoned deletes uploads left untouched, and complete attachments
// no message referenced, for longer than UploadTTL.
func (s *Service) sweepAbandoned(ctx context.Context) (int, error) {
	records, err := s.cfg.Meta.AbandonedAttachments(ctx, s.now().Add(-s.cfg.UploadTTL), sweepBatch)
	if err != nil {
		return 0, fmt.Errorf("abandoned attachments: %w", err)
	}
	n := 0
	for _, r := range records {
		unlock := s.lock(r.ID)
		err := s.cfg.Blobs.Delete(r.ID)
		if err == nil {
			err = s.cfg.Meta.DeleteAttachment(ctx, r.ID)
		}
		unlock()
		if err != nil {
			return n, fmt.Errorf("abandoned attachment %s: %w", r.ID, err)
		}
		n++
	}
	return n, nil
}

// deleteBlob deletes an attachment's bytes and marks it deleted; the row
// and its links stay, without any byte of the file.
func (s *Service) deleteBlob(ctx context.Context, id string) error {
	unlock := s.lock(id)
	defer unlock()
	if err := s.cfg.Blobs.Delete(id); err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("delete attachment %s: %w", id, err)
	}
	if err := s.cfg.Meta.SetAttachmentState(ctx, id, StateDeleted, s.now()); err != nil {
		return fmt.Errorf("delete attachment %s: %w", id, err)
	}
	s.cfg.Logger.InfoContext(ctx, "attachment deleted", "attachment", id)
	return nil
}
