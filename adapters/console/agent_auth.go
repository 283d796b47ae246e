package console

import (
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
)

var usernamePattern = regexp.MustCompile(`^[a-z0-9._-]{2,32}$`)

// accountForm is the form that creates an account.
type accountForm struct {
	Username, Display, Role string
}

func (c *AgentConsole) setupPage(w http.ResponseWriter, r *http.Request) {
	if !c.needsSetup() {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	l := negotiateLang(r)
	c.render(w, r, c.anonymous(w, r), http.StatusOK, "agent_setup.html", page{Title: l.T("setup.title"),
		Data: map[string]string{"File": filepath.Join(c.cfg.Dir, SetupCodeFile)}})
}

// postSetup creates the first account, a supervisor, with the setup code.
func (c *AgentConsole) postSetup(w http.ResponseWriter, r *http.Request) {
	sess := c.anonymous(w, r)
	if err := c.readForm(w, r, sess); err != nil {
		c.fail(w, r, sess, err)
		return
	}
	l := negotiateLang(r)
	retry := func(msg string) {
		c.render(w, r, sess, http.StatusBadRequest, "agent_setup.html", page{Title: l.T("setup.title"), Error: msg,
			Data: map[string]string{"File": filepath.Join(c.cfg.Dir, SetupCodeFile)}})
	}
	if !c.needsSetup() {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	if !c.checkSetupCode(r.PostFormValue("code")) {
		retry(l.T("setup.bad_code"))
		return
	}
	a, err := newAccount(r.PostFormValue("username"), r.PostFormValue("display"), string(RoleSupervisor), r.PostFormValue("password"))
	if err != nil {
		retry(l.T("users.invalid", err.Error()))
		return
	}
	if err := c.db.addUser(r.Context(), a); err != nil {
		c.fail(w, r, sess, err)
		return
	}
	c.setupCode = ""
	_ = os.Remove(filepath.Join(c.cfg.Dir, SetupCodeFile))
	c.log.Info("console: first account created", "role", a.Role)
	c.login(w, r, a.Username, a.Display, a.Role)
	c.redirect(w, r, "/inbox")
}

// newAccount checks and builds an account to create.
func newAccount(username, display, role, password string) (account, error) {
	username = strings.ToLower(strings.TrimSpace(username))
	display = strings.TrimSpace(display)
	if !usernamePattern.MatchString(username) {
		return account{}, errors.New("user names are 2 to 32 of a-z, 0-9, . _ -")
	}
	if display == "" || len([]rune(display)) > 80 {
		return account{}, errors.New("the display name is 1 to 80 characters")
	}
	if role != string(RoleCaseWorker) && role != string(RoleSupervisor) {
		return account{}, errors.New("the role is case_worker or supervisor")
	}
	hash, err := hashPassword(password)
	if err != nil {
		return account{}, err
	}
	return account{Username: username, Display: display, Role: Role(role), Password: hash}, nil
}

func (c *AgentConsole) loginPage(w http.ResponseWriter, r *http.Request) {
	if c.needsSetup() {
		http.Redirect(w, r, "/setup", http.StatusSeeOther)
		return
	}
	sess := c.anonymous(w, r)
	if sess.User != "" {
		http.Redirect(w, r, "/inbox", http.StatusSeeOther)
		return
	}
	l := negotiateLang(r)
	c.render(w, r, sess, http.StatusOK, "agent_login.html", page{Title: l.T("login.title"), Data: map[string]string{"Agency": c.site.Config().Agency}})
}

// postLogin checks a user name and password. A wrong name and a wrong
// password get the same answer after the same work, so the page does not
// tell which accounts exist.
func (c *AgentConsole) postLogin(w http.ResponseWriter, r *http.Request) {
	sess := c.anonymous(w, r)
	if err := c.readForm(w, r, sess); err != nil {
		c.fail(w, r, sess, err)
		return
	}
	l := negotiateLang(r)
	username := strings.ToLower(strings.TrimSpace(r.PostFormValue("username")))
	a, err := c.db.user(r.Context(), username)
	if err != nil && !errors.Is(err, errNoAccount) {
		c.fail(w, r, sess, err)
		return
	}
	hash := a.Password
	if hash == "" {
		hash = dummyHash()
	}
	if ok := checkPassword(hash, r.PostFormValue("password")); !ok || a.Username == "" || a.Disabled {
		c.log.Info("console: login refused")
		c.render(w, r, sess, http.StatusUnauthorized, "agent_login.html", page{Title: l.T("login.title"), Error: l.T("login.bad_password"),
			Data: map[string]string{"Agency": c.site.Config().Agency}})
		return
	}
	c.log.Info("console: user logged in", "user", a.Username, "role", a.Role)
	c.login(w, r, a.Username, a.Display, a.Role)
	c.redirect(w, r, "/inbox")
}

// dummyHash is checked for unknown user names, so they cost the same time.
// It is computed on first use: argon2id takes tens of MiB and a third of a
// second, which every relais command paid at start when it was a package
// variable (and the hub's peak memory with it).
var dummyHash = sync.OnceValue(func() string {
	h, _ := hashPassword("not a password of anyone")
	return h
})

func (c *AgentConsole) postLogout(w http.ResponseWriter, r *http.Request) {
	if sess, _ := c.session(r); sess != nil {
		if err := c.readForm(w, r, sess); err != nil {
			c.fail(w, r, sess, err)
			return
		}
	}
	c.logout(w, r)
	c.redirect(w, r, "/login")
}

// usersView is the accounts page.
type usersView struct {
	Users []account
	Form  accountForm
}

func (c *AgentConsole) usersPage(w http.ResponseWriter, r *http.Request, sess *Session) {
	c.renderUsers(w, r, sess, http.StatusOK, "", accountForm{Role: string(RoleCaseWorker)})
}

func (c *AgentConsole) renderUsers(w http.ResponseWriter, r *http.Request, sess *Session, status int, errText string, f accountForm) {
	l := negotiateLang(r)
	users, err := c.db.users(r.Context())
	if err != nil {
		c.fail(w, r, sess, err)
		return
	}
	c.render(w, r, sess, status, "agent_users.html", page{Title: l.T("users.title"), Nav: c.nav(l, sess, "/users"), Error: errText,
		Data: &usersView{Users: users, Form: f}})
}

// postUsers creates an account, resets a password or disables an account.
func (c *AgentConsole) postUsers(w http.ResponseWriter, r *http.Request, sess *Session) {
	if err := c.readForm(w, r, sess); err != nil {
		c.fail(w, r, sess, err)
		return
	}
	l := negotiateLang(r)
	ctx := r.Context()
	f := accountForm{Username: r.PostFormValue("username"), Display: r.PostFormValue("display"), Role: r.PostFormValue("role")}
	switch r.PostFormValue("action") {
	case "create":
		a, err := newAccount(f.Username, f.Display, f.Role, r.PostFormValue("password"))
		if err == nil {
			if _, exists := c.db.user(ctx, a.Username); exists == nil {
				err = errors.New("this user name is taken")
			}
		}
		if err != nil {
			c.renderUsers(w, r, sess, http.StatusBadRequest, l.T("users.invalid", err.Error()), f)
			return
		}
		if err := c.db.addUser(ctx, a); err != nil {
			c.fail(w, r, sess, err)
			return
		}
		sess.Flash = l.T("users.created", a.Username)
	case "reset":
		hash, err := hashPassword(r.PostFormValue("password"))
		if err != nil {
			c.renderUsers(w, r, sess, http.StatusBadRequest, l.T("users.invalid", err.Error()), accountForm{Role: string(RoleCaseWorker)})
			return
		}
		if err := c.db.setPassword(ctx, r.PostFormValue("username"), hash); err != nil {
			c.fail(w, r, sess, err)
			return
		}
		c.sessions.deleteUser(r.PostFormValue("username"))
		sess.Flash = l.T("users.reset", r.PostFormValue("username"))
	case "disable", "enable":
		target := r.PostFormValue("username")
		if target == sess.User {
			c.renderUsers(w, r, sess, http.StatusBadRequest, l.T("users.not_self"), accountForm{Role: string(RoleCaseWorker)})
			return
		}
		disable := r.PostFormValue("action") == "disable"
		if err := c.db.setDisabled(ctx, target, disable); err != nil {
			c.fail(w, r, sess, err)
			return
		}
		if disable {
			c.sessions.deleteUser(target)
		}
		sess.Flash = l.T("users.updated", target)
	default:
		c.fail(w, r, sess, contracts.Refuse(contracts.CodeBadRequest, "unknown action"))
		return
	}
	c.redirect(w, r, "/users")
}

// accountView is a user's own page.
type accountView struct {
	Account account
}

func (c *AgentConsole) accountPage(w http.ResponseWriter, r *http.Request, sess *Session) {
	l := negotiateLang(r)
	a, err := c.db.user(r.Context(), sess.User)
	if err != nil {
		c.fail(w, r, sess, err)
		return
	}
	c.render(w, r, sess, http.StatusOK, "agent_account.html", page{Title: l.T("account.title"), Nav: c.nav(l, sess, "/account"),
		Data: &accountView{Account: a}})
}

// maxKeyFile bounds an uploaded key file: a JWK is a few hundred bytes.
const maxKeyFile = 16 << 10

// postSupervisorKey stores the supervisor's own key (the supervisor.jwk
// written by `relais supervisor init`), sealed with their password: the
// key stays at the site, and only this supervisor can use it.
func (c *AgentConsole) postSupervisorKey(w http.ResponseWriter, r *http.Request, sess *Session) {
	if err := c.readForm(w, r, sess); err != nil {
		c.fail(w, r, sess, err)
		return
	}
	l := negotiateLang(r)
	ctx := r.Context()
	a, err := c.db.user(ctx, sess.User)
	if err != nil {
		c.fail(w, r, sess, err)
		return
	}
	again := func(msg string) {
		c.render(w, r, sess, http.StatusBadRequest, "agent_account.html", page{Title: l.T("account.title"), Nav: c.nav(l, sess, "/account"),
			Error: msg, Data: &accountView{Account: a}})
	}
	password := r.PostFormValue("password")
	if !checkPassword(a.Password, password) {
		again(l.T("account.bad_password"))
		return
	}
	file, _, err := r.FormFile("key")
	if err != nil {
		again(l.T("account.no_file"))
		return
	}
	defer file.Close()
	raw, err := io.ReadAll(io.LimitReader(file, maxKeyFile))
	if err != nil {
		c.fail(w, r, sess, err)
		return
	}
	kid, err := supervisorKeyID(raw)
	if err != nil {
		again(l.T("account.bad_key"))
		return
	}
	sealed, err := sealWithPassword(password, raw)
	if err != nil {
		c.fail(w, r, sess, err)
		return
	}
	if err := c.db.setSupervisorKey(ctx, a.Username, sealed, kid); err != nil {
		c.fail(w, r, sess, err)
		return
	}
	sess.Flash = l.T("account.key_saved", kid)
	c.redirect(w, r, "/account")
}

// supervisorKeyID checks that raw is a private signing JWK and returns its
// kid.
func supervisorKeyID(raw []byte) (string, error) {
	dir, err := os.MkdirTemp("", "relais-console-key-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "supervisor.jwk")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		return "", err
	}
	k, err := seal.ReadKeyFile(path)
	if err != nil {
		return "", err
	}
	if _, err := seal.Sign([]byte("probe"), k, "relais-console-probe"); err != nil {
		return "", errors.New("not a private signing key")
	}
	kid, _ := k.KeyID()
	return kid, nil
}
