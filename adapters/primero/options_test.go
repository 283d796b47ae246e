package primero

import (
	"strings"
	"testing"
	"time"
)

func TestLoadOptions(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr string
		check   func(t *testing.T, o Options)
	}{
		{name: "an empty file gives the defaults", yaml: "",
			check: func(t *testing.T, o Options) {
				if code, _ := o.lookup(LookupSex).Code("female"); code != "f" {
					t.Errorf("female → %q", code)
				}
				if o.ModuleID != "primeromodule-cp" {
					t.Errorf("module %q", o.ModuleID)
				}
			}},
		{name: "a deployment's ids come first and replace defaults with the same id",
			yaml: "lookups:\n  country:\n    - {id: mali, code: ml}\n    - {id: mali_2291, code: ml}\n  urgency:\n    - {id: low, code: high}\n",
			check: func(t *testing.T, o Options) {
				if id, _ := o.lookup(LookupCountry).ID("ml"); id != "mali" {
					t.Errorf("ml → %q", id)
				}
				if code, _ := o.lookup(LookupCountry).Code("mali_2291"); code != "ml" {
					t.Errorf("mali_2291 → %q", code)
				}
				if code, _ := o.lookup(LookupUrgency).Code("low"); code != "high" {
					t.Errorf("low → %q, want the file's high", code)
				}
				if code, _ := o.lookup(LookupCountry).Code("senegal"); code != "sn" {
					t.Errorf("defaults lost: senegal → %q", code)
				}
			}},
		{name: "an unknown key is refused", yaml: "agencys: {}\n", wantErr: "agencys"},
		{name: "a code outside the vocabulary is refused", yaml: "lookups:\n  sex:\n    - {id: fille, code: girl}\n", wantErr: "lookups.sex[0]"},
		{name: "an unknown lookup is refused", yaml: "lookups:\n  colour:\n    - {id: a, code: b}\n", wantErr: "lookups.colour"},
		{name: "a bad agency id is refused", yaml: "agencies:\n  agency-x: DNPEF\n", wantErr: "agencies.agency-x"},
		{name: "a bad subdivision is refused", yaml: "locations:\n  BF0901: {country: bf, admin_area: Houet}\n", wantErr: "locations.BF0901.admin_area"},
		{name: "an unknown category is refused", yaml: "categories: [identity, religion]\n", wantErr: "categories[1]"},
		{name: "per-purpose categories name purposes", yaml: "purpose_categories: {tracing: [identity]}\n", wantErr: "purpose_categories.tracing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := LoadOptions(strings.NewReader(tt.yaml))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, o)
		})
	}
}

func TestValueReaders(t *testing.T) {
	bools := []struct {
		in       any
		val, ok  bool
		testName string
	}{
		{true, true, true, "a JSON true"}, {"true", true, true, "the option id true"}, {" FALSE ", false, true, "a padded FALSE"},
		{"yes", false, false, "yes is not a Primero boolean"}, {nil, false, false, "absent"},
	}
	for _, b := range bools {
		if v, ok := asBool(b.in); v != b.val || ok != b.ok {
			t.Errorf("%s: asBool(%v) = %v, %v", b.testName, b.in, v, ok)
		}
	}
	want := time.Date(2012, 6, 14, 0, 0, 0, 0, time.UTC)
	for _, in := range []string{"14-Jun-2012", "2012-06-14", "2012-06-14T00:00:00.000Z", "2012-06-14T23:30:00+00:00"} {
		if d, ok := asDate(in); !ok || !d.Equal(want) {
			t.Errorf("asDate(%q) = %v, %v", in, d, ok)
		}
	}
	for _, in := range []string{"14/06/2012", "2012-13-01", "juin 2012"} {
		if _, ok := asDate(in); ok {
			t.Errorf("asDate(%q) accepted", in)
		}
	}
	phones := map[string]string{"+226 70 12 34 56": "+22670123456", "00223.76.45.12.09": "+22376451209", "70 12 34 56": "", "+0 12": ""}
	for in, want := range phones {
		got, ok := normalizePhone(in)
		if got != want || ok != (want != "") {
			t.Errorf("normalizePhone(%q) = %q, %v", in, got, ok)
		}
	}
	if n, ok := asInt("13"); !ok || n != 13 {
		t.Errorf("asInt(\"13\") = %d, %v", n, ok)
	}
}
