package stats_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/adapters/httpapi"
	"github.com/relais-hub/relais/adapters/sqlstore"
	"github.com/relais-hub/relais/contracts/seal"
	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/hub/audit"
	"github.com/relais-hub/relais/hub/policy"
	"github.com/relais-hub/relais/hub/stats"
	"github.com/relais-hub/relais/tests/internal/relaistest"
)

const (
	testHubID   = "relais-stats-test-hub"
	adminToken  = "stats-test-admin-token-0123456789abcdef"
	statsID     = "statistics:instat-ml"
	auditorID   = "auditor:cdp-ml"
	answerDue   = 20 * 24 * time.Hour
	hubLogQuiet = slog.LevelError
)

// The agencies of the five countries: Mali has a national directorate and
// a regional one.
var agencyIDs = []string{
	"ml.dnpef", "ml.drpef-sikasso", "ci.dpe-abidjan", "bf.dpe-bobo", "sn.dpe-dakar", "gn.dnpe-conakry",
}

// clock is the hub's settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

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

// answerDeadlines chase only the steps the procedure waits for (an answer
// to a referral, an assessment, a decision, a plan, a handover), after
// answerDue: the dataset decides which transfers miss them.
type answerDeadlines struct{}

func (answerDeadlines) Deadline(_ hub.Transfer, kind hub.TimerKind) (hub.Deadline, bool) {
	if kind == hub.TimerAnswer {
		return hub.Deadline{Due: answerDue}, true
	}
	return hub.Deadline{}, false
}

// world is a hub on a simulated clock behind its HTTP API, the six
// agencies, a statistics authority and an auditor made with the CLI.
type world struct {
	dir      string
	clock    *clock
	store    *sqlstore.Store
	hub      *hub.Hub
	srv      *httptest.Server
	agencies map[string]*agency.Client
	// statsKeys and auditorKeys are the key directories the CLI wrote.
	statsKeys, auditorKeys string
}

// engines lists the stores a test runs on: SQLite always, PostgreSQL when
// RELAIS_TEST_POSTGRES names a database (tests/run.sh sets it).
func engines(t *testing.T) []string {
	if os.Getenv("RELAIS_TEST_POSTGRES") == "" {
		t.Log("RELAIS_TEST_POSTGRES is unset: the PostgreSQL half does not run (tests/run.sh sets it)")
		return []string{"sqlite"}
	}
	return []string{"sqlite", "postgres"}
}

func newWorld(t *testing.T, engine string, start time.Time, thresholds stats.Thresholds) *world {
	t.Helper()
	ctx := context.Background()
	w := &world{dir: t.TempDir(), clock: &clock{now: start}, agencies: map[string]*agency.Client{}}
	key, priv := relaistest.NewHubKey(t)
	var log *audit.Log
	switch engine {
	case "postgres":
		log, w.store = openPostgres(t, priv)
	default:
		log, w.store = relaistest.OpenAuditedStore(t, filepath.Join(w.dir, "relais.db"), testHubID+"/audit", priv)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: hubLogQuiet}))
	w.hub = relaistest.StartHub(t, ctx, hub.Config{ID: testHubID, Key: key, Store: w.store, CaseKey: relaistest.NewCaseKey(),
		Audit: log, Logger: logger, Now: w.clock.Now, Timers: answerDeadlines{},
		// The test fires timers itself, at the checkpoints of its plan.
		TimerInterval: 24 * time.Hour, CheckpointInterval: time.Hour})
	w.srv = httptest.NewServer(httpapi.New(httpapi.Config{Hub: w.hub, AdminToken: adminToken, Gatherer: prometheus.NewRegistry(),
		Logger: logger, StatsThresholds: thresholds}))
	t.Cleanup(w.srv.Close)
	for _, id := range agencyIDs {
		keys := relaistest.RegisterAgency(t, w.srv.URL, adminToken, filepath.Join(w.dir, "agencies", id), id, id)
		w.agencies[id] = agency.New(w.srv.URL, keys)
	}
	w.statsKeys = filepath.Join(w.dir, "instat")
	mustRelais(t, "stats", "init", "--id", statsID, "--out", w.statsKeys)
	mustRelais(t, "stats", "register", "--hub", w.srv.URL, "--keys", w.statsKeys, "--admin-token", adminToken,
		"--name", "Institut national de la statistique du Mali")
	w.auditorKeys = filepath.Join(w.dir, "auditor")
	mustRelais(t, "auditor", "init", "--id", auditorID, "--out", w.auditorKeys)
	mustRelais(t, "auditor", "register", "--hub", w.srv.URL, "--keys", w.auditorKeys, "--admin-token", adminToken,
		"--name", "Autorité de protection des données à caractère personnel du Mali")
	return w
}

// openPostgres opens a store in a fresh schema of RELAIS_TEST_POSTGRES,
// dropped when the test ends.
func openPostgres(t *testing.T, priv []byte) (*audit.Log, *sqlstore.Store) {
	t.Helper()
	ctx := context.Background()
	dsn := os.Getenv("RELAIS_TEST_POSTGRES")
	newLog := func() *audit.Log {
		l, err := audit.New(audit.Config{Origin: testHubID + "/audit", Signer: ed25519.PrivateKey(priv), Dialect: audit.DialectPostgres})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	schema := "stats_" + strings.ToLower(strings.NewReplacer("/", "_", " ", "_", "-", "_").Replace(t.Name())) + "_" + time.Now().Format("150405000000")
	if len(schema) > 60 {
		schema = schema[len(schema)-60:]
		schema = "s" + schema[1:]
	}
	admin, err := sqlstore.OpenPostgres(ctx, dsn, newLog())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.DB().ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatal(err)
	}
	admin.Close()
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	log := newLog()
	store, err := sqlstore.OpenPostgres(ctx, dsn+sep+"search_path="+schema, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		store.Close()
		if a, err := sqlstore.OpenPostgres(ctx, dsn, newLog()); err == nil {
			a.DB().ExecContext(ctx, `DROP SCHEMA `+schema+` CASCADE`)
			a.Close()
		}
	})
	return log, store
}

// agreementThresholds writes a corridor agreement between Côte d'Ivoire
// and Mali that asks for a threshold of 10, and watches it: the other
// corridors have no agreement and keep the default of 5.
func agreementThresholds(t *testing.T) stats.Thresholds {
	t.Helper()
	root, err := relaistest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	base, err := os.ReadFile(filepath.Join(root, "policies", "corridors", "bf-ci-ml.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.NewReplacer("id: bf-ci-ml", "id: ci-ml-stats", "parties: [bf, ci, ml]", "parties: [ci, ml]",
		"min_cell_size: 5", "min_cell_size: 10").Replace(string(base))
	if strings.Count(doc, "parties: [ci, ml]")+strings.Count(doc, "min_cell_size: 10")+strings.Count(doc, "id: ci-ml-stats") != 3 {
		t.Fatal("the sample agreement changed shape: update agreementThresholds")
	}
	dir := filepath.Join(t.TempDir(), "corridors")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ci-ml-stats.yaml"), []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	watcher, err := policy.NewWatcher(policy.WatcherOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, dir)
	if err != nil {
		t.Fatalf("agreement: %v", err)
	}
	return stats.AgreementThresholds{Agreements: watcher}
}

// token is a fresh single-use token of the key directory's owner (a
// statistics authority or an auditor).
func (w *world) token(t *testing.T, keysDir, id string) string {
	t.Helper()
	key, err := seal.ReadKeyFile(filepath.Join(keysDir, "signing.jwk"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := seal.IssueToken(key, id, testHubID, time.Minute, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// agencyToken is a fresh token of an agency.
func (w *world) agencyToken(t *testing.T, id string) string {
	t.Helper()
	c := w.agencies[id]
	tok, err := seal.IssueToken(c.Keys.Signing, id, testHubID, time.Minute, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// get calls the API with a bearer token ("" for none) and headers.
func (w *world) get(t *testing.T, path string, query url.Values, token string, header map[string]string) (int, http.Header, []byte) {
	t.Helper()
	if len(query) > 0 {
		path += "?" + query.Encode()
	}
	return w.do(t, http.MethodGet, path, nil, token, header)
}

func (w *world) do(t *testing.T, method, path string, body any, token string, header map[string]string) (int, http.Header, []byte) {
	t.Helper()
	var reader io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		reader = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, w.srv.URL+path, reader)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, raw
}

// problemCode reads the code of a problem+json answer.
func problemCode(raw []byte) string {
	var p struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(raw, &p)
	return p.Code
}
