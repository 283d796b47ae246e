package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/hub/audit"
)

// registerDeadLetterRoutes adds the operators' view of dead letters
// (deliveries the transport gave up on, hub/deadletter.go): the list, and
// the replay of an undelivered message. Both need the admin token.
func (s *Server) registerDeadLetterRoutes() {
	s.mux.HandleFunc("GET /v1/admin/dead-letters", s.getDeadLetters)
	s.mux.HandleFunc("POST /v1/admin/dead-letters/{id}/replay", s.postDeadLetterReplay)
}

type deadLetterDoc struct {
	Index     uint64    `json:"index"`
	At        time.Time `json:"at"`
	MessageID string    `json:"message_id,omitempty"`
	Transfer  string    `json:"transfer,omitempty"`
	Kind      string    `json:"kind,omitempty"`
	From      string    `json:"from,omitempty"`
	To        string    `json:"to,omitempty"`
	Reason    string    `json:"reason"`
	Queue     string    `json:"queue,omitempty"`
	Deaths    string    `json:"deaths,omitempty"`
	State     string    `json:"state"`
}

func (s *Server) requireAdmin(w http.ResponseWriter, r *http.Request, what string) bool {
	c, err := s.authenticate(r)
	if err != nil {
		writeProblem(w, r, err)
		return false
	}
	if !c.Admin {
		writeProblem(w, r, contracts.Refuse(contracts.CodeForbidden, "%s needs the admin token", what))
		return false
	}
	return true
}

// getDeadLetters lists dead letters: ?cursor= (from the previous page's
// cursor) and ?limit= (1..500, default 100).
func (s *Server) getDeadLetters(w http.ResponseWriter, r *http.Request) {
	if !s.requireAdmin(w, r, "the dead-letter list") {
		return
	}
	q := r.URL.Query()
	var cursor uint64
	if v := q.Get("cursor"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			writeProblem(w, r, contracts.Refuse(contracts.CodeBadRequest, "cursor must be a cursor returned by this list"))
			return
		}
		cursor = n
	}
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > hub.MaxDeadLetterPage {
			writeProblem(w, r, contracts.Refuse(contracts.CodeBadRequest, "limit must be between 1 and %d", hub.MaxDeadLetterPage))
			return
		}
		limit = n
	}
	page, err := s.hub.DeadLetters(r.Context(), cursor, limit)
	if err != nil {
		writeProblem(w, r, err)
		return
	}
	docs := make([]deadLetterDoc, 0, len(page.Items))
	for _, dl := range page.Items {
		docs = append(docs, deadLetterDoc{Index: dl.Index, At: dl.At, MessageID: dl.MessageID, Transfer: dl.Transfer,
			Kind: dl.Kind, From: dl.From, To: dl.To, Reason: dl.Reason, Queue: dl.Queue, Deaths: dl.Deaths, State: dl.State})
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"dead_letters": docs, "cursor": strconv.FormatUint(page.Next, 10), "more": page.More,
	})
}

// postDeadLetterReplay hands an undelivered message to the transport again.
func (s *Server) postDeadLetterReplay(w http.ResponseWriter, r *http.Request) {
	if !s.requireAdmin(w, r, "replaying a dead letter") {
		return
	}
	id := r.PathValue("id")
	idx, err := s.hub.ReplayDeadLetter(r.Context(), id, audit.ActorAdmin)
	if err != nil {
		writeProblem(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"message_id": id, "replayed": true, "leaf_index": idx})
}
