package hub

// Trail events of the case-transfer lifecycle (with those in model.go).
// Their Detail holds ids, state names and agency ids only.
const (
	// EventStateChanged: the transfer moved ("from=assessed
	// to=return_decided"), with the coded outcome in Code when the hub read
	// one, and "holder=<agency>" when the case changed hands.
	EventStateChanged EventType = "state_changed"
	// EventTransferForwarded: the transfer ended by forwarding to a third
	// country ("next=<transfer>").
	EventTransferForwarded EventType = "transfer_forwarded"
	// EventTransferLinked: the transfer continues a forwarded one
	// ("previous=<transfer>").
	EventTransferLinked EventType = "transfer_linked"
	// EventCaseErased: every party confirmed erasure and the hub emptied
	// the stored JWS of the transfer's messages ("messages=<n>").
	EventCaseErased EventType = "case_erased"
	// EventReminder and EventEscalation: a deadline passed; the reminder
	// is addressed to the overdue party, the escalation to the directorate
	// it reports to.
	EventReminder   EventType = "reminder"
	EventEscalation EventType = "escalation"
)
