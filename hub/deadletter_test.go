package hub_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
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

// deadLetterHub is a hub on SQLite with a transport of the test's choosing
// and its metrics on a registry of its own.
type deadLetterHub struct {
	*hub.Hub
	store *sqlstore.Store
	reg   *prometheus.Registry
}

func startDeadLetterHub(t *testing.T, transport *hub.Transport, parties ...party) deadLetterHub {
	t.Helper()
	ctx := context.Background()
	key, _ := seal.GenerateSigningKey("hub#sig")
	var priv ed25519.PrivateKey
	if err := jwk.Export(key, &priv); err != nil {
		t.Fatal(err)
	}
	log, err := audit.New(audit.Config{Origin: "test-hub/audit", Signer: priv, Dialect: audit.DialectSQLite})
	if err != nil {
		t.Fatal(err)
	}
	store, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "relais.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	caseKey := make([]byte, 32)
	rand.Read(caseKey)
	reg := prometheus.NewRegistry()
	h, err := hub.New(hub.Config{ID: "test-hub", Key: key, Store: store, CaseKey: caseKey, Audit: log,
		Transport: transport, Metrics: hub.NewMetrics(reg), RelayInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Run(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.Close()
		store.Close()
	})
	for _, p := range parties {
		if _, err := h.RegisterAgency(ctx, hub.Registration{ID: p.ID, Country: contracts.AgencyCountry(p.ID), Name: p.ID, JWKS: p.jwks(t)}, "admin"); err != nil {
			t.Fatal(err)
		}
	}
	return deadLetterHub{Hub: h, store: store, reg: reg}
}

// counter reads a counter of the hub's registry (0 when never incremented).
func (d deadLetterHub) counter(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := d.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue metrics
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func (d deadLetterHub) deadLetters(t *testing.T) []hub.DeadLetter {
	t.Helper()
	page, err := d.DeadLetters(context.Background(), 0, hub.MaxDeadLetterPage)
	if err != nil {
		t.Fatal(err)
	}
	return page.Items
}

// syncChannel is an in-process transport whose Publish returns once the
// handler acked or nacked the message.
func syncChannel() *gochannel.GoChannel {
	return gochannel.NewGoChannel(gochannel.Config{BlockPublishUntilSubscriberAck: true}, watermill.NopLogger{})
}

func TestAnUndeliverableDeliveryOnTheInProcessTransportIsRecordedOnceAsADeadLetter(t *testing.T) {
	ch := syncChannel()
	h := startDeadLetterHub(t, &hub.Transport{Publisher: ch, Subscriber: ch})
	unknown := contracts.NewMessageID()

	// Publish returns once the handler acked: a nack would have the
	// in-process channel redeliver it forever.
	if err := ch.Publish(hub.DeliveriesTopic, message.NewMessage(watermill.NewUUID(), []byte(unknown))); err != nil {
		t.Fatal(err)
	}
	letters := h.deadLetters(t)
	if len(letters) != 1 {
		t.Fatalf("%d dead letters, want 1: %+v", len(letters), letters)
	}
	dl := letters[0]
	if dl.MessageID != unknown || dl.Reason != hub.ReasonUnknownMessage || dl.State != hub.DeadLetterUnknown {
		t.Errorf("dead letter %+v, want %s, reason and state %s", dl, unknown, hub.ReasonUnknownMessage)
	}
	if got := h.counter(t, "relais_dead_letters_total", map[string]string{"reason": hub.ReasonUnknownMessage}); got != 1 {
		t.Errorf("relais_dead_letters_total{reason=unknown_message} = %v, want 1", got)
	}
}

func TestADeliveryThatCarriesNoMessageIDIsRecordedByDigestNeverByContent(t *testing.T) {
	ch := syncChannel()
	h := startDeadLetterHub(t, &hub.Transport{Publisher: ch, Subscriber: ch})
	const content = "Awa Traoré, née le 3 mars 2014 à Sikasso"

	if err := ch.Publish(hub.DeliveriesTopic, message.NewMessage(watermill.NewUUID(), []byte(content))); err != nil {
		t.Fatal(err)
	}
	letters := h.deadLetters(t)
	if len(letters) != 1 || letters[0].MessageID != "" || letters[0].State != hub.DeadLetterUnknown {
		t.Fatalf("dead letters %+v, want one without message id", letters)
	}
	entries, err := h.store.AuditEvents(context.Background(), hub.AuditQuery{Agency: audit.ActorHub, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(string(e.Leaf), "Awa") || strings.Contains(string(e.Leaf), "Sikasso") {
			t.Errorf("audit leaf %d holds the delivery's content: %s", e.Index, e.Leaf)
		}
	}
}

// brokerSubscriber stands for a transport whose broker dead-letters: it
// hands the handler the messages the test sends and says DeadLetters.
type brokerSubscriber struct {
	msgs chan *message.Message
	once sync.Once
}

func (s *brokerSubscriber) Subscribe(_ context.Context, topic string) (<-chan *message.Message, error) {
	if topic != hub.DeliveriesTopic {
		return make(chan *message.Message), nil
	}
	return s.msgs, nil
}

func (s *brokerSubscriber) Close() error {
	s.once.Do(func() { close(s.msgs) })
	return nil
}

func (s *brokerSubscriber) DeadLetters() bool { return true }

func TestOnADeadLetteringBrokerAnUndeliverableDeliveryIsNackedAtOnceAndNotRecordedByTheHandler(t *testing.T) {
	sub := &brokerSubscriber{msgs: make(chan *message.Message)}
	h := startDeadLetterHub(t, &hub.Transport{Publisher: syncChannel(), Subscriber: sub})

	msg := message.NewMessage(watermill.NewUUID(), []byte(contracts.NewMessageID()))
	sub.msgs <- msg
	select {
	case <-msg.Nacked():
	case <-msg.Acked():
		t.Fatal("acked: the broker would drop it instead of dead-lettering it")
	case <-time.After(20 * time.Second):
		t.Fatal("neither acked nor nacked")
	}
	// One handler run: the retry middleware does not retry what cannot
	// succeed, so the broker's delivery limit is reached quickly.
	if got := h.counter(t, "relais_deliveries_poison_total", nil); got != 1 {
		t.Errorf("handler ran %v times for one delivery, want 1", got)
	}
	if letters := h.deadLetters(t); len(letters) != 0 {
		t.Errorf("the handler recorded %+v; the watcher records what the broker dead-letters", letters)
	}
}

// droppingPublisher acks publishes without passing them on while drop is
// set: what the hub handed to a broker that then dead-lettered it.
type droppingPublisher struct {
	message.Publisher
	drop atomic.Bool
}

func (p *droppingPublisher) Publish(topic string, msgs ...*message.Message) error {
	if p.drop.Load() {
		return nil
	}
	return p.Publisher.Publish(topic, msgs...)
}

func TestTheWatcherRecordsABrokersDeadLetterAndAReplayDeliversItOnce(t *testing.T) {
	ci, ml := newParty(t, "ci.dpe-abidjan"), newParty(t, "ml.dnpef")
	ch := syncChannel()
	pub := &droppingPublisher{Publisher: ch}
	pub.drop.Store(true)
	h := startDeadLetterHub(t, &hub.Transport{Publisher: pub, Subscriber: ch}, ci, ml)
	ctx := context.Background()

	out := h.Submit(ctx, referral(t, ci, ml, 300))
	if out.Err != nil {
		t.Fatal(out.Err)
	}
	eventually(t, "the relay handing the delivery over", func() bool {
		pending, err := h.store.PendingOutbox(ctx, 10)
		return err == nil && len(pending) == 0
	})

	deadLetters := syncChannel()
	w, err := h.StartDeadLetterWatcher(ctx, deadLetters, "dead-letter")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	letter := message.NewMessage(out.ID, []byte(out.ID))
	letter.Metadata.Set(hub.MetadataFirstDeathReason, "delivery_limit")
	letter.Metadata.Set(hub.MetadataDeathQueue, "relais.deliveries")
	letter.Metadata.Set(hub.MetadataDeathCount, "1")
	if err := deadLetters.Publish("dead-letter", letter); err != nil { // returns once acked
		t.Fatal(err)
	}

	letters := h.deadLetters(t)
	if len(letters) != 1 {
		t.Fatalf("%d dead letters, want 1: %+v", len(letters), letters)
	}
	dl := letters[0]
	want := hub.DeadLetter{Index: dl.Index, At: dl.At, MessageID: out.ID, Transfer: out.ID, Kind: "referral.request",
		From: ci.ID, To: ml.ID, Reason: "delivery_limit", Queue: "relais.deliveries", Deaths: "1", State: hub.DeadLetterUndelivered}
	if dl != want {
		t.Errorf("dead letter\n got %+v\nwant %+v", dl, want)
	}
	if got := h.counter(t, "relais_dead_letters_total", map[string]string{"reason": "delivery_limit"}); got != 1 {
		t.Errorf("relais_dead_letters_total{reason=delivery_limit} = %v, want 1", got)
	}
	trail, err := h.store.Trail(ctx, out.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !hasEvent(trail, "dead_lettered", "delivery_limit") {
		t.Errorf("the transfer's trail does not show the dead letter: %+v", trail)
	}

	pub.drop.Store(false)
	if _, err := h.ReplayDeadLetter(ctx, out.ID, audit.ActorAdmin); err != nil {
		t.Fatalf("replay: %v", err)
	}
	eventually(t, "the replayed message in the inbox", func() bool {
		page, err := h.Inbox(ctx, ml.ID, 0, 0, 10)
		return err == nil && len(page.Items) == 1 && page.Items[0].ID == out.ID
	})
	if letters := h.deadLetters(t); len(letters) != 1 || letters[0].State != hub.DeadLetterDelivered {
		t.Errorf("after the replay the dead letters are %+v, want the one, delivered", letters)
	}
	trail, _ = h.store.Trail(ctx, out.ID)
	if !hasEvent(trail, "admin_action", "dead_letter_replayed") {
		t.Errorf("the replay is not in the trail: %+v", trail)
	}

	for name, tc := range map[string]struct {
		id   string
		code contracts.Code
	}{
		"a delivered message":       {out.ID, contracts.CodeNotFound},
		"a message the hub lacks":   {contracts.NewMessageID(), contracts.CodeNotFound},
		"something not an id":       {"../etc/passwd", contracts.CodeBadRequest},
		"an id with trailing bytes": {out.ID + " ", contracts.CodeBadRequest},
	} {
		if _, err := h.ReplayDeadLetter(ctx, tc.id, audit.ActorAdmin); contracts.CodeOf(err) != tc.code {
			t.Errorf("replaying %s: %v, want %s", name, err, tc.code)
		}
	}
}

func TestADeadLetterWithAReasonOutsideTheBrokersWordsIsRecordedAsOther(t *testing.T) {
	ch := syncChannel()
	h := startDeadLetterHub(t, &hub.Transport{Publisher: ch, Subscriber: ch})
	deadLetters := syncChannel()
	w, err := h.StartDeadLetterWatcher(context.Background(), deadLetters, "dead-letter")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	letter := message.NewMessage(watermill.NewUUID(), []byte(contracts.NewMessageID()))
	letter.Metadata.Set(hub.MetadataFirstDeathReason, "awa_traore")
	letter.Metadata.Set(hub.MetadataDeathQueue, "queue of Awa Traoré")
	if err := deadLetters.Publish("dead-letter", letter); err != nil {
		t.Fatal(err)
	}
	letters := h.deadLetters(t)
	if len(letters) != 1 || letters[0].Reason != "other" || letters[0].Queue != "" {
		t.Fatalf("dead letters %+v, want reason other and no queue", letters)
	}
}

func TestTheDeadLetterListPagesWithACursor(t *testing.T) {
	ch := syncChannel()
	h := startDeadLetterHub(t, &hub.Transport{Publisher: ch, Subscriber: ch})
	var ids []string
	for range 3 {
		id := contracts.NewMessageID()
		ids = append(ids, id)
		if err := ch.Publish(hub.DeliveriesTopic, message.NewMessage(watermill.NewUUID(), []byte(id))); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	var cursor uint64
	for pages := 0; ; pages++ {
		if pages > 3 {
			t.Fatal("the list does not end")
		}
		page, err := h.DeadLetters(context.Background(), cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, dl := range page.Items {
			got = append(got, dl.MessageID)
		}
		if !page.More {
			break
		}
		cursor = page.Next
	}
	if strings.Join(got, ",") != strings.Join(ids, ",") {
		t.Errorf("pages listed %v, want %v", got, ids)
	}
	if _, err := h.DeadLetters(context.Background(), 0, 0); contracts.CodeOf(err) != contracts.CodeBadRequest {
		t.Errorf("limit 0: %v, want bad_request", err)
	}
}

func hasEvent(events []hub.Event, typ, detail string) bool {
	for _, e := range events {
		if string(e.Type) == typ && e.Detail == detail {
			return true
		}
	}
	return false
}
