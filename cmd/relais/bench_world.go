package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
	"github.com/relais-hub/relais/hub"
)

// benchSenders each sign with their own key, so each is its own ingress
// lane in the hub; all are parties of the shipped bf-ci-ml agreement.
var (
	benchSenders   = []string{"ci.dpe-abidjan", "ci.dpe-bouake", "bf.dpe-bobo", "bf.dpe-ouaga"}
	benchRecipient = "ml.dnpef"
)

// benchWorld is a hub started the way `relais serve` starts it, in names
// of its own, with the bench's agencies registered.
type benchWorld struct {
	rh        *runningHub
	senders   []*agency.Client
	recipient *agency.Client
	http      *http.Client
	// patient shares http's connections but has no timeout: the steady
	// run's submissions wait however long a saturated hub takes.
	patient *http.Client
	cleanup []func()
}

func startBenchWorld(ctx context.Context, c benchConfig) (w *benchWorld, err error) {
	w = &benchWorld{}
	defer func() {
		if err != nil {
			w.Close()
		}
	}()
	dir, err := os.MkdirTemp("", "relais-bench-")
	if err != nil {
		return nil, err
	}
	w.cleanup = append(w.cleanup, func() { os.RemoveAll(dir) })
	suffix := randomHex(4)
	o := hubOptions{Listen: "127.0.0.1:0", Data: filepath.Join(dir, "hub"), HubID: "relais-bench-hub", Instance: "bench",
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))}
	if c.Store != "" {
		storeURL, drop, err := benchSchema(ctx, c.Store, "relais_bench_"+suffix)
		if err != nil {
			return nil, err
		}
		w.cleanup = append(w.cleanup, drop)
		o.Store = storeURL
	}
	if c.Broker != "" {
		o.Broker, o.BrokerPrefix = c.Broker, "relais-bench-"+suffix+"."
		w.cleanup = append(w.cleanup, func() { deleteBrokerNames(c.Broker, o.BrokerPrefix) })
	}
	rh, err := startHub(ctx, o)
	if err != nil {
		return nil, err
	}
	w.rh = rh
	w.cleanup = append(w.cleanup, rh.Close)
	transport := &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}
	w.http = &http.Client{Timeout: 60 * time.Second, Transport: transport}
	w.patient = &http.Client{Transport: transport}
	w.cleanup = append(w.cleanup, transport.CloseIdleConnections)
	for _, id := range append(append([]string(nil), benchSenders...), benchRecipient) {
		keys, err := agency.Init(id, filepath.Join(dir, id))
		if err != nil {
			return nil, err
		}
		if err := registerAgency(ctx, io.Discard, rh.URL, rh.AdminToken, keys, "Service "+id); err != nil {
			return nil, err
		}
		client := agency.New(rh.URL, keys)
		client.HTTP = w.http
		if id == benchRecipient {
			w.recipient = client
		} else {
			w.senders = append(w.senders, client)
		}
	}
	return w, nil
}

func (w *benchWorld) Close() {
	for i := len(w.cleanup) - 1; i >= 0; i-- {
		w.cleanup[i]()
	}
	w.cleanup = nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// benchSchema creates a schema of the bench's own and returns the store URL
// that uses it and the function that drops it.
func benchSchema(ctx context.Context, storeURL, schema string) (string, func(), error) {
	db, err := sql.Open("pgx", storeURL)
	if err != nil {
		return "", nil, err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		return "", nil, fmt.Errorf("store %s: create schema: %w", redactURL(storeURL), err)
	}
	sep := "?"
	if strings.Contains(storeURL, "?") {
		sep = "&"
	}
	drop := func() {
		db, err := sql.Open("pgx", storeURL)
		if err != nil {
			return
		}
		defer db.Close()
		_, _ = db.ExecContext(context.Background(), `DROP SCHEMA `+schema+` CASCADE`)
	}
	return storeURL + sep + "search_path=" + schema, drop, nil
}

// deleteBrokerNames removes the exchanges and queues a bench hub declared.
func deleteBrokerNames(brokerURL, prefix string) {
	conn, err := amqp091.Dial(brokerURL)
	if err != nil {
		return
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return
	}
	for _, q := range []string{prefix + hub.DeliveriesTopic, prefix + "dead-letter", prefix + "raw"} {
		_, _ = ch.QueueDelete(q, false, false, false)
	}
	for _, e := range []string{prefix + "deliver", prefix + "dlx"} {
		_ = ch.ExchangeDelete(e, false, false)
	}
}

// benchMsg is a referral sealed ahead of the run, with the recipient's
// receipt for it sealed ahead too: the run measures the hub, not the
// agencies' cryptography (measureSignatureOps prints that).
type benchMsg struct {
	ID      string
	JWS     []byte
	Receipt []byte
}

// seal seals n referrals with a body of about bodyBytes, on every core.
func (w *benchWorld) seal(ctx context.Context, n, bodyBytes int) ([]benchMsg, error) {
	body, err := benchBody(bodyBytes)
	if err != nil {
		return nil, err
	}
	out := make([]benchMsg, n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				m, err := w.sealOne(ctx, w.senders[i%len(w.senders)], body, i)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
				out[i] = m
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return out, firstErr
}

func (w *benchWorld) sealOne(ctx context.Context, sender *agency.Client, body []byte, i int) (benchMsg, error) {
	caseRef := fmt.Sprintf("BENCH-%07d", i)
	env, jws, err := sender.Seal(ctx, benchDraft(caseRef, body))
	if err != nil {
		return benchMsg{}, fmt.Errorf("seal: %w", err)
	}
	receiptBody, _ := json.Marshal(contracts.DeliveryReceipt{SHA256: seal.SHA256Hex(jws)})
	_, receipt, err := w.recipient.Seal(ctx, agency.Draft{Kind: "receipt", To: env.From, Case: env.Case,
		Transfer: env.Transfer, InReplyTo: env.ID, Body: receiptBody})
	if err != nil {
		return benchMsg{}, fmt.Errorf("seal receipt: %w", err)
	}
	return benchMsg{ID: env.ID, JWS: jws, Receipt: receipt}, nil
}

var benchCategories = []string{"identity", "family", "location", "protection_concerns", "photo", "narrative"}

func benchDraft(caseRef string, body []byte) agency.Draft {
	return agency.Draft{
		Kind: "referral.request", To: benchRecipient, Case: caseRef, Purpose: "protection_referral",
		DataCategories: benchCategories,
		Consent: &contracts.Consent{
			Ref: "CONS-" + caseRef, Basis: "consent", GivenBy: "parent", ChildAssent: true, AgeBand: "12-14",
			Recipients: []string{contracts.AgencyCountry(benchRecipient)}, Purposes: []string{"protection_referral"},
			DataCategories: benchCategories, ObtainedAt: time.Now().UTC().Add(-24 * time.Hour).Truncate(time.Second),
		},
		Body: body,
	}
}

// benchBody is a referral body of about size bytes: a narrative up to 16
// KiB, then a photograph (base64) for the rest, as a referral with a
// picture of the child is.
func benchBody(size int) ([]byte, error) {
	body := contracts.ReferralRequest{
		Child:              contracts.Child{GivenNames: "Aminata", FamilyName: "Traoré", Sex: "f", BirthDate: "2012-05-04", Nationality: "ml"},
		Location:           &contracts.Location{Country: "ci", AdminArea: "CI-AB", Place: "Centre d'accueil de Treichville", Since: "2026-02-01"},
		Family:             []contracts.FamilyMember{{Relationship: "mother", GivenNames: "Fatoumata", Status: "alive"}},
		ProtectionConcerns: &contracts.ProtectionConcerns{Codes: []string{"unaccompanied"}},
		Urgency:            "normal",
	}
	base, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	rest := max(0, size-len(base)-len(`,"narrative":""`))
	narrative := min(rest, 16<<10)
	const line = "Found alone at the bus station; she wants to rejoin her mother.\n"
	body.Narrative = strings.Repeat(line, narrative/len(line)+1)[:narrative]
	if photo := rest - narrative - len(`,"photo":{"media_type":"image/jpeg","data":""}`); photo > 0 {
		raw := make([]byte, photo*3/4)
		_, _ = rand.Read(raw)
		body.Photo = &contracts.Photo{MediaType: "image/jpeg", Data: base64.StdEncoding.EncodeToString(raw)}
	}
	out, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	if _, err := contracts.ValidateBody("referral.request", out); err != nil {
		return nil, fmt.Errorf("bench body of %d bytes: %w", size, err)
	}
	return out, nil
}
