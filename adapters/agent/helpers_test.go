package agent

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/adapters/httpapi"
	"github.com/relais-hub/relais/adapters/sqlstore"
	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/hub/attachments"
	"github.com/relais-hub/relais/hub/audit"
)

const testAdminToken = "agent-test-admin-token-0123456789"

// testHub is a hub on SQLite behind its HTTP API, in process.
type testHub struct {
	URL   string
	Hub   *hub.Hub
	Store *sqlstore.Store
	// Blobs holds the attachments' ciphertext.
	Blobs *attachments.FileStore
}

func newTestHub(t *testing.T) *testHub {
	t.Helper()
	ctx := context.Background()
	key, err := seal.GenerateSigningKey(seal.NewKID("hub#sig"))
	if err != nil {
		t.Fatal(err)
	}
	var priv ed25519.PrivateKey
	if err := jwk.Export(key, &priv); err != nil {
		t.Fatal(err)
	}
	log, err := audit.New(audit.Config{Origin: "agent-test-hub/audit", Signer: priv, Dialect: audit.DialectSQLite})
	if err != nil {
		t.Fatal(err)
	}
	store, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "hub.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	caseKey := make([]byte, 32)
	_, _ = rand.Read(caseKey)
	blobs, err := attachments.NewFileStore(filepath.Join(t.TempDir(), "attachments"))
	if err != nil {
		t.Fatal(err)
	}
	files, err := attachments.New(attachments.Config{Meta: store, Blobs: blobs})
	if err != nil {
		t.Fatal(err)
	}
	h, err := hub.New(hub.Config{ID: "agent-test-hub", Key: key, Store: store, CaseKey: caseKey, Audit: log, Attachments: files})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Run(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Hub: h, AdminToken: testAdminToken}))
	t.Cleanup(srv.Close)
	return &testHub{URL: srv.URL, Hub: h, Store: store, Blobs: blobs}
}

// register registers the public keys an agent's init wrote.
func (th *testHub) register(t *testing.T, keysDir, id string) {
	t.Helper()
	jwks, err := os.ReadFile(filepath.Join(keysDir, publicJWKSFile))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"id": id, "country": contracts.AgencyCountry(id), "name": id, "jwks": json.RawMessage(jwks)})
	req, _ := http.NewRequest(http.MethodPost, th.URL+"/v1/agencies", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		raw, _ := io.ReadAll(resp.Body)
		t.Fatalf("register %s: %d %s", id, resp.StatusCode, raw)
	}
}

// acceptedEvents counts the accepted events of message id in its
// transfer's trail.
func (th *testHub) acceptedEvents(t *testing.T, transfer, id string) int {
	t.Helper()
	events, err := th.Store.Trail(context.Background(), transfer)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range events {
		if e.MessageID == id && e.Type == hub.EventAccepted {
			n++
		}
	}
	return n
}

// faults is a transport the test switches between behaviours.
type faults struct {
	mu   sync.Mutex
	mode func(*http.Request) (*http.Response, error)
	// requests records method, path and Content-Encoding of each request.
	requests []string
}

func (f *faults) set(mode func(*http.Request) (*http.Response, error)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mode = mode
}

func (f *faults) RoundTrip(r *http.Request) (*http.Response, error) {
	f.mu.Lock()
	mode := f.mode
	f.requests = append(f.requests, r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Encoding"))
	f.mu.Unlock()
	if mode != nil {
		return mode(r)
	}
	return http.DefaultTransport.RoundTrip(r)
}

func (f *faults) posts() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, r := range f.requests {
		if strings.HasPrefix(r, "POST /v1/messages") {
			out = append(out, r)
		}
	}
	return out
}

var errNoRoute = errors.New("dial tcp: connect: network is unreachable")

// down fails every request as an unreachable network would.
func down(*http.Request) (*http.Response, error) { return nil, errNoRoute }

// downFor fails the requests that match, and lets the others through.
func downFor(match func(*http.Request) bool) func(*http.Request) (*http.Response, error) {
	return func(r *http.Request) (*http.Response, error) {
		if match(r) {
			return nil, errNoRoute
		}
		return http.DefaultTransport.RoundTrip(r)
	}
}

func isSubmission(r *http.Request) bool {
	return r.Method == http.MethodPost && r.URL.Path == "/v1/messages"
}

// loseAnswers lets submissions reach the hub, then drops the answer, as a
// connection reset after the hub committed would.
func loseAnswers(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil || !isSubmission(r) {
		return resp, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return nil, errors.New("read tcp: connection reset by peer")
}

// portal answers every request with a captive portal's HTML page.
func portal(status int) func(*http.Request) (*http.Response, error) {
	return func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: status, Status: http.StatusText(status), Header: http.Header{"Content-Type": {"text/html"}},
			Body: io.NopCloser(strings.NewReader("<html><body>Rechargez votre forfait / Top up your bundle</body></html>")), Request: r}, nil
	}
}

// testAgent is an agent directory registered at a test hub.
type testAgent struct {
	*Agent
	ID     string
	Dir    string
	Faults *faults
}

func newTestAgent(t *testing.T, th *testHub, id string) *testAgent {
	t.Helper()
	dir := filepath.Join(t.TempDir(), id)
	cfg, err := Init(context.Background(), dir, InitOptions{Agency: id, Hub: th.URL})
	if err != nil {
		t.Fatal(err)
	}
	th.register(t, cfg.KeysDir(dir), id)
	return openTestAgent(t, dir, id)
}

func openTestAgent(t *testing.T, dir, id string) *testAgent {
	t.Helper()
	return openTestAgentWith(t, dir, id, Options{})
}

// openTestAgentWith opens an agent whose transport the test controls and
// whose backoff is short.
func openTestAgentWith(t *testing.T, dir, id string, opts Options) *testAgent {
	t.Helper()
	f := &faults{}
	opts.HTTPClient = &http.Client{Transport: f}
	opts.Backoff = Backoff{Base: time.Millisecond, Cap: 10 * time.Millisecond}
	a, err := Open(context.Background(), dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return &testAgent{Agent: a, ID: id, Dir: dir, Faults: f}
}

// referral is a typical referral draft for recipient to.
func referral(to, caseRef string) agency.Draft {
	cats := []string{"identity", "location", "protection_concerns"}
	return agency.Draft{
		Kind: "referral.request", To: to, Case: caseRef, Purpose: "protection_referral", DataCategories: cats,
		Consent: &contracts.Consent{Ref: "CONS-" + caseRef, Basis: "consent", GivenBy: "child", ChildAssent: true, AgeBand: "12-14",
			Recipients: []string{contracts.AgencyCountry(to)}, Purposes: []string{"protection_referral"}, DataCategories: cats,
			ObtainedAt: time.Now().UTC().Add(-time.Hour).Truncate(time.Second)},
		Body: json.RawMessage(`{"child":{"given_names":"Awa","sex":"f","estimated_age":13},
			"location":{"country":"ci","admin_area":"CI-AB","place":"Gare routière d'Adjamé","since":"2026-01-14"},
			"protection_concerns":{"codes":["unaccompanied"]},"urgency":"high"}`),
	}
}

func mustCompose(t *testing.T, a *testAgent, d agency.Draft, files ...Attachment) Queued {
	t.Helper()
	q, err := a.Compose(context.Background(), d, files...)
	if err != nil {
		t.Fatalf("compose: %v", err)
	}
	return q
}

func mustSync(t *testing.T, agents ...*testAgent) {
	t.Helper()
	for _, a := range agents {
		if err := a.SyncOnce(context.Background()); err != nil {
			t.Fatalf("%s sync: %v", a.ID, err)
		}
	}
}

func mustStatus(t *testing.T, a *testAgent) Status {
	t.Helper()
	st, err := a.Status(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func outboxItem(t *testing.T, a *testAgent, id string) Outgoing {
	t.Helper()
	o, _, err := outgoing(context.Background(), a.db.db, id)
	if err != nil {
		t.Fatalf("outbox %s: %v", id, err)
	}
	return o
}

// eventually retries fn every interval until it returns nil, or fails the
// test with its last error after timeout.
func eventually(t *testing.T, timeout, interval time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not true after %s: %v", timeout, err)
		}
		time.Sleep(interval)
	}
}
