package console

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/hub/policy"
	"github.com/relais-hub/relais/hub/stats"
)

// HubConfig configures the hub console.
type HubConfig struct {
	Hub *hub.Hub
	// AdminToken logs operators in; empty disables the operator pages.
	AdminToken string
	// Corridors are the watched agreements, for the operators' list of
	// loaded policy files (optional).
	Corridors *policy.Watcher
	// Prefix is where the console is mounted (default "/console").
	Prefix string
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// IdleTimeout and MaxLifetime bound sessions (defaults 20 min, 8 h).
	IdleTimeout time.Duration
	MaxLifetime time.Duration
}

// HubConsole is the hub's web console for auditors and operators. It
// shows metadata and proofs only: ids, kinds, agencies, times, states,
// digests. Every audit page an auditor opens is itself logged in the audit
// trail by the hub, as the audit API's calls are.
type HubConsole struct {
	*base
	cfg HubConfig
	h   *hub.Hub
	mux *http.ServeMux
	// statsSvc serves the statistics page; nil when the store cannot.
	statsSvc *stats.Service
}

// hubPages are the hub console's templates.
var hubPages = []string{"hub_login.html", "hub_search.html", "hub_timeline.html", "hub_checkpoint.html",
	"hub_ops.html", "hub_deadletters.html", "hub_stats.html"}

// NewHub builds the hub console; mount it at cfg.Prefix on the hub's
// listener (cmd/relais serve --console).
func NewHub(cfg HubConfig) (*HubConsole, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = "/console"
	}
	b, err := newBase(baseOptions{Prefix: cfg.Prefix, Product: "hub", Pages: hubPages, Logger: cfg.Logger, Now: cfg.Now,
		Zone: time.UTC, IdleTimeout: cfg.IdleTimeout, MaxLifetime: cfg.MaxLifetime})
	if err != nil {
		return nil, err
	}
	c := &HubConsole{base: b, cfg: cfg, h: cfg.Hub, mux: http.NewServeMux()}
	if svc, err := stats.NewService(cfg.Hub.Store(), stats.AgreementThresholds{Agreements: cfg.Corridors}); err == nil {
		c.statsSvc = svc
	} else {
		b.log.Warn("console: statistics unavailable", "err", err)
	}
	p := b.prefix
	auditors := []Role{RoleAuditor, RoleOperator}
	c.mux.HandleFunc("GET "+p+"/{$}", c.home)
	c.mux.HandleFunc("GET "+p+"/static/{file}", b.serveStatic)
	c.mux.HandleFunc("GET "+p+"/lang", b.serveLang)
	c.mux.HandleFunc("GET "+p+"/login", c.loginPage)
	c.mux.HandleFunc("POST "+p+"/login/auditor", c.loginAuditor)
	c.mux.HandleFunc("POST "+p+"/login/operator", c.loginOperator)
	c.mux.HandleFunc("POST "+p+"/logout", c.postLogout)
	c.mux.HandleFunc("GET "+p+"/audit", b.requireRole(c.search, auditors...))
	c.mux.HandleFunc("GET "+p+"/audit/transfers/{transfer}", b.requireRole(c.timeline, auditors...))
	c.mux.HandleFunc("POST "+p+"/audit/bundle", b.requireRole(c.bundle, auditors...))
	c.mux.HandleFunc("GET "+p+"/audit/checkpoint", b.requireRole(c.checkpoint, auditors...))
	c.mux.HandleFunc("POST "+p+"/audit/checkpoint", b.requireRole(c.publishCheckpoint, auditors...))
	c.mux.HandleFunc("GET "+p+"/stats", b.requireRole(c.stats, auditors...))
	c.mux.HandleFunc("GET "+p+"/ops", b.requireRole(c.ops, RoleOperator))
	c.mux.HandleFunc("GET "+p+"/ops/dead-letters", b.requireRole(c.deadLetters, RoleOperator))
	c.mux.HandleFunc("POST "+p+"/ops/dead-letters/replay", b.requireRole(c.replay, RoleOperator))
	return c, nil
}

// Prefix is the path the console must be mounted at.
func (c *HubConsole) Prefix() string { return c.prefix }

func (c *HubConsole) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	securePage(w)
	if _, pattern := c.mux.Handler(r); pattern == "" {
		sess, _ := c.session(r)
		c.fail(w, r, sess, errNotFound)
		return
	}
	c.mux.ServeHTTP(w, r)
}

func (c *HubConsole) home(w http.ResponseWriter, r *http.Request) {
	sess, _ := c.session(r)
	switch {
	case sess == nil || sess.User == "":
		http.Redirect(w, r, c.prefix+"/login", http.StatusSeeOther)
	case sess.Role == RoleOperator:
		http.Redirect(w, r, c.prefix+"/ops", http.StatusSeeOther)
	default:
		http.Redirect(w, r, c.prefix+"/audit", http.StatusSeeOther)
	}
}

// nav is the hub console's navigation for a session.
func (c *HubConsole) nav(l Lang, sess *Session, current string) []navItem {
	items := []struct{ path, key string }{{"/audit", "nav.audit"}, {"/audit/checkpoint", "nav.checkpoint"}, {"/stats", "nav.stats"}}
	if sess.Role == RoleOperator {
		items = append(items, struct{ path, key string }{"/ops", "nav.ops"}, struct{ path, key string }{"/ops/dead-letters", "nav.deadletters"})
	}
	out := make([]navItem, 0, len(items))
	for _, it := range items {
		out = append(out, navItem{Href: c.prefix + it.path, Label: l.T(it.key), Current: it.path == current})
	}
	return out
}

// actor is who the hub records as asking: the auditor's id, or "admin".
func actor(sess *Session) string { return sess.User }
