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
	// The case-transfer lifecycle after the referral (hub/lifecycle.go says
	// who may send each kind, and when).
	{
		Name:         "info.request",
		PersonalData: true,
		NewBody:      func() any { return new(InfoRequest) },
		Label:        Label{"Demande d'informations complémentaires", "Request for further information"},
	},
	{
		Name:         "info.reply",
		PersonalData: true,
		NeedsReplyTo: true,
		NewBody:      func() any { return new(InfoReply) },
		Label:        Label{"Réponse à une demande d'informations", "Reply to a request for information"},
	},
	{
		Name:         "family.assessment",
		PersonalData: true,
		NewBody:      func() any { return new(FamilyAssessment) },
		Label:        Label{"Évaluation de la famille (enquête sociale)", "Family assessment (social enquiry)"},
	},
	{
		Name:    "bid.decision",
		NewBody: func() any { return new(BIDDecision) },
		Label:   Label{"Décision d'intérêt supérieur : retour, intégration sur place ou pays tiers", "Best-interests decision: return, local integration or third country"},
	},
	{
		Name:         "return.plan",
		PersonalData: true,
		NewBody:      func() any { return new(ReturnPlan) },
		Label:        Label{"Plan de retour (voyage, escorte, accueil)", "Return plan (travel, escort, reception)"},
	},
	{
		Name:    "handover.confirmation",
		NewBody: func() any { return new(HandoverConfirmation) },
		Label:   Label{"Confirmation de la remise de l'enfant, signée par chaque partie", "Confirmation of the child's handover, signed by each side"},
	},
	{
		Name:         "reintegration.plan",
		PersonalData: true,
		NewBody:      func() any { return new(ReintegrationPlan) },
		Label:        Label{"Plan de réintégration", "Reintegration plan"},
	},
	{
		Name:         "followup.report",
		PersonalData: true,
		NewBody:      func() any { return new(FollowupReport) },
		Label:        Label{"Rapport de suivi", "Follow-up report"},
	},
	{
		Name:    "case.closed",
		NewBody: func() any { return new(CaseClosed) },
		Label:   Label{"Clôture du cas, avec un motif", "Case closed, with a reason"},
	},
	{
		Name:    "transfer.revoked",
		NewBody: func() any { return new(TransferRevoked) },
		Label:   Label{"Révocation du transfert par le service qui l'a ouvert", "Transfer revoked by the agency that opened it"},
	},
	{
		Name:          "transfer.forwarded",
		OpensTransfer: true,
		PersonalData:  true,
		NeedsReplyTo:  true,
		NewBody:       func() any { return new(TransferForwarded) },
		Label:         Label{"Transfert vers un pays tiers : nouveau transfert lié au précédent", "Forwarded to a third country: a new transfer linked to the previous one"},
	},
	{
		Name:         "alert.child_missing",
		PersonalData: true,
		NewBody:      func() any { return new(ChildMissingAlert) },
		Label:        Label{"Alerte urgente : enfant disparu", "Urgent alert: child missing"},
	},
	{
		Name:    "case.erasure_requested",
		NewBody: func() any { return new(ErasureRequested) },
		Label:   Label{"Demande d'effacement des données du cas", "Request to erase the case data"},
	},
	{
		Name:    "case.erased",
		NewBody: func() any { return new(CaseErased) },
		Label:   Label{"Confirmation de l'effacement de sa copie", "Confirmation that its copy was erased"},
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
