package policy

import (
	"slices"
	"strings"

	"github.com/relais-hub/relais/contracts"
)

// CheckBodyCategories is the recipient's check after decryption: the body
// must be a valid body of its kind (else the contracts refusal, such as
// body_invalid) and may only carry data of the categories its envelope
// declared (else body_category_mismatch, whose Extra["categories"] lists
// the undeclared categories). Declaring more than the body uses is not a
// violation. The refusal names categories, never values.
func CheckBodyCategories(kind string, plaintext []byte, declared []string) error {
	used, err := contracts.BodyCategories(kind, plaintext)
	if err != nil {
		return err
	}
	var undeclared []string
	for _, c := range used {
		if !slices.Contains(declared, c) {
			undeclared = append(undeclared, c)
		}
	}
	if len(undeclared) == 0 {
		return nil
	}
	return &contracts.Problem{
		Code:   contracts.CodeBodyCategoryMismatch,
		Detail: "the body carries data of undeclared categories: " + strings.Join(undeclared, ", "),
		Fields: []string{"data_categories"},
		Extra:  map[string]any{"categories": undeclared},
	}
}

// NewPolicyViolation turns a CheckBodyCategories refusal into the body of
// the policy.violation message the recipient sends back (in_reply_to the
// violated message). It returns false for a nil error or a refusal that is
// not a body violation.
func NewPolicyViolation(violatedMessage string, err error) (contracts.PolicyViolation, bool) {
	if err == nil {
		return contracts.PolicyViolation{}, false
	}
	p := contracts.AsProblem(err)
	switch p.Code {
	case contracts.CodeBodyCategoryMismatch:
		cats, _ := p.Extra["categories"].([]string)
		return contracts.PolicyViolation{ViolatedMessage: violatedMessage, Code: string(p.Code), Categories: slices.Clone(cats)}, len(cats) > 0
	case contracts.CodeBodyInvalid:
		return contracts.PolicyViolation{ViolatedMessage: violatedMessage, Code: string(p.Code)}, true
	}
	return contracts.PolicyViolation{}, false
}
