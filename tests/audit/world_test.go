package audit_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/adapters/httpapi"
	"github.com/relais-hub/relais/adapters/sqlstore"
	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/hub/audit"
)

const (
	testHubID  = "relais-audit-test-hub"
	adminToken = "audit-test-admin-token-0123456789abcdef"
	auditorID  = "auditor:cdp-bf"
)

// The three services of the tests: Côte d'Ivoire finds the child, Mali is
// her country of origin, Burkina Faso the country she is then referred on
// to.
const (
	ciID = "ci.dpe-abidjan"
	mlID = "ml.dnpef"
	bfID = "bf.dpe-bobo"
)

// world is a running hub with three registered agencies and a registered
// auditor whose keys were made by `relais auditor init`.
type world struct {
	dir      string
	hub      *hub.Hub
	store    *sqlstore.Store
	log      *audit.Log
	priv     ed25519.PrivateKey // the hub's signing key, for the tamper suite
	srv      *httptest.Server
	agencies map[string]*agency.Client
	// auditorKeys is the auditor's key directory.
	auditorKeys string
	closeOnce   sync.Once
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	w := &world{dir: t.TempDir(), agencies: map[string]*agency.Client{}}
	key, err := seal.GenerateSigningKey(seal.NewKID("hub#sig"))
	if err != nil {
		t.Fatal(err)
	}
	if err := jwk.Export(key, &w.priv); err != nil {
		t.Fatal(err)
	}
	w.log, err = audit.New(audit.Config{Origin: testHubID + "/audit", Signer: w.priv, Dialect: audit.DialectSQLite})
	if err != nil {
		t.Fatal(err)
	}
	w.store, err = sqlstore.OpenSQLite(ctx, filepath.Join(w.dir, "hub", "relais.db"), w.log)
	if err != nil {
		t.Fatal(err)
	}
	caseKey := make([]byte, 32)
	_, _ = rand.Read(caseKey)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	// Checkpoints are published on demand only, so that the tests decide
	// which checkpoints exist.
	w.hub, err = hub.New(hub.Config{ID: testHubID, Key: key, Store: w.store, CaseKey: caseKey, Audit: w.log,
		Logger: logger, CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.hub.Run(ctx); err != nil {
		t.Fatal(err)
	}
	w.srv = httptest.NewServer(httpapi.New(httpapi.Config{Hub: w.hub, AdminToken: adminToken, Gatherer: prometheus.NewRegistry(), Logger: logger}))
	t.Cleanup(w.close)
	for _, id := range []string{ciID, mlID, bfID} {
		w.registerAgency(t, id)
	}
	w.auditorKeys = filepath.Join(w.dir, "auditor")
	mustRelais(t, "auditor", "init", "--id", auditorID, "--out", w.auditorKeys)
	out := mustRelais(t, "auditor", "register", "--hub", w.srv.URL, "--keys", w.auditorKeys,
		"--name", "Commission de l'informatique et des libertés du Burkina Faso", "--admin-token", adminToken)
	if !bytes.Contains([]byte(out), []byte(auditorID)) {
		t.Fatalf("auditor register printed %q", out)
	}
	return w
}

// close stops the HTTP server, the hub and the store: afterwards no hub
// runs anywhere.
func (w *world) close() {
	w.closeOnce.Do(func() {
		w.srv.Close()
		_ = w.hub.Close()
		_ = w.store.Close()
	})
}

func (w *world) registerAgency(t *testing.T, id string) {
	t.Helper()
	keys, err := agency.Init(id, filepath.Join(w.dir, "agencies", id))
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := keys.PublicJWKS()
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"id": id, "country": contracts.AgencyCountry(id), "name": id, "jwks": json.RawMessage(jwks)})
	req, _ := http.NewRequest(http.MethodPost, w.srv.URL+"/v1/agencies", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("register %s: %d", id, resp.StatusCode)
	}
	w.agencies[id] = agency.New(w.srv.URL, keys)
}

// as appends the flags that make a relais command speak as the auditor.
func (w *world) as(args ...string) []string {
	return append(args, "--hub", w.srv.URL, "--keys", w.auditorKeys)
}

// referralDraft is a referral about a child whose name must never reach
// the audit log.
func referralDraft(to, caseRef string) agency.Draft {
	body, _ := json.Marshal(contracts.ReferralRequest{
		Child:     contracts.Child{GivenNames: "Awa", FamilyName: "Ouédraogo", Sex: "f", BirthDate: "2010-04-12"},
		Narrative: "Awa a été retrouvée seule à la gare routière.",
		Urgency:   "high",
	})
	now := time.Now().UTC().Truncate(time.Second)
	return agency.Draft{
		Kind: "referral.request", To: to, Case: caseRef, Purpose: "protection_referral",
		DataCategories: []string{"identity", "narrative"},
		Consent: &contracts.Consent{Ref: "CONS-" + caseRef, Basis: "consent", GivenBy: "parent", ChildAssent: true, AgeBand: "15-17",
			Recipients: []string{contracts.AgencyCountry(to)}, Purposes: []string{"protection_referral"},
			DataCategories: []string{"identity", "narrative"}, ObtainedAt: now.Add(-time.Hour)},
		Body: body,
	}
}

// personalStrings are in the referral bodies and case references; none of
// them may appear in anything the auditor gets.
var personalStrings = []string{"Awa", "Ouédraogo", "gare routière"}

// exchange runs a complete referral from → to and returns the transfer id:
// referral, delivery, the recipient's receipt and acceptance, the sender's
// receipt of the acceptance, every message delivered.
func (w *world) exchange(t *testing.T, from, to, caseRef string) string {
	t.Helper()
	ctx := context.Background()
	src, dst := w.agencies[from], w.agencies[to]
	env, _, err := src.Send(ctx, referralDraft(to, caseRef))
	if err != nil {
		t.Fatalf("%s refers to %s: %v", from, to, err)
	}
	opened := receive(t, dst, env.ID)
	if _, err := dst.Receipt(ctx, opened); err != nil {
		t.Fatalf("receipt: %v", err)
	}
	accepted, err := dst.Answer(ctx, opened.Envelope, true, "")
	if err != nil {
		t.Fatalf("accept: %v", err)
	}
	answer := receive(t, src, accepted.ID)
	if _, err := src.Receipt(ctx, answer); err != nil {
		t.Fatalf("receipt of the acceptance: %v", err)
	}
	// Four messages: the referral, two receipts and the acceptance.
	eventually(t, "every message of "+env.Transfer+" delivered", func() bool {
		events, err := w.store.Trail(ctx, env.Transfer)
		if err != nil {
			return false
		}
		delivered := 0
		for _, e := range events {
			if e.Type == hub.EventDelivered {
				delivered++
			}
		}
		return delivered == 4
	})
	return env.Transfer
}

// receive waits for message id in c's inbox and opens it.
func receive(t *testing.T, c *agency.Client, id string) agency.Opened {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		items, _, err := c.Inbox(ctx, "", 2*time.Second)
		if err != nil {
			t.Fatalf("inbox of %s: %v", c.Keys.ID, err)
		}
		if i := slices.IndexFunc(items, func(it agency.InboxItem) bool { return it.ID == id }); i >= 0 {
			o, err := c.Open(ctx, []byte(items[i].JWS))
			if err != nil {
				t.Fatalf("open %s: %v", id, err)
			}
			return o
		}
	}
	t.Fatalf("message %s never reached %s", id, c.Keys.ID)
	return agency.Opened{}
}
