package contracts

import (
	"slices"
	"strings"
	"testing"

	"github.com/go-playground/validator/v10"
)

func TestAgencyIDs(t *testing.T) {
	cases := []struct {
		id      string
		valid   bool
		country string
	}{
		{"bf.dpe-bobo", true, "bf"},
		{"ci.dpe-abidjan", true, "ci"},
		{"ml.dnpef", true, "ml"},
		{"sn.ab", true, "sn"},
		{"ng." + strings.Repeat("a", 48), true, "ng"},
		{"ng." + strings.Repeat("a", 49), false, ""},
		{"sn.a", false, ""},
		{"xk.mtsp", false, ""},       // user-assigned, not official
		{"zz.test", false, ""},       // unassigned
		{"BF.dpe-bobo", false, ""},   // upper-case country
		{"bf.DPE-bobo", false, ""},   // upper-case slug
		{"bf.dpe_bobo", false, ""},   // underscore
		{"bf.dpe.bobo", false, ""},   // second dot
		{"bfa.dpe-bobo", false, ""},  // alpha-3
		{"bf", false, ""},            // country only
		{"bf.", false, ""},           // empty slug
		{".dpe-bobo", false, ""},     // empty country
		{"bf.dpe bobo", false, ""},   // space
		{"bf.dpé-bobo", false, ""},   // non-ASCII
		{" bf.dpe-bobo", false, ""},  // padding
		{"bf.dpe-bobo\n", false, ""}, // trailing newline
		{"", false, ""},
	}
	for _, tc := range cases {
		if got := ValidAgencyID(tc.id); got != tc.valid {
			t.Errorf("ValidAgencyID(%q) = %v, want %v", tc.id, got, tc.valid)
		}
		if got := AgencyCountry(tc.id); got != tc.country {
			t.Errorf("AgencyCountry(%q) = %q, want %q", tc.id, got, tc.country)
		}
	}
}

func TestMessageIDs(t *testing.T) {
	cases := []struct {
		id    string
		valid bool
	}{
		{"0193a5c2-7b1e-7c3d-8f4e-1a2b3c4d5e6f", true},
		{"0193a5c2-7b1e-7c3d-bf4e-1a2b3c4d5e6f", true},
		{"0193A5C2-7B1E-7C3D-8F4E-1A2B3C4D5E6F", false}, // not canonical
		{"9b2f4c1e-6a3d-4e8f-9a1b-2c3d4e5f6a7b", false}, // version 4
		{"0193a5c2-7b1e-7c3d-cf4e-1a2b3c4d5e6f", false}, // wrong variant
		{"0193a5c27b1e7c3d8f4e1a2b3c4d5e6f", false},     // no hyphens
		{"{0193a5c2-7b1e-7c3d-8f4e-1a2b3c4d5e6f}", false},
		{"01JDQ7Z8K9M2N3P4Q5R6S7T8V9", true},
		{"7ZZZZZZZZZZZZZZZZZZZZZZZZZ", true},
		{"8ZZZZZZZZZZZZZZZZZZZZZZZZZ", false}, // overflows 128 bits
		{"01jdq7z8k9m2n3p4q5r6s7t8v9", false}, // not canonical
		{"01JDQ7Z8K9M2N3P4Q5R6S7T8VI", false}, // I is not Crockford
		{"01JDQ7Z8K9M2N3P4Q5R6S7T8V", false},  // 25 characters
		{"", false},
	}
	for _, tc := range cases {
		if got := ValidMessageID(tc.id); got != tc.valid {
			t.Errorf("ValidMessageID(%q) = %v, want %v", tc.id, got, tc.valid)
		}
	}
}

func TestNewMessageIDsAreValidUniqueAndTimeOrdered(t *testing.T) {
	var ids []string
	seen := map[string]bool{}
	for range 1000 {
		id := NewMessageID()
		if !ValidMessageID(id) || !uuidV7Pattern.MatchString(id) {
			t.Fatalf("NewMessageID() = %q is not a canonical UUIDv7", id)
		}
		if seen[id] {
			t.Fatalf("NewMessageID repeated %q", id)
		}
		seen[id] = true
		ids = append(ids, id)
	}
	// UUIDv7s made in sequence by one process sort in creation order
	// (google/uuid keeps them monotonic within a millisecond).
	if !slices.IsSorted(ids) {
		t.Fatal("message ids are not time-ordered")
	}
}

func TestReferencesAreOpaqueTokens(t *testing.T) {
	for ref, valid := range map[string]bool{
		"CI-ABJ-2025-0142":      true,
		"ML:2025:77":            true,
		"case.42_b":             true,
		strings.Repeat("x", 64): true,
		strings.Repeat("x", 65): false,
		"":                      false,
		"Awa Traoré":            false,
		"a/b":                   false,
		"a@b":                   false,
	} {
		if ValidReference(ref) != valid {
			t.Errorf("ValidReference(%q) != %v", ref, valid)
		}
	}
}

func TestRecipientsAreAgenciesOrCountries(t *testing.T) {
	for r, valid := range map[string]bool{"ml": true, "ml.dnpef": true, "ML": false, "mli": false, "xk": false, "": false} {
		if ValidRecipient(r) != valid {
			t.Errorf("ValidRecipient(%q) != %v", r, valid)
		}
	}
}

func TestTheCountryListIsTheOfficialISO3166Alpha2List(t *testing.T) {
	codes := Countries()
	if len(codes) != 249 {
		t.Fatalf("%d codes, want the 249 officially assigned", len(codes))
	}
	if !slices.IsSorted(codes) || len(slices.Compact(slices.Clone(codes))) != len(codes) {
		t.Fatal("codes must be sorted and unique")
	}
	// Cross-check with the independent list shipped in the validator
	// module, which also carries the user-assigned XK.
	v := validator.New()
	for a := 'a'; a <= 'z'; a++ {
		for b := 'a'; b <= 'z'; b++ {
			code := string([]rune{a, b})
			inValidator := v.Var(strings.ToUpper(code), "iso3166_1_alpha2") == nil && code != "xk"
			if ValidCountry(code) != inValidator {
				t.Errorf("%s: ours %v, validator module %v", code, ValidCountry(code), inValidator)
			}
		}
	}
	for _, code := range []string{"bf", "ci", "ml", "sn", "gn", "ne", "tg", "bj", "gh", "ng", "ma", "dz", "tn", "mr", "ss", "cw", "sx", "bq"} {
		if !ValidCountry(code) {
			t.Errorf("%s missing", code)
		}
	}
	if ValidCountry("BF") {
		t.Error("country codes are lower case on the wire")
	}
}
