package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	relaisamqp "github.com/relais-hub/relais/adapters/amqp"
	"github.com/relais-hub/relais/adapters/console"
	"github.com/relais-hub/relais/adapters/httpapi"
	"github.com/relais-hub/relais/adapters/sqlstore"
	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/hub/audit"
	"github.com/relais-hub/relais/hub/policy"
	"github.com/relais-hub/relais/hub/stats"
	"github.com/relais-hub/relais/policies"
)

// hubOptions configure a hub process.
type hubOptions struct {
	Listen string
	Data   string
	HubID  string
	// Store is empty for the embedded SQLite store in Data, or a
	// postgres:// URL.
	Store string
	// Policies is the directory of corridor agreements (default:
	// DATA/policies, seeded with the shipped agreements on first start).
	Policies string
	// Instance names this hub among several sharing a store.
	Instance string
	// Broker is empty for the in-process transport, or an amqp:// URL.
	Broker string
	// BrokerPrefix, when set, replaces "relais." in the names of the
	// hub's exchanges and queues: `relais bench` runs a hub on a shared
	// broker without touching the production hub's queues.
	BrokerPrefix string
	// Console serves the web console for auditors and operators under
	// /console/ on the same listener (adapters/console).
	Console bool
	Logger  *slog.Logger
	// Limits bounds request sizes and rates; `relais serve` sets rate
	// limits from its flags, other callers (bench, demo) run without.
	Limits httpapi.Limits
	// ReadHeaderTimeout bounds how long a client may take to send its
	// request headers (0: httpapi.DefaultReadHeaderTimeout).
	ReadHeaderTimeout time.Duration
	// HubKeyPassphraseFile names a file holding the passphrase of an
	// encrypted hub.jwk (else RELAIS_HUB_KEY_PASSPHRASE; else plain).
	HubKeyPassphraseFile string
	// HubKey is where the hub key is kept: "file" (DATA/hub.jwk, the
	// default) or a PKCS#11 URI (adapters/pkcs11).
	HubKey string
	// HubKeyReload is how often the key store is read again (hub.Config).
	HubKeyReload time.Duration
}

// runningHub is a started hub and its HTTP server.
type runningHub struct {
	URL        string
	AdminToken string
	Hub        *hub.Hub
	close      func()
}

func (r *runningHub) Close() { r.close() }

func serveCmd() *cobra.Command {
	opts := hubOptions{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the hub (embedded SQLite store and in-process transport by default)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Logger = slog.New(httpapi.WithRequestID(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})))
			rh, err := startHub(cmd.Context(), opts)
			if err != nil {
				return err
			}
			defer rh.Close()
			opts.Logger.Info("hub ready", "url", rh.URL, "hub_id", opts.HubID, "data", opts.Data)
			// SIGHUP: read the hub key store now, to take a key another hub
			// process rotated without waiting for --hub-key-reload.
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			for {
				select {
				case <-cmd.Context().Done():
					opts.Logger.Info("shutting down")
					return nil
				case <-hup:
					changed, err := rh.Hub.ReloadHubKeys(cmd.Context())
					if err != nil {
						opts.Logger.Error("hub key reload", "err", err)
					} else {
						opts.Logger.Info("hub key store read again", "changed", changed, "kid", rh.Hub.HubKeys()[0].KID)
					}
				}
			}
		},
	}
	cmd.Flags().StringVar(&opts.Listen, "listen", envOr("RELAIS_LISTEN", "127.0.0.1:8470"), "address to listen on (RELAIS_LISTEN)")
	cmd.Flags().StringVar(&opts.Data, "data", envOr("RELAIS_DATA", "relais-data"), "data directory (RELAIS_DATA)")
	cmd.Flags().StringVar(&opts.Store, "store", envOr("RELAIS_STORE", ""), "store: empty for embedded SQLite in --data, or postgres://user:pass@host/db (RELAIS_STORE)")
	cmd.Flags().StringVar(&opts.Broker, "broker", envOr("RELAIS_BROKER", ""), "broker: empty for the in-process transport, or amqp://user:pass@host:5672/vhost (RELAIS_BROKER)")
	cmd.Flags().StringVar(&opts.Policies, "policies", envOr("RELAIS_POLICIES", ""), "directory of corridor agreements, reloaded on change (default DATA/policies, seeded with the shipped agreements) (RELAIS_POLICIES)")
	cmd.Flags().StringVar(&opts.Instance, "instance", envOr("RELAIS_INSTANCE", ""), "name of this hub process among several sharing a store, stable across restarts (default: host name) (RELAIS_INSTANCE)")
	cmd.Flags().StringVar(&opts.HubID, "hub-id", envOr("RELAIS_HUB_ID", "relais-hub"), "hub identity, the audience of agency tokens (RELAIS_HUB_ID)")
	cmd.Flags().BoolVar(&opts.Console, "console", envOr("RELAIS_CONSOLE", "") == "1", "serve the web console for auditors and operators under /console/ (RELAIS_CONSOLE=1)")
	cmd.Flags().Float64Var((*float64)(&opts.Limits.Rate.CallerRate), "rate-caller", 50, "requests per second each agency or auditor may make, sustained; 0 disables")
	cmd.Flags().IntVar(&opts.Limits.Rate.CallerBurst, "rate-caller-burst", 200, "requests an agency or auditor may make at once")
	cmd.Flags().Float64Var((*float64)(&opts.Limits.Rate.IPRate), "rate-ip", 50, "requests per second per client address, for requests naming no agency or auditor and for refused ones; 0 disables")
	cmd.Flags().IntVar(&opts.Limits.Rate.IPBurst, "rate-ip-burst", 200, "requests a client address may make at once")
	cmd.Flags().DurationVar(&opts.ReadHeaderTimeout, "read-header-timeout", httpapi.DefaultReadHeaderTimeout, "time a client has to send its request headers before the connection is closed")
	cmd.Flags().StringVar(&opts.HubKey, "hub-key", envOr("RELAIS_HUB_KEY", "file"), "where the hub's signing key is kept: file (DATA/hub.jwk) or a PKCS#11 URI, pkcs11:token=LABEL?module-path=LIB&pin-source=FILE (RELAIS_HUB_KEY)")
	reload := 30 * time.Second
	if d, err := time.ParseDuration(os.Getenv("RELAIS_HUB_KEY_RELOAD")); err == nil && d > 0 {
		reload = d
	}
	cmd.Flags().DurationVar(&opts.HubKeyReload, "hub-key-reload", reload, "how often the hub reads its key store again, to take a key another hub process rotated; also on SIGHUP (RELAIS_HUB_KEY_RELOAD)")
	cmd.Flags().StringVar(&opts.HubKeyPassphraseFile, "hub-key-passphrase-file", envOr("RELAIS_HUB_KEY_PASSPHRASE_FILE", ""), "file (mode 0600) holding the passphrase of an encrypted hub.jwk; RELAIS_HUB_KEY_PASSPHRASE also works (RELAIS_HUB_KEY_PASSPHRASE_FILE)")
	return cmd
}

// startHub opens the store, loads or creates the hub's secrets, starts the
// hub and its HTTP server, and returns once it listens.
func startHub(ctx context.Context, o hubOptions) (*runningHub, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	if err := os.MkdirAll(o.Data, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	keys, err := openHubKeys(ctx, o)
	if err != nil {
		return nil, err
	}
	started := false
	defer func() {
		if !started {
			keys.close()
		}
	}()
	key := keys.set.Current
	caseKey, err := loadOrCreateSecret(filepath.Join(o.Data, "case.key"), 32)
	if err != nil {
		return nil, err
	}
	adminToken := os.Getenv("RELAIS_ADMIN_TOKEN")
	if adminToken == "" {
		tok, err := loadOrCreateSecret(filepath.Join(o.Data, "admin.token"), 32)
		if err != nil {
			return nil, err
		}
		adminToken = string(tok)
	}
	auditLog, err := newAuditLog(o, key)
	if err != nil {
		return nil, err
	}
	store, err := openStore(ctx, o, auditLog)
	if err != nil {
		return nil, err
	}
	transport, brokerReady, closeTransport, err := openTransport(o)
	if err != nil {
		store.Close()
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	corridors, err := watchPolicies(o, reg)
	if err != nil {
		closeTransport()
		store.Close()
		return nil, err
	}
	attachmentSvc, err := openAttachments(o, store)
	if err != nil {
		closeTransport()
		store.Close()
		return nil, err
	}
	h, err := hub.New(hub.Config{ID: o.HubID, Signer: key, HubKeyReload: o.HubKeyReload, Store: store, CaseKey: caseKey, Audit: auditLog, Logger: o.Logger, Metrics: hub.NewMetrics(reg), Registerer: reg, Transport: transport, Instance: o.Instance, Corridors: corridors, Attachments: attachmentSvc})
	if err != nil {
		closeTransport()
		store.Close()
		return nil, err
	}
	if err := h.UseHubKeyStore(keys.store, keys.set.Retired); err != nil {
		closeTransport()
		store.Close()
		return nil, err
	}
	if err := h.Run(ctx); err != nil {
		closeTransport()
		store.Close()
		return nil, err
	}
	if keys.moveToToken {
		if err := moveHubKeyToToken(ctx, h, o); err != nil {
			h.Close()
			closeTransport()
			store.Close()
			return nil, err
		}
	}
	stopWatcher, err := watchDeadLetters(ctx, o, h)
	if err != nil {
		h.Close()
		closeTransport()
		store.Close()
		return nil, err
	}
	policyCtx, stopPolicies := context.WithCancel(context.Background())
	go corridors.Run(policyCtx)
	ready := func() error {
		if err := store.DB().PingContext(ctx); err != nil {
			return fmt.Errorf("store: %w", err)
		}
		return brokerReady()
	}
	ops := hub.NewOpsCollector(h, hub.OpsOptions{Ready: ready})
	reg.MustRegister(ops)
	thresholds := stats.AgreementThresholds{Agreements: corridors}
	api := httpapi.New(httpapi.Config{Hub: h, AdminToken: adminToken, Gatherer: reg, Logger: o.Logger,
		Ready: ready, AgencySeen: ops.AgencySeen, Limits: o.Limits, StatsThresholds: thresholds})
	// The statistics indexer keeps each opening's purpose and age band
	// before an erasure can empty the envelope (hub/stats).
	go (&stats.Indexer{Source: store, Logger: o.Logger}).Run(policyCtx)
	handler := http.Handler(api)
	if o.Console {
		handler, err = console.MountHub(api, console.HubConfig{Hub: h, AdminToken: adminToken, Corridors: corridors, Logger: o.Logger})
	}
	var ln net.Listener
	if err == nil {
		ln, err = net.Listen("tcp", o.Listen)
	}
	if err != nil {
		stopWatcher()
		h.Close()
		stopPolicies()
		closeTransport()
		store.Close()
		return nil, fmt.Errorf("listen on %s: %w", o.Listen, err)
	}
	srv := httpapi.NewHTTPServer(handler, httpapi.ServerTimeouts{ReadHeader: o.ReadHeaderTimeout})
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			o.Logger.Error("http server", "err", err)
		}
	}()
	started = true
	return &runningHub{
		URL:        "http://" + ln.Addr().String(),
		AdminToken: adminToken,
		Hub:        h,
		close: func() {
			shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = srv.Shutdown(shutdownCtx)
			stopWatcher()
			_ = h.Close()
			stopPolicies()
			closeTransport()
			_ = store.Close()
			keys.close()
		},
	}, nil
}

// openStore opens the embedded SQLite store, or PostgreSQL when a URL is
// given. A wrong URL or an unreachable engine is a one-line error at start.
func openStore(ctx context.Context, o hubOptions, log *audit.Log) (*sqlstore.Store, error) {
	switch {
	case o.Store == "":
		return sqlstore.OpenSQLite(ctx, filepath.Join(o.Data, "relais.db"), log)
	case isPostgresURL(o.Store):
		s, err := sqlstore.OpenPostgres(ctx, o.Store, log)
		if err != nil {
			return nil, fmt.Errorf("store %s: %w", redactURL(o.Store), err)
		}
		return s, nil
	default:
		return nil, fmt.Errorf("store %q: expected an empty value (embedded SQLite) or a postgres:// URL", redactURL(o.Store))
	}
}

func isPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// newAuditLog builds the audit log signed with the hub key. Its origin names
// the hub, so checkpoints of two hubs can never be confused.
func newAuditLog(o hubOptions, key crypto.Signer) (*audit.Log, error) {
	dialect := audit.DialectSQLite
	if isPostgresURL(o.Store) {
		dialect = audit.DialectPostgres
	}
	return audit.New(audit.Config{Origin: o.HubID + "/audit", Signer: key, Dialect: dialect})
}

// watchPolicies loads the corridor agreements and watches them for changes.
// Without --policies, the shipped agreements are copied once into
// DATA/policies, where operators adapt them.
func watchPolicies(o hubOptions, reg prometheus.Registerer) (*policy.Watcher, error) {
	dir := o.Policies
	if dir == "" {
		dir = filepath.Join(o.Data, "policies")
		if err := seedPolicies(dir); err != nil {
			return nil, fmt.Errorf("policies: %w", err)
		}
	}
	w, err := policy.NewWatcher(policy.WatcherOptions{
		Logger:  o.Logger.With("component", "policy"),
		Metrics: policy.NewMetrics(reg),
	}, dir)
	if err != nil {
		return nil, fmt.Errorf("policies in %s: %w", dir, err)
	}
	return w, nil
}

// seedPolicies copies the shipped agreements into dir unless it exists.
func seedPolicies(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return fs.WalkDir(policies.Default, "corridors", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := policies.Default.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, filepath.Base(path)), b, 0o644)
	})
}

// openTransport connects to RabbitMQ when a broker URL is given; nil means
// the hub's in-process transport. brokerReady reports a degraded broker to
// /readyz while the outbox keeps accepting.
func openTransport(o hubOptions) (t *hub.Transport, brokerReady func() error, closeFn func(), err error) {
	noop := func() error { return nil }
	if o.Broker == "" {
		return nil, noop, func() {}, nil
	}
	if !strings.HasPrefix(o.Broker, "amqp://") && !strings.HasPrefix(o.Broker, "amqps://") {
		return nil, nil, nil, fmt.Errorf("broker %q: expected an amqp:// URL", redactURL(o.Broker))
	}
	cfg := brokerConfig(o)
	wmLogger := watermill.NewSlogLogger(o.Logger.With("component", "amqp"))
	pub, err := relaisamqp.NewPublisher(cfg, wmLogger)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("broker %s: %w", redactURL(o.Broker), err)
	}
	sub, err := relaisamqp.NewSubscriber(cfg, wmLogger)
	if err != nil {
		pub.Close()
		return nil, nil, nil, fmt.Errorf("broker %s: %w", redactURL(o.Broker), err)
	}
	ready := func() error {
		if c, ok := pub.(interface{ Connected() bool }); ok && !c.Connected() {
			return errors.New("broker disconnected: accepted messages wait in the outbox")
		}
		return nil
	}
	return &hub.Transport{Publisher: pub, Subscriber: sub, Consumers: relaisamqp.DefaultConsumers}, ready, func() { sub.Close(); pub.Close() }, nil
}

func brokerConfig(o hubOptions) relaisamqp.Config {
	cfg := relaisamqp.Config{URL: o.Broker, ConnectionName: "relais-hub " + o.HubID, Topics: []string{hub.DeliveriesTopic}}
	if p := o.BrokerPrefix; p != "" {
		cfg.ExchangeName, cfg.DeadLetterExchange, cfg.DeadLetterQueue, cfg.QueuePrefix = p+"deliver", p+"dlx", p+"dead-letter", p
	}
	return cfg
}

// watchDeadLetters records what the broker dead-lettered, until the
// returned stop. Without a broker there is nothing to watch: the hub
// records undeliverable deliveries itself.
func watchDeadLetters(ctx context.Context, o hubOptions, h *hub.Hub) (stop func(), err error) {
	if o.Broker == "" {
		return func() {}, nil
	}
	sub, err := relaisamqp.NewDeadLetterSubscriber(brokerConfig(o), watermill.NewSlogLogger(o.Logger.With("component", "amqp-dead-letters")))
	if err != nil {
		return nil, fmt.Errorf("broker %s: %w", redactURL(o.Broker), err)
	}
	w, err := h.StartDeadLetterWatcher(ctx, sub, relaisamqp.DeadLetterTopic)
	if err != nil {
		sub.Close()
		return nil, fmt.Errorf("broker %s: %w", redactURL(o.Broker), err)
	}
	return func() { w.Close(); sub.Close() }, nil
}

// redactURL hides a password in a URL before it is printed.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// loadOrCreateSecret reads a secret file, or creates it with n random bytes
// (hex) and mode 0600.
func loadOrCreateSecret(path string, n int) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if st, _ := os.Stat(path); st != nil && st.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("%s is readable by other users: chmod 600 it", path)
		}
		return []byte(strings.TrimSpace(string(b))), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	raw := make([]byte, n)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	secret := []byte(hex.EncodeToString(raw))
	if err := os.WriteFile(path, append(secret, '\n'), 0o600); err != nil {
		return nil, err
	}
	return secret, nil
}
