package httpapi

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/hub/audit"
	"github.com/relais-hub/relais/hub/services"
)

// The directory: registered agencies with their keys (the key directory,
// hub/directory.go) and, for each, the directory-of-services record valid
// on the day asked for (hub/services). GET /v1/directory without
// parameters answers as it always did, each agency gaining its record;
// with country, service or area it lists only the agencies that match,
// best first.

// registerDirectoryRoutes adds the directory and its history (public) and
// the publication of a record version (admin).
func (s *Server) registerDirectoryRoutes() {
	dir, err := services.New(s.hub)
	if err != nil {
		s.log.Warn("directory of services unavailable", "err", err)
	}
	s.mux.HandleFunc("GET /v1/directory", func(w http.ResponseWriter, r *http.Request) { s.getDirectory(w, r, dir) })
	s.mux.HandleFunc("GET /v1/directory/records/{agency}", func(w http.ResponseWriter, r *http.Request) { s.getDirectoryHistory(w, r, dir) })
	s.mux.HandleFunc("POST /v1/directory/records", func(w http.ResponseWriter, r *http.Request) { s.postDirectoryRecord(w, r, dir) })
}

type directoryAgency struct {
	ID      string          `json:"id"`
	Country string          `json:"country"`
	Name    string          `json:"name"`
	JWKS    json.RawMessage `json:"jwks"`
	// Supervisors are the keys that approve best-interests overrides, so a
	// recipient can check an approval itself.
	Supervisors json.RawMessage `json:"supervisors,omitempty"`
	// Keys gives each valid key's status in a rotation (keys.go); the
	// JWKS lists the same keys newest first.
	Keys []directoryKey `json:"keys,omitempty"`
	// Record is the agency's directory-of-services record valid on the day
	// asked for, when it has one.
	Record *services.Record `json:"record,omitempty"`
	// Coverage says, when an area was asked for, how the agency covers it.
	Coverage services.Coverage `json:"coverage,omitempty"`
}

func (s *Server) getDirectory(w http.ResponseWriter, r *http.Request, dir *services.Directory) {
	p := readParams(r, "country", "service", "area", "as_of")
	q := services.Query{Country: p.one("country"), Service: p.one("service"), Area: p.one("area"), AsOf: services.Date(p.one("as_of"))}
	if p.err != nil {
		writeProblem(w, r, p.err)
		return
	}
	if err := q.Validate(); err != nil {
		writeProblem(w, r, err)
		return
	}
	if q.AsOf == "" {
		q.AsOf = services.DateOf(time.Now())
	}
	ctx := r.Context()
	agencies, err := s.hub.Store().Agencies(ctx)
	if err != nil {
		writeProblem(w, r, err)
		return
	}
	keys := s.hub.Directory()
	if err := keys.Reload(ctx); err != nil {
		writeProblem(w, r, err)
		return
	}
	var records []services.Record
	if dir != nil {
		if records, err = dir.Records(ctx); err != nil {
			writeProblem(w, r, err)
			return
		}
	}
	list := make([]directoryAgency, 0, len(agencies))
	for _, m := range directoryMatches(agencies, records, q) {
		entry := directoryEntry(keys, m.agency)
		entry.Record, entry.Coverage = m.record, m.coverage
		list = append(list, entry)
	}
	// Every hub key, current first: during a rotation other hub processes
	// still sign with the previous key until they reload it, and receipts
	// signed before stay verifiable.
	hubSet := jwk.NewSet()
	hubKeys := []map[string]any{}
	for _, k := range s.hub.HubKeys() {
		_ = hubSet.AddKey(k.JWK)
		entry := map[string]any{"kid": k.KID, "status": k.Status}
		if !k.RetiredAt.IsZero() {
			entry["retired_at"] = k.RetiredAt.UTC().Format(time.RFC3339)
		}
		hubKeys = append(hubKeys, entry)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"hub":      map[string]any{"id": s.hub.ID(), "jwks": hubSet, "keys": hubKeys, "audit_key": s.hub.Audit().VerifierKey()},
		"as_of":    q.AsOf,
		"agencies": list,
		"revoked":  directoryRevocations(keys.Revocations()),
	})
}

// directoryMatch is one agency to list, with its record on the day.
type directoryMatch struct {
	agency   hub.Agency
	record   *services.Record
	coverage services.Coverage
}

// directoryMatches orders the registered agencies the query selects:
// without a filter, all of them by id; with one, those whose record
// matches, best first, and — when only a country was asked for — that
// country's agencies without a record after them.
func directoryMatches(agencies []hub.Agency, records []services.Record, q services.Query) []directoryMatch {
	byID := make(map[string]hub.Agency, len(agencies))
	for _, a := range agencies {
		byID[a.ID] = a
	}
	matches := services.Find(records, q)
	var out []directoryMatch
	listed := map[string]bool{}
	for _, m := range matches {
		a, ok := byID[m.Agency]
		if !ok {
			continue
		}
		rec := m.Record
		out = append(out, directoryMatch{agency: a, record: &rec, coverage: m.Coverage})
		listed[a.ID] = true
	}
	if q.Service != "" || q.Area != "" {
		return out
	}
	var rest []directoryMatch
	for _, a := range agencies {
		if !listed[a.ID] && (q.Country == "" || strings.EqualFold(a.Country, q.Country)) {
			rest = append(rest, directoryMatch{agency: a})
		}
	}
	if !q.Filters() {
		// The historical order: every agency by id.
		all := append(out, rest...)
		slices.SortFunc(all, func(a, b directoryMatch) int { return strings.Compare(a.agency.ID, b.agency.ID) })
		return all
	}
	return append(out, rest...)
}

// directoryEntry is an agency as the key directory shows it.
func directoryEntry(keys *hub.Directory, a hub.Agency) directoryAgency {
	entry := directoryAgency{ID: a.ID, Country: a.Country, Name: a.Name, JWKS: a.JWKS}
	if infos := keys.AgencyKeys(a.ID); len(infos) > 0 {
		if ordered, err := keys.OrderedJWKS(a.ID); err == nil {
			entry.JWKS, entry.Keys = ordered, directoryKeys(infos)
		}
	}
	if len(a.SupervisorJWKS) > 0 {
		entry.Supervisors = a.SupervisorJWKS
	}
	return entry
}

// getDirectoryHistory lists every version of an agency's record.
func (s *Server) getDirectoryHistory(w http.ResponseWriter, r *http.Request, dir *services.Directory) {
	if dir == nil {
		writeProblem(w, r, contracts.Refuse(contracts.CodeUnavailable, "this hub's store does not keep a directory of services"))
		return
	}
	agency := r.PathValue("agency")
	if !contracts.ValidAgencyID(agency) {
		writeProblem(w, r, contracts.Refuse(contracts.CodeNotFound, "no such agency"))
		return
	}
	history, err := dir.History(r.Context(), agency)
	if err != nil {
		writeProblem(w, r, err)
		return
	}
	if history == nil {
		history = []services.Record{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"agency": agency, "versions": history})
}

// postDirectoryRecord publishes a new version of an agency's record
// (admin). The directory assigns the version, the country and the time of
// publication, so the body may not set them.
func (s *Server) postDirectoryRecord(w http.ResponseWriter, r *http.Request, dir *services.Directory) {
	c, err := s.authenticate(r)
	if err != nil {
		writeProblem(w, r, err)
		return
	}
	if !c.Admin {
		writeProblem(w, r, contracts.Refuse(contracts.CodeForbidden, "publishing directory records needs the admin token"))
		return
	}
	if dir == nil {
		writeProblem(w, r, contracts.Refuse(contracts.CodeUnavailable, "this hub's store does not keep a directory of services"))
		return
	}
	var req struct {
		Agency    string               `json:"agency"`
		ValidFrom services.Date        `json:"valid_from"`
		ValidTo   services.Date        `json:"valid_to,omitempty"`
		Name      contracts.Label      `json:"name"`
		Areas     []services.Area      `json:"areas"`
		Services  []string             `json:"services"`
		Languages []string             `json:"languages"`
		Hours     []services.Hours     `json:"hours,omitempty"`
		ReportsTo services.Directorate `json:"reports_to"`
		Contact   services.Contact     `json:"contact"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 256<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeProblem(w, r, contracts.Refuse(contracts.CodeDirectoryInvalid, "body must be a directory record: agency, valid_from, name, areas, services, languages, hours, reports_to, contact"))
		return
	}
	rec, err := dir.Publish(r.Context(), services.Record{
		Agency: req.Agency, ValidFrom: req.ValidFrom, ValidTo: req.ValidTo, Name: req.Name, Areas: req.Areas,
		Services: req.Services, Languages: req.Languages, Hours: req.Hours, ReportsTo: req.ReportsTo, Contact: req.Contact,
	}, audit.ActorAdmin)
	if err != nil {
		writeProblem(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, rec)
}
