package console

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/adapters/agent"
	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/hub/policy"
)

// composeKind is the kind the compose form writes.
const composeKind = "referral.request"

// composeView is the referral form.
type composeView struct {
	DraftID    string
	Status     string
	ApprovedBy string
	Form       url.Values
	Recipients []option
	// RecipientsKnown is false when no copy of the directory is at hand:
	// the recipient is typed.
	RecipientsKnown bool
	Purposes        []option
	Bases           []option
	Givers          []option
	Bands           []option
	Overrides       []option
	AgeRules        []ageRule
	Body            []formField
	Invalid         map[string]bool
	Countries       []string
	// Categories are those the body uses, declared on the envelope and the
	// consent when the message is sent.
	Categories []string
}

// ageRule is one row of the age-band table the form explains.
type ageRule struct {
	Band      string
	Givers    []string
	Assent    bool
	ChildOnly bool
}

// ageRules is the default table (hub/policy), explained in l. A corridor
// agreement may set another; the hub applies the agreement's.
func ageRules(l Lang) []ageRule {
	table := policy.DefaultAgeBands()
	var out []ageRule
	for _, band := range contracts.AgeBands.Codes() {
		rule := table.Bands[band]
		r := ageRule{Band: l.Term(contracts.AgeBands, band), Assent: rule.ChildAssentRequired,
			ChildOnly: len(rule.ConsentBy) == 1 && rule.ConsentBy[0] == "child"}
		for _, g := range rule.ConsentBy {
			r.Givers = append(r.Givers, l.Term(contracts.ConsentGivers, g))
		}
		out = append(out, r)
	}
	return out
}

// recipients lists the agencies of other countries from the directory:
// the site's own copy when the agent offers it, else the hub's public
// directory when reachable.
func (c *AgentConsole) recipients(ctx context.Context) ([]agency.DirectoryEntry, bool) {
	if d, ok := c.site.(SiteDirectory); ok {
		if list, err := d.Directory(ctx); err == nil {
			return list, true
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	dir, err := agency.New(c.site.Config().Hub, agency.Keys{}).Directory(ctx, false)
	if err != nil {
		return nil, false
	}
	return dir.Agencies, true
}

func (c *AgentConsole) composeView(r *http.Request, dr draft, invalid map[string]bool, addRow string) (*composeView, error) {
	l := negotiateLang(r)
	fb := &formBuilder{l: l, values: dr.Form, invalid: invalid, addRow: addRow}
	body, err := fb.bodyFields(composeKind)
	if err != nil {
		return nil, err
	}
	v := &composeView{DraftID: dr.ID, Status: dr.Status, ApprovedBy: dr.ApprovedBy, Form: dr.Form, Body: body, Invalid: invalid,
		AgeRules: ageRules(l), Countries: countryCodes()}
	self := c.site.Config().Agency
	if list, ok := c.recipients(r.Context()); ok {
		v.RecipientsKnown = true
		for _, a := range list {
			if a.ID == self {
				continue
			}
			label := a.ID
			if a.Name != "" && a.Name != a.ID {
				label = a.Name + " (" + a.ID + ")"
			}
			v.Recipients = append(v.Recipients, option{Code: a.ID, Label: label, Selected: dr.Form.Get("to") == a.ID})
		}
	}
	v.Purposes = fb.options("purpose", contracts.Purposes.Codes(), []string{dr.Form.Get("purpose")})
	v.Bases = fb.options("consent_basis", contracts.ConsentBases.Codes(), []string{basisOf(dr.Form)})
	v.Givers = fb.options("given_by", contracts.ConsentGivers.Codes(), []string{dr.Form.Get("consent.given_by")})
	v.Bands = fb.options("age_band", contracts.AgeBands.Codes(), []string{dr.Form.Get("consent.age_band")})
	v.Overrides = fb.options("override_reason", contracts.OverrideReasons.Codes(), []string{dr.Form.Get("consent.override_reason")})
	if m, bad := bodyFromForm(body, dr.Form); len(bad) == 0 {
		if raw, err := json.Marshal(m); err == nil {
			if cats, err := contracts.BodyCategories(composeKind, raw); err == nil {
				for _, cat := range cats {
					v.Categories = append(v.Categories, l.Term(contracts.DataCategories, cat))
				}
			}
		}
	}
	return v, nil
}

func basisOf(f url.Values) string {
	if b := f.Get("consent.basis"); b != "" {
		return b
	}
	return "consent"
}

func (c *AgentConsole) composePage(w http.ResponseWriter, r *http.Request, sess *Session) {
	dr := draft{Form: url.Values{}, Status: draftOpen}
	if id := r.URL.Query().Get("draft"); id != "" {
		var err error
		if dr, err = c.db.draft(r.Context(), id); err != nil {
			c.fail(w, r, sess, contracts.Refuse(contracts.CodeNotFound, "no such draft"))
			return
		}
	}
	c.renderCompose(w, r, sess, http.StatusOK, dr, nil, "", "")
}

func (c *AgentConsole) renderCompose(w http.ResponseWriter, r *http.Request, sess *Session, status int, dr draft, invalid map[string]bool, addRow, errText string) {
	l := negotiateLang(r)
	v, err := c.composeView(r, dr, invalid, addRow)
	if err != nil {
		c.fail(w, r, sess, err)
		return
	}
	c.render(w, r, sess, status, "agent_compose.html", page{Title: l.T("compose.title"), Nav: c.nav(l, sess, "/compose"), Error: errText, Data: v})
}

// formOf keeps the fields a draft stores: everything but the form's
// machinery.
func formOf(r *http.Request) url.Values {
	out := url.Values{}
	for k, v := range r.PostForm {
		if k == "csrf" || k == "action" || k == "draft" {
			continue
		}
		out[k] = v
	}
	return out
}

func sameForm(a, b url.Values) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

func (c *AgentConsole) postCompose(w http.ResponseWriter, r *http.Request, sess *Session) {
	if err := c.readForm(w, r, sess); err != nil {
		c.fail(w, r, sess, err)
		return
	}
	l := negotiateLang(r)
	ctx := r.Context()
	dr := draft{ID: r.PostFormValue("draft"), Author: sess.User, Status: draftOpen}
	if dr.ID != "" {
		stored, err := c.db.draft(ctx, dr.ID)
		if err != nil {
			c.fail(w, r, sess, contracts.Refuse(contracts.CodeNotFound, "no such draft"))
			return
		}
		dr = stored
	} else {
		// The draft's id is the message's: a supervisor approves an
		// override over the id of the very message that will be sent.
		dr.ID = contracts.NewMessageID()
	}
	form := formOf(r)
	if !sameForm(form, dr.Form) && dr.Status != draftOpen {
		// A changed file needs a new approval.
		dr.Status, dr.ApprovedBy, dr.Approval = draftOpen, "", ""
	}
	dr.Form = form
	if err := c.db.saveDraft(ctx, dr); err != nil {
		c.fail(w, r, sess, err)
		return
	}
	action := r.PostFormValue("action")
	switch {
	case strings.HasPrefix(action, "add:"):
		c.renderCompose(w, r, sess, http.StatusOK, dr, nil, strings.TrimPrefix(action, "add:"), "")
	case action == "send":
		c.send(w, r, sess, dr)
	default:
		sess.Flash = l.T("compose.saved")
		c.redirect(w, r, "/compose?draft="+dr.ID)
	}
}

// send checks a draft, asks for a supervisor's approval when it overrides
// consent, and otherwise has the agent seal and queue it.
func (c *AgentConsole) send(w http.ResponseWriter, r *http.Request, sess *Session, dr draft) {
	l := negotiateLang(r)
	d, invalid, err := c.draftMessage(r, dr)
	if err != nil {
		c.renderCompose(w, r, sess, http.StatusUnprocessableEntity, dr, invalid, "", l.T("compose.invalid", err.Error()))
		return
	}
	if d.Consent.Basis == "best_interests_override" && dr.Status != draftApproved {
		dr.Status = draftAwaiting
		if err := c.db.saveDraft(r.Context(), dr); err != nil {
			c.fail(w, r, sess, err)
			return
		}
		sess.Flash = l.T("compose.awaiting")
		c.redirect(w, r, "/drafts")
		return
	}
	q, err := c.site.Compose(r.Context(), d)
	switch {
	case errors.Is(err, agent.ErrNoDirectory):
		c.renderCompose(w, r, sess, http.StatusServiceUnavailable, dr, nil, "", l.T("compose.no_directory"))
		return
	case err != nil:
		p := contracts.AsProblem(err)
		if p.Code == contracts.CodeInternal {
			c.fail(w, r, sess, err)
			return
		}
		c.renderCompose(w, r, sess, p.Code.Status(), dr, invalidFields(p), "", l.T("compose.refused", l.codeTitle(p.Code), p.Detail))
		return
	}
	if err := c.db.deleteDraft(r.Context(), dr.ID); err != nil {
		c.fail(w, r, sess, err)
		return
	}
	c.log.Info("console: referral queued", "message_id", q.ID, "user", sess.User)
	sess.Flash = l.T("compose.queued")
	c.redirect(w, r, "/transfers/"+q.Transfer)
}

// invalidFields marks the inputs a body refusal names.
func invalidFields(p *contracts.Problem) map[string]bool {
	out := map[string]bool{}
	for _, f := range p.Fields {
		out[formNameOf("body", f)] = true
	}
	return out
}

// draftMessage builds the message a draft describes: the body from the
// generated fields, the envelope, the consent record. Its errors are for
// the case worker, in the form's terms.
func (c *AgentConsole) draftMessage(r *http.Request, dr draft) (agency.Draft, map[string]bool, error) {
	l := negotiateLang(r)
	f := dr.Form
	fields, err := (&formBuilder{l: l, values: f}).bodyFields(composeKind)
	if err != nil {
		return agency.Draft{}, nil, err
	}
	bodyMap, bad := bodyFromForm(fields, f)
	invalid := map[string]bool{}
	for _, b := range bad {
		invalid[b] = true
	}
	if len(bad) > 0 {
		return agency.Draft{}, invalid, errors.New(l.T("compose.bad_numbers"))
	}
	body, err := json.Marshal(bodyMap)
	if err != nil {
		return agency.Draft{}, nil, err
	}
	cats, err := contracts.BodyCategories(composeKind, body)
	if err != nil {
		p := contracts.AsProblem(err)
		return agency.Draft{}, invalidFields(p), errors.New(p.Detail)
	}
	to, caseRef, purpose := strings.TrimSpace(f.Get("to")), strings.TrimSpace(f.Get("case")), f.Get("purpose")
	switch {
	case !contracts.ValidAgencyID(to):
		invalid["to"] = true
	case !contracts.ValidReference(caseRef):
		invalid["case"] = true
	case !contracts.IsPurpose(purpose):
		invalid["purpose"] = true
	}
	if len(invalid) > 0 {
		return agency.Draft{}, invalid, errors.New(l.T("compose.bad_envelope"))
	}
	consent, invalid := consentOf(f, to, purpose, cats, dr)
	if len(invalid) > 0 {
		return agency.Draft{}, invalid, errors.New(l.T("compose.bad_consent"))
	}
	return agency.Draft{ID: dr.ID, Kind: composeKind, To: to, Case: caseRef, Purpose: purpose, DataCategories: cats,
		Consent: consent, Body: body}, nil, nil
}

// consentOf builds the consent record of the form: its scope is exactly
// this message (the recipient's country, the purpose, the categories the
// body uses), so the hub's check is about the lawful basis, not about a
// scope the case worker would have to assemble by hand.
func consentOf(f url.Values, to, purpose string, cats []string, dr draft) (*contracts.Consent, map[string]bool) {
	invalid := map[string]bool{}
	c := &contracts.Consent{Ref: strings.TrimSpace(f.Get("consent.ref")), Basis: basisOf(f), GivenBy: f.Get("consent.given_by"),
		ChildAssent: f.Get("consent.child_assent") == "yes", AgeBand: f.Get("consent.age_band"),
		Recipients: []string{contracts.AgencyCountry(to)}, Purposes: []string{purpose}, DataCategories: cats}
	if !contracts.ValidReference(c.Ref) {
		invalid["consent.ref"] = true
	}
	if !contracts.IsConsentBasis(c.Basis) {
		invalid["consent.basis"] = true
	}
	if !contracts.IsConsentGiver(c.GivenBy) {
		invalid["consent.given_by"] = true
	}
	if !contracts.IsAgeBand(c.AgeBand) {
		invalid["consent.age_band"] = true
	}
	obtained, err := time.Parse("2006-01-02", f.Get("consent.obtained_at"))
	if err != nil || obtained.After(time.Now()) {
		invalid["consent.obtained_at"] = true
	}
	c.ObtainedAt = obtained.UTC()
	if raw := f.Get("consent.expires_at"); raw != "" {
		expires, err := time.Parse("2006-01-02", raw)
		if err != nil || !expires.After(obtained) {
			invalid["consent.expires_at"] = true
		}
		c.ExpiresAt = expires.UTC()
	}
	switch c.Basis {
	case "legal_obligation":
		c.LegalReference = strings.TrimSpace(f.Get("consent.legal_reference"))
		if c.LegalReference == "" {
			invalid["consent.legal_reference"] = true
		}
	case "best_interests_override":
		reason := f.Get("consent.override_reason")
		if !contracts.IsOverrideReason(reason) {
			invalid["consent.override_reason"] = true
		}
		if dr.Status == draftApproved {
			c.Override = &contracts.Override{Reason: reason, Approval: dr.Approval}
		}
	}
	return c, invalid
}

// draftRow is one draft in the list.
type draftRow struct {
	ID, Author, Status, To, Case, Child string
	Updated                             time.Time
	Approvable                          bool
}

func (c *AgentConsole) draftsPage(w http.ResponseWriter, r *http.Request, sess *Session) {
	l := negotiateLang(r)
	list, err := c.db.drafts(r.Context(), draftOpen, draftAwaiting, draftApproved)
	if err != nil {
		c.fail(w, r, sess, err)
		return
	}
	var rows []draftRow
	for _, dr := range list {
		rows = append(rows, draftRow{ID: dr.ID, Author: dr.Author, Status: dr.Status, To: dr.Form.Get("to"), Case: dr.Form.Get("case"),
			Child: strings.TrimSpace(dr.Form.Get("body.child.given_names") + " " + dr.Form.Get("body.child.family_name")), Updated: dr.Updated,
			Approvable: sess.Role == RoleSupervisor && dr.Status == draftAwaiting && dr.Author != sess.User})
	}
	c.render(w, r, sess, http.StatusOK, "agent_drafts.html", page{Title: l.T("drafts.title"), Nav: c.nav(l, sess, "/drafts"), Data: rows})
}

// approvalView is a draft as the approving supervisor reads it.
type approvalView struct {
	Draft  draft
	Body   []formField
	Reason string
	Own    bool
	HasKey bool
}

func (c *AgentConsole) approvalPage(w http.ResponseWriter, r *http.Request, sess *Session) {
	c.renderApproval(w, r, sess, http.StatusOK, "")
}

func (c *AgentConsole) renderApproval(w http.ResponseWriter, r *http.Request, sess *Session, status int, errText string) {
	l := negotiateLang(r)
	dr, err := c.db.draft(r.Context(), r.PathValue("id"))
	if err != nil || dr.Status != draftAwaiting {
		c.fail(w, r, sess, contracts.Refuse(contracts.CodeNotFound, "no draft awaits approval under this id"))
		return
	}
	body, err := (&formBuilder{l: l, values: dr.Form}).bodyFields(composeKind)
	if err != nil {
		c.fail(w, r, sess, err)
		return
	}
	me, err := c.db.user(r.Context(), sess.User)
	if err != nil {
		c.fail(w, r, sess, err)
		return
	}
	v := &approvalView{Draft: dr, Body: body, Reason: l.Term(contracts.OverrideReasons, dr.Form.Get("consent.override_reason")),
		Own: dr.Author == sess.User, HasKey: len(me.SupervisorKey) > 0}
	c.render(w, r, sess, status, "agent_approve.html", page{Title: l.T("approve.title"), Nav: c.nav(l, sess, "/drafts"), Error: errText, Data: v})
}

// postApproval signs the override approval with the supervisor's own key,
// unsealed with their password, over the draft's message id and reason.
// The author of a draft can never approve it: that is the two-person rule
// the hub checks again (a different key from the message's signer).
func (c *AgentConsole) postApproval(w http.ResponseWriter, r *http.Request, sess *Session) {
	if err := c.readForm(w, r, sess); err != nil {
		c.fail(w, r, sess, err)
		return
	}
	l := negotiateLang(r)
	ctx := r.Context()
	dr, err := c.db.draft(ctx, r.PathValue("id"))
	if err != nil || dr.Status != draftAwaiting {
		c.fail(w, r, sess, contracts.Refuse(contracts.CodeNotFound, "no draft awaits approval under this id"))
		return
	}
	if dr.Author == sess.User {
		c.renderApproval(w, r, sess, http.StatusForbidden, l.T("approve.own"))
		return
	}
	me, err := c.db.user(ctx, sess.User)
	if err != nil {
		c.fail(w, r, sess, err)
		return
	}
	raw, err := openWithPassword(r.PostFormValue("password"), me.SupervisorKey)
	if err != nil {
		c.renderApproval(w, r, sess, http.StatusUnauthorized, l.T("approve.bad_password"))
		return
	}
	key, err := jwk.ParseKey(raw)
	if err != nil {
		c.fail(w, r, sess, err)
		return
	}
	approval, err := policy.SignOverrideApproval(key, dr.ID, dr.Form.Get("consent.override_reason"), c.now())
	if err != nil {
		c.renderApproval(w, r, sess, http.StatusUnprocessableEntity, l.T("compose.invalid", err.Error()))
		return
	}
	dr.Status, dr.ApprovedBy, dr.Approval = draftApproved, sess.User, approval
	if err := c.db.saveDraft(ctx, dr); err != nil {
		c.fail(w, r, sess, err)
		return
	}
	c.log.Info("console: override approved", "message_id", dr.ID, "supervisor", sess.User)
	sess.Flash = l.T("approve.done")
	c.redirect(w, r, "/drafts")
}

// countryCodes are the country codes of the contract's schema, for the
// form's list of suggestions.
func countryCodes() []string {
	defs, err := loadSchema("defs.schema.json")
	if err != nil || defs.Defs["country"] == nil {
		return nil
	}
	return defs.Defs["country"].Enum
}
