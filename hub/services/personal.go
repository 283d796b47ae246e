package services

import (
	"regexp"
	"unicode"
)

// The directory names roles, never people: a focal point changes, a
// private number outlives the job, and a child-protection worker's
// personal contact details in a shared directory are a risk to them. Free
// text is checked for what gives a person away; a name without a title
// cannot be told from an institution's name by a program, which is why the
// form asks for a role (docs/directory.md).

var (
	// A telephone number: seven digits or more, possibly with a leading +
	// and separators.
	phoneRun = regexp.MustCompile(`\+?\d[\d\s().\-/]{5,}\d`)
	// A year and a sequence number ("2025-0412") is how decrees and
	// orders are numbered, not a telephone number.
	referenceNumber = regexp.MustCompile(`^(19|20)\d\d[-/]\d+$`)
	email           = regexp.MustCompile(`[^\s@<>()]+@[^\s@<>()]+\.[A-Za-z]{2,}`)
	// A title followed by a capitalised word: "M. Traoré", "Mme Koné",
	// "Dr Diallo".
	titledName = regexp.MustCompile(`(^|[\s,;:(/])(?i:m\.|mme\.?|mlle\.?|monsieur|madame|mademoiselle|mr\.?|mrs\.?|ms\.?|miss|dr\.?|docteur|doctor|pr\.?|professeur|professor|maître|me\.)\s+\p{Lu}`)
)

// personalHint says why text looks like a person's details ("" when it
// does not): a telephone number, an e-mail address or a titled name.
func personalHint(text string) string {
	for _, m := range phoneRun.FindAllString(text, -1) {
		if referenceNumber.MatchString(m) {
			continue
		}
		digits := 0
		for _, r := range m {
			if unicode.IsDigit(r) {
				digits++
			}
		}
		if digits >= 7 {
			return "a telephone number"
		}
	}
	if email.MatchString(text) {
		return "an e-mail address"
	}
	if titledName.MatchString(text) {
		return "a person's name"
	}
	return ""
}
