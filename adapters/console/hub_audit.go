package console

import (
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/hub/audit"
)

var hexDigest = regexp.MustCompile(`^[0-9a-f]{64}$`)

// searchForm is the trail search as the auditor filled it in.
type searchForm struct {
	Transfer   string
	CaseDigest string
	CaseRef    string
	CaseAgency string
	Agency     string
	From, To   string
	Cursor     string
}

// searchView is the search page.
type searchView struct {
	Form      searchForm
	Searched  bool
	Transfers []transferHit
	Events    []eventRow
	More      bool
	Next      string
	// Digest is the case digest computed from a case reference, shown so
	// the auditor can reuse it without the reference.
	Digest string
}

// transferHit is one transfer found by a search.
type transferHit struct {
	ID               string
	Sender, Receiver partyView
	First, Last      time.Time
	Events           int
	Overdue          bool
}

// partyView is an agency as pages show it: its id and country.
type partyView struct {
	ID      string
	Country string
}

func party(id string) partyView {
	return partyView{ID: id, Country: strings.ToUpper(contracts.AgencyCountry(id))}
}

// eventRow is one audit event as a table or a timeline shows it.
type eventRow struct {
	Index    uint64
	At       time.Time
	Type     string
	Kind     string
	Transfer string
	From, To partyView
	Actor    string
	Holder   partyView
	Code     string
	Detail   string
	Late     bool
	Damaged  bool
}

func rowOf(e hub.AuditedEvent) eventRow {
	if e.Damaged {
		return eventRow{Index: e.Index, Damaged: true}
	}
	ev := e.Event
	row := eventRow{Index: e.Index, At: ev.At, Type: string(ev.Type), Kind: ev.Kind, Transfer: ev.Transfer,
		From: party(ev.From), To: party(ev.To), Actor: ev.Actor, Code: ev.Code, Detail: ev.Detail,
		Late: ev.Type == audit.TypeReminder || ev.Type == audit.TypeEscalation}
	if h := ev.Extra["holder"]; h != "" {
		row.Holder = party(h)
	}
	return row
}

// auditQuery turns the form into the hub's query. A case reference is
// turned into its digest here and never logged: the hub's auditor_query
// leaf records the digest only.
func (c *HubConsole) auditQuery(f searchForm) (hub.AuditQuery, string, error) {
	var q hub.AuditQuery
	q.Transfers = strings.Fields(strings.ReplaceAll(f.Transfer, ",", " "))
	for _, d := range strings.Fields(strings.ReplaceAll(f.CaseDigest, ",", " ")) {
		d = strings.ToLower(d)
		if !hexDigest.MatchString(d) {
			return q, "", contracts.Refuse(contracts.CodeBadRequest, "a case digest is 64 hexadecimal characters")
		}
		q.CaseDigests = append(q.CaseDigests, d)
	}
	var digest string
	if ref := strings.TrimSpace(f.CaseRef); ref != "" {
		agency := strings.TrimSpace(f.CaseAgency)
		if !contracts.ValidReference(ref) || !contracts.ValidAgencyID(agency) {
			return q, "", contracts.Refuse(contracts.CodeBadRequest, "a case reference needs the id of the agency that wrote it")
		}
		digest = c.h.CaseDigest(agency, ref)
		q.CaseDigests = append(q.CaseDigests, digest)
	}
	q.Agency = strings.TrimSpace(f.Agency)
	var err error
	if q.From, err = dayStart(f.From, 0); err != nil {
		return q, "", err
	}
	// The "to" day is included: the query's bound is the next midnight.
	if q.To, err = dayStart(f.To, 1); err != nil {
		return q, "", err
	}
	if f.Cursor != "" {
		n, err := strconv.ParseUint(f.Cursor, 10, 63)
		if err != nil {
			return q, "", contracts.Refuse(contracts.CodeBadRequest, "bad cursor")
		}
		q.Start = n
	}
	q.Limit = 200
	return q, digest, q.Validate()
}

// dayStart reads a date input (YYYY-MM-DD) as midnight UTC, plus days.
func dayStart(s string, days int) (time.Time, error) {
	if s = strings.TrimSpace(s); s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return time.Time{}, contracts.Refuse(contracts.CodeBadRequest, "dates are written YYYY-MM-DD")
	}
	return t.AddDate(0, 0, days), nil
}

func (c *HubConsole) search(w http.ResponseWriter, r *http.Request, sess *Session) {
	l := negotiateLang(r)
	q := r.URL.Query()
	f := searchForm{Transfer: q.Get("transfer"), CaseDigest: q.Get("case_digest"), CaseRef: q.Get("case_ref"),
		CaseAgency: q.Get("case_agency"), Agency: q.Get("agency"), From: q.Get("from"), To: q.Get("to"), Cursor: q.Get("cursor")}
	v := searchView{Form: f}
	p := page{Title: l.T("search.title"), Nav: c.nav(l, sess, "/audit"), Data: &v}
	if f == (searchForm{}) {
		c.render(w, r, sess, http.StatusOK, "hub_search.html", p)
		return
	}
	query, digest, err := c.auditQuery(f)
	if err != nil {
		p.Error = l.T("search.invalid", contracts.AsProblem(err).Detail)
		c.render(w, r, sess, http.StatusBadRequest, "hub_search.html", p)
		return
	}
	if len(query.Transfers)+len(query.CaseDigests) == 0 && query.Agency == "" && query.From.IsZero() && query.To.IsZero() {
		p.Error = l.T("search.empty")
		c.render(w, r, sess, http.StatusBadRequest, "hub_search.html", p)
		return
	}
	res, err := c.h.AuditEvents(r.Context(), actor(sess), query)
	if err != nil {
		c.fail(w, r, sess, err)
		return
	}
	v.Searched, v.Digest, v.More = true, digest, res.More
	if res.More {
		next := r.URL.Query()
		next.Set("cursor", strconv.FormatUint(res.Next, 10))
		v.Next = c.prefix + "/audit?" + next.Encode()
	}
	hits := map[string]*transferHit{}
	for _, e := range res.Events {
		row := rowOf(e)
		v.Events = append(v.Events, row)
		if row.Transfer == "" {
			continue
		}
		h, ok := hits[row.Transfer]
		if !ok {
			h = &transferHit{ID: row.Transfer, First: row.At}
			hits[row.Transfer] = h
		}
		h.Events++
		h.Last = row.At
		h.Overdue = h.Overdue || row.Late
		if row.Kind == "referral.request" || row.Kind == "transfer.forwarded" {
			h.Sender, h.Receiver = row.From, row.To
		}
	}
	for _, h := range hits {
		v.Transfers = append(v.Transfers, *h)
	}
	sort.Slice(v.Transfers, func(i, j int) bool { return v.Transfers[i].Last.After(v.Transfers[j].Last) })
	c.render(w, r, sess, http.StatusOK, "hub_search.html", p)
}

// timelineView is one transfer's timeline for auditors.
type timelineView struct {
	Transfer   string
	State      string
	Holder     partyView
	Sender     partyView
	Recipient  partyView
	CaseDigest string
	Events     []eventRow
	Holds      []holding
	Overdue    bool
}

// holding is a period during which one agency held the case.
type holding struct {
	Agency   partyView
	From, To time.Time
	Current  bool
}

// holdings derives who held the case when from the events' holder stamps.
func holdings(events []eventRow) []holding {
	var out []holding
	for _, e := range events {
		if e.Holder.ID == "" || e.Damaged {
			continue
		}
		if n := len(out); n > 0 && out[n-1].Agency.ID == e.Holder.ID {
			continue
		}
		if n := len(out); n > 0 {
			out[n-1].To = e.At
		}
		out = append(out, holding{Agency: e.Holder, From: e.At})
	}
	if n := len(out); n > 0 {
		out[n-1].Current = true
	}
	return out
}

func (c *HubConsole) timeline(w http.ResponseWriter, r *http.Request, sess *Session) {
	l := negotiateLang(r)
	id := r.PathValue("transfer")
	if !contracts.ValidMessageID(id) {
		c.fail(w, r, sess, contracts.Refuse(contracts.CodeNotFound, "no such transfer"))
		return
	}
	res, err := c.h.AuditEvents(r.Context(), actor(sess), hub.AuditQuery{Transfers: []string{id}, Limit: hub.MaxAuditPageSize})
	if err != nil {
		c.fail(w, r, sess, err)
		return
	}
	if len(res.Events) == 0 {
		c.fail(w, r, sess, contracts.Refuse(contracts.CodeNotFound, "no logged event for this transfer"))
		return
	}
	v := timelineView{Transfer: id}
	for _, e := range res.Events {
		row := rowOf(e)
		v.Events = append(v.Events, row)
		v.Overdue = v.Overdue || row.Late
	}
	v.Holds = holdings(v.Events)
	t, err := c.h.Store().Transfer(r.Context(), id)
	switch {
	case err == nil:
		v.State, v.Holder, v.Sender, v.Recipient, v.CaseDigest = t.State.Label(string(l)), party(t.Holder), party(t.Sender), party(t.Recipient), t.CaseDigest
	case !errors.Is(err, hub.ErrNotFound):
		c.fail(w, r, sess, err)
		return
	}
	c.render(w, r, sess, http.StatusOK, "hub_timeline.html", page{Title: l.T("timeline.title"), Nav: c.nav(l, sess, ""), Data: &v})
}

// bundle downloads the verifiable bundle of a transfer or a case: the
// same document as GET /v1/audit/bundle, which `relais audit verify`
// checks offline.
func (c *HubConsole) bundle(w http.ResponseWriter, r *http.Request, sess *Session) {
	if err := c.readForm(w, r, sess); err != nil {
		c.fail(w, r, sess, err)
		return
	}
	req := hub.BundleRequest{}
	if t := strings.TrimSpace(r.PostFormValue("transfer")); t != "" {
		req.Transfers = []string{t}
	}
	if d := strings.TrimSpace(r.PostFormValue("case_digest")); d != "" {
		req.CaseDigests = []string{d}
	}
	b, err := c.h.AuditBundle(r.Context(), actor(sess), req)
	if err != nil {
		c.fail(w, r, sess, err)
		return
	}
	out, err := b.Marshal()
	if err != nil {
		c.fail(w, r, sess, err)
		return
	}
	name := "relais-audit-bundle.json"
	if len(req.Transfers) == 1 {
		name = "relais-audit-bundle-" + req.Transfers[0] + ".json"
	}
	securePage(w)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", `attachment; filename="`+url.PathEscape(name)+`"`)
	_, _ = w.Write(out)
}

// checkpointView is the checkpoint status page.
type checkpointView struct {
	Size      uint64
	TreeSize  uint64
	Behind    uint64
	Root      string
	Note      string
	Verifier  string
	Published bool
	None      bool
}

func (c *HubConsole) checkpoint(w http.ResponseWriter, r *http.Request, sess *Session) {
	l := negotiateLang(r)
	v := checkpointView{Verifier: c.h.Audit().VerifierKey(), Published: r.URL.Query().Get("published") == "1"}
	cp, err := c.h.AuditLatestCheckpoint(r.Context(), actor(sess))
	switch {
	case contracts.CodeOf(err) == contracts.CodeNotFound:
		v.None = true
	case err != nil:
		c.fail(w, r, sess, err)
		return
	default:
		v.Size, v.Note = cp.Size, string(cp.Note)
		v.Root = hex.EncodeToString(cp.Root)
	}
	size, _, err := c.h.Audit().Head(r.Context(), c.h.Store().AuditDB())
	if err != nil {
		c.fail(w, r, sess, err)
		return
	}
	v.TreeSize = size
	if size > v.Size {
		v.Behind = size - v.Size
	}
	c.render(w, r, sess, http.StatusOK, "hub_checkpoint.html", page{Title: l.T("checkpoint.title"), Nav: c.nav(l, sess, "/audit/checkpoint"), Data: &v})
}

func (c *HubConsole) publishCheckpoint(w http.ResponseWriter, r *http.Request, sess *Session) {
	if err := c.readForm(w, r, sess); err != nil {
		c.fail(w, r, sess, err)
		return
	}
	if _, err := c.h.AuditPublishCheckpoint(r.Context(), actor(sess)); err != nil {
		c.fail(w, r, sess, err)
		return
	}
	c.redirect(w, r, "/audit/checkpoint?published=1")
}
