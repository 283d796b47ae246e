package console

import (
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/hub"
)

// opsView is the operators' overview.
type opsView struct {
	Outbox       int
	OutboxCapped bool
	Inboxes      []inboxDepth
	Agencies     []agencyView
	Revoked      []hub.Revocation
	Policies     []policyView
	PolicyDigest string
	PolicyError  string
	HasPolicies  bool
}

// inboxDepth is what waits in one agency's inbox.
type inboxDepth struct {
	Agency  partyView
	Waiting int
	Capped  bool
	Oldest  time.Duration
}

// agencyView is one registered agency and its keys.
type agencyView struct {
	ID         string
	Country    string
	Name       string
	Registered time.Time
	Keys       []hub.KeyInfo
	// Supervisors tells whether the agency registered supervisor keys.
	Supervisors bool
}

// policyView is one loaded corridor agreement.
type policyView struct {
	ID      string
	Version int
	Title   string
	File    string
	Parties []string
	InForce bool
}

// depthCap bounds the queue counts read per page view.
const depthCap = 1000

func (c *HubConsole) ops(w http.ResponseWriter, r *http.Request, sess *Session) {
	l := negotiateLang(r)
	ctx := r.Context()
	store := c.h.Store()
	var v opsView
	pending, err := store.PendingOutbox(ctx, depthCap)
	if err != nil {
		c.fail(w, r, sess, err)
		return
	}
	v.Outbox, v.OutboxCapped = len(pending), len(pending) == depthCap
	agencies, err := store.Agencies(ctx)
	if err != nil {
		c.fail(w, r, sess, err)
		return
	}
	dir := c.h.Directory()
	if err := dir.Reload(ctx); err != nil {
		c.fail(w, r, sess, err)
		return
	}
	now := c.now()
	for _, a := range agencies {
		items, err := store.Inbox(ctx, a.ID, 0, depthCap)
		if err != nil {
			c.fail(w, r, sess, err)
			return
		}
		d := inboxDepth{Agency: party(a.ID), Waiting: len(items), Capped: len(items) == depthCap}
		if len(items) > 0 {
			d.Oldest = now.Sub(items[0].ReceivedAt)
		}
		v.Inboxes = append(v.Inboxes, d)
		v.Agencies = append(v.Agencies, agencyView{ID: a.ID, Country: party(a.ID).Country, Name: a.Name, Registered: a.RegisteredAt,
			Keys: dir.AgencyKeys(a.ID), Supervisors: len(a.SupervisorJWKS) > 0})
	}
	sort.Slice(v.Inboxes, func(i, j int) bool { return v.Inboxes[i].Waiting > v.Inboxes[j].Waiting })
	v.Revoked = dir.Revocations()
	if w := c.cfg.Corridors; w != nil {
		v.HasPolicies = true
		if err := w.Err(); err != nil {
			v.PolicyError = err.Error()
		}
		if set := w.Current(); set != nil {
			v.PolicyDigest = set.Digest()
			for _, cor := range set.Corridors() {
				v.Policies = append(v.Policies, policyView{ID: cor.ID, Version: cor.Version, Title: l.Label(cor.Title),
					File: cor.File, Parties: cor.Parties, InForce: cor.InForce(now)})
			}
		}
	}
	c.render(w, r, sess, http.StatusOK, "hub_ops.html", page{Title: l.T("ops.title"), Nav: c.nav(l, sess, "/ops"), Data: &v})
}

// deadLettersView is the dead-letter list.
type deadLettersView struct {
	Items []hub.DeadLetter
	More  bool
	Next  string
}

func (c *HubConsole) deadLetters(w http.ResponseWriter, r *http.Request, sess *Session) {
	l := negotiateLang(r)
	var cursor uint64
	if raw := r.URL.Query().Get("cursor"); raw != "" {
		n, err := strconv.ParseUint(raw, 10, 63)
		if err != nil {
			c.fail(w, r, sess, contracts.Refuse(contracts.CodeBadRequest, "bad cursor"))
			return
		}
		cursor = n
	}
	res, err := c.h.DeadLetters(r.Context(), cursor, 100)
	if err != nil {
		c.fail(w, r, sess, err)
		return
	}
	v := deadLettersView{Items: res.Items, More: res.More}
	if res.More {
		v.Next = c.prefix + "/ops/dead-letters?cursor=" + strconv.FormatUint(res.Next, 10)
	}
	c.render(w, r, sess, http.StatusOK, "hub_deadletters.html", page{Title: l.T("deadletters.title"), Nav: c.nav(l, sess, "/ops/dead-letters"), Data: &v})
}

// replay hands an undelivered dead letter to the transport again; the hub
// logs it as an admin action.
func (c *HubConsole) replay(w http.ResponseWriter, r *http.Request, sess *Session) {
	if err := c.readForm(w, r, sess); err != nil {
		c.fail(w, r, sess, err)
		return
	}
	l := negotiateLang(r)
	id := r.PostFormValue("message")
	if _, err := c.h.ReplayDeadLetter(r.Context(), id, "admin"); err != nil {
		c.fail(w, r, sess, err)
		return
	}
	sess.Flash = l.T("deadletters.replayed", id)
	c.redirect(w, r, "/ops/dead-letters")
}
