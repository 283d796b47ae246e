package services_test

import (
	"slices"
	"testing"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/hub/services"
)

// dnpef is Mali's national directorate as it was before its renaming.
func dnpef() services.Record {
	return services.Record{
		Agency: "ml.dnpef", Country: "ml", Version: 1, ValidFrom: "2024-01-01",
		Name: contracts.Label{FR: "Direction nationale de la promotion de l'enfant et de la famille", EN: "National Directorate for the Promotion of Children and the Family"},
		Areas: []services.Area{
			{Code: "ML", Level: "country", Name: "Mali"},
		},
		Services:  []string{"family_tracing", "social_enquiry", "best_interests_determination"},
		Languages: []string{"fr", "bm"},
		Hours:     []services.Hours{{Days: []string{"mon", "tue", "wed", "thu", "fri"}, Opens: "08:00", Closes: "16:00"}},
		ReportsTo: services.Directorate{Name: contracts.Label{FR: "Ministère de la Promotion de la femme, de l'enfant et de la famille"}},
		Contact:   services.Contact{Role: contracts.Label{FR: "Point focal protection de l'enfance", EN: "Child protection focal point"}},
	}
}

func sikasso() services.Record {
	return services.Record{
		Agency: "ml.drpef-sikasso", Country: "ml", Version: 1, ValidFrom: "2024-01-01",
		Name: contracts.Label{FR: "Direction régionale de la promotion de l'enfant et de la famille de Sikasso"},
		Areas: []services.Area{
			{Code: "ML-3", Level: "region", Name: "Sikasso"},
		},
		Services:  []string{"family_tracing", "temporary_care", "reintegration_support"},
		Languages: []string{"fr", "bm", "sef"},
		ReportsTo: services.Directorate{Name: contracts.Label{FR: "Direction nationale de la promotion de l'enfant et de la famille"}, Agency: "ml.dnpef"},
		Contact:   services.Contact{Role: contracts.Label{FR: "Service de permanence"}},
	}
}

func koutiala() services.Record {
	return services.Record{
		Agency: "ml.spef-koutiala", Country: "ml", Version: 1, ValidFrom: "2024-06-01",
		Name:      contracts.Label{FR: "Service local de la promotion de l'enfant et de la famille de Koutiala"},
		Areas:     []services.Area{{Code: "ML-3-KOU", Level: "cercle", Name: "Koutiala"}},
		Services:  []string{"social_enquiry", "reintegration_support"},
		Languages: []string{"fr", "bm", "mxx"},
		ReportsTo: services.Directorate{Name: contracts.Label{FR: "Direction régionale de Sikasso"}, Agency: "ml.drpef-sikasso"},
		Contact:   services.Contact{Role: contracts.Label{FR: "Chef de service"}},
	}
}

func abidjan() services.Record {
	return services.Record{
		Agency: "ci.dpe-abidjan", Country: "ci", Version: 1, ValidFrom: "2024-01-01",
		Name:      contracts.Label{FR: "Direction de la protection de l'enfant, Abidjan"},
		Areas:     []services.Area{{Code: "CI-AB", Level: "district", Name: "Abidjan"}},
		Services:  []string{"family_tracing", "temporary_care", "legal_aid"},
		Languages: []string{"fr", "dyu"},
		ReportsTo: services.Directorate{Name: contracts.Label{FR: "Ministère de la Femme, de la Famille et de l'Enfant"}},
		Contact:   services.Contact{Role: contracts.Label{FR: "Cellule de référencement"}},
	}
}

// renamed is the same directorate after the ministry's reorganisation.
func renamed() services.Record {
	r := dnpef()
	r.Version, r.ValidFrom = 2, "2025-07-01"
	r.Name = contracts.Label{FR: "Direction nationale de la protection de l'enfant", EN: "National Child Protection Directorate"}
	r.Services = append(r.Services, "legal_aid")
	return r
}

func directory() []services.Record {
	old := dnpef()
	old.ValidTo = "2025-07-01"
	return []services.Record{old, renamed(), sikasso(), koutiala(), abidjan()}
}

func agencies(ms []services.Match) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Agency+":"+string(m.Coverage))
	}
	return out
}

func TestFindingTheRightRecipient(t *testing.T) {
	cases := []struct {
		name  string
		query services.Query
		want  []string
	}{
		{"every agency of a country, in either case", services.Query{Country: "ML", AsOf: "2026-01-01"},
			[]string{"ml.dnpef:", "ml.drpef-sikasso:", "ml.spef-koutiala:"}},
		{"a service narrows the country", services.Query{Country: "ml", Service: "family_tracing", AsOf: "2026-01-01"},
			[]string{"ml.dnpef:", "ml.drpef-sikasso:"}},
		{"a region finds its agency first, then the national one, then the cercle's", services.Query{Area: "ML-3", AsOf: "2026-01-01"},
			[]string{"ml.drpef-sikasso:area", "ml.dnpef:wider", "ml.spef-koutiala:part"}},
		{"a cercle finds its own service, then the region's before the country's", services.Query{Area: "ml-3-kou", AsOf: "2026-01-01"},
			[]string{"ml.spef-koutiala:area", "ml.drpef-sikasso:wider", "ml.dnpef:wider"}},
		{"a service and an area together", services.Query{Service: "family_tracing", Area: "ML-3-KOU", AsOf: "2026-01-01"},
			[]string{"ml.drpef-sikasso:wider", "ml.dnpef:wider"}},
		{"an area of another country finds nothing in Mali", services.Query{Country: "ml", Area: "CI-AB", AsOf: "2026-01-01"}, nil},
		{"before an agency's first record it is not listed", services.Query{Area: "ML-3-KOU", AsOf: "2024-03-01"},
			[]string{"ml.drpef-sikasso:wider", "ml.dnpef:wider"}},
		{"a service added by a later version is not found on an earlier day", services.Query{Service: "legal_aid", Country: "ML", AsOf: "2025-03-01"}, nil},
		{"the same service is found once the new version applies", services.Query{Service: "legal_aid", Country: "ML", AsOf: "2025-07-01"}, []string{"ml.dnpef:"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.query.Validate(); err != nil {
				t.Fatal(err)
			}
			if got := agencies(services.Find(directory(), tc.query)); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestARenamedAgencyKeepsItsOldNameInThePast(t *testing.T) {
	cases := []struct {
		day  services.Date
		name string
	}{
		{"2025-03-01", "Direction nationale de la promotion de l'enfant et de la famille"},
		{"2025-06-30", "Direction nationale de la promotion de l'enfant et de la famille"},
		{"2025-07-01", "Direction nationale de la protection de l'enfant"},
		{"2026-02-01", "Direction nationale de la protection de l'enfant"},
	}
	for _, tc := range cases {
		ms := services.Find(directory(), services.Query{Country: "ML", Service: "family_tracing", AsOf: tc.day})
		i := slices.IndexFunc(ms, func(m services.Match) bool { return m.Agency == "ml.dnpef" })
		if i < 0 || ms[i].Name.FR != tc.name {
			t.Errorf("on %s: got %v, want %q", tc.day, ms, tc.name)
		}
	}
}

func TestRecordsAreRefusedWhenMalformed(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(*services.Record)
		code  contracts.Code
		field string
	}{
		{"a record as published is accepted", func(*services.Record) {}, "", ""},
		{"an unknown service is refused", func(r *services.Record) { r.Services = []string{"family_tracing", "counselling"} }, contracts.CodeDirectoryInvalid, "services[1]"},
		{"a service listed twice is refused", func(r *services.Record) { r.Services = []string{"legal_aid", "legal_aid"} }, contracts.CodeDirectoryInvalid, "services[1]"},
		{"an area of another country is refused", func(r *services.Record) {
			r.Areas = []services.Area{{Code: "CI-AB", Level: "district", Name: "Abidjan"}}
		}, contracts.CodeDirectoryInvalid, "areas[0].code"},
		{"an area level outside the vocabulary is refused", func(r *services.Record) { r.Areas[0].Level = "village" }, contracts.CodeDirectoryInvalid, "areas[0].level"},
		{"a country-level area must be the country itself", func(r *services.Record) { r.Areas = []services.Area{{Code: "ML-3", Level: "country", Name: "Sikasso"}} }, contracts.CodeDirectoryInvalid, "areas[0].level"},
		{"a day outside the week is refused", func(r *services.Record) { r.Hours[0].Days = []string{"lun"} }, contracts.CodeDirectoryInvalid, "hours[0].days"},
		{"closing before opening is refused", func(r *services.Record) { r.Hours[0].Opens, r.Hours[0].Closes = "16:00", "08:00" }, contracts.CodeDirectoryInvalid, "hours[0]"},
		{"a validity ending before it starts is refused", func(r *services.Record) { r.ValidTo = "2023-12-31" }, contracts.CodeDirectoryInvalid, "valid_to"},
		{"a directorate of another country is refused", func(r *services.Record) { r.ReportsTo.Agency = "ci.dpe-abidjan" }, contracts.CodeDirectoryInvalid, "reports_to.agency"},
		{"a missing French name is refused", func(r *services.Record) { r.Name.FR = "" }, contracts.CodeDirectoryInvalid, "name.fr"},
		{"a private phone number in the contact is refused", func(r *services.Record) { r.Contact.Role.FR = "Point focal, tél. +223 76 12 34 56" }, contracts.CodeDirectoryPersonalData, "contact.role.fr"},
		{"a phone number without its country code is refused", func(r *services.Record) { r.Contact.Role.FR = "Appeler le 76-12-34-56" }, contracts.CodeDirectoryPersonalData, "contact.role.fr"},
		{"an e-mail address is refused", func(r *services.Record) { r.Contact.Role.EN = "Focal point (a.traore@example.org)" }, contracts.CodeDirectoryPersonalData, "contact.role.en"},
		{"a titled person's name is refused", func(r *services.Record) { r.Contact.Role.FR = "Mme Koné, point focal" }, contracts.CodeDirectoryPersonalData, "contact.role.fr"},
		{"a doctor's name in the directorate is refused", func(r *services.Record) { r.ReportsTo.Name.FR = "Direction nationale (Dr Diallo)" }, contracts.CodeDirectoryPersonalData, "reports_to.name.fr"},
		{"a role in lower case after a title-like word is accepted", func(r *services.Record) { r.Contact.Role.FR = "Mme la directrice ou son intérim" }, "", ""},
		{"a short number such as a decree's is accepted", func(r *services.Record) { r.Name.FR = "Direction créée par le décret n° 2025-0412" }, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := dnpef()
			tc.edit(&r)
			err := services.Validate(r)
			if contracts.CodeOf(err) != tc.code {
				t.Fatalf("got %v, want code %q", err, tc.code)
			}
			if err != nil {
				if p := contracts.AsProblem(err); len(p.Fields) != 1 || p.Fields[0] != tc.field {
					t.Errorf("fields %v, want [%s]", p.Fields, tc.field)
				}
			}
		})
	}
}

func TestQueriesAreChecked(t *testing.T) {
	cases := []struct {
		name  string
		query services.Query
		ok    bool
	}{
		{"no filter at all", services.Query{}, true},
		{"a real country", services.Query{Country: "SN"}, true},
		{"an invented country", services.Query{Country: "XX"}, false},
		{"a service of the vocabulary", services.Query{Service: "health_referral"}, true},
		{"a service outside it", services.Query{Service: "counselling"}, false},
		{"a malformed area", services.Query{Area: "Sikasso"}, false},
		{"a malformed day", services.Query{AsOf: "2025-02-30"}, false},
	}
	for _, tc := range cases {
		if err := tc.query.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.name, err)
		} else if err != nil && contracts.CodeOf(err) != contracts.CodeBadRequest {
			t.Errorf("%s: code %s", tc.name, contracts.CodeOf(err))
		}
	}
}
