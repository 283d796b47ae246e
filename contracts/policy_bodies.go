package contracts

import "time"

// Bodies of the kinds that the consent and corridor policy adds. Both are
// plain (the hub reads them) and carry no personal data: a consent
// reference is a pseudonymous key into the sender's system, and a policy
// violation names a message, a code and categories, never content.

// ConsentWithdrawn is the body of consent.withdrawn: the agency that
// recorded a consent says it was withdrawn. From then on the hub refuses
// every message under that consent reference except closure and erasure,
// and forwards the withdrawal to every agency that received data under it.
type ConsentWithdrawn struct {
	// ConsentRef is the consent.ref of the withdrawn consent, as the sender
	// wrote it in its envelopes.
	ConsentRef string `json:"consent_ref" validate:"required,reference" relais:"-"`
	// WithdrawnAt is when the child or their representative withdrew it.
	WithdrawnAt time.Time `json:"withdrawn_at" validate:"utc_time" relais:"-"`
}

// PolicyViolation is the body of policy.violation: a recipient reports that
// a message it received broke the policy, typically a decrypted body
// carrying data of a category its envelope did not declare. The envelope's
// in_reply_to names the same message.
type PolicyViolation struct {
	// ViolatedMessage is the id of the offending message.
	ViolatedMessage string `json:"violated_message" validate:"required,message_id" relais:"-"`
	// Code says what was wrong: body_category_mismatch (undeclared data
	// categories) or body_invalid (the decrypted body does not follow its
	// kind's schema).
	Code string `json:"code" validate:"required,oneof=body_category_mismatch body_invalid" relais:"-"`
	// Categories lists the undeclared categories found, for
	// body_category_mismatch.
	Categories []string `json:"categories,omitempty" validate:"omitempty,min=1,unique,dive,data_category" relais:"-"`
}
