package console

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/adapters/agent"
)

// Site is what the agent console needs from the site agent; *agent.Agent
// satisfies it. Everything the console shows of a child's file comes from
// here: the agent verified, decrypted and stored it, at the site.
type Site interface {
	Config() agent.Config
	Status(ctx context.Context, live bool) (agent.Status, error)
	Inbox(ctx context.Context, f agent.InboxFilter) ([]agent.Received, error)
	// Read returns a stored message and marks it read.
	Read(ctx context.Context, id string) (agent.Received, error)
	Outbox(ctx context.Context, f agent.OutboxFilter) ([]agent.Outgoing, error)
	// Compose seals a draft offline and queues it; the agent's sync sends
	// it when the hub is reachable.
	Compose(ctx context.Context, d agency.Draft, attachments ...agent.Attachment) (agent.Queued, error)
	Answer(ctx context.Context, referral string, accept bool, reason string) (agent.Queued, error)
}

// SiteDirectory, when the site implements it, lists the agencies a case
// worker may write to from the agent's last synced copy of the hub
// directory, so the compose form works offline.
type SiteDirectory interface {
	Directory(ctx context.Context) ([]agency.DirectoryEntry, error)
}

// SiteTrail, when the site implements it, fetches a transfer's trail from
// the hub (who held the case when, as the hub recorded it).
type SiteTrail interface {
	Trail(ctx context.Context, transfer string) (agency.Trail, error)
}

// AgentConfig configures the agent console.
type AgentConfig struct {
	Site Site
	// Dir is the agent's directory: the console keeps its database
	// (accounts, drafts) and the first-start setup code there.
	Dir    string
	Logger *slog.Logger
	Now    func() time.Time
	// IdleTimeout and MaxLifetime bound sessions (defaults 20 min, 8 h).
	IdleTimeout time.Duration
	MaxLifetime time.Duration
}

// AgentConsole is the site's web console for case workers and
// supervisors. It runs inside `relais agent`, next to the keys and the
// decrypted files, which never leave the site.
type AgentConsole struct {
	*base
	cfg  AgentConfig
	site Site
	db   *consoleDB
	mux  *http.ServeMux
	// setupCode opens the first-start page while no account exists.
	setupCode string
}

// SetupCodeFile holds the one-time code that creates the first account.
const SetupCodeFile = "console-setup.code"

var agentPages = []string{"agent_setup.html", "agent_login.html", "agent_inbox.html", "agent_message.html", "agent_compose.html",
	"agent_drafts.html", "agent_approve.html", "agent_transfers.html", "agent_timeline.html", "agent_users.html", "agent_account.html"}

// NewAgent builds the agent console. On first start (no account yet) it
// writes a one-time setup code to Dir/console-setup.code (mode 0600): only
// someone with access to the agent's files can create the first
// supervisor account, who then creates the others.
func NewAgent(ctx context.Context, cfg AgentConfig) (*AgentConsole, error) {
	if cfg.Site == nil || cfg.Dir == "" {
		return nil, errors.New("console: the agent console needs the site and its directory")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	b, err := newBase(baseOptions{Product: "agent", Pages: agentPages, Logger: cfg.Logger, Now: cfg.Now, Zone: time.Local,
		IdleTimeout: cfg.IdleTimeout, MaxLifetime: cfg.MaxLifetime})
	if err != nil {
		return nil, err
	}
	db, err := openConsoleDB(ctx, filepath.Join(cfg.Dir, DatabaseFile), cfg.Now)
	if err != nil {
		return nil, err
	}
	c := &AgentConsole{base: b, cfg: cfg, site: cfg.Site, db: db, mux: http.NewServeMux()}
	if err := c.prepareSetup(ctx); err != nil {
		db.close()
		return nil, err
	}
	c.routes()
	return c, nil
}

// Close closes the console's database.
func (c *AgentConsole) Close() error { return c.db.close() }

func (c *AgentConsole) routes() {
	m, b := c.mux, c.base
	staff := []Role{RoleCaseWorker, RoleSupervisor}
	m.HandleFunc("GET /{$}", c.home)
	m.HandleFunc("GET /static/{file}", b.serveStatic)
	m.HandleFunc("GET /lang", b.serveLang)
	m.HandleFunc("GET /setup", c.setupPage)
	m.HandleFunc("POST /setup", c.postSetup)
	m.HandleFunc("GET /login", c.loginPage)
	m.HandleFunc("POST /login", c.postLogin)
	m.HandleFunc("POST /logout", c.postLogout)
	m.HandleFunc("GET /inbox", b.requireRole(c.inbox, staff...))
	m.HandleFunc("GET /messages/{id}", b.requireRole(c.message, staff...))
	m.HandleFunc("POST /messages/{id}/ack", b.requireRole(c.acknowledge, staff...))
	m.HandleFunc("POST /messages/{id}/answer", b.requireRole(c.answer, staff...))
	m.HandleFunc("POST /messages/{id}/info", b.requireRole(c.requestInfo, staff...))
	m.HandleFunc("GET /compose", b.requireRole(c.composePage, staff...))
	m.HandleFunc("POST /compose", b.requireRole(c.postCompose, staff...))
	m.HandleFunc("GET /drafts", b.requireRole(c.draftsPage, staff...))
	m.HandleFunc("GET /approvals/{id}", b.requireRole(c.approvalPage, RoleSupervisor))
	m.HandleFunc("POST /approvals/{id}", b.requireRole(c.postApproval, RoleSupervisor))
	m.HandleFunc("GET /transfers", b.requireRole(c.transfers, staff...))
	m.HandleFunc("GET /transfers/{id}", b.requireRole(c.transferTimeline, staff...))
	m.HandleFunc("GET /users", b.requireRole(c.usersPage, RoleSupervisor))
	m.HandleFunc("POST /users", b.requireRole(c.postUsers, RoleSupervisor))
	m.HandleFunc("GET /account", b.requireRole(c.accountPage, staff...))
	m.HandleFunc("POST /account/key", b.requireRole(c.postSupervisorKey, RoleSupervisor))
}

func (c *AgentConsole) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	securePage(w)
	if _, pattern := c.mux.Handler(r); pattern == "" {
		sess, _ := c.session(r)
		c.fail(w, r, sess, errNotFound)
		return
	}
	c.mux.ServeHTTP(w, r)
}

func (c *AgentConsole) home(w http.ResponseWriter, r *http.Request) {
	sess, _ := c.session(r)
	switch {
	case c.needsSetup():
		http.Redirect(w, r, "/setup", http.StatusSeeOther)
	case sess == nil || sess.User == "":
		http.Redirect(w, r, "/login", http.StatusSeeOther)
	default:
		http.Redirect(w, r, "/inbox", http.StatusSeeOther)
	}
}

// nav is the agent console's navigation for a session.
func (c *AgentConsole) nav(l Lang, sess *Session, current string) []navItem {
	type item struct{ path, key string }
	items := []item{{"/inbox", "nav.inbox"}, {"/compose", "nav.compose"}, {"/drafts", "nav.drafts"}, {"/transfers", "nav.transfers"}}
	if sess.Role == RoleSupervisor {
		items = append(items, item{"/users", "nav.users"})
	}
	items = append(items, item{"/account", "nav.account"})
	out := make([]navItem, 0, len(items))
	for _, it := range items {
		out = append(out, navItem{Href: it.path, Label: l.T(it.key), Current: it.path == current})
	}
	return out
}

// prepareSetup writes the setup code while no account exists.
func (c *AgentConsole) prepareSetup(ctx context.Context) error {
	n, err := c.db.countUsers(ctx)
	if err != nil || n > 0 {
		return err
	}
	path := filepath.Join(c.cfg.Dir, SetupCodeFile)
	if raw, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(raw))) >= 16 {
		c.setupCode = strings.TrimSpace(string(raw))
	} else {
		c.setupCode = randomToken(16)
		if err := os.WriteFile(path, []byte(c.setupCode+"\n"), 0o600); err != nil {
			return fmt.Errorf("console setup code: %w", err)
		}
	}
	c.log.Info("console: no account yet: open /setup and enter the code in the setup file to create the first supervisor", "file", path)
	return nil
}

func (c *AgentConsole) needsSetup() bool { return c.setupCode != "" }

// checkSetupCode compares a typed setup code in constant time.
func (c *AgentConsole) checkSetupCode(code string) bool {
	return c.setupCode != "" && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(code)), []byte(c.setupCode)) == 1
}

// StartAgent runs ServeAgent in the background: the one line `relais agent
// run` adds to serve the console beside its sync loop.
func StartAgent(ctx context.Context, addr string, cfg AgentConfig) {
	go func() { _ = ServeAgent(ctx, addr, cfg) }()
}

// ServeAgent serves the agent console on addr until ctx ends: `relais
// agent run` starts it beside the sync loop when RELAIS_AGENT_CONSOLE names
// an address (an empty addr serves nothing). Serve it on the loopback
// address of the shared PC, or behind TLS: its cookies are Secure. Errors
// are logged as well as returned, since the sync loop goes on without it.
func ServeAgent(ctx context.Context, addr string, cfg AgentConfig) (err error) {
	if addr == "" {
		return nil
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	defer func() {
		if err != nil {
			cfg.Logger.Error("console stopped", "err", err)
		}
	}()
	c, err := NewAgent(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("console: listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: c, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 16 << 10}
	c.log.Info("console ready", "url", "http://"+ln.Addr().String())
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
