// Package hub holds Relais's use cases: accepting a signed case-transfer
// message, delivering it to the recipient's inbox, recording receipts and
// answers, and keeping every step in the trail. It knows nothing of HTTP,
// SQL or brokers: those live in adapters.
package hub

import (
	"time"
)

// StoredMessage is a message the hub accepted: the exact JWS bytes as
// submitted (the body inside is ciphertext for the recipient) and the routing
// metadata taken from the verified envelope.
type StoredMessage struct {
	ID         string
	Kind       string
	From       string
	To         string
	Transfer   string
	InReplyTo  string
	CaseDigest string
	JWS        []byte
	SHA256     string
	Receipt    []byte // hub-signed acceptance receipt (JWS)
	LeafIndex  uint64
	AcceptedAt time.Time
	// DeliveredAt is zero until the relay has put the message in the
	// recipient's inbox.
	DeliveredAt time.Time
	// InboxSeq orders a recipient's inbox; assigned at delivery.
	InboxSeq uint64
	// ReceiptedAt is set when the recipient's receipt arrives (or, for kinds
	// that are not receipted, when the recipient moved its cursor past it).
	ReceiptedAt time.Time
	ReceiptedBy string // id of the receipt message
	// ConsentRef is the sender's consent reference the message was sent
	// under (pseudonymous), so a withdrawal can find who received data.
	ConsentRef string
}

// InboxItem is one entry of an agency's inbox.
type InboxItem struct {
	Seq        uint64
	ID         string
	Kind       string
	JWS        []byte
	ReceivedAt time.Time
}

// OutboxItem is a delivery the hub committed and must still hand to the
// transport. It carries ids only: the relay reads nothing else.
type OutboxItem struct {
	Seq       uint64
	MessageID string
	Recipient string
	CreatedAt time.Time
}

// Agency is a registered national service.
type Agency struct {
	ID      string
	Country string
	Name    string
	JWKS    []byte // public JWKS as registered
	// SupervisorJWKS are the public keys of the agency's supervisors, who
	// approve best-interests overrides (the second person).
	SupervisorJWKS []byte
	RegisteredAt   time.Time
}

// Transfer is the hub's view of one cross-border transfer: who opened it,
// who it was sent to, where it stands, and who holds responsibility.
type Transfer struct {
	ID         string
	Sender     string
	Recipient  string
	CaseDigest string
	State      State
	Holder     string
	OpenedAt   time.Time
	UpdatedAt  time.Time
}

// Event is one line of a transfer's trail, and of the audit log. It holds
// ids, kinds, parties, times and codes: never personal data.
type Event struct {
	Index     uint64 // position in the audit log
	Type      EventType
	At        time.Time
	MessageID string
	Transfer  string
	Kind      string
	From      string
	To        string
	Actor     string
	Code      string
	Detail    string
	// JWSDigest is the SHA-256 of the submitted JWS bytes (ciphertext and
	// signature only).
	JWSDigest  string
	CaseDigest string
	// Holder is the agency that held the case when the event was logged;
	// the store stamps it from the transfer when the event does not name
	// it, so the trail shows who was responsible at every step.
	Holder string
}

// EventType names what happened.
type EventType string

const (
	EventAccepted         EventType = "accepted"
	EventRejected         EventType = "rejected"
	EventDelivered        EventType = "delivered"
	EventReceipted        EventType = "receipted"
	EventTransferAccepted EventType = "transfer_accepted"
	EventTransferDeclined EventType = "transfer_declined"
	EventAgencyRegistered EventType = "agency_registered"
	EventConsentWithdrawn EventType = "consent_withdrawn"
	EventPolicyDecision   EventType = "policy_decision"
)
