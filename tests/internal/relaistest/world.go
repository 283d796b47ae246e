package relaistest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

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

// WorldOptions chooses what differs between in-process hubs; the zero
// value of each field has a sensible default.
type WorldOptions struct {
	HubID      string
	AdminToken string
	// Dir holds the world's files; a fresh temporary directory when empty.
	Dir string
	// AuditOrigin names the audit log; HubID + "/audit" when empty.
	AuditOrigin string
	// DBPath is the SQLite file, relative to the world's directory;
	// "relais.db" when empty.
	DBPath string
	// Logger defaults to one that discards.
	Logger *slog.Logger
	// Gatherer serves /metrics; a fresh registry when nil.
	Gatherer prometheus.Gatherer
	// Configure adjusts the hub's configuration before hub.New, for the
	// settings a test needs beyond ID, key, store, case key, audit log and
	// logger.
	Configure func(*hub.Config)
	// Signer, when set, is the hub key (a key on a PKCS#11 token) instead
	// of a fresh in-memory one, and KeyStore, when set, is where the hub
	// rotates and reloads it (hub.UseHubKeyStore).
	Signer   hub.HubSigner
	KeyStore hub.HubKeyStore
}

// World is a hub assembled in process — hub key, audit log, SQLite store,
// hub.New and Run — behind its real HTTP API on httptest. Everything is
// closed when the test ends.
type World struct {
	Dir        string
	Hub        *hub.Hub
	Store      *sqlstore.Store
	Audit      *audit.Log
	Server     *httptest.Server
	AdminToken string
}

// NewWorld starts a hub in opts.Dir.
func NewWorld(tb testing.TB, opts WorldOptions) *World {
	tb.Helper()
	ctx := context.Background()
	if opts.Dir == "" {
		opts.Dir = tb.TempDir()
	}
	w := &World{Dir: opts.Dir, AdminToken: opts.AdminToken}
	if opts.AuditOrigin == "" {
		opts.AuditOrigin = opts.HubID + "/audit"
	}
	if opts.DBPath == "" {
		opts.DBPath = "relais.db"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	}
	if opts.Gatherer == nil {
		opts.Gatherer = prometheus.NewRegistry()
	}
	cfg := hub.Config{ID: opts.HubID, Signer: opts.Signer, CaseKey: NewCaseKey(), Logger: opts.Logger}
	var signer crypto.Signer = opts.Signer
	if opts.Signer == nil {
		key, priv := NewHubKey(tb)
		cfg.Key, signer = key, priv
	}
	w.Audit, w.Store = OpenAuditedStore(tb, filepath.Join(w.Dir, opts.DBPath), opts.AuditOrigin, signer)
	cfg.Store, cfg.Audit = w.Store, w.Audit
	if opts.Configure != nil {
		opts.Configure(&cfg)
	}
	w.Hub = startHubWith(tb, ctx, cfg, opts.KeyStore)
	w.Server = httptest.NewServer(httpapi.New(httpapi.Config{Hub: w.Hub, AdminToken: opts.AdminToken, Gatherer: opts.Gatherer, Logger: opts.Logger}))
	tb.Cleanup(w.Server.Close)
	return w
}

// URL is the hub's base URL.
func (w *World) URL() string { return w.Server.URL }

// RegisterAgency creates an agency's keys in Dir/agencies/id and registers
// them with the admin token.
func (w *World) RegisterAgency(tb testing.TB, id, name string) (agency.Keys, string) {
	tb.Helper()
	keyDir := filepath.Join(w.Dir, "agencies", id)
	return RegisterAgency(tb, w.URL(), w.AdminToken, keyDir, id, name), keyDir
}

// NewHubKey generates a hub signing key and exports its raw private half,
// which signs the audit log's checkpoints.
func NewHubKey(tb testing.TB) (jwk.Key, ed25519.PrivateKey) {
	tb.Helper()
	key, err := seal.GenerateSigningKey(seal.NewKID("hub#sig"))
	if err != nil {
		tb.Fatal(err)
	}
	var priv ed25519.PrivateKey
	if err := jwk.Export(key, &priv); err != nil {
		tb.Fatalf("export hub key: %v", err)
	}
	return key, priv
}

// OpenAuditedStore makes an audit log signed by signer and opens the
// SQLite store at path on it; the store is closed when the test ends.
func OpenAuditedStore(tb testing.TB, path, origin string, signer crypto.Signer) (*audit.Log, *sqlstore.Store) {
	tb.Helper()
	log, err := audit.New(audit.Config{Origin: origin, Signer: signer, Dialect: audit.DialectSQLite})
	if err != nil {
		tb.Fatalf("audit log: %v", err)
	}
	store, err := sqlstore.OpenSQLite(context.Background(), path, log)
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() { _ = store.Close() })
	return log, store
}

// NewCaseKey is a fresh random 32-byte key for case references.
func NewCaseKey() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return k
}

// StartHub builds and runs a hub; it is closed when the test ends.
func StartHub(tb testing.TB, ctx context.Context, cfg hub.Config) *hub.Hub {
	tb.Helper()
	return startHubWith(tb, ctx, cfg, nil)
}

func startHubWith(tb testing.TB, ctx context.Context, cfg hub.Config, keys hub.HubKeyStore) *hub.Hub {
	tb.Helper()
	h, err := hub.New(cfg)
	if err != nil {
		tb.Fatalf("hub.New: %v", err)
	}
	if keys != nil {
		if err := h.UseHubKeyStore(keys, nil); err != nil {
			tb.Fatalf("hub key store: %v", err)
		}
	}
	if err := h.Run(ctx); err != nil {
		tb.Fatalf("hub.Run: %v", err)
	}
	tb.Cleanup(func() { _ = h.Close() })
	return h
}

// RegisterAgency creates an agency's keys in keyDir and registers them at
// the hub through POST /v1/agencies with the admin token.
func RegisterAgency(tb testing.TB, hubURL, adminToken, keyDir, id, name string) agency.Keys {
	tb.Helper()
	keys, err := agency.Init(id, keyDir)
	if err != nil {
		tb.Fatalf("agency init %s: %v", id, err)
	}
	jwks, err := keys.PublicJWKS()
	if err != nil {
		tb.Fatal(err)
	}
	RegisterJWKS(tb, hubURL, adminToken, id, name, jwks)
	return keys
}

// RegisterJWKS registers an agency's public JWKS through POST /v1/agencies
// with the admin token.
func RegisterJWKS(tb testing.TB, hubURL, adminToken, id, name string, jwks []byte) {
	tb.Helper()
	body, _ := json.Marshal(map[string]any{"id": id, "country": contracts.AgencyCountry(id), "name": name, "jwks": json.RawMessage(jwks)})
	req, err := http.NewRequest(http.MethodPost, hubURL+"/v1/agencies", bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("register %s: %v", id, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		tb.Fatalf("register %s: status %d: %s", id, resp.StatusCode, raw)
	}
}
