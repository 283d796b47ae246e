package primero

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/relais-hub/relais/contracts"
)

// Option translates one Primero option id to a contract code.
type Option struct {
	ID   string `yaml:"id"`
	Code string `yaml:"code"`
}

// Lookup is an ordered option table. Several ids may share a code; mapping
// back picks the first id listed for it.
type Lookup []Option

// Code returns the contract code of a Primero option id.
func (l Lookup) Code(id string) (string, bool) {
	for _, o := range l {
		if o.ID == id {
			return o.Code, true
		}
	}
	return "", false
}

// ID returns the first Primero option id listed for a contract code.
func (l Lookup) ID(code string) (string, bool) {
	for _, o := range l {
		if o.Code == code {
			return o.ID, true
		}
	}
	return "", false
}

// Lookup names: one table per contract vocabulary the adapter translates.
const (
	LookupSex            = "sex"                // lookup-gender → sex
	LookupCountry        = "country"            // lookup-country / lookup-nationality → ISO 3166-1
	LookupLanguage       = "language"           // lookup-language → ISO 639
	LookupConcern        = "protection_concern" // lookup-protection-concerns, lookup-protection-status
	LookupRelationship   = "relationship"       // lookup-family-relationship
	LookupLifeStatus     = "life_status"        // relation_is_alive
	LookupService        = "service"            // lookup-service-type
	LookupLegalStatus    = "legal_status"       // lookup-displacement-status
	LookupUrgency        = "urgency"            // lookup-risk-level → urgency
	LookupConsentGiver   = "consent_giver"      // interview_subject → consent.given_by
	LookupOverrideReason = "override_reason"    // consent_override_reason → override.reason
)

// lookupRules says how each lookup's codes are checked.
var lookupRules = map[string]func(string) bool{
	LookupSex:            contracts.Sexes.Has,
	LookupCountry:        contracts.ValidCountry,
	LookupLanguage:       regexp.MustCompile(`^[a-z]{2,3}$`).MatchString,
	LookupConcern:        contracts.Concerns.Has,
	LookupRelationship:   contracts.Relationships.Has,
	LookupLifeStatus:     contracts.LifeStatuses.Has,
	LookupService:        contracts.Services.Has,
	LookupLegalStatus:    contracts.LegalStatuses.Has,
	LookupUrgency:        contracts.Urgencies.Has,
	LookupConsentGiver:   contracts.IsConsentGiver,
	LookupOverrideReason: contracts.IsOverrideReason,
}

// Place is what a Primero location code stands for in the contract.
type Place struct {
	Country   string `yaml:"country"`
	AdminArea string `yaml:"admin_area,omitempty"`
}

// Options configure the mapping for one Primero deployment: option ids,
// location codes and agencies differ from one instance to the next.
type Options struct {
	// To is the recipient agency id; when empty, the transition's
	// transitioned_to_agency is looked up in Agencies.
	To string `yaml:"to"`
	// Agencies maps Primero agency unique ids to Relais agency ids.
	Agencies map[string]string `yaml:"agencies"`
	// Locations maps Primero location codes to a country and an ISO 3166-2
	// subdivision.
	Locations map[string]Place `yaml:"locations"`
	// Lookups translate option ids, per lookup name (Lookup* constants).
	Lookups map[string]Lookup `yaml:"lookups"`
	// ConsentDateField names the case field holding the date consent was
	// obtained. Stock Primero forms have none; without one, only a transfer
	// with consent_individual_transfer (dated by the transition) can carry
	// consent.
	ConsentDateField string `yaml:"consent_date_field"`
	// SharingWithAgencies are the consent_info_sharing option ids that
	// cover sharing with another agency. When a case fills
	// consent_info_sharing without any of them, consent does not reach the
	// recipient.
	SharingWithAgencies []string `yaml:"consent_info_sharing_agencies"`
	// Purposes maps a transition type (Referral, Transfer) to the purpose.
	// A referral for a family-tracing service has purpose family_tracing.
	Purposes map[string]string `yaml:"purposes"`
	// Categories, when set, are the only data categories that may be sent
	// (a corridor's minimisation rule); fields of other categories are
	// dropped.
	Categories []string `yaml:"categories"`
	// PurposeCategories narrow Categories per purpose, as a corridor
	// agreement does (family tracing needs no protection concerns).
	PurposeCategories map[string][]string `yaml:"purpose_categories"`
	// ModuleID is the module of cases created by FromReferral.
	ModuleID string `yaml:"module_id"`
	// OverrideApproval is the supervisor's approval (a compact JWS) of a
	// best-interests override; Primero holds none.
	OverrideApproval string `yaml:"-"`
	// WithholdingReviewed confirms that a case worker read the case's
	// withholding instructions (disclosure_deny_details,
	// withholding_info_reason) and that this referral respects them.
	WithholdingReviewed bool `yaml:"-"`
}

// DefaultOptions returns the tables for Primero's stock CP configuration
// and the country and language ids West African deployments use.
func DefaultOptions() Options {
	return Options{
		Agencies:            map[string]string{},
		Locations:           map[string]Place{},
		Lookups:             defaultLookups(),
		SharingWithAgencies: []string{"authorities", "other_organizations"},
		Purposes:            map[string]string{"Referral": "protection_referral", "Transfer": "protection_referral"},
		ModuleID:            "primeromodule-cp",
	}
}

// LoadOptions reads a deployment's options (YAML) over DefaultOptions:
// lookup entries from the file come first and replace the default entries
// with the same id; maps are merged; other fields replace the defaults.
// Unknown keys are refused.
func LoadOptions(r io.Reader) (Options, error) {
	var file Options
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	if err := dec.Decode(&file); err != nil && !errors.Is(err, io.EOF) {
		return Options{}, fmt.Errorf("primero options: %w", err)
	}
	o := DefaultOptions()
	if file.To != "" {
		o.To = file.To
	}
	for k, v := range file.Agencies {
		o.Agencies[k] = v
	}
	for k, v := range file.Locations {
		o.Locations[k] = v
	}
	for name, entries := range file.Lookups {
		merged := append(Lookup(nil), entries...)
		for _, d := range o.Lookups[name] {
			if _, dup := entries.Code(d.ID); !dup {
				merged = append(merged, d)
			}
		}
		o.Lookups[name] = merged
	}
	if file.ConsentDateField != "" {
		o.ConsentDateField = file.ConsentDateField
	}
	if file.SharingWithAgencies != nil {
		o.SharingWithAgencies = file.SharingWithAgencies
	}
	for k, v := range file.Purposes {
		o.Purposes[k] = v
	}
	if file.Categories != nil {
		o.Categories = file.Categories
	}
	if file.PurposeCategories != nil {
		o.PurposeCategories = file.PurposeCategories
	}
	if file.ModuleID != "" {
		o.ModuleID = file.ModuleID
	}
	return o, o.Validate()
}

// Validate checks that every code in the options belongs to its contract
// vocabulary.
func (o Options) Validate() error {
	var problems []string
	if o.To != "" && !contracts.ValidAgencyID(o.To) {
		problems = append(problems, "to: not an agency id")
	}
	for _, k := range sortedKeys(o.Agencies) {
		if !contracts.ValidAgencyID(o.Agencies[k]) {
			problems = append(problems, fmt.Sprintf("agencies.%s: not an agency id", k))
		}
	}
	for _, k := range sortedKeys(o.Locations) {
		p := o.Locations[k]
		if !contracts.ValidCountry(p.Country) {
			problems = append(problems, fmt.Sprintf("locations.%s.country: not an ISO 3166-1 code", k))
		}
		if p.AdminArea != "" && !regexp.MustCompile(`^[A-Z]{2}-[A-Z0-9]{1,3}$`).MatchString(p.AdminArea) {
			problems = append(problems, fmt.Sprintf("locations.%s.admin_area: not an ISO 3166-2 code", k))
		}
	}
	for _, name := range sortedKeys(o.Lookups) {
		rule, known := lookupRules[name]
		if !known {
			problems = append(problems, fmt.Sprintf("lookups.%s: unknown lookup", name))
			continue
		}
		for i, opt := range o.Lookups[name] {
			if opt.ID == "" || !rule(opt.Code) {
				problems = append(problems, fmt.Sprintf("lookups.%s[%d]: id required and code must be a contract code", name, i))
			}
		}
	}
	for _, k := range sortedKeys(o.Purposes) {
		if !contracts.IsPurpose(o.Purposes[k]) {
			problems = append(problems, fmt.Sprintf("purposes.%s: not a purpose", k))
		}
	}
	for i, c := range o.Categories {
		if !contracts.IsDataCategory(c) {
			problems = append(problems, fmt.Sprintf("categories[%d]: not a data category", i))
		}
	}
	for _, p := range sortedKeys(o.PurposeCategories) {
		if !contracts.IsPurpose(p) {
			problems = append(problems, fmt.Sprintf("purpose_categories.%s: not a purpose", p))
		}
		for i, c := range o.PurposeCategories[p] {
			if !contracts.IsDataCategory(c) {
				problems = append(problems, fmt.Sprintf("purpose_categories.%s[%d]: not a data category", p, i))
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("primero options: %s", strings.Join(problems, "; "))
	}
	return nil
}

// lookup returns a lookup table (empty when not configured).
func (o Options) lookup(name string) Lookup { return o.Lookups[name] }

// locationCode returns the first location code (in code order) standing
// for country and admin area exactly.
func (o Options) locationCode(country, adminArea string) (string, bool) {
	for _, code := range sortedKeys(o.Locations) {
		if p := o.Locations[code]; p.Country == country && p.AdminArea == adminArea {
			return code, true
		}
	}
	return "", false
}

// allows reports whether a data category may be sent for a purpose.
func (o Options) allows(purpose, category string) bool {
	if category == "" {
		return true
	}
	if len(o.Categories) > 0 && !slices.Contains(o.Categories, category) {
		return false
	}
	if list, ok := o.PurposeCategories[purpose]; ok && !slices.Contains(list, category) {
		return false
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
