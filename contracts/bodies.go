package contracts

// Message bodies, one type per kind. Every leaf field carries a `relais`
// tag naming the data category it belongs to (or "-" for case-handling
// metadata that is not personal data); a nested field without a tag inherits
// its parent's. BodyCategories reads these tags so a recipient can check
// that a decrypted body stays within the categories its envelope declared.

// ReferralRequest is the body of referral.request: the child's file as a
// case worker fills it in. It travels encrypted for the recipient only, so
// it holds real personal data; the hub never sees it.
type ReferralRequest struct {
	Child Child `json:"child"`
	// Location is where the child is now.
	Location *Location `json:"location,omitempty" relais:"location"`
	// Family lists relatives and other people close to the child.
	Family             []FamilyMember      `json:"family,omitempty" validate:"omitempty,min=1,max=30,dive"`
	ProtectionConcerns *ProtectionConcerns `json:"protection_concerns,omitempty" relais:"protection_concerns"`
	// Documents lists the documents the child holds or that are on file.
	Documents   []Document   `json:"documents,omitempty" validate:"omitempty,min=1,max=20,dive" relais:"documents"`
	HealthNotes string       `json:"health_notes,omitempty" validate:"omitempty,max=4000" relais:"health"`
	LegalStatus *LegalStatus `json:"legal_status,omitempty" relais:"legal_status"`
	Photo       *Photo       `json:"photo,omitempty" relais:"photo"`
	// Narrative is the case worker's account of the child's situation.
	Narrative string `json:"narrative,omitempty" validate:"omitempty,max=20000" relais:"narrative"`
	// Urgency and RequestedServices describe the referral itself.
	Urgency           string   `json:"urgency" validate:"required,urgency" relais:"-"`
	RequestedServices []string `json:"requested_services,omitempty" validate:"omitempty,min=1,unique,dive,service" relais:"-"`
}

// Child identifies the child. Age is a birth date or an estimate, exactly
// one of the two.
type Child struct {
	GivenNames   string   `json:"given_names" validate:"required,max=100,text_line" relais:"identity"`
	FamilyName   string   `json:"family_name,omitempty" validate:"omitempty,max=100,text_line" relais:"identity"`
	OtherNames   []string `json:"other_names,omitempty" validate:"omitempty,min=1,max=10,unique,dive,max=100,text_line" relais:"identity"`
	Sex          string   `json:"sex" validate:"required,sex" relais:"identity"`
	BirthDate    string   `json:"birth_date,omitempty" validate:"omitempty,iso_date" relais:"identity"`
	EstimatedAge *int     `json:"estimated_age,omitempty" validate:"omitempty,min=0,max=25" relais:"identity"`
	Nationality  string   `json:"nationality,omitempty" validate:"omitempty,country" relais:"identity"`
	// Languages are ISO 639-1 or 639-3 codes: "fr", "bam" (Bambara), "dyu"
	// (Dioula), "mos" (Mooré).
	Languages []string `json:"languages,omitempty" validate:"omitempty,min=1,max=10,unique,dive,language" relais:"identity"`
	// Phone is the child's own number, if any (E.164).
	Phone string `json:"phone,omitempty" validate:"omitempty,phone" relais:"contact"`
}

// Location is where the child is now.
type Location struct {
	Country string `json:"country" validate:"required,country"`
	// AdminArea is an ISO 3166-2 subdivision code ("BF-HOU").
	AdminArea string `json:"admin_area,omitempty" validate:"omitempty,subdivision"`
	// Place is the town, district or care setting, as written locally.
	Place string `json:"place,omitempty" validate:"omitempty,max=200,text_line"`
	Since string `json:"since,omitempty" validate:"omitempty,iso_date"`
}

// FamilyMember is a relative or another person close to the child. Who they
// are is family data; how to reach them is contact data.
type FamilyMember struct {
	Relationship string `json:"relationship" validate:"required,relationship" relais:"family"`
	GivenNames   string `json:"given_names,omitempty" validate:"omitempty,max=100,text_line" relais:"family"`
	FamilyName   string `json:"family_name,omitempty" validate:"omitempty,max=100,text_line" relais:"family"`
	Status       string `json:"status,omitempty" validate:"omitempty,life_status" relais:"family"`
	Country      string `json:"country,omitempty" validate:"omitempty,country" relais:"contact"`
	Address      string `json:"address,omitempty" validate:"omitempty,max=300,text_line" relais:"contact"`
	Phone        string `json:"phone,omitempty" validate:"omitempty,phone" relais:"contact"`
}

// ProtectionConcerns are coded concerns plus the case worker's details.
type ProtectionConcerns struct {
	Codes   []string `json:"codes" validate:"required,min=1,unique,dive,protection_concern"`
	Details string   `json:"details,omitempty" validate:"omitempty,max=4000"`
}

// Document is one document the child holds or that is on file.
type Document struct {
	Type           string `json:"type" validate:"required,document_type"`
	Number         string `json:"number,omitempty" validate:"omitempty,max=64,text_line"`
	IssuingCountry string `json:"issuing_country,omitempty" validate:"omitempty,country"`
	ExpiresOn      string `json:"expires_on,omitempty" validate:"omitempty,iso_date"`
}

// LegalStatus is the child's status where they are now.
type LegalStatus struct {
	Status  string `json:"status" validate:"required,legal_status"`
	Details string `json:"details,omitempty" validate:"omitempty,max=2000"`
}

// Photo is one photograph of the child, base64-encoded: at most 64 KiB once
// decoded, a compressed identification photo. The body is base64-encoded
// twice more on the way (JWE, then JWS), so a larger picture would not fit
// in a message.
type Photo struct {
	MediaType string `json:"media_type" validate:"required,oneof=image/jpeg image/png"`
	Data      string `json:"data" validate:"required,max=87384,base64"`
}

// DeliveryReceipt is the body of a receipt: the SHA-256, in lower-case hex,
// of the exact JWS bytes the recipient received. The envelope's in_reply_to
// names the message.
type DeliveryReceipt struct {
	SHA256 string `json:"sha256" validate:"required,sha256_hex" relais:"-"`
}

// ReferralAccepted is the body of referral.accepted.
type ReferralAccepted struct {
	// ResponsibleAgency names the agency that will hold the case, when it is
	// not the one answering (a regional office of the same service, say).
	ResponsibleAgency string `json:"responsible_agency,omitempty" validate:"omitempty,agency_id" relais:"-"`
}

// ReferralDeclined is the body of referral.declined. It is plain (the hub
// reads it), so it carries a coded reason and never free text.
type ReferralDeclined struct {
	Reason string `json:"reason" validate:"required,decline_reason" relais:"-"`
}
