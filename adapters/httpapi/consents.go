package httpapi

import (
	"net/http"
	"time"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/hub"
)

// registerConsentRoutes adds what an agency needs to carry a consent
// withdrawal through: who received data under one of its consent
// references, and who has acknowledged the withdrawal notice.
func (s *Server) registerConsentRoutes() {
	s.mux.HandleFunc("GET /v1/consents/{ref}/recipients", s.getConsentRecipients)
}

// consentRecipientsDoc answers GET /v1/consents/{ref}/recipients.
type consentRecipientsDoc struct {
	// Withdrawn: the hub refuses every later message under the consent
	// except closure and erasure.
	Withdrawn  bool                  `json:"withdrawn"`
	Recipients []consentRecipientDoc `json:"recipients"`
	// Notified and Acknowledged count the recipients that were sent a
	// withdrawal notice and those whose signed receipt for it came back;
	// Unacknowledged names the others, except those whose copies are being
	// erased without a notice (the erasure removes the data).
	Notified       int      `json:"notified"`
	Acknowledged   int      `json:"acknowledged"`
	Unacknowledged []string `json:"unacknowledged"`
}

type consentRecipientDoc struct {
	Agency string `json:"agency"`
	// Transfer is where a withdrawal notice to the agency belongs.
	Transfer string `json:"transfer"`
	// Erasing: every transfer that gave the agency data under the consent
	// is being or has been erased; no notice can be, or need be, added.
	Erasing bool                 `json:"erasing"`
	Notice  *withdrawalNoticeDoc `json:"notice,omitempty"`
}

type withdrawalNoticeDoc struct {
	MessageID      string     `json:"message_id"`
	Transfer       string     `json:"transfer"`
	SentAt         time.Time  `json:"sent_at"`
	DeliveredAt    *time.Time `json:"delivered_at,omitempty"`
	Acknowledged   bool       `json:"acknowledged"`
	AcknowledgedAt *time.Time `json:"acknowledged_at,omitempty"`
	// Receipt is the id of the recipient's signed receipt.
	Receipt string `json:"receipt,omitempty"`
	// Erased: the transfer was erased, every party confirming it, before
	// the notice was acknowledged; the erasure settles it.
	Erased bool `json:"erased,omitempty"`
}

// getConsentRecipients answers, for the calling agency's own consent
// reference only, which agencies received data under it and where the
// withdrawal notice to each stands. References are keyed by the agency
// that recorded them, so another agency's reference (or an unknown one)
// simply has no recipients: nothing about others' consents is revealed.
// The reference is never logged.
func (s *Server) getConsentRecipients(w http.ResponseWriter, r *http.Request) {
	c, ok := s.requireAgency(w, r)
	if !ok {
		return
	}
	ref := r.PathValue("ref")
	if !contracts.ValidReference(ref) {
		writeProblem(w, r, contracts.Refuse(contracts.CodeBadRequest, "a consent reference is 1 to 64 of A-Z a-z 0-9 . _ : -"))
		return
	}
	ctx := r.Context()
	deliveries, err := s.hub.Store().ConsentDeliveries(ctx, c.Agency, ref)
	if err != nil {
		writeProblem(w, r, err)
		return
	}
	withdrawn, err := s.hub.Store().ConsentWithdrawn(ctx, c.Agency, ref)
	if err != nil {
		writeProblem(w, r, err)
		return
	}
	doc := consentRecipientsDoc{Withdrawn: withdrawn, Recipients: make([]consentRecipientDoc, 0, len(deliveries)), Unacknowledged: []string{}}
	for _, d := range deliveries {
		entry := consentRecipientDoc{Agency: d.Recipient, Transfer: d.Transfer, Erasing: d.Erasing}
		switch n := d.Notice; {
		case n != nil:
			doc.Notified++
			entry.Notice = noticeDoc(*n)
			switch {
			case entry.Notice.Acknowledged:
				doc.Acknowledged++
			case !entry.Notice.Erased:
				doc.Unacknowledged = append(doc.Unacknowledged, d.Recipient)
			}
		case !d.Erasing:
			doc.Unacknowledged = append(doc.Unacknowledged, d.Recipient)
		}
		doc.Recipients = append(doc.Recipients, entry)
	}
	writeJSON(w, http.StatusOK, doc)
}

func noticeDoc(n hub.WithdrawalNotice) *withdrawalNoticeDoc {
	doc := &withdrawalNoticeDoc{MessageID: n.MessageID, Transfer: n.Transfer, SentAt: n.AcceptedAt}
	if !n.DeliveredAt.IsZero() {
		at := n.DeliveredAt
		doc.DeliveredAt = &at
	}
	// A notice whose transfer was erased leaves the inbox without a
	// receipt: only a receipt message acknowledges it, and an erasure
	// settles it.
	switch {
	case n.ReceiptedAt.IsZero():
	case contracts.ValidMessageID(n.ReceiptedBy):
		at := n.ReceiptedAt
		doc.Acknowledged, doc.AcknowledgedAt, doc.Receipt = true, &at, n.ReceiptedBy
	case n.Erased:
		doc.Erased = true
	}
	return doc
}
