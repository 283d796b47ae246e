package contracts

import "time"

// Bodies of the case-transfer lifecycle after the referral: information
// requests, the family assessment, the best-interests decision, the return
// and handover, reintegration and follow-up, closure, and the side steps
// (revocation, forwarding to a third country, missing-child alert, erasure).
//
// The rule for which bodies are sealed is the v1 rule: a body that says
// anything about the child or the family is encrypted for the recipient;
// a coded decision the hub must read to move the transfer (the
// best-interests decision, closure, revocation, erasure, the handover time)
// is plain and holds codes, dates and country codes only.

// The vocabularies of the plain lifecycle bodies: the hub reads these codes
// and the trail shows their labels.
var (
	BIDDecisions = Vocabulary{"bid_decision", Label{"Décisions d'intérêt supérieur (solution durable)", "Best-interests decisions (durable solution)"}, []Term{
		{"return", Label{"Retour dans le pays d'origine et réunification familiale", "Return to the country of origin and family reunification"}},
		{"local_integration", Label{"Intégration dans le pays d'accueil", "Integration in the host country"}},
		{"third_country", Label{"Réunification ou installation dans un pays tiers", "Reunification or settlement in a third country"}},
	}}

	ClosureReasons = Vocabulary{"closure_reason", Label{"Motifs de clôture", "Closure reasons"}, []Term{
		{"reintegrated", Label{"Réintégration réussie : les objectifs du plan sont atteints", "Reintegration achieved: the plan's goals are met"}},
		{"integrated_locally", Label{"Intégration réussie dans le pays d'accueil", "Successfully integrated in the host country"}},
		{"reached_majority", Label{"L'enfant a atteint la majorité", "The child has come of age"}},
		{"lost_contact", Label{"Contact perdu avec l'enfant malgré les recherches", "Contact with the child lost despite searches"}},
		{"handed_to_local_services", Label{"Suivi confié aux services locaux de droit commun", "Follow-up handed to mainstream local services"}},
		{"other", Label{"Autre motif", "Other reason"}},
	}}

	RevocationReasons = Vocabulary{"revocation_reason", Label{"Motifs de révocation d'un transfert", "Reasons for revoking a transfer"}, []Term{
		{"sent_in_error", Label{"Envoyé par erreur", "Sent in error"}},
		{"duplicate_referral", Label{"Référencement en double", "Duplicate referral"}},
		{"reunified_locally", Label{"L'enfant a retrouvé sa famille sur place", "The child was reunited with family locally"}},
		{"consent_withdrawn", Label{"Consentement retiré", "Consent withdrawn"}},
		{"other", Label{"Autre motif", "Other reason"}},
	}}

	ErasureReasons = Vocabulary{"erasure_reason", Label{"Motifs d'effacement", "Erasure reasons"}, []Term{
		{"retention_period_ended", Label{"Fin de la durée de conservation convenue", "Agreed retention period ended"}},
		{"consent_withdrawn", Label{"Consentement retiré", "Consent withdrawn"}},
		{"data_subject_request", Label{"Demande de l'enfant ou de son représentant", "Request by the child or their representative"}},
		{"court_order", Label{"Décision de justice", "Court order"}},
		{"sent_in_error", Label{"Données envoyées par erreur", "Data sent in error"}},
	}}
)

// InfoRequest is the body of info.request: one party asks the other for
// what it needs at this step (documents for tracing, a health update). The
// questions may name the child, so the body is sealed.
type InfoRequest struct {
	// Categories are the kinds of information asked for.
	Categories []string `json:"categories" validate:"required,min=1,unique,dive,data_category" relais:"-"`
	Questions  string   `json:"questions" validate:"required,max=4000" relais:"narrative"`
}

// InfoReply is the body of info.reply; the envelope's in_reply_to names the
// info.request it answers.
type InfoReply struct {
	Answer      string         `json:"answer" validate:"required,max=20000" relais:"narrative"`
	Location    *Location      `json:"location,omitempty" relais:"location"`
	Family      []FamilyMember `json:"family,omitempty" validate:"omitempty,min=1,max=30,dive"`
	Documents   []Document     `json:"documents,omitempty" validate:"omitempty,min=1,max=20,dive" relais:"documents"`
	HealthNotes string         `json:"health_notes,omitempty" validate:"omitempty,max=4000" relais:"health"`
	Photo       *Photo         `json:"photo,omitempty" relais:"photo"`
}

// FamilyAssessment is the body of family.assessment: the receiving
// country's social enquiry on the child's family. Even the outcome code
// says something about the family, so the whole body is sealed.
type FamilyAssessment struct {
	// Outcome is found_suitable, found_unsuitable or not_found.
	Outcome    string `json:"outcome" validate:"required,oneof=found_suitable found_unsuitable not_found" relais:"family"`
	AssessedOn string `json:"assessed_on" validate:"required,iso_date" relais:"-"`
	// Family lists the relatives met or traced.
	Family []FamilyMember `json:"family,omitempty" validate:"omitempty,min=1,max=30,dive"`
	// Location is where the family lives.
	Location *Location `json:"location,omitempty" relais:"location"`
	Findings string    `json:"findings" validate:"required,max=20000" relais:"narrative"`
}

// BIDDecision is the body of bid.decision: the durable solution chosen by
// the best-interests determination. It is plain because the hub moves the
// transfer on it; it holds a code, a date and, for a third country, that
// country's code (which the forwarded transfer's recipient reveals anyway).
type BIDDecision struct {
	Decision  string `json:"decision" validate:"required,bid_decision" relais:"-"`
	DecidedOn string `json:"decided_on" validate:"required,iso_date" relais:"-"`
	// Country is the third country, present exactly when Decision is
	// third_country.
	Country string `json:"country,omitempty" validate:"required_if=Decision third_country,excluded_unless=Decision third_country,omitempty,country" relais:"-"`
}

// ReturnPlan is the body of return.plan: how and when the child travels
// and who receives them.
type ReturnPlan struct {
	TravelOn string `json:"travel_on" validate:"required,iso_date" relais:"-"`
	// Route names the crossing point and stages.
	Route     string     `json:"route,omitempty" validate:"omitempty,max=500,text_line" relais:"location"`
	Escort    string     `json:"escort,omitempty" validate:"omitempty,max=500,text_line" relais:"narrative"`
	Reception string     `json:"reception" validate:"required,max=4000" relais:"narrative"`
	Documents []Document `json:"documents,omitempty" validate:"omitempty,min=1,max=20,dive" relais:"documents"`
}

// HandoverConfirmation is the body of handover.confirmation. Each side
// sends one, signed with its own key; the second answers the first
// (in_reply_to) and states the same time, and only then does the hub record
// the handover.
type HandoverConfirmation struct {
	HandedOverAt time.Time `json:"handed_over_at" validate:"utc_time" relais:"-"`
}

// ReintegrationPlan is the body of reintegration.plan.
type ReintegrationPlan struct {
	// LivingWith is who the child lives with.
	LivingWith string    `json:"living_with" validate:"required,relationship" relais:"family"`
	Location   *Location `json:"location,omitempty" relais:"location"`
	// Services are the support services planned.
	Services   []string `json:"services" validate:"required,min=1,unique,dive,service" relais:"-"`
	Objectives string   `json:"objectives" validate:"required,max=4000" relais:"narrative"`
	ReviewOn   string   `json:"review_on,omitempty" validate:"omitempty,iso_date" relais:"-"`
}

// FollowupReport is the body of followup.report, sent at every follow-up
// visit.
type FollowupReport struct {
	VisitedOn string `json:"visited_on" validate:"required,iso_date" relais:"-"`
	// Situation is stable, improving, concerns or at_risk.
	Situation    string `json:"situation" validate:"required,oneof=stable improving concerns at_risk" relais:"protection_concerns"`
	Observations string `json:"observations" validate:"required,max=20000" relais:"narrative"`
	HealthNotes  string `json:"health_notes,omitempty" validate:"omitempty,max=4000" relais:"health"`
	NextVisitOn  string `json:"next_visit_on,omitempty" validate:"omitempty,iso_date" relais:"-"`
}

// CaseClosed is the body of case.closed.
type CaseClosed struct {
	Reason string `json:"reason" validate:"required,closure_reason" relais:"-"`
}

// TransferRevoked is the body of transfer.revoked, sent by the agency that
// opened the transfer.
type TransferRevoked struct {
	Reason string `json:"reason" validate:"required,revocation_reason" relais:"-"`
}

// TransferForwarded is the body of transfer.forwarded: it opens a new
// transfer to an agency of the third country chosen by the best-interests
// decision, carrying the child's file. The envelope's in_reply_to names the
// previous transfer.
type TransferForwarded struct {
	Referral ReferralRequest `json:"referral"`
	// Background summarises the assessment and decision so far.
	Background string `json:"background,omitempty" validate:"omitempty,max=20000" relais:"narrative"`
}

// ChildMissingAlert is the body of alert.child_missing: urgent, and allowed
// at any point of a transfer.
type ChildMissingAlert struct {
	MissingSince  time.Time `json:"missing_since" validate:"utc_time" relais:"-"`
	LastSeen      *Location `json:"last_seen,omitempty" relais:"location"`
	Circumstances string    `json:"circumstances" validate:"required,max=4000" relais:"narrative"`
	// Description is what helps recognise the child (clothes, features).
	Description string `json:"description,omitempty" validate:"omitempty,max=2000" relais:"identity"`
	Photo       *Photo `json:"photo,omitempty" relais:"photo"`
}

// ErasureRequested is the body of case.erasure_requested.
type ErasureRequested struct {
	Reason string `json:"reason" validate:"required,erasure_reason" relais:"-"`
}

// CaseErased is the body of case.erased: the sender attests it erased its
// copy of the transfer's messages.
type CaseErased struct {
	ErasedAt time.Time `json:"erased_at" validate:"utc_time" relais:"-"`
}
