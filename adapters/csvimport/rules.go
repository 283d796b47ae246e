package csvimport

import (
	"fmt"
	"strings"

	"github.com/relais-hub/relais/contracts"
)

// Rules the importer itself applies, before the contract's. The
// contract's rules keep the validator's names ("required", "phone",
// "birth_date_or_estimated_age", "max=100", ...).
const (
	RuleValueNotInMap   = "value_not_in_map"
	RuleDateFormat      = "date_format"
	RuleInteger         = "integer"
	RuleFieldCount      = "field_count"
	RuleEncoding        = "encoding"
	RuleCSVSyntax       = "csv_syntax"
	RuleConsentMissing  = "consent_missing"
	RuleDuplicateInList = "unique"
)

var ruleLabels = map[string]contracts.Label{
	RuleValueNotInMap:                       {FR: "valeur absente de la table de correspondance du fichier de mapping", EN: "value not in the mapping's table of values"},
	RuleDateFormat:                          {FR: "date illisible ou inexistante dans le format attendu", EN: "date unreadable or impossible in the expected format"},
	RuleInteger:                             {FR: "nombre entier attendu", EN: "whole number expected"},
	RuleFieldCount:                          {FR: "nombre de cellules différent de l'en-tête", EN: "number of cells differs from the header"},
	RuleEncoding:                            {FR: "caractères illisibles : vérifier l'encodage du fichier (utf-8 ou windows-1252)", EN: "unreadable characters: check the file encoding (utf-8 or windows-1252)"},
	RuleCSVSyntax:                           {FR: "ligne CSV mal formée (guillemets)", EN: "malformed CSV line (quotes)"},
	RuleConsentMissing:                      {FR: "pas de consentement au partage enregistré", EN: "no recorded consent to share"},
	"required":                              {FR: "champ obligatoire vide", EN: "required field is empty"},
	"required_for_kind":                     {FR: "obligatoire pour un référencement", EN: "required for a referral"},
	"birth_date_or_estimated_age":           {FR: "date de naissance ou âge estimé obligatoire", EN: "birth date or estimated age required"},
	"not_both_birth_date_and_estimated_age": {FR: "date de naissance et âge estimé : l'un ou l'autre, pas les deux", EN: "birth date and estimated age: one or the other, not both"},
	"phone":                                 {FR: "numéro international attendu, avec l'indicatif (+226…)", EN: "international number expected, with the country code (+226…)"},
	"reference":                             {FR: "référence invalide : lettres, chiffres et . _ : - seulement, 64 au plus (pas de /)", EN: "invalid reference: letters, digits and . _ : - only, at most 64 (no /)"},
	"iso_date":                              {FR: "date invalide", EN: "invalid date"},
	"text_line":                             {FR: "une seule ligne de texte attendue", EN: "a single line of text expected"},
	RuleDuplicateInList:                     {FR: "valeur en double dans la liste", EN: "duplicate value in the list"},
	"agency_id":                             {FR: "identifiant de service invalide", EN: "invalid agency id"},
	"country":                               {FR: "code pays ISO 3166 invalide", EN: "invalid ISO 3166 country code"},
	"differs_from_from":                     {FR: "le destinataire est l'expéditeur", EN: "the recipient is the sender"},
	"utc_time":                              {FR: "date manquante ou invalide", EN: "missing or invalid date"},
	"required_for_basis":                    {FR: "obligatoire pour ce fondement", EN: "required for this basis"},
	"forbidden_for_basis":                   {FR: "interdit pour ce fondement", EN: "not allowed for this basis"},
	"after_obtained_at":                     {FR: "l'expiration précède le recueil du consentement", EN: "expiry precedes consent"},
}

// RuleLabel is the human text of a rule in lang ("fr" or "en").
func RuleLabel(rule, lang string) string {
	if l, ok := ruleLabels[rule]; ok {
		return l.In(lang)
	}
	en := strings.HasPrefix(strings.ToLower(lang), "en")
	if n, ok := strings.CutPrefix(rule, "max="); ok {
		if en {
			return fmt.Sprintf("too long or too many (at most %s)", n)
		}
		return fmt.Sprintf("trop long ou trop nombreux (%s au plus)", n)
	}
	if n, ok := strings.CutPrefix(rule, "min="); ok {
		if en {
			return fmt.Sprintf("at least %s", n)
		}
		return fmt.Sprintf("%s au moins", n)
	}
	for _, v := range contracts.Vocabularies() {
		if v.Name() == rule {
			if en {
				return "not a code of: " + v.Title().EN
			}
			return "code absent du vocabulaire : " + v.Title().FR
		}
	}
	if en {
		return "contract rule: " + rule
	}
	return "règle du contrat : " + rule
}

// Rejection is one reason a row cannot be sent. It never holds the cell's
// value.
type Rejection struct {
	// Row is the line of the file where the row starts (the header is
	// line 1), as a spreadsheet shows it.
	Row int `json:"row"`
	// Column is the sheet's column, when one is involved.
	Column string `json:"column,omitempty"`
	// Field is the contract field.
	Field string `json:"field,omitempty"`
	// Rule is the rule broken (see the Rule constants and the contract's
	// validator rules).
	Rule string `json:"rule"`
}
