package contracts

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/go-playground/validator/v10"
)

var (
	// jwsCompactPattern is the shape of an attached-payload compact JWS.
	jwsCompactPattern = regexp.MustCompile(`^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$`)
	// jweCompactPattern is the shape of a compact JWE with a wrapped key:
	// protected header, encrypted key, IV, ciphertext, tag.
	jweCompactPattern = regexp.MustCompile(`^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$`)
	// sha256HexPattern is a SHA-256 digest in lower-case hex.
	sha256HexPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)
	// utcTimePattern is RFC 3339 restricted to UTC with a 'Z' suffix.
	utcTimePattern = regexp.MustCompile(`^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?Z$`)
	// isoDatePattern is a calendar date, YYYY-MM-DD.
	isoDatePattern = regexp.MustCompile(`^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$`)
	// plainTextLinePattern is a single line of printable text: no control
	// characters. Length limits are given by max tags.
	plainTextLinePattern = regexp.MustCompile(`^[^\x00-\x1f\x7f]+$`)
	// languagePattern is an ISO 639-1 or 639-3 code in lower case.
	languagePattern = regexp.MustCompile(`^[a-z]{2,3}$`)
	// subdivisionPattern is an ISO 3166-2 subdivision code ("BF-HOU").
	subdivisionPattern = regexp.MustCompile(`^[A-Z]{2}-[A-Z0-9]{1,3}$`)
	// phonePattern is an E.164 number.
	phonePattern = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	// base64Pattern is standard padded base64.
	base64Pattern = regexp.MustCompile(`^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$`)
)

// validate is the package's one validator instance: building one is costly
// and it caches struct metadata, so it is built once and shared.
var validate = newValidator()

func newValidator() *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	// Report JSON names, so refusals name fields as integrators see them.
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			return ""
		}
		if name == "" {
			return f.Name
		}
		return name
	})
	stringRules := map[string]func(string) bool{
		"agency_id":       ValidAgencyID,
		"country":         ValidCountry,
		"recipient":       ValidRecipient,
		"message_id":      ValidMessageID,
		"reference":       ValidReference,
		"jws_compact":     isJWSCompact,
		"jwe_compact":     isJWECompact,
		"sha256_hex":      sha256HexPattern.MatchString,
		"iso_date":        validISODate,
		"text_line":       plainTextLinePattern.MatchString,
		"legal_reference": plainTextLinePattern.MatchString,
		"language":        languagePattern.MatchString,
		"subdivision":     subdivisionPattern.MatchString,
		"phone":           phonePattern.MatchString,
		"base64":          base64Pattern.MatchString,
	}
	for _, voc := range Vocabularies() {
		stringRules[voc.Name()] = voc.Has
	}
	for tag, ok := range stringRules {
		mustRegister(v, tag, func(fl validator.FieldLevel) bool {
			f := fl.Field()
			return f.Kind() == reflect.String && ok(f.String())
		})
	}
	mustRegister(v, "utc_time", func(fl validator.FieldLevel) bool {
		t, isTime := fl.Field().Interface().(time.Time)
		return isTime && !t.IsZero() && t.Location() == time.UTC
	})
	v.RegisterStructValidation(consentRules, Consent{})
	v.RegisterStructValidation(childRules, Child{})
	return v
}

func mustRegister(v *validator.Validate, tag string, fn validator.Func) {
	if err := v.RegisterValidation(tag, fn); err != nil {
		panic(fmt.Sprintf("contracts: registering validator %q: %v", tag, err))
	}
}

// validISODate reports whether s is a real calendar date written YYYY-MM-DD.
func validISODate(s string) bool {
	if !isoDatePattern.MatchString(s) {
		return false
	}
	_, err := time.Parse(time.DateOnly, s)
	return err == nil
}

// consentRules are the cross-field rules of a consent's shape: an override
// belongs to, and only to, the best-interests basis; a legal reference to,
// and only to, the legal-obligation basis; expiry follows collection.
func consentRules(sl validator.StructLevel) {
	c := sl.Current().Interface().(Consent)
	isOverride := c.Basis == "best_interests_override"
	switch {
	case isOverride && c.Override == nil:
		sl.ReportError(c.Override, "override", "Override", "required_for_basis", "")
	case !isOverride && c.Override != nil:
		sl.ReportError(c.Override, "override", "Override", "forbidden_for_basis", "")
	}
	isLegal := c.Basis == "legal_obligation"
	switch {
	case isLegal && c.LegalReference == "":
		sl.ReportError(c.LegalReference, "legal_reference", "LegalReference", "required_for_basis", "")
	case !isLegal && c.LegalReference != "":
		sl.ReportError(c.LegalReference, "legal_reference", "LegalReference", "forbidden_for_basis", "")
	}
	if !c.ExpiresAt.IsZero() && !c.ObtainedAt.IsZero() && !c.ExpiresAt.After(c.ObtainedAt) {
		sl.ReportError(c.ExpiresAt, "expires_at", "ExpiresAt", "after_obtained_at", "")
	}
}

// childRules: a child's age is given either as a birth date or as an
// estimate, exactly one of the two.
func childRules(sl validator.StructLevel) {
	c := sl.Current().Interface().(Child)
	switch {
	case c.BirthDate == "" && c.EstimatedAge == nil:
		sl.ReportError(c.BirthDate, "birth_date", "BirthDate", "birth_date_or_estimated_age", "")
	case c.BirthDate != "" && c.EstimatedAge != nil:
		sl.ReportError(c.EstimatedAge, "estimated_age", "EstimatedAge", "not_both_birth_date_and_estimated_age", "")
	}
}

// fieldIssue is one field that broke one rule. It never holds the value.
type fieldIssue struct {
	Path string
	Rule string
}

// validationIssues runs the validator on v and returns its failures as JSON
// paths relative to v.
func validationIssues(v any) []fieldIssue {
	err := validate.Struct(v)
	if err == nil {
		return nil
	}
	var verrs validator.ValidationErrors
	if !errors.As(err, &verrs) {
		// InvalidValidationError: a programming error (nil or non-struct).
		return []fieldIssue{{Path: "", Rule: "invalid_value"}}
	}
	issues := make([]fieldIssue, 0, len(verrs))
	for _, fe := range verrs {
		ns := fe.Namespace()
		// Drop the Go type name at the root ("Envelope.consent.basis").
		if _, rest, ok := strings.Cut(ns, "."); ok {
			ns = rest
		}
		issues = append(issues, fieldIssue{Path: ns, Rule: ruleName(fe)})
	}
	return issues
}

// ruleName renders a validator failure as a rule: the tag, plus its
// parameter for bounds ("max=64"), which are part of the protocol, not data.
func ruleName(fe validator.FieldError) string {
	if fe.Param() != "" {
		return fe.Tag() + "=" + fe.Param()
	}
	return fe.Tag()
}

// refuseFields builds a refusal naming each offending field and rule, in a
// stable order. Values are never included.
func refuseFields(code Code, what string, issues []fieldIssue) *Problem {
	sort.SliceStable(issues, func(i, j int) bool { return issues[i].Path < issues[j].Path })
	fields := make([]string, 0, len(issues))
	parts := make([]string, 0, len(issues))
	seen := map[string]bool{}
	for _, is := range issues {
		if !seen[is.Path] {
			seen[is.Path] = true
			fields = append(fields, is.Path)
		}
		parts = append(parts, is.Path+" ("+is.Rule+")")
	}
	return &Problem{
		Code:   code,
		Detail: what + ": " + strings.Join(parts, ", "),
		Fields: fields,
	}
}

// isJWSCompact and isJWECompact match jwsCompactPattern and
// jweCompactPattern (the JSON Schemas publish the patterns) without the
// regexp engine, which cost a few percent of the hub's CPU on every body.
func isJWSCompact(s string) bool { return isCompact(s, 3) }
func isJWECompact(s string) bool { return isCompact(s, 5) }

// isCompact reports whether s is parts non-empty runs of base64url
// characters joined by dots.
func isCompact(s string, parts int) bool {
	n, run := 1, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.':
			if run == 0 {
				return false
			}
			n, run = n+1, 0
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
			run++
		default:
			return false
		}
	}
	return n == parts && run > 0
}
