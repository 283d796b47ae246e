package stats_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/hub/audit"
)

// dnpefV1 is Mali's national directorate before the ministry's
// reorganisation, as its admin writes it: YAML, dates unquoted.
const dnpefV1 = `agency: ml.dnpef
valid_from: 2024-01-01
name:
  fr: Direction nationale de la promotion de l'enfant et de la famille
  en: National Directorate for the Promotion of Children and the Family
areas:
  - {code: ML, level: country, name: Mali}
services: [family_tracing, social_enquiry, best_interests_determination]
languages: [fr, bm]
hours:
  - {days: [mon, tue, wed, thu, fri], opens: "08:00", closes: "16:00"}
reports_to:
  name: {fr: "Ministère de la Promotion de la femme, de l'enfant et de la famille"}
contact:
  role: {fr: Point focal protection de l'enfance, en: Child protection focal point}
`

// sikassoRecord covers the Sikasso region and reports to the national
// directorate.
var sikassoRecord = map[string]any{
	"agency": "ml.drpef-sikasso", "valid_from": "2024-01-01",
	"name":      map[string]string{"fr": "Direction régionale de la promotion de l'enfant et de la famille de Sikasso"},
	"areas":     []map[string]string{{"code": "ML-3", "level": "region", "name": "Sikasso"}, {"code": "ML-3-KOU", "level": "cercle", "name": "Koutiala"}},
	"services":  []string{"family_tracing", "temporary_care", "reintegration_support"},
	"languages": []string{"fr", "bm", "sef"},
	"reports_to": map[string]any{"name": map[string]string{"fr": "Direction nationale de la promotion de l'enfant et de la famille"},
		"agency": "ml.dnpef"},
	"contact": map[string]any{"role": map[string]string{"fr": "Service de permanence"}},
}

var abidjanRecord = map[string]any{
	"agency": "ci.dpe-abidjan", "valid_from": "2024-03-01",
	"name":       map[string]string{"fr": "Direction de la protection de l'enfant, district d'Abidjan"},
	"areas":      []map[string]string{{"code": "CI-AB", "level": "district", "name": "Abidjan"}},
	"services":   []string{"family_tracing", "temporary_care", "legal_aid"},
	"languages":  []string{"fr", "dyu"},
	"reports_to": map[string]any{"name": map[string]string{"fr": "Ministère de la Femme, de la Famille et de l'Enfant"}},
	"contact":    map[string]any{"role": map[string]string{"fr": "Cellule de référencement"}},
}

// renamedRecord is the national directorate after its renaming: a new
// version from 1 July 2025, which also offers legal aid.
func renamedRecord() map[string]any {
	return map[string]any{
		"agency": "ml.dnpef", "valid_from": "2025-07-01",
		"name":       map[string]string{"fr": "Direction nationale de la protection de l'enfant", "en": "National Child Protection Directorate"},
		"areas":      []map[string]string{{"code": "ML", "level": "country", "name": "Mali"}},
		"services":   []string{"family_tracing", "social_enquiry", "best_interests_determination", "legal_aid"},
		"languages":  []string{"fr", "bm"},
		"reports_to": map[string]any{"name": map[string]string{"fr": "Ministère de la Famille et de la Protection de l'enfant"}},
		"contact":    map[string]any{"role": map[string]string{"fr": "Point focal protection de l'enfance"}},
	}
}

type directoryDoc struct {
	AsOf     string          `json:"as_of"`
	Agencies []directoryItem `json:"agencies"`
}

type directoryItem struct {
	ID       string          `json:"id"`
	JWKS     json.RawMessage `json:"jwks"`
	Coverage string          `json:"coverage"`
	Record   *struct {
		Version int             `json:"version"`
		Name    contracts.Label `json:"name"`
		ValidTo string          `json:"valid_to"`
	} `json:"record"`
}

func (w *world) directory(t *testing.T, q url.Values) directoryDoc {
	t.Helper()
	status, _, raw := w.get(t, "/v1/directory", q, "", nil)
	if status != http.StatusOK {
		t.Fatalf("GET /v1/directory?%s: %d %s", q.Encode(), status, raw)
	}
	var doc directoryDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

func (d directoryDoc) found() []string {
	var out []string
	for _, a := range d.Agencies {
		s := a.ID
		if a.Coverage != "" {
			s += ":" + a.Coverage
		}
		out = append(out, s)
	}
	return out
}

func TestTheDirectoryFindsWhoHandlesAServiceWhere(t *testing.T) {
	for _, engine := range engines(t) {
		t.Run(engine, func(t *testing.T) {
			w := newWorld(t, engine, simStart, nil)
			file := filepath.Join(w.dir, "dnpef.yaml")
			if err := os.WriteFile(file, []byte(dnpefV1), 0o600); err != nil {
				t.Fatal(err)
			}
			out := mustRelais(t, "directory", "publish", "--hub", w.srv.URL, "--file", file, "--admin-token", adminToken)
			if !strings.Contains(out, "version 1") {
				t.Fatalf("publish printed %q", out)
			}
			for _, rec := range []map[string]any{sikassoRecord, abidjanRecord, renamedRecord()} {
				if status, _, raw := w.do(t, http.MethodPost, "/v1/directory/records", rec, adminToken, nil); status != http.StatusCreated {
					t.Fatalf("publish %s: %d %s", rec["agency"], status, raw)
				}
			}

			cases := []struct {
				name  string
				query url.Values
				want  []string
			}{
				{"by country, with the agencies of the country that have no record yet last",
					url.Values{"country": {"ML"}, "as_of": {"2026-01-10"}}, []string{"ml.dnpef", "ml.drpef-sikasso"}},
				{"by service", url.Values{"service": {"temporary_care"}, "as_of": {"2026-01-10"}}, []string{"ci.dpe-abidjan", "ml.drpef-sikasso"}},
				{"by country and service", url.Values{"country": {"ml"}, "service": {"family_tracing"}, "as_of": {"2026-01-10"}}, []string{"ml.dnpef", "ml.drpef-sikasso"}},
				{"by region: the regional directorate first, then the national one", url.Values{"area": {"ML-3"}, "as_of": {"2026-01-10"}},
					[]string{"ml.drpef-sikasso:area", "ml.dnpef:wider"}},
				{"by cercle, with a service only the region offers", url.Values{"service": {"reintegration_support"}, "area": {"ML-3-KOU"}, "as_of": {"2026-01-10"}},
					[]string{"ml.drpef-sikasso:area"}},
				{"by an area of another country", url.Values{"country": {"ML"}, "area": {"CI-AB"}}, nil},
				{"a service the renamed directorate took on is not found before the renaming",
					url.Values{"service": {"legal_aid"}, "country": {"ML"}, "as_of": {"2025-03-01"}}, nil},
				{"and is found after it", url.Values{"service": {"legal_aid"}, "country": {"ML"}, "as_of": {"2025-07-01"}}, []string{"ml.dnpef"}},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					if got := w.directory(t, tc.query).found(); !slices.Equal(got, tc.want) {
						t.Errorf("got %v, want %v", got, tc.want)
					}
				})
			}

			t.Run("an agency renamed mid-history has its old name on an earlier day", func(t *testing.T) {
				for day, want := range map[string]string{
					"2025-03-01": "Direction nationale de la promotion de l'enfant et de la famille",
					"2025-06-30": "Direction nationale de la promotion de l'enfant et de la famille",
					"2025-07-01": "Direction nationale de la protection de l'enfant",
				} {
					doc := w.directory(t, url.Values{"country": {"ML"}, "service": {"family_tracing"}, "as_of": {day}})
					i := slices.IndexFunc(doc.Agencies, func(a directoryItem) bool { return a.ID == "ml.dnpef" })
					if i < 0 || doc.Agencies[i].Record == nil || doc.Agencies[i].Record.Name.FR != want {
						t.Errorf("on %s: %+v, want %q", day, doc.Agencies, want)
					}
				}
				fr := mustRelais(t, "directory", "--hub", w.srv.URL, "--country", "ML", "--service", "family_tracing", "--as-of", "2025-03-01")
				en := mustRelais(t, "directory", "--hub", w.srv.URL, "--country", "ML", "--service", "family_tracing", "--lang", "en")
				if !strings.Contains(fr, "Direction nationale de la promotion de l'enfant et de la famille") || !strings.Contains(fr, "Recherche familiale") {
					t.Errorf("relais directory --as-of 2025-03-01:\n%s", fr)
				}
				if !strings.Contains(en, "National Child Protection Directorate") || !strings.Contains(en, "Family tracing") || strings.Contains(en, "promotion de l'enfant et de la famille —") {
					t.Errorf("relais directory --lang en:\n%s", en)
				}
				history := mustRelais(t, "directory", "history", "--hub", w.srv.URL, "--agency", "ml.dnpef")
				if !strings.Contains(history, "v1, depuis le 2024-01-01 jusqu'au 2025-07-01") || !strings.Contains(history, "v2, depuis le 2025-07-01") {
					t.Errorf("relais directory history:\n%s", history)
				}
			})

			t.Run("the terminal finds the region's directorate for a cercle", func(t *testing.T) {
				out := mustRelais(t, "directory", "--hub", w.srv.URL, "--country", "ML", "--service", "family_tracing", "--area", "ML-3-KOU")
				first := strings.Index(out, "ml.drpef-sikasso")
				second := strings.Index(out, "ml.dnpef —")
				if first < 0 || second < first || !strings.Contains(out, "couvre une zone plus large") || !strings.Contains(out, "Koutiala (ML-3-KOU, cercle)") {
					t.Errorf("relais directory --area ML-3-KOU:\n%s", out)
				}
			})

			t.Run("the directory without parameters still lists every agency with its keys", func(t *testing.T) {
				doc := w.directory(t, nil)
				if len(doc.Agencies) != len(agencyIDs) {
					t.Fatalf("%d agencies, want %d", len(doc.Agencies), len(agencyIDs))
				}
				withRecord := 0
				for _, a := range doc.Agencies {
					if len(a.JWKS) == 0 {
						t.Errorf("%s without keys", a.ID)
					}
					if a.Record != nil {
						withRecord++
					}
				}
				if withRecord != 3 || doc.AsOf != time.Now().UTC().Format(time.DateOnly) {
					t.Errorf("%d agencies with a record as of %s", withRecord, doc.AsOf)
				}
				dir, err := w.agencies["ci.dpe-abidjan"].Directory(context.Background(), true)
				if err != nil || len(dir.Agencies) != len(agencyIDs) || dir.Hub.ID != testHubID {
					t.Fatalf("the agency client reads the directory: %+v, %v", dir, err)
				}
			})

			t.Run("records that name a person or are malformed are refused", func(t *testing.T) {
				edit := func(fn func(map[string]any)) map[string]any {
					rec := renamedRecord()
					rec["valid_from"] = "2026-01-01"
					fn(rec)
					return rec
				}
				cases := []struct {
					name   string
					body   map[string]any
					token  string
					status int
					code   contracts.Code
				}{
					{"a private phone number as contact", edit(func(r map[string]any) {
						r["contact"] = map[string]any{"role": map[string]string{"fr": "Point focal : +223 76 12 34 56"}}
					}), adminToken, http.StatusUnprocessableEntity, contracts.CodeDirectoryPersonalData},
					{"a person's name as contact", edit(func(r map[string]any) {
						r["contact"] = map[string]any{"role": map[string]string{"fr": "M. Traoré, chef de service"}}
					}), adminToken, http.StatusUnprocessableEntity, contracts.CodeDirectoryPersonalData},
					{"an e-mail address in the directorate", edit(func(r map[string]any) {
						r["reports_to"] = map[string]any{"name": map[string]string{"fr": "Ministère (secretariat@example.org)"}}
					}), adminToken, http.StatusUnprocessableEntity, contracts.CodeDirectoryPersonalData},
					{"an unregistered agency", edit(func(r map[string]any) { r["agency"] = "ml.inconnue" }), adminToken, http.StatusUnprocessableEntity, contracts.CodeDirectoryInvalid},
					{"a version that starts before the last one", edit(func(r map[string]any) { r["valid_from"] = "2025-01-01" }), adminToken, http.StatusUnprocessableEntity, contracts.CodeDirectoryInvalid},
					{"a version number set by the sender", edit(func(r map[string]any) { r["version"] = 7 }), adminToken, http.StatusUnprocessableEntity, contracts.CodeDirectoryInvalid},
					{"publication by an agency", edit(func(map[string]any) {}), w.agencyToken(t, "ml.dnpef"), http.StatusForbidden, contracts.CodeForbidden},
				}
				for _, tc := range cases {
					status, _, raw := w.do(t, http.MethodPost, "/v1/directory/records", tc.body, tc.token, nil)
					if status != tc.status || problemCode(raw) != string(tc.code) {
						t.Errorf("%s: %d %s, want %d %s", tc.name, status, raw, tc.status, tc.code)
					}
				}
				if history := w.history(t, "ml.dnpef"); len(history) != 2 {
					t.Errorf("refused records changed the history: %d versions", len(history))
				}
			})

			t.Run("every publication is in the audit trail", func(t *testing.T) {
				entries, err := w.store.AuditEvents(context.Background(), hub.AuditQuery{Agency: "admin", Limit: 10000})
				if err != nil {
					t.Fatal(err)
				}
				published := 0
				for _, e := range entries {
					ev, err := audit.DecodeEvent(e.Leaf)
					if err == nil && ev.Detail == "directory_record_published" {
						published++
					}
				}
				if published != 4 {
					t.Errorf("%d publications logged, want 4", published)
				}
			})
		})
	}
}

func (w *world) history(t *testing.T, agencyID string) []json.RawMessage {
	t.Helper()
	status, _, raw := w.get(t, "/v1/directory/records/"+agencyID, nil, "", nil)
	if status != http.StatusOK {
		t.Fatalf("history: %d %s", status, raw)
	}
	var doc struct {
		Versions []json.RawMessage `json:"versions"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Versions
}
