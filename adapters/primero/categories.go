package primero

import (
	"reflect"
	"strings"

	"github.com/relais-hub/relais/contracts"
)

// categoryOf returns the data category of a referral.request body field
// path ("body.family[0].phone" → "contact"), read from the contract's
// `relais` tags with the same inheritance rule as contracts.UsedCategories.
// Paths outside the body, and case-handling metadata, have no category.
func categoryOf(path string) string {
	rest, ok := strings.CutPrefix(path, "body.")
	if !ok {
		return ""
	}
	t := reflect.TypeOf(contracts.ReferralRequest{})
	category := ""
	for _, seg := range splitPath(rest) {
		if seg.index >= 0 {
			continue
		}
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return ""
		}
		f, found := fieldByJSONName(t, seg.key)
		if !found {
			return ""
		}
		if tag, has := f.Tag.Lookup("relais"); has {
			category = tag
		}
		t = f.Type
	}
	if category == "-" {
		return ""
	}
	return category
}

func fieldByJSONName(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if n, _, _ := strings.Cut(f.Tag.Get("json"), ","); n == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}
