package hub

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmmetrics "github.com/ThreeDotsLabs/watermill/components/metrics"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/relais-hub/relais/hub/attachments"
	"github.com/relais-hub/relais/hub/audit"
	"github.com/relais-hub/relais/hub/policy"
)

// DeliveriesTopic is the transport topic the outbox relay publishes to. It
// carries message ids only, never bodies or case data.
const DeliveriesTopic = "deliveries"

// Policy decides whether a verified, validated message may cross. The hub
// calls it inside the accepting transaction; a refusal is a
// *contracts.Problem. The default allows everything the protocol allows.
type Policy interface {
	Decide(ctx context.Context, m *Intake) error
}

// Transport moves deliveries from the outbox relay to the delivery handler:
// in-process by default, RabbitMQ for scale-out.
type Transport struct {
	Publisher  message.Publisher
	Subscriber message.Subscriber
	// Consumers is how many delivery handlers consume DeliveriesTopic at
	// once (default 1). Only a transport whose subscribers compete for one
	// queue, such as RabbitMQ's, may have more: on a fan-out transport each
	// handler would get every delivery (harmless, deliveries are idempotent,
	// but wasted).
	Consumers int
}

// embeddedDeliveryLanes is how many topics the in-process transport spreads
// deliveries over, each with its own handler: its subscribers do not
// compete, so parallel deliveries need separate topics.
const embeddedDeliveryLanes = 16

// Config is everything the hub needs, filled once at start.
type Config struct {
	// ID is the hub's identity: the audience of agency tokens.
	ID string
	// Key is the hub's private Ed25519 signing key (receipts, checkpoints);
	// Signer, when set, replaces it (a key on a PKCS#11 token).
	Key    jwk.Key
	Signer HubSigner
	// HubKeyReload is how often the hub reads its key store again to take
	// a key another hub process rotated (default 30 s; UseHubKeyStore).
	HubKeyReload time.Duration
	Store        Store
	// Transport defaults to an in-process Watermill GoChannel.
	Transport *Transport
	// CaseKey keys the HMAC that turns case references into digests.
	CaseKey []byte
	// Corridors are the watched corridor agreements: when set, every
	// message must be allowed by them (consent, purpose, categories).
	Corridors *policy.Watcher
	// Audit is the transparency log the store appends to; the hub publishes
	// its signed checkpoints.
	Audit *audit.Log
	// CheckpointInterval is how often a checkpoint is published when the
	// log grew (default 10 s).
	CheckpointInterval time.Duration
	Policy             Policy
	Logger             *slog.Logger
	Metrics            *Metrics
	// Registerer, when set, receives Watermill's router metrics.
	Registerer prometheus.Registerer
	// Instance names this process among the hubs sharing a store; it must
	// be stable across restarts of the same process (default: the host
	// name) so a restarted hub takes back its own outbox claims at once.
	Instance string
	// Lanes is the number of parallel ingress lanes (default 32). A lane
	// spends most of its time waiting for the store's group commit, so
	// there are many more lanes than cores.
	Lanes int
	// RelayInterval bounds how long a committed delivery can wait for the
	// relay when no wake-up arrives (another hub committed it).
	RelayInterval time.Duration
	Now           func() time.Time
	// Timers gives the deadlines of the case-transfer lifecycle (the
	// corridor agreements' service levels); DefaultTimers when nil.
	Timers TimerPolicy
	// TimerInterval is how often the hub looks for passed deadlines
	// (default 30 s).
	TimerInterval time.Duration
	// Attachments, when set, stores encrypted attachments: messages may
	// reference them (attachment_refs.go).
	Attachments *attachments.Service
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Instance == "" {
		c.Instance, _ = os.Hostname()
	}
	if c.Lanes <= 0 {
		c.Lanes = defaultLanes
	}
	if c.CheckpointInterval <= 0 {
		c.CheckpointInterval = 10 * time.Second
	}
	if c.RelayInterval <= 0 {
		c.RelayInterval = time.Second
	}
	if c.Now == nil {
		c.Now = func() time.Time { return time.Now().UTC() }
	}
	if c.Policy == nil {
		c.Policy = allowAll{}
	}
	if c.Metrics == nil {
		c.Metrics = NewMetrics(nil)
	}
	if c.Timers == nil {
		c.Timers = DefaultTimers{}
	}
	if c.TimerInterval <= 0 {
		c.TimerInterval = 30 * time.Second
	}
	if c.HubKeyReload <= 0 {
		c.HubKeyReload = 30 * time.Second
	}
}

func (c *Config) validate() error {
	switch {
	case c.ID == "":
		return errors.New("hub: ID is required")
	case c.Key == nil && c.Signer == nil:
		return errors.New("hub: signing key is required")
	case c.Store == nil:
		return errors.New("hub: store is required")
	case len(c.CaseKey) < 32:
		return errors.New("hub: case key of at least 32 bytes is required")
	case c.Audit == nil:
		return errors.New("hub: audit log is required")
	}
	return nil
}

type allowAll struct{}

func (allowAll) Decide(context.Context, *Intake) error { return nil }

const defaultLanes = 32

// Hub is the running hub.
type Hub struct {
	cfg       Config
	store     Store
	directory *Directory
	log       *slog.Logger
	metrics   *Metrics
	// hubKeys is the hub's signing key and the ones it retired (hubkey.go).
	hubKeys *hubKeys

	router    *message.Router
	ingress   *gochannel.GoChannel
	transport Transport
	// deliveryTopics are the topics the relay spreads deliveries over.
	deliveryTopics []string

	relayWake chan struct{}
	// instance names this process among the hubs sharing a store.
	instance string
	inboxes  *notifier

	// erasedPending is raised when a transfer was erased, for the timer
	// loop to have the store reclaim the erased bytes (see reclaimErased).
	erasedPending atomic.Bool
	reclaimAgain  bool

	wg     sync.WaitGroup
	cancel context.CancelFunc
}

// New builds a hub; Run starts it.
func New(cfg Config) (*Hub, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	signer := cfg.Signer
	if signer == nil {
		s, err := NewHubSigner(cfg.Key)
		if err != nil {
			return nil, err
		}
		signer = s
	}
	keys, err := newHubKeys(signer)
	if err != nil {
		return nil, err
	}
	wmLogger := watermill.NewSlogLogger(cfg.Logger.With("component", "watermill"))
	h := &Hub{
		cfg:       cfg,
		store:     cfg.Store,
		directory: NewDirectory(cfg.Store),
		log:       cfg.Logger,
		metrics:   cfg.Metrics,
		hubKeys:   keys,
		relayWake: make(chan struct{}, 1),
		instance:  cfg.Instance,
		inboxes:   newNotifier(),
		// The ingress is synchronous: Publish returns once the pipeline has
		// committed or refused the message, and the outcome travels back in
		// the message's context.
		ingress: gochannel.NewGoChannel(gochannel.Config{
			BlockPublishUntilSubscriberAck: true,
			PreserveContext:                true,
		}, wmLogger),
	}
	if cfg.Transport != nil {
		h.transport = *cfg.Transport
		h.transport.Consumers = max(h.transport.Consumers, 1)
		h.deliveryTopics = []string{DeliveriesTopic}
	} else {
		ch := gochannel.NewGoChannel(gochannel.Config{
			OutputChannelBuffer:            64,
			BlockPublishUntilSubscriberAck: true,
		}, wmLogger)
		h.transport = Transport{Publisher: ch, Subscriber: ch, Consumers: 1}
		for lane := range embeddedDeliveryLanes {
			h.deliveryTopics = append(h.deliveryTopics, DeliveriesTopic+"."+strconv.Itoa(lane))
		}
	}
	if cfg.Corridors != nil {
		h.cfg.Policy = &CorridorPolicy{agreements: cfg.Corridors, directory: h.directory, store: cfg.Store, now: h.now}
		if _, unset := cfg.Timers.(DefaultTimers); unset {
			h.cfg.Timers = CorridorTimers{Agreements: cfg.Corridors}
		}
	}
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 30 * time.Second}, wmLogger)
	if err != nil {
		return nil, err
	}
	if cfg.Registerer != nil {
		wmmetrics.NewPrometheusMetricsBuilder(cfg.Registerer, "relais", "watermill").AddPrometheusRouterMetrics(router)
	}
	h.router = router
	h.wireAttachments()
	h.addIngress(router)
	h.addDelivery(router)
	return h, nil
}

// Directory exposes the agency directory.
func (h *Hub) Directory() *Directory { return h.directory }

// ID is the hub id.
func (h *Hub) ID() string { return h.cfg.ID }

// PublicKey is the hub's public signing key.
func (h *Hub) PublicKey() jwk.Key { return h.hubKeys.publicKey() }

// Store exposes the store for read models.
func (h *Hub) Store() Store { return h.store }

// Run starts the router and the outbox relay and returns once both are
// running. Close stops them.
func (h *Hub) Run(ctx context.Context) error {
	if err := h.directory.Reload(ctx); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	h.cancel = cancel
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		if err := h.router.Run(ctx); err != nil {
			h.log.Error("router stopped", "err", err)
		}
	}()
	select {
	case <-h.router.Running():
	case <-ctx.Done():
		return ctx.Err()
	}
	h.wg.Add(2)
	go func() {
		defer h.wg.Done()
		h.relay(ctx)
	}()
	go func() {
		defer h.wg.Done()
		p := audit.Publisher{Log: h.cfg.Audit, DB: h.store.AuditDB(), Interval: h.cfg.CheckpointInterval,
			OnError: func(err error) { h.log.Error("audit checkpoint", "err", err) }}
		_ = p.Run(ctx)
	}()
	// Deadlines of the case-transfer lifecycle (timers.go).
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		h.runTimers(ctx)
	}()
	h.runAttachments(ctx)
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		h.reloadHubKeys(ctx, h.cfg.HubKeyReload)
	}()
	return nil
}

// Close stops accepting, lets in-flight work finish, and stops the relay.
func (h *Hub) Close() error {
	if h.cancel != nil {
		h.cancel()
	}
	err := h.router.Close()
	h.wg.Wait()
	_ = h.ingress.Close()
	return err
}

// CaseDigest keys a sender's case reference so the trail and audit log can
// link a case's messages without holding the reference itself.
func (h *Hub) CaseDigest(agency, caseRef string) string {
	return audit.CaseDigest(h.cfg.CaseKey, agency, caseRef)
}

// Audit is the hub's transparency log.
func (h *Hub) Audit() *audit.Log { return h.cfg.Audit }

func (h *Hub) now() time.Time { return h.cfg.Now().UTC() }
