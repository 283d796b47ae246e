package security

// The shared world of the attack, authorization and hardening suites: one
// in-process hub on SQLite behind its real HTTP API, its log captured, and
// three registered agencies whose raw private keys the tests hold, so they
// can forge exactly the hostile objects no JOSE library would produce.

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/adapters/httpapi"
	"github.com/relais-hub/relais/adapters/sqlstore"
	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
	"github.com/relais-hub/relais/contracts/seal/sealtest"
	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/tests/internal/relaistest"
)

const (
	secHubID      = "relais-security-hub"
	secAdminToken = "security-admin-token-0123456789abcdef"
	joseType      = "application/jose"
)

// childFile is a realistic referral body. Every distinctive string in it is
// personal data that may only ever travel encrypted: none may appear in a
// response, a log line or an audit leaf.
const childFile = `{
  "child": {"given_names": "Kadiatou Aminata", "family_name": "Coulibaly", "sex": "f",
            "birth_date": "2011-07-02", "nationality": "ml", "languages": ["bam", "fr"], "phone": "+22507123456"},
  "location": {"country": "ci", "admin_area": "CI-AB", "place": "Foyer Sainte-Thérèse, Treichville", "since": "2026-01-14"},
  "family": [{"relationship": "mother", "given_names": "Mariam", "family_name": "Diarra", "status": "alive",
              "country": "ml", "address": "Quartier Hamdallaye, Ségou", "phone": "+22376543210"}],
  "protection_concerns": {"codes": ["unaccompanied", "trafficking"], "details": "Conduite à Abidjan par un intermédiaire."},
  "narrative": "Kadiatou a été retrouvée au marché de Treichville. Elle souhaite rejoindre sa mère à Ségou.",
  "urgency": "high",
  "requested_services": ["family_tracing", "return_assistance"]
}`

// personalData are the strings of childFile (and its case reference) that
// must never leak.
var personalData = []string{"Kadiatou", "Coulibaly", "+22507123456", "Treichville", "CI-ABJ-2026"}

var childCategories = []string{"identity", "contact", "family", "location", "protection_concerns", "narrative"}

// childReferral is a referral.request draft to the given agency.
func childReferral(to string) agency.Draft {
	now := time.Now().UTC().Truncate(time.Second)
	return agency.Draft{
		Kind: "referral.request", To: to, Case: "CI-ABJ-2026-0117",
		Purpose:        "protection_referral",
		DataCategories: childCategories,
		Consent: &contracts.Consent{
			Ref: "CI-ABJ-CONS-0117", Basis: "consent", GivenBy: "child", ChildAssent: true, AgeBand: "12-14",
			Recipients: []string{contracts.AgencyCountry(to)}, Purposes: []string{"protection_referral", "family_tracing"},
			DataCategories: childCategories, ObtainedAt: now.Add(-48 * time.Hour),
		},
		Body: json.RawMessage(childFile),
	}
}

// world is the hub under attack.
type world struct {
	hw    *relaistest.World
	store *sqlstore.Store
	url   string
	logs  *relaistest.SyncBuffer
	// ci sends, ml receives, bf is party to nothing; sn has a registered
	// P-256 signing key besides its Ed25519 one.
	ci, ml, bf, sn *party
}

// party is a registered agency and its raw private keys.
type party struct {
	ID      string
	Keys    agency.Keys
	Client  *agency.Client
	KeyDir  string
	SigKID  string
	SigPriv ed25519.PrivateKey
	EncKID  string
	EncPriv *ecdh.PrivateKey
	// P256 and P256KID are set for sn only.
	P256    *ecdsa.PrivateKey
	P256KID string
}

type worldOptions struct {
	limits    httpapi.Limits
	configure func(*hub.Config)
	// dir, signer and keyStore: see relaistest.WorldOptions.
	dir      string
	signer   hub.HubSigner
	keyStore hub.HubKeyStore
}

func newWorld(t *testing.T) *world { return newWorldWith(t, worldOptions{}) }

func newWorldWith(t *testing.T, o worldOptions) *world {
	t.Helper()
	logs := &relaistest.SyncBuffer{}
	logger := slog.New(httpapi.WithRequestID(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	hw := relaistest.NewWorld(t, relaistest.WorldOptions{
		HubID: secHubID, AdminToken: secAdminToken, AuditOrigin: "relais.test/security",
		Logger: logger, Configure: o.configure,
		Dir: o.dir, Signer: o.signer, KeyStore: o.keyStore,
	})
	w := &world{hw: hw, store: hw.Store, url: hw.URL(), logs: logs}
	if o.limits != (httpapi.Limits{}) {
		// The world's own server has no limits; this one, on the same hub,
		// has the ones under test.
		srv := newServer(t, httpapi.New(httpapi.Config{Hub: hw.Hub, AdminToken: secAdminToken, Logger: logger, Limits: o.limits}), httpapi.ServerTimeouts{})
		w.url = srv
	}
	w.ci = w.register(t, "ci.dpe-abidjan")
	w.ml = w.register(t, "ml.dnpef")
	w.bf = w.register(t, "bf.dpe-bobo")
	w.sn = w.registerWithP256(t, "sn.dpe-dakar")
	return w
}

func (w *world) register(t *testing.T, id string) *party {
	t.Helper()
	keyDir := filepath.Join(w.hw.Dir, "agencies", id)
	keys := relaistest.RegisterAgency(t, w.hw.URL(), secAdminToken, keyDir, id, "Service "+id)
	return w.party(t, id, keys, keyDir)
}

// registerWithP256 registers an agency whose JWKS also holds a P-256 ES256
// signing key, the world the algorithm-confusion attacks need.
func (w *world) registerWithP256(t *testing.T, id string) *party {
	t.Helper()
	keyDir := filepath.Join(w.hw.Dir, "agencies", id)
	keys, err := agency.Init(id, keyDir)
	if err != nil {
		t.Fatal(err)
	}
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	point, err := p256.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	p256KID := seal.NewKID(id + "#sig-p256")
	jwks, err := keys.PublicJWKS()
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(jwks, &set); err != nil {
		t.Fatal(err)
	}
	ec, _ := json.Marshal(map[string]string{"kty": "EC", "crv": "P-256", "x": sealtest.B64(point[1:33]), "y": sealtest.B64(point[33:]),
		"kid": p256KID, "alg": "ES256", "use": "sig"})
	set.Keys = append(set.Keys, ec)
	jwks, _ = json.Marshal(set)
	relaistest.RegisterJWKS(t, w.hw.URL(), secAdminToken, id, "Service "+id, jwks)
	p := w.party(t, id, keys, keyDir)
	p.P256, p.P256KID = p256, p256KID
	return p
}

func (w *world) party(t *testing.T, id string, keys agency.Keys, keyDir string) *party {
	t.Helper()
	p := &party{ID: id, Keys: keys, Client: agency.New(w.url, keys), KeyDir: keyDir}
	var seed, d []byte
	p.SigKID, seed = okpSecret(t, keys.Signing, "Ed25519")
	p.SigPriv = ed25519.NewKeyFromSeed(seed)
	p.EncKID, d = okpSecret(t, keys.Encryption[0], "X25519")
	priv, err := ecdh.X25519().NewPrivateKey(d)
	if err != nil {
		t.Fatal(err)
	}
	p.EncPriv = priv
	return p
}

// okpSecret reads the kid and private scalar of an OKP key from its JSON,
// without jwx, so that the forging code shares nothing with the verifier.
func okpSecret(t *testing.T, k jwk.Key, crv string) (string, []byte) {
	t.Helper()
	raw, err := json.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	var j struct{ Kty, Crv, Kid, D string }
	if err := json.Unmarshal(raw, &j); err != nil {
		t.Fatal(err)
	}
	if j.Kty != "OKP" || j.Crv != crv {
		t.Fatalf("key %s is %s/%s, want OKP/%s", j.Kid, j.Kty, j.Crv, crv)
	}
	d, err := base64.RawURLEncoding.DecodeString(j.D)
	if err != nil {
		t.Fatal(err)
	}
	return j.Kid, d
}

// seal builds, encrypts and signs a draft with p's client, unsubmitted.
func (p *party) seal(t *testing.T, d agency.Draft) (contracts.Envelope, []byte) {
	t.Helper()
	env, jws, err := p.Client.Seal(context.Background(), d)
	if err != nil {
		t.Fatalf("%s seals %s: %v", p.ID, d.Kind, err)
	}
	return env, jws
}

// sign signs an envelope as p with a conforming header, by hand.
func (p *party) sign(t *testing.T, env contracts.Envelope) []byte {
	t.Helper()
	payload, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return sealtest.SignEd25519(sealtest.Header("alg", "EdDSA", "kid", p.SigKID, "typ", seal.EnvelopeTyp), payload, p.SigPriv)
}

// token is a fresh single-use access token of p for this hub.
func (p *party) token(t *testing.T) string {
	t.Helper()
	tok, err := seal.IssueToken(p.Keys.Signing, p.ID, secHubID, 2*time.Minute, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// response is an HTTP answer, its body decoded when it is a JSON object.
type response struct {
	Status int
	Header http.Header
	Body   []byte
	Doc    map[string]any
}

// do sends one request; headers are set as given.
func (w *world) do(t *testing.T, method, path string, body io.Reader, headers map[string]string) response {
	t.Helper()
	req, err := http.NewRequest(method, w.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := response{Status: resp.StatusCode, Header: resp.Header, Body: raw}
	_ = json.Unmarshal(raw, &out.Doc)
	return out
}

// get sends a GET with a bearer token (none when empty).
func (w *world) get(t *testing.T, path, token string) response {
	t.Helper()
	h := map[string]string{}
	if token != "" {
		h["Authorization"] = "Bearer " + token
	}
	return w.do(t, http.MethodGet, path, nil, h)
}

// submit posts a message as application/jose.
func (w *world) submit(t *testing.T, jws []byte) response {
	t.Helper()
	return w.do(t, http.MethodPost, "/v1/messages", bytes.NewReader(jws), map[string]string{"Content-Type": joseType})
}

// accepted submits a message that must be accepted.
func (w *world) accepted(t *testing.T, jws []byte) response {
	t.Helper()
	r := w.submit(t, jws)
	if r.Status != http.StatusAccepted {
		t.Fatalf("a genuine message was refused: %d %s", r.Status, r.Body)
	}
	return r
}

// wantProblem checks a refusal: status, stable code, problem+json.
func wantProblem(t *testing.T, r response, code contracts.Code) {
	t.Helper()
	if r.Status != code.Status() || r.Doc["code"] != string(code) {
		t.Fatalf("answered %d %v, want %d %s: %s", r.Status, r.Doc["code"], code.Status(), code, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Errorf("Content-Type %q, want application/problem+json", ct)
	}
}

// rejections counts the audit log's "rejected" events with code.
func (w *world) rejections(t *testing.T, code contracts.Code) int {
	t.Helper()
	var n int
	err := w.store.DB().QueryRowContext(context.Background(),
		`SELECT COUNT(*) FROM events WHERE type = 'rejected' AND code = ?`, string(code)).Scan(&n)
	if err != nil {
		t.Fatalf("read audit log: %v", err)
	}
	return n
}

// rejectedDigests lists the JWS digests of the rejected events with code.
func (w *world) rejectedDigests(t *testing.T, code contracts.Code) []string {
	t.Helper()
	rows, err := w.store.DB().QueryContext(context.Background(),
		`SELECT jws_digest FROM events WHERE type = 'rejected' AND code = ? ORDER BY idx`, string(code))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

// messageRows counts the messages the hub holds.
func (w *world) messageRows(t *testing.T) int {
	t.Helper()
	var n int
	if err := w.store.DB().QueryRowContext(context.Background(), `SELECT COUNT(*) FROM messages`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// delivered waits until message id sits in the recipient's inbox.
func (w *world) delivered(t *testing.T, id string) {
	t.Helper()
	relaistest.Eventually(t, 5*time.Second, 10*time.Millisecond, func() error {
		m, err := w.store.Message(context.Background(), id)
		if err != nil {
			return err
		}
		if m.DeliveredAt.IsZero() {
			return fmt.Errorf("message %s not yet delivered", id)
		}
		return nil
	})
}

// assertNoLeak checks that none of the child's data, nor the encoded
// payload of what was refused, is in the hub's log or in text.
func (w *world) assertNoLeak(t *testing.T, refused []byte, texts ...[]byte) {
	t.Helper()
	haystacks := append([][]byte{[]byte(w.logs.String())}, texts...)
	for i, h := range haystacks {
		where := "the hub log"
		if i > 0 {
			where = "the response"
		}
		for _, leak := range personalData {
			if bytes.Contains(h, []byte(leak)) {
				t.Errorf("%s holds %q", where, leak)
			}
		}
		if parts := strings.Split(string(refused), "."); len(parts) >= 3 && len(parts[1]) > 24 && bytes.Contains(h, []byte(parts[1][:24])) {
			t.Errorf("%s holds the refused message's encoded payload", where)
		}
	}
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
