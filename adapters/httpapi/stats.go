package httpapi

import (
	"encoding/json"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/hub/audit"
	"github.com/relais-hub/relais/hub/stats"
)

// registerStatsRoutes adds the statistics API (statistics authorities,
// auditors, admin) and the registration of statistics authorities
// (admin). thresholds give each corridor agreement's disclosure threshold
// (nil: the default for every transfer).
func (s *Server) registerStatsRoutes(thresholds stats.Thresholds) {
	svc, err := stats.NewService(s.hub.Store(), thresholds)
	if err != nil {
		s.log.Warn("statistics unavailable", "err", err)
	}
	s.mux.HandleFunc("GET /v1/stats", func(w http.ResponseWriter, r *http.Request) { s.getStats(w, r, svc) })
	s.mux.HandleFunc("POST /v1/statistics/readers", s.postStatsReader)
}

// statsFormat picks the answer's form: ?format=csv|json, else text/csv
// when the client asks for it, else JSON.
func statsFormat(r *http.Request, param string) (string, error) {
	switch param {
	case "csv", "json":
		return param, nil
	case "":
	default:
		return "", contracts.Refuse(contracts.CodeBadRequest, "format must be csv or json")
	}
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == "text/csv" {
			return "csv", nil
		}
	}
	return "json", nil
}

// getStats answers GET /v1/stats?dimensions=corridor,quarter&from=…&to=…
// with a release; the hub logs it (stats_release) before answering.
func (s *Server) getStats(w http.ResponseWriter, r *http.Request, svc *stats.Service) {
	actor, ok := s.requireStatsReader(w, r)
	if !ok {
		return
	}
	if svc == nil {
		writeProblem(w, r, contracts.Refuse(contracts.CodeUnavailable, "this hub's store does not serve statistics"))
		return
	}
	// dimensions and measures may repeat; the others may not (one()
	// records the refusal).
	p := readParams(r, "dimensions", "measures", "from", "to", "format")
	p.one("from")
	p.one("to")
	format := p.one("format")
	if p.err != nil {
		writeProblem(w, r, p.err)
		return
	}
	format, err := statsFormat(r, format)
	if err != nil {
		writeProblem(w, r, err)
		return
	}
	q, err := stats.ParseQuery(r.URL.Query())
	if err != nil {
		writeProblem(w, r, err)
		return
	}
	rel, err := svc.Release(r.Context(), actor, q, format)
	if err != nil {
		writeProblem(w, r, err)
		return
	}
	if format == "json" {
		writeJSON(w, http.StatusOK, rel)
		return
	}
	name := "relais-stats-" + rel.Query.From.Format(time.DateOnly) + "-" + rel.Query.To.Format(time.DateOnly) + ".csv"
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Language", lang(r))
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.WriteHeader(http.StatusOK)
	if err := stats.WriteCSV(w, rel, lang(r)); err != nil {
		s.log.Warn("write statistics csv", "err", err)
	}
}

type statsReaderDoc struct {
	ID           string          `json:"id"`
	Name         string          `json:"name"`
	JWKS         json.RawMessage `json:"jwks"`
	RegisteredAt time.Time       `json:"registered_at"`
}

// postStatsReader registers a national statistics authority (admin).
func (s *Server) postStatsReader(w http.ResponseWriter, r *http.Request) {
	c, err := s.authenticate(r)
	if err != nil {
		writeProblem(w, r, err)
		return
	}
	if !c.Admin {
		writeProblem(w, r, contracts.Refuse(contracts.CodeForbidden, "registering statistics authorities needs the admin token"))
		return
	}
	var req struct {
		ID   string          `json:"id"`
		Name string          `json:"name"`
		JWKS json.RawMessage `json:"jwks"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || len(req.JWKS) == 0 {
		writeProblem(w, r, contracts.Refuse(contracts.CodeStatsReaderInvalid, "body must be {id, name, jwks}"))
		return
	}
	reader, err := stats.RegisterReader(r.Context(), s.hub, stats.ReaderRegistration{ID: req.ID, Name: req.Name, JWKS: req.JWKS}, audit.ActorAdmin)
	if err != nil {
		writeProblem(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, statsReaderDoc{ID: reader.ID, Name: reader.Name, JWKS: reader.JWKS, RegisteredAt: reader.RegisteredAt})
}
