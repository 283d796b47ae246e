// Package httpapi is the hub's HTTP API: message submission, inboxes, the
// directory, agency registration, transfer trails, health and metrics.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/hub/stats"
)

// Config configures the API.
type Config struct {
	Hub        *hub.Hub
	AdminToken string
	// MaxMessageBytes caps a submitted JWS before any parsing.
	MaxMessageBytes int64
	Gatherer        prometheus.Gatherer
	Logger          *slog.Logger
	// Ready reports whether the hub can accept work (store reachable).
	Ready func() error
	// AgencySeen, when set, is told each time an agency authenticates.
	AgencySeen func(agency string, at time.Time)
	// StatsThresholds give each transfer's disclosure threshold for
	// statistics, from its corridor agreement (stats.AgreementThresholds);
	// nil applies stats.DefaultMinCellSize to every transfer.
	StatsThresholds stats.Thresholds
	// Limits bounds request sizes and rates (limits.go, ratelimit.go).
	Limits Limits
}

// DefaultMaxMessageBytes leaves room for a referral with its encrypted body;
// attachments travel separately.
const DefaultMaxMessageBytes = 256 << 10

// maxInboxWait bounds long-polls so proxies and field modems keep them.
const maxInboxWait = 60 * time.Second

// Server serves the API.
type Server struct {
	hub        *hub.Hub
	adminToken string
	maxBytes   int64
	log        *slog.Logger
	mux        *http.ServeMux
	ready      func() error
	seen       func(agency string, at time.Time)
	limits     Limits
	rate       *rateLimiter
}

func New(cfg Config) *Server {
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Gatherer == nil {
		cfg.Gatherer = prometheus.DefaultGatherer
	}
	if cfg.Ready == nil {
		cfg.Ready = func() error { return nil }
	}
	s := &Server{hub: cfg.Hub, adminToken: cfg.AdminToken, maxBytes: cfg.MaxMessageBytes, log: cfg.Logger, mux: http.NewServeMux(), ready: cfg.Ready, seen: cfg.AgencySeen,
		limits: cfg.Limits.withDefaults(), rate: newRateLimiter(cfg.Limits.Rate)}
	s.mux.HandleFunc("POST /v1/messages", s.postMessage)
	s.mux.HandleFunc("GET /v1/inbox", s.getInbox)
	s.registerDirectoryRoutes()
	s.registerStatsRoutes(cfg.StatsThresholds)
	s.mux.HandleFunc("POST /v1/agencies", s.postAgency)
	s.mux.HandleFunc("GET /v1/transfers/{transfer}/trail", s.getTrail)
	s.registerAuditRoutes()
	s.registerConsentRoutes()
	s.registerTransferRoutes()
	s.registerDeadLetterRoutes()
	s.registerKeyRoutes()
	s.registerHubKeyRoutes()
	s.registerAttachmentRoutes()
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, map[string]string{"status": "ok"}) })
	s.mux.HandleFunc("GET /readyz", s.getReady)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{}))
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := requestID(r)
	r = r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id))
	w.Header().Set("X-Request-Id", id)
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	_, pattern := s.mux.Handler(r)
	defer func() { s.logRequest(r, pattern, rec.status, start) }()
	s.guard(rec, r, func(w http.ResponseWriter, r *http.Request) { s.compressed(w, r, s.limitCaller(s.serve)) })
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	if _, pattern := s.mux.Handler(r); pattern == "" {
		// Distinguish an unknown path from a known path with the wrong
		// method, both as problem+json.
		code := contracts.CodeNotFound
		for _, m := range []string{http.MethodGet, http.MethodPost} {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, p := s.mux.Handler(probe); p != "" {
				code = contracts.CodeMethodNotAllowed
			}
		}
		writeProblem(w, r, contracts.Refuse(code, "%s %s", r.Method, r.URL.Path))
		return
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) postMessage(w http.ResponseWriter, r *http.Request) {
	refuse := func(p *contracts.Problem) {
		s.hub.RefuseSubmission(r.Context(), p)
		writeProblem(w, r, p)
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/jose" {
		refuse(contracts.Refuse(contracts.CodeUnsupportedMedia, "content type must be application/jose"))
		return
	}
	if r.ContentLength > s.maxBytes {
		refuse(contracts.Refuse(contracts.CodePayloadTooLarge, "limit is %d bytes", s.maxBytes))
		return
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			refuse(contracts.Refuse(contracts.CodePayloadTooLarge, "limit is %d bytes", s.maxBytes))
			return
		}
		writeProblem(w, r, contracts.Refuse(contracts.CodeBadRequest, "could not read the request body"))
		return
	}
	out := s.hub.Submit(r.Context(), raw)
	if out.Err != nil {
		writeProblem(w, r, out.Err)
		return
	}
	status := http.StatusAccepted
	writeJSON(w, status, map[string]any{"id": out.ID, "receipt": string(out.Receipt), "leaf_index": out.LeafIndex})
}

type inboxMessage struct {
	ID         string    `json:"id"`
	JWS        string    `json:"jws"`
	ReceivedAt time.Time `json:"received_at"`
}

func (s *Server) getInbox(w http.ResponseWriter, r *http.Request) {
	c, ok := s.requireAgency(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	var after uint64
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			writeProblem(w, r, contracts.Refuse(contracts.CodeBadRequest, "after must be a cursor returned by the inbox"))
			return
		}
		after = n
	}
	var wait time.Duration
	if v := q.Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			writeProblem(w, r, contracts.Refuse(contracts.CodeBadRequest, "wait must be a duration such as 30s"))
			return
		}
		wait = min(d, maxInboxWait)
	}
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			writeProblem(w, r, contracts.Refuse(contracts.CodeBadRequest, "limit must be between 1 and 500"))
			return
		}
		limit = n
	}
	page, err := s.hub.Inbox(r.Context(), c.Agency, after, wait, limit)
	if err != nil {
		writeProblem(w, r, err)
		return
	}
	msgs := make([]inboxMessage, 0, len(page.Items))
	for _, it := range page.Items {
		msgs = append(msgs, inboxMessage{ID: it.ID, JWS: string(it.JWS), ReceivedAt: it.ReceivedAt})
	}
	writeJSON(w, http.StatusOK, map[string]any{"messages": msgs, "cursor": strconv.FormatUint(page.Cursor, 10)})
}

func (s *Server) postAgency(w http.ResponseWriter, r *http.Request) {
	c, err := s.authenticate(r)
	if err != nil {
		writeProblem(w, r, err)
		return
	}
	if !c.Admin {
		writeProblem(w, r, contracts.Refuse(contracts.CodeForbidden, "registering agencies needs the admin token"))
		return
	}
	var req struct {
		ID          string          `json:"id"`
		Country     string          `json:"country"`
		Name        string          `json:"name"`
		JWKS        json.RawMessage `json:"jwks"`
		Supervisors json.RawMessage `json:"supervisors,omitempty"`
		ReportsTo   string          `json:"reports_to,omitempty"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeProblem(w, r, contracts.Refuse(contracts.CodeAgencyInvalid, "body must be {id, country, name, jwks}"))
		return
	}
	a, err := s.hub.RegisterAgency(r.Context(), hub.Registration{ID: req.ID, Country: req.Country, Name: req.Name, JWKS: req.JWKS, SupervisorJWKS: req.Supervisors, ReportsTo: req.ReportsTo}, "admin")
	if err != nil {
		writeProblem(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, directoryAgency{ID: a.ID, Country: a.Country, Name: a.Name, JWKS: a.JWKS})
}

type trailEvent struct {
	Index     uint64    `json:"index"`
	Type      string    `json:"type"`
	At        time.Time `json:"at"`
	MessageID string    `json:"message_id,omitempty"`
	Kind      string    `json:"kind,omitempty"`
	From      string    `json:"from,omitempty"`
	To        string    `json:"to,omitempty"`
	Actor     string    `json:"actor,omitempty"`
	Code      string    `json:"code,omitempty"`
	Detail    string    `json:"detail,omitempty"`
	// Holder is the agency responsible for the case at that moment.
	Holder string `json:"holder,omitempty"`
}

func (s *Server) getTrail(w http.ResponseWriter, r *http.Request) {
	c, err := s.authenticate(r)
	if err != nil {
		writeProblem(w, r, err)
		return
	}
	id := r.PathValue("transfer")
	t, err := s.hub.Store().Transfer(r.Context(), id)
	// A transfer an agency is not party to is reported as absent: its
	// existence is not the agency's business either.
	if errors.Is(err, hub.ErrNotFound) || (err == nil && !c.Admin && c.Agency != t.Sender && c.Agency != t.Recipient) {
		writeProblem(w, r, contracts.Refuse(contracts.CodeNotFound, "no such transfer"))
		return
	}
	if err != nil {
		writeProblem(w, r, err)
		return
	}
	events, err := s.hub.Store().Trail(r.Context(), id)
	if err != nil {
		writeProblem(w, r, err)
		return
	}
	out := make([]trailEvent, 0, len(events))
	for _, e := range events {
		out = append(out, trailEvent{Index: e.Index, Type: string(e.Type), At: e.At, MessageID: e.MessageID, Kind: e.Kind,
			From: e.From, To: e.To, Actor: e.Actor, Code: e.Code, Detail: e.Detail, Holder: e.Holder})
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"transfer": t.ID, "state": t.State, "holder": t.Holder, "sender": t.Sender, "recipient": t.Recipient,
		"case_digest": t.CaseDigest, "events": out,
	})
}

func (s *Server) getReady(w http.ResponseWriter, r *http.Request) {
	if err := s.ready(); err != nil {
		writeProblem(w, r, contracts.Refuse(contracts.CodeUnavailable, "not ready"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
