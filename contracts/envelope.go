package contracts

import (
	"encoding/json"
	"time"
)

// ProtocolVersion is the only envelope version this package speaks.
const ProtocolVersion = 1

// Envelope is the signed metadata of one message: the JSON payload of the
// message's JWS. The hub routes and checks policy on the envelope alone; the
// body of a kind that carries personal data is a JWE only the recipient can
// open.
//
// Optional fields are either absent or meaningful on the wire: an empty
// string, an empty list, a zero seq or a null are refused rather than read as
// "absent", so that decoding then re-encoding an envelope gives back the same
// value.
type Envelope struct {
	// V is the protocol version; always 1.
	V int `json:"v"`
	// ID is the message id (UUIDv7 or ULID), unique per sender forever.
	ID string `json:"id" validate:"required,message_id"`
	// Kind names the message kind (see Kinds).
	Kind string `json:"kind" validate:"required"`
	// From is the sending agency's id; it must be the JWS signer.
	From string `json:"from" validate:"required,agency_id"`
	// To is the one recipient agency's id.
	To string `json:"to" validate:"required,agency_id"`
	// Case is the sender's pseudonymous case reference: an opaque key into
	// the sender's case management system, never a name or any other
	// personal data, since the hub and every party's logs see it.
	Case string `json:"case" validate:"required,reference"`
	// Transfer is the id of the message that opened the transfer; on the
	// opening message it equals ID.
	Transfer string `json:"transfer" validate:"required,message_id"`
	// InReplyTo is the id of the message this one answers.
	InReplyTo string `json:"in_reply_to,omitempty" validate:"omitempty,message_id"`
	// Seq is the sender's counter within the transfer (1, 2, 3, ...), so a
	// recipient applies a sender's updates in order even when they arrive
	// late. It is capped at 2^53-1 so every JSON implementation reads it
	// exactly.
	Seq uint64 `json:"seq,omitempty" validate:"omitempty,min=1,max=9007199254740991"`
	// SentAt is the sender's clock at signing time, in UTC.
	SentAt time.Time `json:"sent_at" validate:"utc_time"`
	// Purpose, DataCategories and Consent are required on kinds that carry
	// personal data and absent on the others.
	Purpose        string   `json:"purpose,omitempty" validate:"omitempty,purpose"`
	DataCategories []string `json:"data_categories,omitempty" validate:"omitempty,min=1,unique,dive,data_category"`
	Consent        *Consent `json:"consent,omitempty"`
	// Body is either a JSON string holding a JWE compact serialization (kinds
	// with personal data) or a JSON object (the other kinds). Use
	// NewSealedBody or NewPlainBody to build it.
	Body json.RawMessage `json:"body" validate:"required"`
	// Attachments reference encrypted files uploaded to the hub beside the
	// message (attachments.go); only kinds with personal data carry them.
	Attachments []AttachmentRef `json:"attachments,omitempty" validate:"omitempty,min=1,max=16,unique=ID,dive"`
}

// Consent records the lawful basis under which personal data in a message is
// shared. Only its shape is checked here; whether it covers a given message
// is the corridor policy's business.
type Consent struct {
	// Ref is the sender's reference of the consent record (same grammar as
	// Envelope.Case, never a name).
	Ref string `json:"ref" validate:"required,reference"`
	// Basis is consent, best_interests_override or legal_obligation.
	Basis string `json:"basis" validate:"required,consent_basis"`
	// GivenBy says who gave consent: the child, a parent, a guardian or a
	// legal representative.
	GivenBy string `json:"given_by" validate:"required,given_by"`
	// ChildAssent records whether the child agreed; it is always present.
	ChildAssent bool `json:"child_assent"`
	// AgeBand is the child's age band when consent was obtained.
	AgeBand string `json:"age_band" validate:"required,age_band"`
	// Recipients are the agency ids or lower-case country codes the consent
	// allows data to go to.
	Recipients []string `json:"recipients" validate:"required,min=1,max=64,unique,dive,recipient"`
	// Purposes and DataCategories are the scope of the consent.
	Purposes       []string `json:"purposes" validate:"required,min=1,unique,dive,purpose"`
	DataCategories []string `json:"data_categories" validate:"required,min=1,unique,dive,data_category"`
	// ObtainedAt is when consent was obtained (or the override decided).
	ObtainedAt time.Time `json:"obtained_at" validate:"utc_time"`
	// ExpiresAt, when set, is after ObtainedAt.
	ExpiresAt time.Time `json:"expires_at,omitzero" validate:"omitempty,utc_time"`
	// LegalReference cites the law or court decision that obliges sharing;
	// present exactly when Basis is legal_obligation.
	LegalReference string `json:"legal_reference,omitempty" validate:"omitempty,max=200,legal_reference"`
	// Override is present exactly when Basis is best_interests_override.
	Override *Override `json:"override,omitempty"`
}

// Override documents a best-interests override of consent.
type Override struct {
	// Reason is one of OverrideReasons.
	Reason string `json:"reason" validate:"required,override_reason"`
	// Approval is a compact JWS by a supervisor's key (a second person) over
	// the message id and the reason. Only its shape is checked here.
	Approval string `json:"approval" validate:"required,max=8192,jws_compact"`
}
