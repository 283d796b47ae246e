// Package primero maps Primero / CPIMS+ (API v2) records to Relais
// referrals and back.
//
// A Primero case is a flat JSON object of form fields (GET /api/v2/cases/:id
// answers {"data": {...}}), with subforms as arrays of objects
// (family_details_section, services_section, ...). A Referral or Transfer is
// a transition record (GET /api/v2/cases/:id/referrals or /transfers). The
// sending side calls ToDraft on a case and its transition to get an
// agency.Draft of kind referral.request; the receiving side calls
// FromReferral on the decrypted body and its envelope to get a case to
// create in its own Primero.
//
// Both directions return a Report that accounts for every source field:
// mapped (to which field on the other side) or dropped (with the reason).
// Reports and errors name fields, never their values: the values are a
// child's personal data.
//
// Primero's value quirks are absorbed here: tick boxes and yes/no lookups
// arrive as JSON booleans or as the strings "true"/"false"; dates as
// "dd-MMM-yyyy", ISO dates or ISO timestamps; numbers as numbers or
// strings; multi-selects (nationality, language, protection_concerns) as
// arrays of option ids that each deployment configures, often with a
// random suffix ("cote_d_ivoire_71435"). Option ids are translated to the
// contract's vocabularies through Options.Lookups.
package primero
