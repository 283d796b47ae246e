package fault

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/lestrrat-go/jwx/v3/jwk"

	relaisamqp "github.com/relais-hub/relais/adapters/amqp"
	"github.com/relais-hub/relais/adapters/httpapi"
	"github.com/relais-hub/relais/adapters/sqlstore"
	"github.com/relais-hub/relais/contracts/seal"
	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/hub/audit"
)

// inProcessHub is a hub assembled in the test process the way `relais
// serve` assembles it (PostgreSQL store, RabbitMQ transport, dead-letter
// watcher, HTTP API), so that its goroutines can be counted.
type inProcessHub struct {
	URL   string
	Hub   *hub.Hub
	close []func()
}

// startInProcessHub starts a hub on w's schema, talking to the broker at
// brokerURL (a proxy in front of it, say). Its log goes to dir/hub.log.
func startInProcessHub(t *testing.T, w *world, brokerURL string) *inProcessHub {
	t.Helper()
	ctx := context.Background()
	ih := &inProcessHub{}
	ok := false
	defer func() {
		if !ok {
			ih.Close()
		}
	}()
	logFile, err := os.Create(filepath.Join(w.dir, "in-process-hub.log"))
	if err != nil {
		t.Fatal(err)
	}
	ih.close = append(ih.close, func() { logFile.Close() })
	logger := slog.New(slog.NewJSONHandler(logFile, nil))

	key, err := seal.GenerateSigningKey(seal.NewKID("hub#sig"))
	if err != nil {
		t.Fatal(err)
	}
	var priv ed25519.PrivateKey
	if err := jwk.Export(key, &priv); err != nil {
		t.Fatal(err)
	}
	auditLog, err := audit.New(audit.Config{Origin: hubID + "/audit", Signer: priv, Dialect: audit.DialectPostgres})
	if err != nil {
		t.Fatal(err)
	}
	store, err := sqlstore.OpenPostgres(ctx, w.dsn, auditLog)
	if err != nil {
		t.Fatal(err)
	}
	ih.close = append(ih.close, func() { store.Close() })

	cfg := relaisamqp.Config{URL: brokerURL, ConnectionName: "relais-fault in-process", Topics: []string{hub.DeliveriesTopic}}
	wmLogger := watermill.NewSlogLogger(logger.With("component", "amqp"))
	pub, err := relaisamqp.NewPublisher(cfg, wmLogger)
	if err != nil {
		t.Fatal(err)
	}
	ih.close = append(ih.close, func() { pub.Close() })
	sub, err := relaisamqp.NewSubscriber(cfg, wmLogger)
	if err != nil {
		t.Fatal(err)
	}
	ih.close = append(ih.close, func() { sub.Close() })
	deadLetters, err := relaisamqp.NewDeadLetterSubscriber(cfg, wmLogger)
	if err != nil {
		t.Fatal(err)
	}
	ih.close = append(ih.close, func() { deadLetters.Close() })

	caseKey := make([]byte, 32)
	rand.Read(caseKey)
	h, err := hub.New(hub.Config{ID: hubID, Key: key, Store: store, CaseKey: caseKey, Audit: auditLog, Logger: logger,
		Transport: &hub.Transport{Publisher: pub, Subscriber: sub}, Instance: "in-process"})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Run(ctx); err != nil {
		t.Fatal(err)
	}
	ih.Hub = h
	ih.close = append(ih.close, func() { h.Close() })
	watcher, err := h.StartDeadLetterWatcher(ctx, deadLetters, relaisamqp.DeadLetterTopic)
	if err != nil {
		t.Fatal(err)
	}
	ih.close = append(ih.close, watcher.Close)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: httpapi.New(httpapi.Config{Hub: h, AdminToken: adminToken, Logger: logger}), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("http server", "err", err)
		}
	}()
	ih.close = append(ih.close, func() {
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
		<-served
	})
	ih.URL = "http://" + ln.Addr().String()
	ok = true
	return ih
}

// Close stops everything in the reverse order of its start.
func (ih *inProcessHub) Close() {
	for i := len(ih.close) - 1; i >= 0; i-- {
		ih.close[i]()
	}
	ih.close = nil
}
