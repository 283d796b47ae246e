package primero

// defaultLookups are the option ids of Primero's stock CP seeds
// (db/seeds lookups: lookup-gender, lookup-protection-concerns,
// lookup-protection-status, lookup-family-relationship,
// lookup-service-type, lookup-displacement-status, lookup-risk-level) and
// the country and language ids a West African deployment generates from
// its option labels. Stock placeholders such as "nationality1" or
// "language1" deliberately map to nothing: only a deployment knows what
// they stand for.
//
// Ids whose meaning is broader or narrower than every contract code
// (gbv_survivor, physically_or_mentally_abused, migrant, refugee as a
// concern, family_mediation_service, ...) are left out on purpose: they are
// reported as unmapped rather than sent under a code that says something
// else.
func defaultLookups() map[string]Lookup {
	return map[string]Lookup{
		LookupSex: {
			{"female", "f"}, {"male", "m"}, {"other", "x"},
		},
		LookupCountry: {
			{"algeria", "dz"}, {"benin", "bj"}, {"burkina_faso", "bf"}, {"cabo_verde", "cv"},
			{"cameroon", "cm"}, {"chad", "td"}, {"cote_d_ivoire", "ci"}, {"gambia", "gm"},
			{"ghana", "gh"}, {"guinea", "gn"}, {"guinea_bissau", "gw"}, {"liberia", "lr"},
			{"libya", "ly"}, {"mali", "ml"}, {"mauritania", "mr"}, {"morocco", "ma"},
			{"niger", "ne"}, {"nigeria", "ng"}, {"senegal", "sn"}, {"sierra_leone", "sl"},
			{"togo", "tg"}, {"tunisia", "tn"},
		},
		LookupLanguage: {
			{"french", "fr"}, {"english", "en"}, {"arabic", "ar"}, {"portuguese", "pt"},
			{"bambara", "bam"}, {"dioula", "dyu"}, {"moore", "mos"}, {"fulfulde", "ful"},
			{"wolof", "wol"}, {"hausa", "hau"}, {"soninke", "snk"}, {"tamasheq", "taq"},
			{"baoule", "bci"},
		},
		LookupConcern: {
			{"unaccompanied", "unaccompanied"}, {"separated", "separated"},
			{"trafficked_smuggled", "trafficking"}, {"worst_forms_of_child_labor", "child_labour"},
			{"sexually_exploited", "sexual_violence"}, {"caafag", "armed_forces_or_groups"},
			{"street_child", "street_situation"}, {"arrested_detained", "detention"},
			{"neglect", "neglect"}, {"child_marriage", "child_marriage"},
			{"forced_begging", "forced_begging"}, {"other", "other"},
		},
		LookupRelationship: {
			{"mother", "mother"}, {"father", "father"},
			{"sister", "sibling"}, {"brother", "sibling"},
			{"grandmother", "grandparent"}, {"grandfather", "grandparent"},
			{"aunt", "aunt_uncle"}, {"uncle", "aunt_uncle"},
			{"other_family", "other_relative"}, {"legal_guardian", "guardian"},
			{"caregiver", "caregiver"}, {"other_nonfamily", "other"},
		},
		LookupLifeStatus: {
			{"alive", "alive"}, {"dead", "deceased"}, {"unknown", "unknown"},
		},
		LookupService: {
			// "family_seunification_service" is the id Primero's stock seeds
			// give to "Family Reunification Service" (sic).
			{"family_seunification_service", "family_tracing"}, {"family_reunification_service", "family_tracing"},
			{"safehouse_service", "interim_care"}, {"health_medical_service", "medical_care"},
			{"psychosocial_service", "psychosocial_support"}, {"legal_assistance_service", "legal_assistance"},
			{"education_service", "education"}, {"registration_service", "civil_documentation"},
		},
		LookupLegalStatus: {
			{"refugee", "refugee"}, {"asylum_seeker", "asylum_seeker"},
			{"stateless_person", "stateless"}, {"idp", "national"}, {"returnee", "national"},
		},
		LookupUrgency: {
			// Mapping back, "urgent" becomes the highest risk level.
			{"high", "high"}, {"medium", "normal"}, {"low", "normal"}, {"high", "urgent"},
		},
		LookupConsentGiver: {
			{"child", "child"}, {"mother", "parent"}, {"father", "parent"}, {"parent", "parent"},
			{"legal_guardian", "guardian"}, {"guardian", "guardian"},
			{"legal_representative", "legal_representative"},
		},
		LookupOverrideReason: {
			{"imminent_harm", "imminent_harm"}, {"caregiver_is_risk", "caregiver_is_risk"},
			{"caregiver_unreachable", "caregiver_unreachable"},
		},
	}
}
