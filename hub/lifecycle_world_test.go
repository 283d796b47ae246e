package hub_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/relais-hub/relais/adapters/sqlstore"
	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/hub/audit"
)

// This file is the harness of the lifecycle tests: a hub (or several
// sharing one store) driven in-process, with an injectable clock, and
// helpers that seal every kind of message.

// clock is a settable clock for the hub's Config.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock(t time.Time) *clock { return &clock{now: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// gate holds the relay's publications until opened, so that a transfer
// can be observed before its opening message is delivered.
type gate struct {
	message.Publisher
	once sync.Once
	open chan struct{}
}

func (g *gate) Publish(topic string, msgs ...*message.Message) error {
	<-g.open
	return g.Publisher.Publish(topic, msgs...)
}

func (g *gate) Open() { g.once.Do(func() { close(g.open) }) }

// deployment is what several hub instances sharing one store have in
// common: the hub's identity and keys, and the database.
type deployment struct {
	key     jwk.Key
	priv    ed25519.PrivateKey
	caseKey []byte
	dbPath  string // SQLite file, unless pgDSN is set
	pgDSN   string
}

func newDeployment(tb testing.TB) *deployment {
	tb.Helper()
	key, err := seal.GenerateSigningKey("hub#sig")
	if err != nil {
		tb.Fatal(err)
	}
	var priv ed25519.PrivateKey
	if err := jwk.Export(key, &priv); err != nil {
		tb.Fatal(err)
	}
	caseKey := make([]byte, 32)
	rand.Read(caseKey)
	return &deployment{key: key, priv: priv, caseKey: caseKey, dbPath: filepath.Join(tb.TempDir(), "relais.db")}
}

// instanceOptions configure one hub instance of a deployment.
type instanceOptions struct {
	clock    *clock
	timers   hub.TimerPolicy
	interval time.Duration
	gate     *gate
	registry *prometheus.Registry
}

// world is one running hub instance and the parties driving it.
type world struct {
	dep   *deployment
	h     *hub.Hub
	store *sqlstore.Store
	log   *audit.Log
	close func()
}

// registration is a party to register, with its directorate.
type registration struct {
	party
	reportsTo string
}

func (d *deployment) start(tb testing.TB, o instanceOptions) *world {
	tb.Helper()
	ctx := context.Background()
	dialect := audit.DialectSQLite
	if d.pgDSN != "" {
		dialect = audit.DialectPostgres
	}
	log, err := audit.New(audit.Config{Origin: "test-hub/audit", Signer: d.priv, Dialect: dialect})
	if err != nil {
		tb.Fatal(err)
	}
	var store *sqlstore.Store
	if d.pgDSN != "" {
		store, err = sqlstore.OpenPostgres(ctx, d.pgDSN, log)
	} else {
		store, err = sqlstore.OpenSQLite(ctx, d.dbPath, log)
	}
	if err != nil {
		tb.Fatal(err)
	}
	cfg := hub.Config{ID: "test-hub", Key: d.key, Store: store, CaseKey: d.caseKey, Audit: log,
		Timers: o.timers, TimerInterval: o.interval, Metrics: hub.NewMetrics(nil)}
	if o.registry != nil {
		cfg.Metrics = hub.NewMetrics(o.registry)
	}
	if o.clock != nil {
		cfg.Now = o.clock.Now
	}
	if o.gate != nil {
		ch := gochannel.NewGoChannel(gochannel.Config{OutputChannelBuffer: 64, BlockPublishUntilSubscriberAck: true}, watermill.NopLogger{})
		o.gate.Publisher = ch
		cfg.Transport = &hub.Transport{Publisher: o.gate, Subscriber: ch}
	}
	h, err := hub.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	if err := h.Run(ctx); err != nil {
		tb.Fatal(err)
	}
	w := &world{dep: d, h: h, store: store, log: log}
	var once sync.Once
	w.close = func() {
		once.Do(func() {
			if o.gate != nil {
				o.gate.Open()
			}
			h.Close()
			store.Close()
		})
	}
	tb.Cleanup(w.close)
	return w
}

// newWorld starts a hub on a fresh SQLite store and registers parties.
func newWorld(tb testing.TB, o instanceOptions, regs ...registration) *world {
	tb.Helper()
	w := newDeployment(tb).start(tb, o)
	w.register(tb, regs...)
	return w
}

func (w *world) register(tb testing.TB, regs ...registration) {
	tb.Helper()
	for _, r := range regs {
		_, err := w.h.RegisterAgency(context.Background(), hub.Registration{ID: r.ID, Country: contracts.AgencyCountry(r.ID),
			Name: r.ID, JWKS: r.jwks(tb), ReportsTo: r.reportsTo}, "admin")
		if err != nil {
			tb.Fatal(err)
		}
	}
}

func regs(parties ...party) []registration {
	out := make([]registration, len(parties))
	for i, p := range parties {
		out[i] = registration{party: p}
	}
	return out
}

// msg is a message to seal: a kind between two parties in a transfer.
type msg struct {
	kind      string
	from, to  party
	transfer  string // "" for the kinds that open one
	inReplyTo string
	seq       uint64
	// body is the plaintext body; nil takes the kind's sample.
	body []byte
}

// purposes of the sealed kinds, as a case worker would declare them.
var purposeOf = map[string]string{
	"referral.request": "protection_referral", "transfer.forwarded": "protection_referral",
	"info.request": "family_tracing", "info.reply": "family_tracing", "family.assessment": "social_enquiry",
	"return.plan": "return_reintegration", "reintegration.plan": "return_reintegration",
	"followup.report": "follow_up", "alert.child_missing": "protection_referral",
}

// sampleBody is a valid body of each kind.
func sampleBody(kind string) []byte {
	switch kind {
	case "referral.request":
		return []byte(`{"child":{"given_names":"Awa","sex":"f","estimated_age":13},"urgency":"high","narrative":"Identifiée à la gare routière."}`)
	case "transfer.forwarded":
		return []byte(`{"referral":{"child":{"given_names":"Awa","sex":"f","estimated_age":13},"urgency":"high"},"background":"Mère retrouvée au Burkina Faso."}`)
	case "referral.accepted":
		return []byte(`{}`)
	case "referral.declined":
		return []byte(`{"reason":"capacity"}`)
	case "consent.withdrawn":
		return []byte(`{"consent_ref":"C-1","withdrawn_at":"2026-01-02T10:00:00Z"}`)
	case "policy.violation":
		return []byte(`{"violated_message":"01JDQ7Z8K9M2N3P4Q5R6S7T8V9","code":"body_invalid"}`)
	case "info.request":
		return []byte(`{"categories":["documents"],"questions":"Avez-vous l'acte de naissance ?"}`)
	case "info.reply":
		return []byte(`{"answer":"Oui, joint.","documents":[{"type":"birth_certificate","issuing_country":"ml"}]}`)
	case "family.assessment":
		return []byte(`{"outcome":"found_suitable","assessed_on":"2026-01-20","findings":"La mère peut accueillir l'enfant."}`)
	case "bid.decision":
		return []byte(`{"decision":"return","decided_on":"2026-01-25"}`)
	case "return.plan":
		return []byte(`{"travel_on":"2026-02-10","reception":"Accueil par la direction, puis remise à la mère."}`)
	case "handover.confirmation":
		return []byte(`{"handed_over_at":"2026-02-11T10:30:00Z"}`)
	case "reintegration.plan":
		return []byte(`{"living_with":"mother","services":["education"],"objectives":"Rescolarisation."}`)
	case "followup.report":
		return []byte(`{"visited_on":"2026-03-11","situation":"stable","observations":"Va à l'école."}`)
	case "case.closed":
		return []byte(`{"reason":"reintegrated"}`)
	case "transfer.revoked":
		return []byte(`{"reason":"sent_in_error"}`)
	case "alert.child_missing":
		return []byte(`{"missing_since":"2026-01-03T18:00:00Z","circumstances":"Pas rentrée au centre."}`)
	case "case.erasure_requested":
		return []byte(`{"reason":"retention_period_ended"}`)
	case "case.erased":
		return []byte(`{"erased_at":"2026-06-01T08:00:00Z"}`)
	}
	panic("no sample body for " + kind)
}

// seal builds and signs m.
func sealMsg(tb testing.TB, m msg) (contracts.Envelope, []byte) {
	tb.Helper()
	spec, ok := contracts.Kind(m.kind)
	if !ok {
		tb.Fatalf("unknown kind %s", m.kind)
	}
	body := m.body
	if body == nil && m.kind == "receipt" {
		tb.Fatal("receipts are built by (*world).receipt")
	}
	if body == nil {
		body = sampleBody(m.kind)
	}
	now := time.Now().UTC().Truncate(time.Second)
	env := contracts.Envelope{V: 1, ID: contracts.NewMessageID(), Kind: m.kind, From: m.from.ID, To: m.to.ID,
		Case: "CASE-" + strings.ToUpper(contracts.AgencyCountry(m.from.ID)), Transfer: m.transfer,
		InReplyTo: m.inReplyTo, Seq: m.seq, SentAt: now}
	if spec.OpensTransfer {
		env.Transfer = env.ID
	}
	if spec.PersonalData {
		jwe, err := seal.Encrypt(body, m.to.Enc)
		if err != nil {
			tb.Fatal(err)
		}
		cats, err := contracts.BodyCategories(m.kind, body)
		if err != nil || len(cats) == 0 {
			tb.Fatalf("sample body of %s: categories %v, %v", m.kind, cats, err)
		}
		env.Body = contracts.NewSealedBody(jwe)
		env.Purpose, env.DataCategories = purposeOf[m.kind], cats
		env.Consent = &contracts.Consent{Ref: "C-1", Basis: "consent", GivenBy: "child", ChildAssent: true, AgeBand: "15-17",
			Recipients: []string{contracts.AgencyCountry(m.to.ID)}, Purposes: contracts.Purposes.Codes(),
			DataCategories: contracts.DataCategories.Codes(), ObtainedAt: now.Add(-time.Hour)}
	} else {
		env.Body = body
	}
	payload, err := env.Encode()
	if err != nil {
		tb.Fatalf("%s envelope: %v", m.kind, err)
	}
	jws, err := seal.Sign(payload, m.from.Sig, seal.EnvelopeTyp)
	if err != nil {
		tb.Fatal(err)
	}
	return env, jws
}

// send submits m and requires the hub to accept it; it returns its id.
func (w *world) send(tb testing.TB, m msg) string {
	tb.Helper()
	env, jws := sealMsg(tb, m)
	if out := w.h.Submit(context.Background(), jws); out.Err != nil {
		tb.Fatalf("%s %s → %s refused: %v", m.kind, m.from.ID, m.to.ID, out.Err)
	}
	return env.ID
}

// refuse submits m and requires the hub to refuse it; it returns the
// refusal.
func (w *world) refuse(tb testing.TB, m msg) *contracts.Problem {
	tb.Helper()
	_, jws := sealMsg(tb, m)
	out := w.h.Submit(context.Background(), jws)
	if out.Err == nil {
		tb.Fatalf("%s %s → %s was accepted", m.kind, m.from.ID, m.to.ID)
	}
	return contracts.AsProblem(out.Err)
}

// delivered waits until message id is in its recipient's inbox.
func (w *world) delivered(tb testing.TB, id string) hub.StoredMessage {
	tb.Helper()
	var m hub.StoredMessage
	eventually(tb, "message "+id+" delivered", func() bool {
		var err error
		m, err = w.store.Message(context.Background(), id)
		return err == nil && !m.DeliveredAt.IsZero()
	})
	return m
}

// receipt has message id's recipient send its signed receipt.
func (w *world) receipt(tb testing.TB, by party, id string) string {
	tb.Helper()
	m := w.delivered(tb, id)
	body, _ := json.Marshal(contracts.DeliveryReceipt{SHA256: m.SHA256})
	return w.send(tb, msg{kind: "receipt", from: by, to: partyOf(tb, m.From), transfer: m.Transfer, inReplyTo: id, body: body})
}

// exchange sends m and has its recipient receipt it, as agencies do.
func (w *world) exchange(tb testing.TB, m msg) string {
	tb.Helper()
	id := w.send(tb, m)
	w.receipt(tb, m.to, id)
	return id
}

func (w *world) transfer(tb testing.TB, id string) hub.Transfer {
	tb.Helper()
	t, err := w.store.Transfer(context.Background(), id)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

func (w *world) requireState(tb testing.TB, id string, want hub.State, holder party) {
	tb.Helper()
	if t := w.transfer(tb, id); t.State != want || t.Holder != holder.ID {
		tb.Fatalf("transfer %s: state %s held by %s, want %s held by %s", id, t.State, t.Holder, want, holder.ID)
	}
}

func (w *world) trail(tb testing.TB, id string) []hub.Event {
	tb.Helper()
	events, err := w.store.Trail(context.Background(), id)
	if err != nil {
		tb.Fatal(err)
	}
	return events
}

// parties are registered by id for partyOf.
var (
	partiesMu sync.Mutex
	partiesBy = map[string]party{}
)

func lifecycleParty(tb testing.TB, id string) party {
	p := newParty(tb, id)
	partiesMu.Lock()
	defer partiesMu.Unlock()
	partiesBy[id] = p
	return p
}

func partyOf(tb testing.TB, id string) party {
	partiesMu.Lock()
	defer partiesMu.Unlock()
	p, ok := partiesBy[id]
	if !ok {
		tb.Fatalf("party %s was not made with lifecycleParty", id)
	}
	return p
}

// eventually polls cond every few milliseconds for up to ten seconds.
func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// statesOf reads the states a transfer went through from its trail alone:
// the trail must tell the whole story.
func statesOf(events []hub.Event, transfer string) []hub.State {
	var out []hub.State
	add := func(s hub.State) {
		if len(out) == 0 || out[len(out)-1] != s {
			out = append(out, s)
		}
	}
	for _, e := range events {
		switch {
		case e.Type == hub.EventAccepted && e.MessageID == transfer:
			add(hub.StateRequested)
		case e.Type == hub.EventDelivered && e.MessageID == transfer:
			add(hub.StateDelivered)
		case e.Type == hub.EventTransferAccepted:
			add(hub.StateAccepted)
		case e.Type == hub.EventTransferDeclined:
			add(hub.StateDeclined)
		case e.Type == hub.EventTransferForwarded:
			add(hub.StateForwarded)
		case e.Type == hub.EventStateChanged:
			for _, f := range strings.Fields(e.Detail) {
				if to, ok := strings.CutPrefix(f, "to="); ok {
					add(hub.State(to))
				}
			}
		}
	}
	return out
}

// holdersOf lists, in order, the holders the trail's events name.
func holdersOf(events []hub.Event) []string {
	var out []string
	for _, e := range events {
		if len(out) == 0 || out[len(out)-1] != e.Holder {
			out = append(out, e.Holder)
		}
	}
	return out
}

// postgresDeployment returns a deployment on a fresh schema of the
// database named by RELAIS_TEST_POSTGRES, or skips.
func postgresDeployment(t *testing.T) *deployment {
	t.Helper()
	base := os.Getenv("RELAIS_TEST_POSTGRES")
	if base == "" {
		t.Skip("RELAIS_TEST_POSTGRES is unset: the PostgreSQL variant does not run (tests/run.sh sets it)")
	}
	ctx := context.Background()
	var b [6]byte
	rand.Read(b[:])
	schema := "lifecycle_" + hex.EncodeToString(b[:])
	d := newDeployment(t)
	admin, err := sqlstore.OpenPostgres(ctx, base, testAuditLog(t, d))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.DB().ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatal(err)
	}
	admin.Close()
	t.Cleanup(func() {
		if a, err := sqlstore.OpenPostgres(ctx, base, testAuditLog(t, d)); err == nil {
			a.DB().ExecContext(ctx, `DROP SCHEMA `+schema+` CASCADE`)
			a.Close()
		}
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	d.pgDSN = base + sep + "search_path=" + schema
	return d
}

func testAuditLog(tb testing.TB, d *deployment) *audit.Log {
	l, err := audit.New(audit.Config{Origin: "test-hub/audit", Signer: d.priv, Dialect: audit.DialectPostgres})
	if err != nil {
		tb.Fatal(err)
	}
	return l
}
