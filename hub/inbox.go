package hub

import (
	"context"
	"time"
)

// inboxPoll bounds how long a long-poll can miss a delivery made by another
// hub instance.
const inboxPoll = time.Second

// InboxPage is what an agency's inbox read returns.
type InboxPage struct {
	Items  []InboxItem
	Cursor uint64
}

// consumedOnRead lists kinds that are never receipted: they leave the inbox
// once the agency reads past them with a cursor.
var consumedOnRead = []string{"receipt"}

// Inbox returns the agency's delivered, unreceipted messages after the
// cursor, waiting up to wait for one to arrive when there is none. Passing a
// cursor acknowledges the non-receipted kinds (receipts) up to it.
func (h *Hub) Inbox(ctx context.Context, agency string, after uint64, wait time.Duration, limit int) (InboxPage, error) {
	if after > 0 {
		if err := h.store.Update(ctx, func(tx Tx) error {
			return tx.ConsumeInbox(ctx, agency, after, consumedOnRead, h.now())
		}); err != nil {
			return InboxPage{}, err
		}
	}
	deadline := time.Now().Add(wait)
	for {
		woken := h.inboxes.wait(agency)
		items, err := h.store.Inbox(ctx, agency, after, limit)
		if err != nil {
			return InboxPage{}, err
		}
		if len(items) > 0 || !time.Now().Before(deadline) {
			page := InboxPage{Items: items, Cursor: after}
			if len(items) > 0 {
				page.Cursor = items[len(items)-1].Seq
			}
			return page, nil
		}
		timer := time.NewTimer(min(inboxPoll, time.Until(deadline)))
		select {
		case <-ctx.Done():
			timer.Stop()
			return InboxPage{Cursor: after}, nil
		case <-woken:
		case <-timer.C:
		}
		timer.Stop()
	}
}
