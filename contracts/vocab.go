package contracts

import "strings"

// Label is a human text in the two working languages of the network.
type Label struct {
	FR string `json:"fr"`
	EN string `json:"en"`
}

// In returns the label in lang ("fr" or "en", or an Accept-Language style
// tag such as "en-GB"); French is the default.
func (l Label) In(lang string) string {
	if strings.HasPrefix(strings.ToLower(lang), "en") {
		return l.EN
	}
	return l.FR
}

// Term is one value of a vocabulary: the code on the wire and its labels.
type Term struct {
	Code  string
	Label Label
}

// Vocabulary is a closed, ordered list of codes. Its fields are private so
// no package can alter the protocol at run time; read it through methods.
type Vocabulary struct {
	name  string
	title Label
	terms []Term
}

// Name is the vocabulary's identifier, also used as its validator tag and
// JSON Schema definition name ("purpose", "data_category", ...).
func (v Vocabulary) Name() string { return v.name }

// Title describes the vocabulary.
func (v Vocabulary) Title() Label { return v.title }

// Terms returns the terms in protocol order.
func (v Vocabulary) Terms() []Term { return append([]Term(nil), v.terms...) }

// Codes returns the codes in protocol order.
func (v Vocabulary) Codes() []string {
	out := make([]string, len(v.terms))
	for i, t := range v.terms {
		out[i] = t.Code
	}
	return out
}

// Has reports whether code belongs to the vocabulary (exact match).
func (v Vocabulary) Has(code string) bool {
	_, ok := v.Label(code)
	return ok
}

// Label returns the labels of code.
func (v Vocabulary) Label(code string) (Label, bool) {
	for _, t := range v.terms {
		if t.Code == code {
			return t.Label, true
		}
	}
	return Label{}, false
}

// The protocol's vocabularies. Adding a code is a protocol change: add it
// here, in schema/defs.schema.json, and regenerate docs/protocol.md (the
// tests say so when one is forgotten).
var (
	Purposes = Vocabulary{"purpose", Label{"Finalités", "Purposes"}, []Term{
		{"protection_referral", Label{"Référencement pour protection", "Protection referral"}},
		{"family_tracing", Label{"Recherche familiale", "Family tracing"}},
		{"social_enquiry", Label{"Enquête sociale", "Social enquiry"}},
		{"best_interests", Label{"Détermination de l'intérêt supérieur de l'enfant", "Best-interests determination"}},
		{"return_reintegration", Label{"Retour et réintégration", "Return and reintegration"}},
		{"follow_up", Label{"Suivi", "Follow-up"}},
	}}

	DataCategories = Vocabulary{"data_category", Label{"Catégories de données", "Data categories"}, []Term{
		{"identity", Label{"Identité (noms, sexe, âge, nationalité, langues)", "Identity (names, sex, age, nationality, languages)"}},
		{"contact", Label{"Coordonnées (téléphone, adresse, pays de résidence des proches)", "Contact details (phone, address, where relatives live)"}},
		{"family", Label{"Famille et proches", "Family and relatives"}},
		{"location", Label{"Localisation actuelle", "Current location"}},
		{"documents", Label{"Documents d'identité et autres pièces", "Identity and other documents"}},
		{"protection_concerns", Label{"Préoccupations de protection", "Protection concerns"}},
		{"health", Label{"Santé", "Health"}},
		{"legal_status", Label{"Statut juridique", "Legal status"}},
		{"photo", Label{"Photographie", "Photograph"}},
		{"narrative", Label{"Récit et observations", "Narrative and observations"}},
	}}

	ConsentBases = Vocabulary{"consent_basis", Label{"Fondements du partage", "Legal bases for sharing"}, []Term{
		{"consent", Label{"Consentement", "Consent"}},
		{"best_interests_override", Label{"Dérogation dans l'intérêt supérieur de l'enfant", "Best-interests override"}},
		{"legal_obligation", Label{"Obligation légale", "Legal obligation"}},
	}}

	ConsentGivers = Vocabulary{"given_by", Label{"Personne ayant consenti", "Consent given by"}, []Term{
		{"child", Label{"L'enfant", "The child"}},
		{"parent", Label{"Un parent", "A parent"}},
		{"guardian", Label{"Le tuteur", "The guardian"}},
		{"legal_representative", Label{"Le représentant légal", "The legal representative"}},
	}}

	AgeBands = Vocabulary{"age_band", Label{"Tranches d'âge", "Age bands"}, []Term{
		{"0-5", Label{"0 à 5 ans", "0 to 5 years"}},
		{"6-11", Label{"6 à 11 ans", "6 to 11 years"}},
		{"12-14", Label{"12 à 14 ans", "12 to 14 years"}},
		{"15-17", Label{"15 à 17 ans", "15 to 17 years"}},
		{"18+", Label{"18 ans et plus", "18 years and over"}},
	}}

	OverrideReasons = Vocabulary{"override_reason", Label{"Motifs de dérogation", "Override reasons"}, []Term{
		{"imminent_harm", Label{"Danger imminent pour l'enfant", "Imminent harm to the child"}},
		{"caregiver_is_risk", Label{"La personne qui a la garde représente un risque", "The caregiver is a risk to the child"}},
		{"caregiver_unreachable", Label{"La personne qui a la garde est injoignable", "The caregiver cannot be reached"}},
	}}

	DeclineReasons = Vocabulary{"decline_reason", Label{"Motifs de refus", "Decline reasons"}, []Term{
		{"outside_mandate", Label{"Hors du mandat du service", "Outside the agency's mandate"}},
		{"not_competent_area", Label{"Hors de la zone de compétence du service", "Outside the agency's area"}},
		{"insufficient_information", Label{"Informations insuffisantes", "Insufficient information"}},
		{"not_from_country", Label{"L'enfant n'est pas originaire de ce pays", "The child is not from this country"}},
		{"duplicate_referral", Label{"Référencement en double", "Duplicate referral"}},
		{"capacity", Label{"Capacité de prise en charge atteinte", "No capacity to take the case"}},
		{"other", Label{"Autre motif", "Other reason"}},
	}}

	Urgencies = Vocabulary{"urgency", Label{"Niveaux d'urgence", "Urgency levels"}, []Term{
		{"normal", Label{"Normale", "Normal"}},
		{"high", Label{"Élevée", "High"}},
		{"urgent", Label{"Urgente (danger immédiat)", "Urgent (immediate danger)"}},
	}}

	Sexes = Vocabulary{"sex", Label{"Sexe", "Sex"}, []Term{
		{"f", Label{"Féminin", "Female"}},
		{"m", Label{"Masculin", "Male"}},
		{"x", Label{"Autre ou non précisé", "Other or not stated"}},
	}}

	Concerns = Vocabulary{"protection_concern", Label{"Préoccupations de protection", "Protection concerns"}, []Term{
		{"unaccompanied", Label{"Enfant non accompagné", "Unaccompanied child"}},
		{"separated", Label{"Enfant séparé", "Separated child"}},
		{"trafficking", Label{"Traite des enfants", "Child trafficking"}},
		{"child_labour", Label{"Travail des enfants", "Child labour"}},
		{"forced_begging", Label{"Mendicité forcée", "Forced begging"}},
		{"sexual_violence", Label{"Violences sexuelles", "Sexual violence"}},
		{"physical_violence", Label{"Violences physiques", "Physical violence"}},
		{"psychological_violence", Label{"Violences psychologiques", "Psychological violence"}},
		{"neglect", Label{"Négligence", "Neglect"}},
		{"child_marriage", Label{"Mariage d'enfant", "Child marriage"}},
		{"armed_forces_or_groups", Label{"Enfant associé aux forces ou groupes armés", "Associated with armed forces or groups"}},
		{"street_situation", Label{"Enfant en situation de rue", "Street-connected child"}},
		{"detention", Label{"Privation de liberté", "Deprivation of liberty"}},
		{"other", Label{"Autre", "Other"}},
	}}

	LegalStatuses = Vocabulary{"legal_status", Label{"Statuts juridiques", "Legal statuses"}, []Term{
		{"national", Label{"Ressortissant du pays où se trouve l'enfant", "National of the country where the child is"}},
		{"regular_migrant", Label{"Migrant en situation régulière", "Migrant with regular status"}},
		{"irregular_migrant", Label{"Migrant en situation irrégulière", "Migrant with irregular status"}},
		{"asylum_seeker", Label{"Demandeur d'asile", "Asylum seeker"}},
		{"refugee", Label{"Réfugié", "Refugee"}},
		{"stateless", Label{"Apatride ou à risque d'apatridie", "Stateless or at risk of statelessness"}},
		{"unknown", Label{"Inconnu", "Unknown"}},
	}}

	DocumentTypes = Vocabulary{"document_type", Label{"Types de documents", "Document types"}, []Term{
		{"birth_certificate", Label{"Acte de naissance", "Birth certificate"}},
		{"national_id", Label{"Carte nationale d'identité", "National identity card"}},
		{"passport", Label{"Passeport", "Passport"}},
		{"travel_document", Label{"Document de voyage (laissez-passer)", "Travel document (laissez-passer)"}},
		{"consular_card", Label{"Carte consulaire", "Consular card"}},
		{"school_record", Label{"Document scolaire", "School record"}},
		{"medical_record", Label{"Dossier médical", "Medical record"}},
		{"court_order", Label{"Décision de justice", "Court order"}},
		{"other", Label{"Autre document", "Other document"}},
	}}

	Relationships = Vocabulary{"relationship", Label{"Liens avec l'enfant", "Relationships to the child"}, []Term{
		{"mother", Label{"Mère", "Mother"}},
		{"father", Label{"Père", "Father"}},
		{"sibling", Label{"Frère ou sœur", "Sibling"}},
		{"grandparent", Label{"Grand-parent", "Grandparent"}},
		{"aunt_uncle", Label{"Tante ou oncle", "Aunt or uncle"}},
		{"other_relative", Label{"Autre membre de la famille", "Other relative"}},
		{"guardian", Label{"Tuteur", "Guardian"}},
		{"caregiver", Label{"Personne qui s'occupe de l'enfant", "Caregiver"}},
		{"community_contact", Label{"Personne-ressource de la communauté", "Community contact person"}},
		{"other", Label{"Autre", "Other"}},
	}}

	LifeStatuses = Vocabulary{"life_status", Label{"Situation des proches", "Whether relatives are alive"}, []Term{
		{"alive", Label{"En vie", "Alive"}},
		{"deceased", Label{"Décédé", "Deceased"}},
		{"unknown", Label{"Inconnue", "Unknown"}},
	}}

	Services = Vocabulary{"service", Label{"Services demandés", "Requested services"}, []Term{
		{"family_tracing", Label{"Recherche familiale", "Family tracing"}},
		{"family_assessment", Label{"Évaluation de la famille", "Family assessment"}},
		{"interim_care", Label{"Prise en charge temporaire (hébergement)", "Interim care (shelter)"}},
		{"medical_care", Label{"Soins médicaux", "Medical care"}},
		{"psychosocial_support", Label{"Soutien psychosocial", "Psychosocial support"}},
		{"legal_assistance", Label{"Assistance juridique", "Legal assistance"}},
		{"civil_documentation", Label{"Établissement de documents d'état civil", "Civil documentation"}},
		{"return_assistance", Label{"Assistance au retour", "Return assistance"}},
		{"reintegration", Label{"Réintégration", "Reintegration"}},
		{"education", Label{"Éducation et formation", "Education and training"}},
		{"follow_up", Label{"Suivi", "Follow-up"}},
	}}
)

// Vocabularies lists every vocabulary of the protocol, in documentation
// order.
func Vocabularies() []Vocabulary {
	return []Vocabulary{
		Purposes, DataCategories, ConsentBases, ConsentGivers, AgeBands,
		OverrideReasons, DeclineReasons, Urgencies, Sexes, Concerns,
		LegalStatuses, DocumentTypes, Relationships, LifeStatuses, Services,
		BIDDecisions, ClosureReasons, RevocationReasons, ErasureReasons,
	}
}

// IsPurpose reports whether s is a purpose code.
func IsPurpose(s string) bool { return Purposes.Has(s) }

// IsDataCategory reports whether s is a data category code.
func IsDataCategory(s string) bool { return DataCategories.Has(s) }

// IsConsentBasis reports whether s is a consent basis code.
func IsConsentBasis(s string) bool { return ConsentBases.Has(s) }

// IsConsentGiver reports whether s is a consent.given_by code.
func IsConsentGiver(s string) bool { return ConsentGivers.Has(s) }

// IsAgeBand reports whether s is an age band code.
func IsAgeBand(s string) bool { return AgeBands.Has(s) }

// IsOverrideReason reports whether s is a best-interests override reason.
func IsOverrideReason(s string) bool { return OverrideReasons.Has(s) }

// IsDeclineReason reports whether s is a referral decline reason.
func IsDeclineReason(s string) bool { return DeclineReasons.Has(s) }
