package stats

import "time"

// Fact is what statistics know of one transfer. It is assembled by the
// store from the transfer row, the lifecycle events and two codes of the
// opening envelope; it holds no case reference, no name and nothing of any
// message body. Transfer, Sender and Recipient serve to count and to find
// the corridor agreement; they are never published.
type Fact struct {
	Transfer  string
	Sender    string // agency id of the party that opened the transfer
	Recipient string // agency id of the party it was sent to

	// Purpose and AgeBand come from the opening envelope (its purpose and
	// its consent's age band); "" when the transfer was erased before the
	// hub indexed them.
	Purpose string
	AgeBand string
	// Outcome is the best-interests decision code (bid.decision), "" until
	// one is taken.
	Outcome string

	// When each step happened, as logged by the hub (zero: not yet).
	Opened     time.Time // the opening message was accepted
	Received   time.Time // the recipient's signed receipt of it arrived
	Accepted   time.Time // referral.accepted
	Declined   time.Time // referral.declined
	Assessed   time.Time // the first family.assessment
	Decided    time.Time // bid.decision
	HandedOver time.Time // both parties confirmed the handover
	Closed     time.Time // case.closed
	// FirstOverdue is when the hub first reminded a party of a missed
	// deadline in this transfer.
	FirstOverdue time.Time

	// MinCellSize is the disclosure threshold of the corridor agreement
	// covering the transfer (0: the release's default).
	MinCellSize int
}
