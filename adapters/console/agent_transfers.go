package console

import (
	"net/http"
	"sort"
	"time"

	"github.com/relais-hub/relais/adapters/agent"
	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/hub"
)

// transferRow is one transfer the site took part in.
type transferRow struct {
	ID        string
	Case      string
	Sender    partyView
	Recipient partyView
	Last      time.Time
	Messages  int
	State     string
	Holder    partyView
	Overdue   bool
	Deadlines []agent.Deadline
	Refused   int
	Queued    int
}

// step is one message of a transfer as the site saw it.
type step struct {
	At       time.Time
	Kind     string
	From, To partyView
	// Direction is "in" (received) or "out" (sent by this site).
	Direction string
	ID        string
	// State of an outgoing message: queued, sent, refused; Receipted when
	// the recipient confirmed storing it.
	State     string
	Receipted time.Time
	Refusal   string
	Holder    partyView
}

// siteTransfers gathers the transfers of the site from its inbox and
// outbox: every message is already on the site's disk, so the list and
// the timelines work offline.
func (c *AgentConsole) siteTransfers(r *http.Request) (map[string]*transferRow, map[string][]step, error) {
	ctx := r.Context()
	l := negotiateLang(r)
	in, err := c.site.Inbox(ctx, agent.InboxFilter{})
	if err != nil {
		return nil, nil, err
	}
	out, err := c.site.Outbox(ctx, agent.OutboxFilter{})
	if err != nil {
		return nil, nil, err
	}
	st, err := c.site.Status(ctx, false)
	if err != nil {
		return nil, nil, err
	}
	rows := map[string]*transferRow{}
	steps := map[string][]step{}
	row := func(id string) *transferRow {
		if rows[id] == nil {
			rows[id] = &transferRow{ID: id}
		}
		return rows[id]
	}
	for _, m := range in {
		env := m.Envelope
		t := row(env.Transfer)
		t.Messages++
		if t.Case == "" {
			t.Case = env.Case
		}
		if spec, _ := contracts.Kind(env.Kind); spec.OpensTransfer {
			t.Sender, t.Recipient = party(env.From), party(env.To)
		}
		if m.HubReceivedAt.After(t.Last) {
			t.Last = m.HubReceivedAt
		}
		steps[env.Transfer] = append(steps[env.Transfer], step{At: m.HubReceivedAt, Kind: env.Kind, From: party(env.From), To: party(env.To),
			Direction: "in", ID: env.ID})
	}
	for _, o := range out {
		t := row(o.Transfer)
		t.Messages++
		if t.Case == "" {
			t.Case = o.Case
		}
		if spec, _ := contracts.Kind(o.Kind); spec.OpensTransfer {
			t.Sender, t.Recipient = party(c.site.Config().Agency), party(o.To)
		}
		at := o.SentAt
		if at.IsZero() {
			at = o.CreatedAt
		}
		if at.After(t.Last) {
			t.Last = at
		}
		s := step{At: at, Kind: o.Kind, From: party(c.site.Config().Agency), To: party(o.To), Direction: "out", ID: o.ID,
			State: o.State, Receipted: o.ReceiptedAt}
		switch o.State {
		case agent.StateRefused:
			t.Refused++
			s.Refusal = l.codeTitle(contracts.Code(o.RefusedCode))
		case agent.StateQueued:
			t.Queued++
		}
		steps[o.Transfer] = append(steps[o.Transfer], s)
	}
	for _, o := range st.Overdue {
		t := row(o.Transfer)
		t.Overdue, t.Deadlines = true, o.Overdue
		t.State, t.Holder = hub.State(o.State).Label(string(l)), party(o.Holder)
	}
	for id, list := range steps {
		sort.SliceStable(list, func(i, j int) bool { return list[i].At.Before(list[j].At) })
		holders(list, rows[id])
	}
	return rows, steps, nil
}

// holders stamps each step with who held the case after it, from what the
// site knows: the referring agency until the recipient accepts (or the
// agency its acceptance names), the referring agency again when the
// transfer ends with it. The hub's trail, when reachable, is authoritative.
func holders(list []step, t *transferRow) {
	var holder partyView
	for i := range list {
		s := &list[i]
		switch s.Kind {
		case "referral.request", "transfer.forwarded":
			holder = s.From
		case "referral.accepted":
			holder = s.From
		case "referral.declined", "transfer.revoked":
			holder = t.Sender
		}
		s.Holder = holder
	}
	if t.Holder.ID == "" {
		t.Holder = holder
	}
}

type transfersView struct {
	Rows []transferRow
}

func (c *AgentConsole) transfers(w http.ResponseWriter, r *http.Request, sess *Session) {
	l := negotiateLang(r)
	rows, _, err := c.siteTransfers(r)
	if err != nil {
		c.fail(w, r, sess, err)
		return
	}
	v := transfersView{}
	for _, t := range rows {
		v.Rows = append(v.Rows, *t)
	}
	sort.Slice(v.Rows, func(i, j int) bool {
		if v.Rows[i].Overdue != v.Rows[j].Overdue {
			return v.Rows[i].Overdue
		}
		return v.Rows[i].Last.After(v.Rows[j].Last)
	})
	c.render(w, r, sess, http.StatusOK, "agent_transfers.html", page{Title: l.T("transfers.title"), Nav: c.nav(l, sess, "/transfers"), Data: &v})
}

type siteTimelineView struct {
	Transfer transferRow
	Steps    []step
	// Trail is the hub's record, when the site could fetch it.
	Trail []eventRow
	Holds []holding
}

func (c *AgentConsole) transferTimeline(w http.ResponseWriter, r *http.Request, sess *Session) {
	l := negotiateLang(r)
	id := r.PathValue("id")
	rows, steps, err := c.siteTransfers(r)
	if err != nil {
		c.fail(w, r, sess, err)
		return
	}
	t, ok := rows[id]
	if !ok {
		c.fail(w, r, sess, contracts.Refuse(contracts.CodeNotFound, "this site took no part in this transfer"))
		return
	}
	v := siteTimelineView{Transfer: *t, Steps: steps[id]}
	if tr, ok := c.site.(SiteTrail); ok {
		if trail, err := tr.Trail(r.Context(), id); err == nil {
			for _, e := range trail.Events {
				v.Trail = append(v.Trail, eventRow{Index: e.Index, At: e.At, Type: e.Type, Kind: e.Kind, Transfer: trail.Transfer,
					From: party(e.From), To: party(e.To), Actor: e.Actor, Code: e.Code, Detail: e.Detail, Holder: party(e.Holder),
					Late: e.Type == string(hub.EventReminder) || e.Type == string(hub.EventEscalation)})
			}
			v.Holds = holdings(v.Trail)
		}
	}
	if len(v.Holds) == 0 {
		v.Holds = stepHoldings(v.Steps)
	}
	c.render(w, r, sess, http.StatusOK, "agent_timeline.html", page{Title: l.T("timeline.title"), Nav: c.nav(l, sess, "/transfers"), Data: &v})
}

// stepHoldings are the holding periods the site's own steps show.
func stepHoldings(list []step) []holding {
	var out []holding
	for _, s := range list {
		if s.Holder.ID == "" {
			continue
		}
		if n := len(out); n > 0 && out[n-1].Agency.ID == s.Holder.ID {
			continue
		}
		if n := len(out); n > 0 {
			out[n-1].To = s.At
		}
		out = append(out, holding{Agency: s.Holder, From: s.At})
	}
	if n := len(out); n > 0 {
		out[n-1].Current = true
	}
	return out
}
