package primero

// How the Primero fields that carry nothing the contract can hold are
// accounted for. A field in none of these lists, and not read by the
// mapping, is reported as unknown to the adapter and is not sent.

// caseMetadataFields are record-keeping fields of the sending Primero.
var caseMetadataFields = []string{
	"case_id", "short_id", "case_id_display", "unique_identifier", "module_id",
	"record_state", "status", "workflow", "marked_for_mobile", "flag_count", "alert_count",
	"current_alert_types", "not_edited_by_owner", "record_in_scope", "case_status_reopened",
	"owned_by", "owned_by_full_name", "owned_by_agency_id", "owned_by_groups", "owned_by_location",
	"owned_by_agency_office", "previously_owned_by", "previously_owned_by_full_name",
	"assigned_user_names", "associated_user_names", "associated_user_groups", "associated_user_agencies",
	"created_at", "created_by", "created_by_full_name", "created_by_agency", "created_organization",
	"last_updated_at", "last_updated_by", "last_updated_by_full_name", "posted_at",
	"transfer_status", "reassigned_transferred_on", "referred_users", "referred_users_present",
	"transferred_to_users", "transferred_to_user_groups", "has_incidents", "duplicate", "duplicate_of",
	"followup_subform_section", "approval_subforms", "case_plan_approved", "assessment_approved",
	"assessment_due_date",
}

// caseNoContractFields are case data the v1 contract has no field for.
var caseNoContractFields = []string{
	"registration_date", "place_of_birth", "ethnicity", "religion", "documents_carried",
	"unhcr_id_no", "maritial_status", "occupation", "care_arrangements_section",
	"unaccompanied_separated_status", "separation_cause",
}

// familyMetadataFields and familyNoContractFields classify the fields of a
// family_details_section entry.
var familyMetadataFields = []string{"unique_id"}

var familyNoContractFields = []string{
	"relation_age", "relation_date_of_birth", "relation_age_estimated", "relation_sex",
	"relation_nickname", "relation_national_id", "relation_nationality", "relation_language",
	"relation_religion", "relation_is_caregiver", "relation_lives_with_child",
	"relation_child_lived_with_pre_separation", "relation_child_is_in_contact",
	"relation_child_is_separated_from", "relation_address_is_permanent", "relation_death_details",
	"relation_occupation", "relation_comments",
}

// serviceMetadataFields and serviceNoContractFields classify the fields of
// a services_section entry other than service_type.
var serviceMetadataFields = []string{
	"unique_id", "service_response_type", "service_response_day_time", "service_status_referred",
	"service_implemented", "service_implemented_day_time", "service_implementing_agency",
	"service_implementing_agency_individual", "service_response_timeframe",
}

var serviceNoContractFields = []string{
	"service_appointment_date", "service_delivery_location", "service_referral_notes",
	"service_provider", "service_type_details_text", "note_on_referral_from_provider",
}

// transitionMetadataFields are the transition's own record-keeping.
var transitionMetadataFields = []string{
	"id", "status", "record_type", "transitioned_by", "transitioned_to", "transitioned_to_remote",
	"remote", "type_of_export", "rejected_reason", "rejection_note", "responded_at",
	"record_access_denied", "user_can_accept_or_reject", "authorized_role_unique_id",
}

// consentFields are the case's consent-form fields; those a given basis
// does not read are reported as such.
var consentFields = []string{
	"consent_for_services", "disclosure_other_orgs", "consent_for_tracing", "interview_subject",
	"child_consent", "consent_info_sharing", "consent_override_reason",
}

var transitionConsentFields = []string{
	"consent_overridden", "consent_individual_transfer", "consent_override_reason", "created_at",
}
