package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/hub"
)

// registerTransferRoutes adds the agency's list of its transfers, with
// where each stands, who holds it and which deadlines passed.
func (s *Server) registerTransferRoutes() {
	s.mux.HandleFunc("GET /v1/transfers", s.getTransfers)
}

type transferDoc struct {
	Transfer  string    `json:"transfer"`
	State     hub.State `json:"state"`
	Role      string    `json:"role"`
	Sender    string    `json:"sender"`
	Recipient string    `json:"recipient"`
	Holder    string    `json:"holder"`
	OpenedAt  time.Time `json:"opened_at"`
	UpdatedAt time.Time `json:"updated_at"`
	Previous  string    `json:"previous,omitempty"`
	// Allowed lists the kinds the caller may send now.
	Allowed []string      `json:"allowed"`
	Overdue []deadlineDoc `json:"overdue"`
}

type deadlineDoc struct {
	Timer       hub.TimerKind  `json:"timer"`
	Stage       hub.TimerStage `json:"stage"`
	Party       string         `json:"party"`
	DueAt       time.Time      `json:"due_at"`
	FiredAt     time.Time      `json:"fired_at"`
	MessageID   string         `json:"message_id,omitempty"`
	EscalatedTo string         `json:"escalated_to,omitempty"`
}

// getTransfers answers GET /v1/transfers?state=S&overdue=true&limit=N for
// the calling agency: the transfers it is a party to, and those whose
// deadlines were escalated to it as a directorate. No personal data: ids,
// states, agencies, times.
func (s *Server) getTransfers(w http.ResponseWriter, r *http.Request) {
	c, ok := s.requireAgency(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	query := hub.TransferQuery{Agency: c.Agency, State: hub.State(q.Get("state"))}
	if v := q.Get("overdue"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			writeProblem(w, r, contracts.Refuse(contracts.CodeBadRequest, "overdue must be true or false"))
			return
		}
		query.Overdue = b
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			writeProblem(w, r, contracts.Refuse(contracts.CodeBadRequest, "limit must be between 1 and 500"))
			return
		}
		query.Limit = n
	}
	list, err := s.hub.Transfers(r.Context(), query)
	if err != nil {
		writeProblem(w, r, err)
		return
	}
	out := make([]transferDoc, 0, len(list))
	for _, t := range list {
		doc := transferDoc{Transfer: t.ID, State: t.State, Role: t.RoleOf(c.Agency), Sender: t.Sender, Recipient: t.Recipient,
			Holder: t.Holder, OpenedAt: t.OpenedAt, UpdatedAt: t.UpdatedAt, Previous: t.Previous,
			Allowed: hub.AllowedFor(t.Transfer, c.Agency), Overdue: []deadlineDoc{}}
		for _, tm := range t.Overdue {
			d := deadlineDoc{Timer: tm.Kind, Stage: tm.Stage, Party: tm.Party, DueAt: tm.DueAt, FiredAt: tm.FiredAt, EscalatedTo: tm.EscalatedTo}
			if !hub.IsStateSubject(tm.Subject) {
				d.MessageID = tm.Subject
			}
			doc.Overdue = append(doc.Overdue, d)
		}
		out = append(out, doc)
	}
	writeJSON(w, http.StatusOK, map[string]any{"transfers": out})
}
