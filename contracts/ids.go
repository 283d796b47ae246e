package contracts

import (
	"regexp"
	"strings"

	"github.com/google/uuid"
)

// Identifier grammars. The JSON Schemas in schema/ carry the same patterns;
// a test keeps them in step.
var (
	// agencySlugPattern is the part of an agency id after "<country>.".
	agencySlugPattern = regexp.MustCompile(`^[a-z0-9-]{2,48}$`)
	// uuidV7Pattern is the canonical (lower-case, hyphenated) text form of
	// an RFC 9562 version 7 UUID with the RFC variant.
	uuidV7Pattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	// ulidPattern is the canonical (upper-case Crockford base32) text form
	// of a ULID; a first character above 7 would overflow 128 bits.
	ulidPattern = regexp.MustCompile(`^[0-7][0-9A-HJKMNP-TV-Z]{25}$`)
	// referencePattern is the grammar of case and consent references: opaque
	// tokens of the sender's system, never names.
	referencePattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)
)

// ValidAgencyID reports whether id is an agency id: "<country>.<slug>", where
// country is a lower-case ISO 3166-1 alpha-2 code and slug is 2 to 48 of
// [a-z0-9-]. Examples: "bf.dpe-bobo", "ci.dpe-abidjan", "ml.dnpef".
func ValidAgencyID(id string) bool {
	country, slug, ok := strings.Cut(id, ".")
	return ok && ValidCountry(country) && agencySlugPattern.MatchString(slug)
}

// AgencyCountry returns the country code of an agency id ("bf" for
// "bf.dpe-bobo"), or "" when id is not a valid agency id.
func AgencyCountry(id string) string {
	if !ValidAgencyID(id) {
		return ""
	}
	country, _, _ := strings.Cut(id, ".")
	return country
}

// ValidMessageID reports whether id is a message id: a UUIDv7 in canonical
// lower-case form or a ULID in canonical upper-case form. Both sort by
// creation time, which keeps inboxes and trails naturally ordered.
func ValidMessageID(id string) bool {
	return uuidV7Pattern.MatchString(id) || ulidPattern.MatchString(id)
}

// NewMessageID returns a fresh UUIDv7 in canonical text form.
func NewMessageID() string {
	// crypto/rand does not fail on supported platforms (it aborts the
	// program instead), so Must cannot panic in practice.
	return uuid.Must(uuid.NewV7()).String()
}

// ValidReference reports whether ref is a valid case or consent reference:
// 1 to 64 of [A-Za-z0-9._:-]. References are pseudonymous keys into the
// sender's own case management system; they must never contain a name.
func ValidReference(ref string) bool {
	return referencePattern.MatchString(ref)
}

// ValidRecipient reports whether r may appear in consent.recipients: an
// agency id or a lower-case ISO 3166-1 alpha-2 country code.
func ValidRecipient(r string) bool {
	return ValidAgencyID(r) || ValidCountry(r)
}
