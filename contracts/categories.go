package contracts

import "reflect"

// categoryTag is the struct tag naming a body field's data category.
const categoryTag = "relais"

// notPersonal is the category tag of case-handling metadata.
const notPersonal = "-"

// BodyCategories strictly decodes and validates a body of the given kind and
// returns the data categories its non-empty fields actually use, in
// vocabulary order. A recipient compares them with the envelope's
// data_categories after decryption.
func BodyCategories(kind string, body []byte) ([]string, error) {
	v, err := ValidateBody(kind, body)
	if err != nil {
		return nil, err
	}
	return UsedCategories(v), nil
}

// UsedCategories returns the data categories used by the non-empty fields of
// a decoded body (a pointer to, or value of, a body type), in vocabulary
// order.
func UsedCategories(body any) []string {
	used := map[string]bool{}
	collectCategories(reflect.ValueOf(body), "", used)
	var out []string
	for _, code := range DataCategories.Codes() {
		if used[code] {
			out = append(out, code)
		}
	}
	return out
}

// collectCategories marks the category of every non-empty leaf under v;
// inherited is the nearest enclosing field's tag.
func collectCategories(v reflect.Value, inherited string, used map[string]bool) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return
		}
		elem := v.Elem()
		if k := elem.Kind(); k != reflect.Struct && k != reflect.Slice && k != reflect.Pointer && k != reflect.Interface {
			// A set pointer to a scalar is data even when the scalar is
			// zero (an estimated age of 0 is an age).
			if inherited != "" && inherited != notPersonal {
				used[inherited] = true
			}
			return
		}
		collectCategories(elem, inherited, used)
	case reflect.Struct:
		if v.Type() == timeType {
			markCategory(v, inherited, used)
			return
		}
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			category := inherited
			if tag, ok := f.Tag.Lookup(categoryTag); ok {
				category = tag
			}
			collectCategories(v.Field(i), category, used)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			collectCategories(v.Index(i), inherited, used)
		}
	default:
		markCategory(v, inherited, used)
	}
}

func markCategory(v reflect.Value, category string, used map[string]bool) {
	if category == "" || category == notPersonal || v.IsZero() {
		return
	}
	used[category] = true
}
