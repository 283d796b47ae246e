package agent

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/relais-hub/relais/adapters/agency"
)

// Options tune an agent; the zero value of each field is a sensible default
// for a site on a prepaid 3G modem.
type Options struct {
	// Passphrase opens passphrase-protected keys.
	Passphrase []byte
	// WithoutKeys opens the local store only: status, inbox listing and
	// reading work; composing and syncing need the keys. (The passphrase
	// protects the keys; the database is protected by its file mode.)
	WithoutKeys bool
	// HTTPClient reaches the hub. Its Timeout should be zero: every
	// exchange has its own deadline, and long-polls wait up to InboxWait.
	HTTPClient *http.Client
	Logger     *slog.Logger
	// Backoff spaces retries after failures (Base and Cap are used).
	Backoff Backoff
	// InboxPage is how many messages one inbox read returns at most.
	InboxPage int
	// InboxWait is how long an inbox read waits for mail when there is
	// none: longer costs fewer idle bytes, shorter survives stricter NATs.
	InboxWait time.Duration
	// OutboxPoll is how often `agent run` looks for items composed by
	// another process.
	OutboxPoll time.Duration
	// DirectoryMaxAge is how old the local copy of the directory may get
	// before it is fetched again (it is also fetched when a message is
	// signed with a key it does not list).
	DirectoryMaxAge time.Duration
	// OverdueEvery is how often the overdue transfers are fetched for the
	// status.
	OverdueEvery time.Duration
	// DisableGzip sends request bodies uncompressed even to a hub that
	// takes gzip (responses are then not asked compressed either when
	// HTTPClient's transport disables it).
	DisableGzip bool
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 15 * time.Second}).DialContext,
			TLSHandshakeTimeout: 30 * time.Second,
			IdleConnTimeout:     90 * time.Second,
			MaxIdleConnsPerHost: 2,
			ForceAttemptHTTP2:   true,
		}}
	}
	if o.InboxPage <= 0 {
		o.InboxPage = 16
	}
	if o.InboxWait <= 0 {
		o.InboxWait = 50 * time.Second
	}
	if o.OutboxPoll <= 0 {
		o.OutboxPoll = time.Second
	}
	if o.DirectoryMaxAge <= 0 {
		o.DirectoryMaxAge = 6 * time.Hour
	}
	if o.OverdueEvery <= 0 {
		o.OverdueEvery = 10 * time.Minute
	}
}

// Agent is an open agent directory.
type Agent struct {
	dir     string
	cfg     Config
	keys    agency.Keys
	hasKeys bool
	db      *store
	// sealer seals and opens messages; its transport answers only the
	// directory, from the local copy (localDirectory).
	sealer *agency.Client
	// mover uploads and downloads attachments (agency.Client's resumable
	// protocol), with the directory from the local copy too.
	mover *agency.Client
	api   *hubAPI
	log   *slog.Logger
	opts  Options
	// wake tells the push loop that something was queued in this process
	// (a receipt, a composed message, an uploaded attachment's message).
	wake  chan struct{}
	pages *pageSizer
}

// ErrNoKeys is returned by operations that need the agency's keys on an
// agent opened WithoutKeys.
var ErrNoKeys = errors.New("the agent was opened without its keys")

// Open opens the agent in dir: its configuration, its keys (refusing key
// files others can read) and its database (refusing one others can read).
func Open(ctx context.Context, dir string, opts Options) (*Agent, error) {
	opts.defaults()
	cfg, err := ReadConfig(dir)
	if err != nil {
		return nil, err
	}
	if cfg.Lang == "" {
		cfg.Lang = "fr"
	}
	a := &Agent{dir: dir, cfg: cfg, log: opts.Logger, opts: opts, wake: make(chan struct{}, 1), pages: newPageSizer(opts.InboxPage)}
	if !opts.WithoutKeys {
		if a.keys, err = loadKeys(cfg.KeysDir(dir), opts.Passphrase); err != nil {
			return nil, err
		}
		if a.keys.ID != cfg.Agency {
			return nil, fmt.Errorf("the keys in %s are those of %s, not %s", cfg.KeysDir(dir), a.keys.ID, cfg.Agency)
		}
		a.hasKeys = true
	}
	if a.db, err = openStore(ctx, filepath.Join(dir, databaseFile)); err != nil {
		return nil, err
	}
	if n := a.sweepLeftovers(ctx, time.Now()); n > 0 {
		a.log.InfoContext(ctx, "removed files left by an interrupted run", "files", n)
	}
	a.wireClients()
	return a, nil
}

// wireClients builds the three ways the agent reaches out: the sealer
// (offline: directory from the local copy, nothing else), the mover
// (attachments over the network, directory local) and hubAPI (messages,
// inbox, directory and transfers over the network).
func (a *Agent) wireClients() {
	local := localDirectory{load: a.localDirectory}
	network := a.opts.HTTPClient.Transport
	if network == nil {
		network = http.DefaultTransport
	}
	a.sealer = agency.New(a.cfg.Hub, a.keys)
	a.sealer.Lang = a.cfg.Lang
	a.sealer.HTTP = &http.Client{Transport: local}
	a.mover = agency.New(a.cfg.Hub, a.keys)
	a.mover.Lang = a.cfg.Lang
	a.mover.HTTP = &http.Client{Transport: directoryThenNetwork{local: local, next: network}}
	a.api = &hubAPI{base: a.cfg.Hub, http: a.opts.HTTPClient, lang: a.cfg.Lang, keys: a.keys, noGzip: a.opts.DisableGzip}
}

// Agencies lists the agencies of the last synced directory (recipients a
// case worker may choose from, offline).
func (a *Agent) Agencies(ctx context.Context) ([]agency.DirectoryEntry, error) {
	d, err := a.sealer.Directory(ctx, false)
	if err != nil {
		if errors.Is(err, ErrNoDirectory) {
			return nil, ErrNoDirectory
		}
		return nil, err
	}
	return d.Agencies, nil
}

// Close closes the database.
func (a *Agent) Close() error { return a.db.close() }

// Config is the agent's configuration.
func (a *Agent) Config() Config { return a.cfg }

// Dir is the agent's directory.
func (a *Agent) Dir() string { return a.dir }

func (a *Agent) requireKeys() error {
	if !a.hasKeys {
		return ErrNoKeys
	}
	return nil
}

// localDirectory returns the last synced copy of the hub directory.
func (a *Agent) localDirectory(ctx context.Context) ([]byte, error) {
	raw, _, err := a.db.getState(ctx, stateDirectory)
	if errors.Is(err, errNotFound) {
		return nil, ErrNoDirectory
	}
	return raw, err
}

// RefreshDirectory fetches the hub's directory and keeps it as the local
// copy used to seal and open messages.
func (a *Agent) RefreshDirectory(ctx context.Context) error {
	raw, err := a.api.fetchDirectory(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	if err := a.db.update(ctx, func(tx *sql.Tx) error {
		if err := setStateTx(ctx, tx, stateDirectory, raw, now); err != nil {
			return err
		}
		return setStateTx(ctx, tx, stateDirectoryAt, []byte(formatMillis(now)), now)
	}); err != nil {
		return err
	}
	// Drop the clients' in-memory copies.
	if _, err := a.sealer.Directory(ctx, true); err != nil {
		return err
	}
	_, err = a.mover.Directory(ctx, true)
	return err
}

// ensureDirectory fetches the directory when there is no local copy, or
// when the copy is older than DirectoryMaxAge (a failure then is only
// logged: the old copy still works).
func (a *Agent) ensureDirectory(ctx context.Context) error {
	at, err := a.db.stateTime(ctx, stateDirectoryAt)
	if err != nil {
		return err
	}
	if !at.IsZero() && time.Since(at) < a.opts.DirectoryMaxAge {
		return nil
	}
	err = a.RefreshDirectory(ctx)
	if err != nil && !at.IsZero() {
		a.log.WarnContext(ctx, "directory refresh failed; keeping the local copy", "error", errorCode(err))
		return nil
	}
	return err
}

// hubID is the hub's identity, the audience of agency tokens.
func (a *Agent) hubID(ctx context.Context) (string, error) {
	d, err := a.sealer.Directory(ctx, false)
	if err != nil {
		return "", err
	}
	return d.Hub.ID, nil
}
