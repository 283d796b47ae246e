package console

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/relais-hub/relais/contracts"
)

// loginView is the hub console's login page.
type loginView struct {
	Challenge string
	HubURL    string
	Operators bool
}

func (c *HubConsole) loginPage(w http.ResponseWriter, r *http.Request) {
	c.renderLogin(w, r, http.StatusOK, "")
}

// renderLogin shows the login page with a fresh challenge: every attempt,
// good or bad, uses up the previous one.
func (c *HubConsole) renderLogin(w http.ResponseWriter, r *http.Request, status int, errText string) {
	sess := c.anonymous(w, r)
	if sess.User != "" {
		c.home(w, r)
		return
	}
	sess.Challenge = newChallenge()
	l := negotiateLang(r)
	scheme := "http"
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	c.render(w, r, sess, status, "hub_login.html", page{Title: l.T("login.title"), Error: errText,
		Data: loginView{Challenge: sess.Challenge, HubURL: scheme + "://" + r.Host, Operators: c.cfg.AdminToken != ""}})
}

func (c *HubConsole) loginAuditor(w http.ResponseWriter, r *http.Request) {
	sess := c.anonymous(w, r)
	if err := c.readForm(w, r, sess); err != nil {
		c.fail(w, r, sess, err)
		return
	}
	challenge := sess.Challenge
	sess.Challenge = ""
	l := negotiateLang(r)
	id, err := verifyAuditorLogin(r.PostFormValue("answer"), c.h.ID(), challenge, c.now(), func(iss, kid string) (jwk.Key, error) {
		return c.h.AuditorSigningKey(r.Context(), iss, kid)
	})
	if err != nil {
		p := contracts.AsProblem(err)
		if p.Code == contracts.CodeInternal {
			c.fail(w, r, sess, err)
			return
		}
		c.log.Info("console: auditor login refused", "code", p.Code)
		c.renderLogin(w, r, http.StatusUnauthorized, l.T("login.refused", l.codeTitle(p.Code), p.Detail))
		return
	}
	c.log.Info("console: auditor logged in", "auditor", id)
	c.login(w, r, id, id, RoleAuditor)
	c.redirect(w, r, "/audit")
}

func (c *HubConsole) loginOperator(w http.ResponseWriter, r *http.Request) {
	sess := c.anonymous(w, r)
	if err := c.readForm(w, r, sess); err != nil {
		c.fail(w, r, sess, err)
		return
	}
	l := negotiateLang(r)
	token := strings.TrimSpace(r.PostFormValue("token"))
	if c.cfg.AdminToken == "" || subtle.ConstantTimeCompare([]byte(token), []byte(c.cfg.AdminToken)) != 1 {
		c.log.Info("console: operator login refused")
		c.renderLogin(w, r, http.StatusUnauthorized, l.T("login.bad_token"))
		return
	}
	c.log.Info("console: operator logged in")
	c.login(w, r, "admin", "admin", RoleOperator)
	c.redirect(w, r, "/ops")
}

func (c *HubConsole) postLogout(w http.ResponseWriter, r *http.Request) {
	sess, _ := c.session(r)
	if sess != nil {
		if err := c.readForm(w, r, sess); err != nil {
			c.fail(w, r, sess, err)
			return
		}
	}
	c.logout(w, r)
	c.redirect(w, r, "/login")
}
