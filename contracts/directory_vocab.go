package contracts

// The vocabularies of the directory of services (hub/services,
// docs/directory.md). They describe what an agency offers and where, not a
// message: they are not on the wire of the messaging protocol, so they are
// not in Vocabularies() nor in the JSON Schemas, and adding a code here is
// a directory change, not a protocol change.
var (
	// OfferedServices are the services an agency offers to children
	// referred to it. The codes a sender looks for when choosing a
	// recipient ("who does family tracing in Sikasso?").
	OfferedServices = Vocabulary{"offered_service", Label{"Services offerts", "Services offered"}, []Term{
		{"family_tracing", Label{"Recherche familiale", "Family tracing"}},
		{"social_enquiry", Label{"Enquête sociale", "Social enquiry"}},
		{"best_interests_determination", Label{"Détermination de l'intérêt supérieur de l'enfant", "Best-interests determination"}},
		{"temporary_care", Label{"Prise en charge temporaire (centre d'accueil, famille d'accueil)", "Temporary care (shelter, foster family)"}},
		{"return_assistance", Label{"Assistance au retour", "Return assistance"}},
		{"reintegration_support", Label{"Appui à la réintégration", "Reintegration support"}},
		{"legal_aid", Label{"Aide juridique", "Legal aid"}},
		{"civil_documentation", Label{"État civil et documents d'identité", "Civil registration and identity documents"}},
		{"health_referral", Label{"Orientation vers les soins de santé", "Health referral"}},
		{"psychosocial_support", Label{"Soutien psychosocial", "Psychosocial support"}},
		{"education_support", Label{"Éducation et formation professionnelle", "Education and vocational training"}},
		{"follow_up", Label{"Suivi après le retour", "Follow-up after return"}},
	}}

	// AreaLevels are the levels of the administrative divisions an agency
	// covers. Countries name them differently (Mali's cercles, Burkina
	// Faso's provinces, Senegal's départements); the directory keeps each
	// country's own word.
	AreaLevels = Vocabulary{"area_level", Label{"Niveaux administratifs", "Administrative levels"}, []Term{
		{"country", Label{"Pays", "Country"}},
		{"region", Label{"Région", "Region"}},
		{"province", Label{"Province", "Province"}},
		{"department", Label{"Département", "Department"}},
		{"cercle", Label{"Cercle", "Cercle"}},
		{"district", Label{"District", "District"}},
		{"commune", Label{"Commune", "Municipality"}},
	}}
)

// IsOfferedService reports whether s is a code of OfferedServices.
func IsOfferedService(s string) bool { return OfferedServices.Has(s) }
