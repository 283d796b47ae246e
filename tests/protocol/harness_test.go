// Package protocol tests the v1 wire protocol end to end, in process: a real
// hub on a real SQLite store behind its real HTTP API, driven over HTTP by
// three registered agencies. Hostile messages are forged by hand where the
// JOSE libraries would refuse to produce them.
package protocol

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/adapters/sqlstore"
	"github.com/relais-hub/relais/contracts/seal"
	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/tests/internal/relaistest"
)

const (
	testHubID  = "relais-test-hub"
	adminToken = "test-admin-token-0123456789abcdef"
	joseType   = "application/jose"
)

// world is one running hub (hub.New on a SQLite store in a temp dir, its
// HTTP API behind httptest) with three registered agencies: the Ivorian
// service that found the child, the Malian directorate it is referred to,
// and a Burkinabè service that is party to nothing.
type world struct {
	hub   *hub.Hub
	store *sqlstore.Store
	srv   *httptest.Server
	logs  *relaistest.SyncBuffer

	ci, ml, bf *party
}

// party is a registered agency: its client and its raw private keys, the
// latter extracted from the key files independently of jwx so that tests
// can sign and decrypt by hand.
type party struct {
	ID      string
	Keys    agency.Keys
	Client  *agency.Client
	SigKID  string
	SigPriv ed25519.PrivateKey
	EncKID  string
	EncPriv *ecdh.PrivateKey
	// SigJWK is the public signing JWK exactly as registered.
	SigJWK []byte
	// KeyDir holds the key files written by agency.Init.
	KeyDir string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	logs := &relaistest.SyncBuffer{}
	hw := relaistest.NewWorld(t, relaistest.WorldOptions{
		HubID: testHubID, AdminToken: adminToken, AuditOrigin: "relais.test/log",
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	w := &world{hub: hw.Hub, store: hw.Store, srv: hw.Server, logs: logs}
	w.ci = w.register(t, hw.Dir, "ci.dpe-abidjan", "Direction de la protection de l'enfant — Abidjan")
	w.ml = w.register(t, hw.Dir, "ml.dnpef", "Direction nationale de la promotion de l'enfant et de la famille")
	w.bf = w.register(t, hw.Dir, "bf.dpe-bobo", "Direction provinciale de l'action sociale — Bobo-Dioulasso")
	return w
}

// register creates an agency's keys and registers them through
// POST /v1/agencies with the admin token.
func (w *world) register(t *testing.T, dir, id, name string) *party {
	t.Helper()
	keyDir := filepath.Join(dir, "agencies", id)
	keys := relaistest.RegisterAgency(t, w.srv.URL, adminToken, keyDir, id, name)
	p := &party{ID: id, Keys: keys, Client: agency.New(w.srv.URL, keys), KeyDir: keyDir}
	p.SigKID, p.SigPriv = ed25519Private(t, keys.Signing)
	p.EncKID, p.EncPriv = x25519Private(t, keys.Encryption[0])
	pub, err := seal.PublicKey(keys.Signing)
	if err != nil {
		t.Fatal(err)
	}
	if p.SigJWK, err = json.Marshal(pub); err != nil {
		t.Fatal(err)
	}
	return p
}

// registerJWKS registers an agency's public JWKS through
// POST /v1/agencies with the admin token.
func (w *world) registerJWKS(t *testing.T, id, name string, jwks []byte) {
	t.Helper()
	relaistest.RegisterJWKS(t, w.srv.URL, adminToken, id, name, jwks)
}

// privateJWK is the JSON of an OKP private key, read without jwx.
type privateJWK struct {
	Kty, Crv, Kid, X, D string
}

func okpPrivate(t *testing.T, k jwk.Key, crv string) (string, []byte) {
	t.Helper()
	raw, err := json.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	var p privateJWK
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	if p.Kty != "OKP" || p.Crv != crv {
		t.Fatalf("key %s is %s/%s, want OKP/%s", p.Kid, p.Kty, p.Crv, crv)
	}
	d, err := base64.RawURLEncoding.DecodeString(p.D)
	if err != nil {
		t.Fatalf("key %s: d: %v", p.Kid, err)
	}
	return p.Kid, d
}
func ed25519Private(t *testing.T, k jwk.Key) (string, ed25519.PrivateKey) {
	kid, seed := okpPrivate(t, k, "Ed25519")
	return kid, ed25519.NewKeyFromSeed(seed)
}
func x25519Private(t *testing.T, k jwk.Key) (string, *ecdh.PrivateKey) {
	kid, d := okpPrivate(t, k, "X25519")
	priv, err := ecdh.X25519().NewPrivateKey(d)
	if err != nil {
		t.Fatal(err)
	}
	return kid, priv
}
