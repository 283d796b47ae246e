package contracts

import (
	"reflect"
	"slices"
	"testing"
)

func TestValidateBodyFollowsTheBodyTable(t *testing.T) {
	for _, tc := range bodyCases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := ValidateBody(tc.kind, tc.input(t))
			if tc.code == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				spec, _ := Kind(tc.kind)
				if reflect.TypeOf(v) != reflect.TypeOf(spec.NewBody()) {
					t.Fatalf("decoded into %T", v)
				}
				return
			}
			requireProblem(t, err, tc.code, tc.fields...)
		})
	}
}

func TestValidateBodyRefusesAnUnknownKind(t *testing.T) {
	_, err := ValidateBody("case.reopened", []byte(`{}`))
	requireProblem(t, err, CodeUnknownKind)
}

func TestTheRegistryHoldsTheV1Kinds(t *testing.T) {
	type flags struct{ opens, personal, replyTo bool }
	want := map[string]flags{
		"referral.request":  {opens: true, personal: true},
		"receipt":           {replyTo: true},
		"referral.accepted": {},
		"referral.declined": {},
		"consent.withdrawn": {},
		"policy.violation":  {replyTo: true},

		"info.request":           {personal: true},
		"info.reply":             {personal: true, replyTo: true},
		"family.assessment":      {personal: true},
		"bid.decision":           {},
		"return.plan":            {personal: true},
		"handover.confirmation":  {},
		"reintegration.plan":     {personal: true},
		"followup.report":        {personal: true},
		"case.closed":            {},
		"transfer.revoked":       {},
		"transfer.forwarded":     {opens: true, personal: true, replyTo: true},
		"alert.child_missing":    {personal: true},
		"case.erasure_requested": {},
		"case.erased":            {},
	}
	if got := KindNames(); len(got) != len(want) {
		t.Fatalf("kinds = %v", got)
	}
	for name, f := range want {
		k, ok := Kind(name)
		if !ok {
			t.Fatalf("kind %s missing", name)
		}
		if (flags{k.OpensTransfer, k.PersonalData, k.NeedsReplyTo}) != f {
			t.Errorf("%s: flags = %+v, want %+v", name, k, f)
		}
		if k.Label.FR == "" || k.Label.EN == "" {
			t.Errorf("%s: missing label", name)
		}
	}
	if _, ok := Kind("Receipt"); ok {
		t.Error("kind lookup must be exact")
	}
}

func TestKindsReturnsACopy(t *testing.T) {
	ks := Kinds()
	ks[0].Name = "changed"
	if Kinds()[0].Name == "changed" {
		t.Fatal("Kinds exposes the registry")
	}
}

func TestEveryKindHasAFreshStructBody(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range Kinds() {
		if seen[k.Name] {
			t.Errorf("kind %s registered twice", k.Name)
		}
		seen[k.Name] = true
		a, b := k.NewBody(), k.NewBody()
		ta := reflect.TypeOf(a)
		if ta.Kind() != reflect.Pointer || ta.Elem().Kind() != reflect.Struct {
			t.Errorf("%s: NewBody returns %T, want a pointer to a struct", k.Name, a)
			continue
		}
		if reflect.ValueOf(a).Pointer() == reflect.ValueOf(b).Pointer() {
			t.Errorf("%s: NewBody returns a shared value", k.Name)
		}
		if !reflect.ValueOf(a).Elem().IsZero() {
			t.Errorf("%s: NewBody is not zero", k.Name)
		}
	}
}

// Issue 3 checks decrypted bodies against declared categories, which only
// works if every piece of data in a body has a category.
func TestEveryBodyFieldHasADataCategory(t *testing.T) {
	for _, k := range Kinds() {
		checkCategoryTags(t, k.Name, reflect.TypeOf(k.NewBody()).Elem(), "", "")
	}
}

func checkCategoryTags(t *testing.T, kind string, typ reflect.Type, path, inherited string) {
	t.Helper()
	for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
		typ = typ.Elem()
	}
	if typ.Kind() != reflect.Struct || typ == timeType {
		if inherited == "" {
			t.Errorf("%s: field %s has no data category (tag it relais:\"<category>\" or relais:\"-\")", kind, path)
		}
		return
	}
	for i := range typ.NumField() {
		f := typ.Field(i)
		category := inherited
		if tag, ok := f.Tag.Lookup(categoryTag); ok {
			if tag != notPersonal && !IsDataCategory(tag) {
				t.Errorf("%s: field %s.%s has unknown category %q", kind, path, f.Name, tag)
			}
			category = tag
		}
		checkCategoryTags(t, kind, f.Type, path+"."+f.Name, category)
	}
}

func TestBodyCategoriesReportWhatABodyCarries(t *testing.T) {
	cases := []struct {
		name  string
		kind  string
		input func(testing.TB) []byte
		want  []string
	}{
		{"a minimal referral carries identity only", "referral.request", file(minimalReferral), []string{"identity"}},
		{"a full referral carries every category", "referral.request", file(fullReferral), DataCategories.Codes()},
		{"an estimated age of 0 still counts as identity", "referral.request", raw(`{"child":{"given_names":"B","sex":"x","estimated_age":0},"urgency":"normal"}`), []string{"identity"}},
		{"a location adds location", "referral.request", file("bodies/referral.request/newborn.json"), []string{"identity", "location"}},
		{"a relative without contact details is family data", "referral.request", edit(minimalReferral, func(d jsonDoc) {
			d["family"] = []any{jsonDoc{"relationship": "mother", "given_names": "Fatoumata"}}
		}), []string{"identity", "family"}},
		{"a relative's phone is contact data", "referral.request", edit(minimalReferral, func(d jsonDoc) {
			d["family"] = []any{jsonDoc{"relationship": "mother", "phone": "+22370000000"}}
		}), []string{"identity", "contact", "family"}},
		{"the child's phone is contact data", "referral.request", edit(minimalReferral, func(d jsonDoc) { obj(d, "child")["phone"] = "+22507000000" }), []string{"identity", "contact"}},
		{"urgency and requested services are not personal data", "referral.request", edit(minimalReferral, func(d jsonDoc) { d["requested_services"] = []any{"education"} }), []string{"identity"}},
		{"health notes are health data", "referral.request", edit(minimalReferral, func(d jsonDoc) { d["health_notes"] = "asthme" }), []string{"identity", "health"}},
		{"a receipt carries no personal data", "receipt", file("bodies/receipt/valid.json"), nil},
		{"a decline carries no personal data", "referral.declined", file("bodies/referral.declined/valid.json"), nil},
		{"a consent withdrawal carries no personal data", "consent.withdrawn", file("bodies/consent.withdrawn/valid.json"), nil},
		{"a policy violation report carries no personal data", "policy.violation", file("bodies/policy.violation/valid.json"), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := BodyCategories(tc.kind, tc.input(t))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("categories = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestBodyCategoriesRefuseAnInvalidBody(t *testing.T) {
	_, err := BodyCategories("referral.request", []byte(`{"child":{}}`))
	requireProblem(t, err, CodeBodyInvalid, "child.given_names", "urgency")
}
