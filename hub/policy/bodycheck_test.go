package policy

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/relais-hub/relais/contracts"
)

const (
	identityOnly = `{"child":{"given_names":"Awa","sex":"f","estimated_age":13},"urgency":"high"}`
	withHealth   = `{"child":{"given_names":"Awa","sex":"f","estimated_age":13},"health_notes":"asthme","urgency":"high"}`
	withPhoto    = `{"child":{"given_names":"Awa","sex":"f","estimated_age":13},"photo":{"media_type":"image/png","data":"iVBORw0KGgo="},"health_notes":"asthme","urgency":"high"}`
)

func TestCheckBodyCategoriesComparesTheBodyWithTheEnvelope(t *testing.T) {
	cases := []struct {
		name       string
		body       string
		declared   []string
		code       contracts.Code
		undeclared []string
	}{
		{name: "a body within its declared categories passes", body: identityOnly, declared: []string{"identity"}},
		{name: "declaring more categories than the body uses passes", body: identityOnly, declared: []string{"identity", "health"}},
		{name: "health notes under identity only are a mismatch", body: withHealth, declared: []string{"identity"}, code: contracts.CodeBodyCategoryMismatch, undeclared: []string{"health"}},
		{name: "every undeclared category is named, in vocabulary order", body: withPhoto, declared: []string{"identity"}, code: contracts.CodeBodyCategoryMismatch, undeclared: []string{"health", "photo"}},
		{name: "a body that does not follow its kind is invalid", body: `{"child":{}}`, declared: []string{"identity"}, code: contracts.CodeBodyInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckBodyCategories("referral.request", []byte(tc.body), tc.declared)
			if got := contracts.CodeOf(err); got != tc.code {
				t.Fatalf("code = %q, want %q (%v)", got, tc.code, err)
			}
			if tc.undeclared == nil {
				return
			}
			p := contracts.AsProblem(err)
			if got, _ := p.Extra["categories"].([]string); !slices.Equal(got, tc.undeclared) {
				t.Fatalf("undeclared = %v, want %v", got, tc.undeclared)
			}
			if strings.Contains(p.Detail, "Awa") || strings.Contains(p.Detail, "asthme") {
				t.Fatalf("detail quotes the body: %q", p.Detail)
			}
		})
	}
}

func TestAMismatchBecomesAValidPolicyViolationBody(t *testing.T) {
	err := CheckBodyCategories("referral.request", []byte(withPhoto), []string{"identity"})
	v, ok := NewPolicyViolation(testMessageID, err)
	if !ok || v.Code != "body_category_mismatch" || !slices.Equal(v.Categories, []string{"health", "photo"}) || v.ViolatedMessage != testMessageID {
		t.Fatalf("violation = %+v, %v", v, ok)
	}
	body, _ := json.Marshal(v)
	if _, err := contracts.ValidateBody("policy.violation", body); err != nil {
		t.Fatalf("the report is not a valid policy.violation body: %v", err)
	}
}

func TestAnInvalidBodyBecomesAPolicyViolationWithoutCategories(t *testing.T) {
	v, ok := NewPolicyViolation(testMessageID, CheckBodyCategories("referral.request", []byte(`{}`), []string{"identity"}))
	body, _ := json.Marshal(v)
	if !ok || v.Code != "body_invalid" || v.Categories != nil {
		t.Fatalf("violation = %+v, %v", v, ok)
	}
	if _, err := contracts.ValidateBody("policy.violation", body); err != nil {
		t.Fatal(err)
	}
}

func TestOnlyBodyViolationsAreReported(t *testing.T) {
	if _, ok := NewPolicyViolation(testMessageID, nil); ok {
		t.Error("a nil error was reported")
	}
	if _, ok := NewPolicyViolation(testMessageID, contracts.Refuse(contracts.CodeUnknownKind, "x")); ok {
		t.Error("an unknown kind was reported as a policy violation")
	}
}
