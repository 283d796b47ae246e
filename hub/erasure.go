package hub

import "context"

// keptOnErasure are the kinds whose JWS the hub keeps when it erases a
// transfer: their bodies are plain digests, reasons and times (no personal
// data), and together they prove the erasure was requested and confirmed.
// Every other message of the transfer keeps its metadata and digests (the
// audit log commits to those, never to the bytes) but loses its JWS.
var keptOnErasure = []string{"receipt", "case.erasure_requested", "case.erased"}

// reclaimErased asks the store to drop erased bytes from its files too
// (an SQL update leaves old page versions behind until the engine reuses
// them). The flag is raised inside the erasing transaction, possibly just
// before it commits, so the store is asked once more on the next round.
func (h *Hub) reclaimErased(ctx context.Context) {
	h.sweepErasedAttachments(ctx)
	if h.erasedPending.Swap(false) {
		h.reclaimAgain = true
	} else if !h.reclaimAgain {
		return
	} else {
		h.reclaimAgain = false
	}
	if err := h.store.ReclaimErased(ctx); err != nil && ctx.Err() == nil {
		h.log.Warn("reclaim erased ciphertext", "err", err)
		h.erasedPending.Store(true)
	}
}
