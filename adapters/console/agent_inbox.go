package console

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/adapters/agent"
	"github.com/relais-hub/relais/contracts"
)

// statusView is the sync state every agent page can show.
type statusView struct {
	Queued          int
	AwaitingReceipt int
	Refused         int
	LastSync        time.Time
	LastError       string
	Overdue         map[string]agent.OverdueTransfer
}

func (c *AgentConsole) status(r *http.Request) (statusView, error) {
	st, err := c.site.Status(r.Context(), false)
	if err != nil {
		return statusView{}, err
	}
	v := statusView{Queued: st.Queued, AwaitingReceipt: st.AwaitingReceipt, Refused: st.Refused, LastSync: st.LastSync,
		LastError: st.LastError, Overdue: map[string]agent.OverdueTransfer{}}
	for _, o := range st.Overdue {
		v.Overdue[o.Transfer] = o
	}
	return v, nil
}

// inboxRow is one received message in the inbox list.
type inboxRow struct {
	ID        string
	Kind      string
	From      partyView
	Case      string
	Transfer  string
	Received  time.Time
	Unread    bool
	Overdue   bool
	Urgency   string
	Child     string
	AckedBy   string
	Violation bool
}

type inboxView struct {
	Status statusView
	Rows   []inboxRow
}

// summary reads the few fields of a referral the inbox shows: who the
// child is and how urgent it is.
func summary(kind string, plaintext []byte) (child, urgency string) {
	if kind != "referral.request" {
		return "", ""
	}
	var body contracts.ReferralRequest
	if json.Unmarshal(plaintext, &body) != nil {
		return "", ""
	}
	return strings.TrimSpace(body.Child.GivenNames + " " + body.Child.FamilyName), body.Urgency
}

func (c *AgentConsole) inbox(w http.ResponseWriter, r *http.Request, sess *Session) {
	l := negotiateLang(r)
	st, err := c.status(r)
	if err != nil {
		c.fail(w, r, sess, err)
		return
	}
	items, err := c.site.Inbox(r.Context(), agent.InboxFilter{Limit: 200})
	if err != nil {
		c.fail(w, r, sess, err)
		return
	}
	acks, err := c.db.acks(r.Context())
	if err != nil {
		c.fail(w, r, sess, err)
		return
	}
	v := inboxView{Status: st}
	for _, it := range items {
		env := it.Envelope
		row := inboxRow{ID: env.ID, Kind: env.Kind, From: party(env.From), Case: env.Case, Transfer: env.Transfer,
			Received: it.HubReceivedAt, Unread: it.ReadAt.IsZero(), Violation: it.Violation != nil}
		_, row.Overdue = st.Overdue[env.Transfer]
		row.Child, row.Urgency = summary(env.Kind, it.Plaintext)
		if a, ok := acks[env.ID]; ok {
			row.AckedBy = a.Username
		}
		v.Rows = append(v.Rows, row)
	}
	c.render(w, r, sess, http.StatusOK, "agent_inbox.html", page{Title: l.T("inbox.title"), Nav: c.nav(l, sess, "/inbox"), Data: &v})
}

// messageView is one received message, decrypted.
type messageView struct {
	Env       contracts.Envelope
	From, To  partyView
	Received  time.Time
	Stored    time.Time
	Fields    []formField
	Violation *agent.Violation
	Ack       *ack
	// Answerable: a referral this site has not answered yet.
	Answerable bool
	Answered   string
	Overdue    bool
	Decline    []option
	InfoCats   []option
	Purpose    string
	Basis      string
	Categories []string
}

func (c *AgentConsole) message(w http.ResponseWriter, r *http.Request, sess *Session) {
	c.renderMessage(w, r, sess, http.StatusOK, "")
}

func (c *AgentConsole) renderMessage(w http.ResponseWriter, r *http.Request, sess *Session, status int, errText string) {
	l := negotiateLang(r)
	ctx := r.Context()
	id := r.PathValue("id")
	got, err := c.site.Read(ctx, id)
	if errors.Is(err, agent.ErrNotInInbox) {
		c.fail(w, r, sess, contracts.Refuse(contracts.CodeNotFound, "no such message at this site"))
		return
	}
	if err != nil {
		c.fail(w, r, sess, err)
		return
	}
	env := got.Envelope
	v := messageView{Env: env, From: party(env.From), To: party(env.To), Received: got.HubReceivedAt, Stored: got.StoredAt,
		Violation: got.Violation, Purpose: env.Purpose, Categories: env.DataCategories}
	if env.Consent != nil {
		v.Basis = env.Consent.Basis
	}
	if fields, err := c.viewFields(l, env.Kind, got.Plaintext); err == nil {
		v.Fields = fields
	} else {
		c.log.Warn("console: body not shown", "message_id", env.ID, "err", err)
	}
	acks, err := c.db.acks(ctx)
	if err != nil {
		c.fail(w, r, sess, err)
		return
	}
	if a, ok := acks[id]; ok {
		v.Ack = &a
	}
	if env.Kind == "referral.request" || env.Kind == "transfer.forwarded" {
		answer, err := c.answerOf(r, env.Transfer)
		if err != nil {
			c.fail(w, r, sess, err)
			return
		}
		v.Answered, v.Answerable = answer, answer == ""
	}
	if st, err := c.status(r); err == nil {
		_, v.Overdue = st.Overdue[env.Transfer]
	}
	v.Decline = (&formBuilder{l: l}).options("decline_reason", contracts.DeclineReasons.Codes(), nil)
	v.InfoCats = (&formBuilder{l: l}).options("data_category", contracts.DataCategories.Codes(), nil)
	c.render(w, r, sess, status, "agent_message.html", page{Title: kindLabel(l, env.Kind), Nav: c.nav(l, sess, "/inbox"), Error: errText, Data: &v})
}

// answerOf is the kind of this site's answer to a transfer it received, if
// any: referral.accepted or referral.declined.
func (c *AgentConsole) answerOf(r *http.Request, transfer string) (string, error) {
	sent, err := c.site.Outbox(r.Context(), agent.OutboxFilter{})
	if err != nil {
		return "", err
	}
	for _, o := range sent {
		if o.Transfer == transfer && (o.Kind == "referral.accepted" || o.Kind == "referral.declined") && o.State != agent.StateRefused {
			return o.Kind, nil
		}
	}
	return "", nil
}

// viewFields lays a decrypted body out with the same fields as the form
// that writes it, labelled from the contract.
func (c *AgentConsole) viewFields(l Lang, kind string, plaintext []byte) ([]formField, error) {
	var body map[string]any
	if err := json.Unmarshal(plaintext, &body); err != nil {
		return nil, err
	}
	values := url.Values{}
	flatten("body", body, values)
	return (&formBuilder{l: l, values: values}).bodyFields(kind)
}

// flatten writes a JSON value under the form names of the generated form.
func flatten(prefix string, v any, out url.Values) {
	switch x := v.(type) {
	case map[string]any:
		for k, child := range x {
			flatten(prefix+"."+k, child, out)
		}
	case []any:
		for i, child := range x {
			switch child.(type) {
			case map[string]any:
				flatten(prefix+"."+strconv.Itoa(i), child, out)
			default:
				out.Add(prefix, scalar(child))
			}
		}
	default:
		out.Set(prefix, scalar(x))
	}
}

func scalar(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}

func (c *AgentConsole) acknowledge(w http.ResponseWriter, r *http.Request, sess *Session) {
	if err := c.readForm(w, r, sess); err != nil {
		c.fail(w, r, sess, err)
		return
	}
	id := r.PathValue("id")
	if !contracts.ValidMessageID(id) {
		c.fail(w, r, sess, contracts.Refuse(contracts.CodeNotFound, "no such message"))
		return
	}
	if err := c.db.acknowledge(r.Context(), id, sess.User); err != nil {
		c.fail(w, r, sess, err)
		return
	}
	sess.Flash = negotiateLang(r).T("message.acked")
	c.redirect(w, r, "/messages/"+id)
}

// answer accepts or declines a referral: the agent seals the answer
// offline and sends it at its next sync.
func (c *AgentConsole) answer(w http.ResponseWriter, r *http.Request, sess *Session) {
	if err := c.readForm(w, r, sess); err != nil {
		c.fail(w, r, sess, err)
		return
	}
	l := negotiateLang(r)
	id := r.PathValue("id")
	accept := r.PostFormValue("decision") == "accept"
	reason := r.PostFormValue("reason")
	if !accept && !contracts.DeclineReasons.Has(reason) {
		c.renderMessage(w, r, sess, http.StatusBadRequest, l.T("message.need_reason"))
		return
	}
	if _, err := c.site.Answer(r.Context(), id, accept, reason); err != nil {
		c.composeFailed(w, r, sess, err)
		return
	}
	_ = c.db.acknowledge(r.Context(), id, sess.User)
	if accept {
		sess.Flash = l.T("message.accepted")
	} else {
		sess.Flash = l.T("message.declined")
	}
	c.redirect(w, r, "/messages/"+id)
}

// composeFailed shows why the agent did not queue a message: a refusal
// with its code, or the agent's own condition (no directory yet).
func (c *AgentConsole) composeFailed(w http.ResponseWriter, r *http.Request, sess *Session, err error) {
	l := negotiateLang(r)
	if errors.Is(err, agent.ErrNoDirectory) {
		c.renderMessage(w, r, sess, http.StatusServiceUnavailable, l.T("compose.no_directory"))
		return
	}
	p := contracts.AsProblem(err)
	if p.Code == contracts.CodeInternal {
		c.fail(w, r, sess, err)
		return
	}
	c.renderMessage(w, r, sess, p.Code.Status(), l.T("compose.refused", l.codeTitle(p.Code), p.Detail))
}

// requestInfo asks the referring agency for more information. The request
// travels under the referral's own consent record, addressed back to the
// referring agency's country, for the referral's purpose: the corridor
// policy checks it like any other message.
func (c *AgentConsole) requestInfo(w http.ResponseWriter, r *http.Request, sess *Session) {
	if err := c.readForm(w, r, sess); err != nil {
		c.fail(w, r, sess, err)
		return
	}
	l := negotiateLang(r)
	ctx := r.Context()
	got, err := c.site.Read(ctx, r.PathValue("id"))
	if err != nil {
		c.fail(w, r, sess, contracts.Refuse(contracts.CodeNotFound, "no such message at this site"))
		return
	}
	env := got.Envelope
	questions := strings.TrimSpace(r.PostFormValue("questions"))
	cats := r.PostForm["categories"]
	if questions == "" || len(cats) == 0 || env.Consent == nil {
		c.renderMessage(w, r, sess, http.StatusBadRequest, l.T("message.need_questions"))
		return
	}
	body, err := json.Marshal(contracts.InfoRequest{Categories: cats, Questions: questions})
	if err != nil {
		c.fail(w, r, sess, err)
		return
	}
	used, err := contracts.BodyCategories("info.request", body)
	if err != nil {
		c.composeFailed(w, r, sess, err)
		return
	}
	consent := *env.Consent
	consent.Recipients = []string{contracts.AgencyCountry(env.From)}
	consent.Purposes = []string{env.Purpose}
	consent.DataCategories = used
	d := agency.Draft{Kind: "info.request", To: env.From, Case: env.Case, Transfer: env.Transfer, InReplyTo: env.ID,
		Purpose: env.Purpose, DataCategories: used, Consent: &consent, Body: body}
	if _, err := c.site.Compose(ctx, d); err != nil {
		c.composeFailed(w, r, sess, err)
		return
	}
	sess.Flash = l.T("message.info_queued")
	c.redirect(w, r, "/messages/"+env.ID)
}

// sortedKeys is a map's keys in order, for stable pages.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
