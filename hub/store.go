package hub

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/relais-hub/relais/hub/audit"
)

// ErrNotFound is returned by stores for a missing row.
var ErrNotFound = errors.New("not found")

// Store is the hub's durable state. One implementation serves SQLite (the
// embedded default) and PostgreSQL; both pass the same contract tests.
type Store interface {
	// Update runs fn in one transaction: either everything fn wrote is
	// committed, or nothing is.
	Update(ctx context.Context, fn func(Tx) error) error

	Message(ctx context.Context, id string) (StoredMessage, error)
	// Inbox lists messages delivered to agency and not yet receipted, in
	// delivery order, after the given inbox sequence.
	Inbox(ctx context.Context, agency string, after uint64, limit int) ([]InboxItem, error)
	// PendingOutbox lists deliveries not yet handed to the transport.
	PendingOutbox(ctx context.Context, limit int) ([]OutboxItem, error)
	// ClaimOutbox leases up to limit unclaimed deliveries to owner, so
	// that several hubs' relays share the outbox without publishing the
	// same delivery twice (a lost lease only means a harmless republish).
	ClaimOutbox(ctx context.Context, owner string, limit int, lease time.Duration) ([]OutboxItem, error)
	// Trail lists a transfer's events in log order.
	Trail(ctx context.Context, transfer string) ([]Event, error)
	Transfer(ctx context.Context, id string) (Transfer, error)

	Agency(ctx context.Context, id string) (Agency, error)
	Agencies(ctx context.Context) ([]Agency, error)

	// UseToken records a token id until it expires and reports whether it
	// was fresh: a second use of the same (issuer, jti) returns false.
	UseToken(ctx context.Context, issuer, jti string, expires time.Time) (bool, error)

	// ConsentWithdrawn reports whether agency withdrew consentRef.
	ConsentWithdrawn(ctx context.Context, agency, consentRef string) (bool, error)
	// ConsentRecipients lists who received data agency sent under
	// consentRef.
	ConsentRecipients(ctx context.Context, agency, consentRef string) ([]string, error)
	// ConsentDeliveries lists, one per recipient, the agencies that
	// received data agency sent under consentRef, where a withdrawal
	// notice to each goes, and where the notice already sent stands.
	ConsentDeliveries(ctx context.Context, agency, consentRef string) ([]ConsentDelivery, error)

	// AuditDB is the database holding the audit log's tables, for proofs
	// and checkpoints (hub/audit works on database/sql directly).
	AuditDB() *sql.DB

	// Auditor returns a registered auditor, or ErrNotFound.
	Auditor(ctx context.Context, id string) (Auditor, error)
	// AuditEvents lists the logged events matching q, in log order, with
	// their exact leaf bytes (see AuditQuery), at most q.Limit of them.
	AuditEvents(ctx context.Context, q AuditQuery) ([]AuditEntry, error)

	LifecycleStore

	Close() error
}

// ConsentDelivery is one agency that received personal data another agency
// sent under one of its consent references, as a withdrawal must reach it.
type ConsentDelivery struct {
	Recipient string
	// Transfer is where a withdrawal notice to Recipient belongs: the
	// transfer of the latest message sent to it under the consent,
	// preferring one whose erasure has not begun.
	Transfer string
	// Erasing: every transfer in which Recipient received data under the
	// consent is being or has been erased, so no notice can be added to
	// them, nor is one needed: the erasure removes the data.
	Erasing bool
	// Notice is the consent.withdrawn copy sent to Recipient (the
	// acknowledged one if any, else the latest); nil when none was sent.
	Notice *WithdrawalNotice
}

// WithdrawalNotice is where one consent.withdrawn copy stands: accepted,
// delivered, and acknowledged by the recipient's signed receipt.
type WithdrawalNotice struct {
	MessageID   string
	Transfer    string
	AcceptedAt  time.Time
	DeliveredAt time.Time // zero until delivered
	ReceiptedAt time.Time // zero until the recipient's receipt arrived
	ReceiptedBy string    // the receipt's message id
	// Erased: the transfer was erased (every party confirmed it) before
	// the notice was receipted; the erasure settles it.
	Erased bool
}

// Tx is what a use case may read and write inside one transaction.
type Tx interface {
	Message(ctx context.Context, id string) (StoredMessage, error)
	InsertMessage(ctx context.Context, m StoredMessage) error
	// MarkDelivered assigns the inbox sequence; it reports false when the
	// message was already delivered (deliveries are idempotent).
	MarkDelivered(ctx context.Context, id string, at time.Time) (bool, error)
	MarkReceipted(ctx context.Context, id, by string, at time.Time) (bool, error)
	// ConsumeInbox marks the agency's non-receipted kinds up to seq as seen.
	ConsumeInbox(ctx context.Context, agency string, upTo uint64, kinds []string, at time.Time) error

	// TransferForUpdate reads a transfer and locks it until the end of the
	// transaction.
	TransferForUpdate(ctx context.Context, id string) (Transfer, error)
	SaveTransfer(ctx context.Context, t Transfer) error

	// AppendEvent appends to the audit log and returns the leaf index.
	AppendEvent(ctx context.Context, e Event) (uint64, error)

	Enqueue(ctx context.Context, item OutboxItem) error
	// Dequeue removes a handed-over delivery from the outbox.
	Dequeue(ctx context.Context, seq uint64) error

	InsertAgency(ctx context.Context, a Agency) error
	// RecordWithdrawal records the first withdrawal of a consent ref.
	RecordWithdrawal(ctx context.Context, agency, consentRef, messageID string, at time.Time) error

	InsertAuditor(ctx context.Context, a Auditor) error
	// AppendAuditEvent appends an audit event that is not a trail event
	// (an auditor's query, an admin action with its parameters) and
	// indexes it like one; it returns the leaf index.
	AppendAuditEvent(ctx context.Context, e audit.Event) (uint64, error)

	LifecycleTx
}

// LifecycleStore is what the case-transfer lifecycle reads outside a
// transaction.
type LifecycleStore interface {
	// Transfers lists the transfers q.Agency is a party to or had a
	// deadline escalated to, most recently updated first.
	Transfers(ctx context.Context, q TransferQuery) ([]TransferSummary, error)
	// ReclaimErased makes the engine drop the old versions of erased rows
	// from its files (SQLite: checkpoint and truncate the write-ahead log).
	ReclaimErased(ctx context.Context) error
}

// LifecycleTx is what the case-transfer lifecycle reads and writes inside
// the accepting transaction, and what the timer loop claims.
type LifecycleTx interface {
	// LastSeq is the highest seq agency used in transfer (0: none yet);
	// SaveSeq records a new one.
	LastSeq(ctx context.Context, transfer, agency string) (uint64, error)
	SaveSeq(ctx context.Context, transfer, agency string, seq uint64) error
	// KindSenders lists the agencies that sent a message of kind in
	// transfer.
	KindSenders(ctx context.Context, transfer, kind string) ([]string, error)
	// LatestOfKind returns the last accepted message of kind in transfer,
	// or ErrNotFound.
	LatestOfKind(ctx context.Context, transfer, kind string) (StoredMessage, error)
	// LinkTransfer records that transfer continues previous (forwarded).
	LinkTransfer(ctx context.Context, transfer, previous string) error
	// EraseTransfer empties the stored JWS of the transfer's messages,
	// except those of the kinds kept, keeping their metadata and digests;
	// erased messages still waiting in an inbox leave it. It returns how
	// many were erased.
	EraseTransfer(ctx context.Context, transfer string, keep []string, at time.Time) (int, error)

	// ArmTimers stores timers, replacing any with the same transfer,
	// subject, party and stage.
	ArmTimers(ctx context.Context, timers []Timer) error
	// CancelTimers deletes the transfer's timers for subject and party
	// (an empty subject or party matches all).
	CancelTimers(ctx context.Context, transfer, subject, party string) error
	// ClaimDueTimers locks and returns unfired timers due at now, at most
	// limit, skipping those another transaction holds.
	ClaimDueTimers(ctx context.Context, now time.Time, limit int) ([]Timer, error)
	MarkTimerFired(ctx context.Context, id int64, at time.Time, escalatedTo string) error

	// ReportsTo is the agency that agency reports to ("" for none), or
	// ErrNotFound for an unknown agency; SetReportsTo records it.
	ReportsTo(ctx context.Context, agency string) (string, error)
	SetReportsTo(ctx context.Context, agency, reportsTo string) error
}
