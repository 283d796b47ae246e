package hub

import (
	"context"
	"database/sql"
	"errors"
	"time"
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

	// AuditDB is the database holding the audit log's tables, for proofs
	// and checkpoints (hub/audit works on database/sql directly).
	AuditDB() *sql.DB

	Close() error
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
}
