package contracts

// KindSpec describes one message kind. Adding a kind is one entry in
// kindTable plus its body type (bodies.go); the decoder, the validator,
// BodyCategories and the generated docs pick it up from there.
type KindSpec struct {
	// Name is the kind as written in the envelope ("referral.request").
	Name string
	// OpensTransfer: a message of this kind starts a transfer, so its
	// envelope's transfer equals its id. Every other message's transfer
	// names the opening message.
	OpensTransfer bool
	// PersonalData: the body is a JWE for the recipient, and purpose,
	// data_categories and consent are required. Otherwise the body is a
	// plain JSON object (which the hub can read) and those three are absent.
	PersonalData bool
	// NeedsReplyTo: in_reply_to is required.
	NeedsReplyTo bool
	// NewBody returns a pointer to a zero body of the kind, for strict
	// decoding and validation (at the hub for plain bodies, at the
	// recipient after decryption for sealed ones).
	NewBody func() any
	// Label says what the kind means, for trails, UIs and docs.
	Label Label
}

// kindTable is the registry, in documentation order.
var kindTable = []KindSpec{
	{
		Name:          "referral.request",
		OpensTransfer: true,
		PersonalData:  true,
		NewBody:       func() any { return new(ReferralRequest) },
		Label:         Label{"Demande de prise en charge (référencement) d'un enfant", "Referral of a child"},
	},
	{
		Name:         "receipt",
		NeedsReplyTo: true,
		NewBody:      func() any { return new(DeliveryReceipt) },
		Label:        Label{"Accusé de réception signé par le destinataire", "Recipient's signed proof of delivery"},
	},
	{
		Name:    "referral.accepted",
		NewBody: func() any { return new(ReferralAccepted) },
		Label:   Label{"Référencement accepté : le service destinataire prend le cas en charge", "Referral accepted: the receiving agency takes the case"},
	},
	{
		Name:    "referral.declined",
		NewBody: func() any { return new(ReferralDeclined) },
		Label:   Label{"Référencement refusé, avec un motif", "Referral declined, with a reason"},
	},
	{
		Name:    "consent.withdrawn",
		NewBody: func() any { return new(ConsentWithdrawn) },
		Label:   Label{"Retrait du consentement : plus aucun envoi sous ce consentement, sauf clôture et effacement", "Consent withdrawn: nothing more is sent under this consent except closure and erasure"},
	},
	{
		Name:         "policy.violation",
		NeedsReplyTo: true,
		NewBody:      func() any { return new(PolicyViolation) },
		Label:        Label{"Signalement par le destinataire d'un message contraire aux règles (catégories de données non déclarées)", "Recipient's report of a message that broke the rules (undeclared data categories)"},
	},
}

// Kind returns the spec of a registered kind.
func Kind(name string) (KindSpec, bool) {
	for _, k := range kindTable {
		if k.Name == name {
			return k, true
		}
	}
	return KindSpec{}, false
}

// Kinds returns every registered kind, in documentation order.
func Kinds() []KindSpec {
	return append([]KindSpec(nil), kindTable...)
}

// KindNames returns the names of every registered kind.
func KindNames() []string {
	names := make([]string, len(kindTable))
	for i, k := range kindTable {
		names[i] = k.Name
	}
	return names
}
