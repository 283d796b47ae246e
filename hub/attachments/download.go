package attachments

import (
	"context"
	"errors"
	"fmt"

	"github.com/relais-hub/relais/contracts"
)

// Open opens a complete attachment for reader, who must be a party (sender
// or recipient) of an accepted message that references it. Anyone else,
// auditors included, is told it does not exist: the hub does not reveal
// which attachments a transfer carries.
func (s *Service) Open(ctx context.Context, reader, id string) (Blob, Record, error) {
	notFound := contracts.Refuse(contracts.CodeNotFound, "no such attachment")
	if !contracts.ValidMessageID(id) || reader == "" {
		return nil, Record{}, notFound
	}
	r, err := s.cfg.Meta.Attachment(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, Record{}, notFound
	}
	if err != nil {
		return nil, Record{}, fmt.Errorf("attachment: %w", err)
	}
	links, err := s.cfg.Meta.AttachmentLinks(ctx, id)
	if err != nil {
		return nil, Record{}, fmt.Errorf("attachment links: %w", err)
	}
	if !isParty(links, reader) || r.State != StateComplete {
		return nil, Record{}, notFound
	}
	blob, err := s.cfg.Blobs.Open(id)
	if errors.Is(err, ErrNotFound) {
		return nil, Record{}, notFound
	}
	if err != nil {
		return nil, Record{}, fmt.Errorf("attachment %s: %w", id, err)
	}
	return blob, r, nil
}

func isParty(links []Link, agency string) bool {
	for _, l := range links {
		if l.From == agency || l.To == agency {
			return true
		}
	}
	return false
}
