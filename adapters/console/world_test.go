package console

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/adapters/httpapi"
	"github.com/relais-hub/relais/adapters/sqlstore"
	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/hub/audit"
)

// hubWorld is a hub in process with its API, two agencies that exchanged
// a referral, a registered auditor, and the hub console on a TLS test
// server (its cookies are Secure).
type hubWorld struct {
	hub        *hub.Hub
	api        *httptest.Server
	console    *httptest.Server
	adminToken string
	auditorKey jwk.Key
	auditorID  string
	transfer   string
	caseRef    string
}

const testAdminToken = "admin-token-for-console-tests"

func newHubWorld(t *testing.T) *hubWorld {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	key, err := seal.GenerateSigningKey(seal.NewKID("hub#sig"))
	if err != nil {
		t.Fatal(err)
	}
	var priv ed25519.PrivateKey
	if err := jwk.Export(key, &priv); err != nil {
		t.Fatal(err)
	}
	log, err := audit.New(audit.Config{Origin: "relais-hub/audit", Signer: priv, Dialect: audit.DialectSQLite})
	if err != nil {
		t.Fatal(err)
	}
	store, err := sqlstore.OpenSQLite(ctx, filepath.Join(dir, "relais.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	caseKey := make([]byte, 32)
	_, _ = rand.Read(caseKey)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := hub.New(hub.Config{ID: "relais-hub", Key: key, Store: store, CaseKey: caseKey, Audit: log, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Run(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	w := &hubWorld{hub: h, adminToken: testAdminToken, auditorID: "auditor:cdp-bf", caseRef: "CI-ABJ-2026-0042"}
	w.api = httptest.NewServer(httpapi.New(httpapi.Config{Hub: h, AdminToken: testAdminToken, Logger: quiet}))
	t.Cleanup(w.api.Close)
	con, err := NewHub(HubConfig{Hub: h, AdminToken: testAdminToken, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	w.console = httptest.NewTLSServer(con)
	t.Cleanup(w.console.Close)

	ci := w.registerAgency(t, dir, "ci.dpe-abidjan")
	ml := w.registerAgency(t, dir, "ml.dnpef")
	w.transfer = exchange(t, ci, ml, w.caseRef)

	w.auditorKey, err = seal.GenerateSigningKey(seal.NewKID(w.auditorID + "#sig"))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := seal.PublicSet(w.auditorKey)
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := json.Marshal(pub)
	if _, err := h.RegisterAuditor(ctx, hub.AuditorRegistration{ID: w.auditorID, Name: "CDP Burkina Faso", JWKS: jwks}, "admin"); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *hubWorld) registerAgency(t *testing.T, dir, id string) *agency.Client {
	t.Helper()
	keys, err := agency.Init(id, filepath.Join(dir, "agencies", id))
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := keys.PublicJWKS()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.hub.RegisterAgency(context.Background(), hub.Registration{ID: id, Country: contracts.AgencyCountry(id), Name: id, JWKS: jwks}, "admin"); err != nil {
		t.Fatal(err)
	}
	return agency.New(w.api.URL, keys)
}

// exchange sends a referral from src to dst, which receipts and accepts
// it; it returns the transfer id.
func exchange(t *testing.T, src, dst *agency.Client, caseRef string) string {
	t.Helper()
	ctx := context.Background()
	body, _ := json.Marshal(contracts.ReferralRequest{
		Child:   contracts.Child{GivenNames: "Awa", FamilyName: "Ouédraogo", Sex: "f", BirthDate: "2010-04-12"},
		Urgency: "high",
	})
	now := time.Now().UTC().Truncate(time.Second)
	env, _, err := src.Send(ctx, agency.Draft{Kind: "referral.request", To: dst.Keys.ID, Case: caseRef, Purpose: "protection_referral",
		DataCategories: []string{"identity"},
		Consent: &contracts.Consent{Ref: "CONS-1", Basis: "consent", GivenBy: "child", AgeBand: "15-17",
			Recipients: []string{"ml"}, Purposes: []string{"protection_referral"}, DataCategories: []string{"identity"}, ObtainedAt: now.Add(-time.Hour)},
		Body: body})
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	var opened agency.Opened
	eventually(t, "the referral in the recipient's inbox", func() bool {
		items, _, err := dst.Inbox(ctx, "", time.Second)
		if err != nil {
			return false
		}
		i := slices.IndexFunc(items, func(it agency.InboxItem) bool { return it.ID == env.ID })
		if i < 0 {
			return false
		}
		opened, err = dst.Open(ctx, []byte(items[i].JWS))
		return err == nil
	})
	if _, err := dst.Receipt(ctx, opened); err != nil {
		t.Fatalf("receipt: %v", err)
	}
	if _, err := dst.Answer(ctx, opened.Envelope, true, ""); err != nil {
		t.Fatalf("accept: %v", err)
	}
	return env.Transfer
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never true: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// browser is an HTTP client with a cookie jar that does not follow
// redirects, so tests see them.
type browser struct {
	t      *testing.T
	srv    *httptest.Server
	base   string
	client *http.Client
}

// serverFor is the server this browser talks to, for a second browser.
func (b *browser) serverFor() *httptest.Server { return b.srv }

// upload posts a multipart form with a key file and a password.
func (b *browser) upload(path, csrf, password string, file []byte) response {
	b.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("csrf", csrf)
	_ = mw.WriteField("password", password)
	fw, _ := mw.CreateFormFile("key", "supervisor.jwk")
	_, _ = fw.Write(file)
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, b.base+path, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Origin", b.base)
	return b.do(req)
}

func newBrowser(t *testing.T, srv *httptest.Server) *browser {
	jar, _ := cookiejar.New(nil)
	// srv.Client() is one client per server: each browser needs its own,
	// with its own cookie jar.
	c := &http.Client{Transport: srv.Client().Transport, Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &browser{t: t, srv: srv, base: srv.URL, client: c}
}

// response is a page as the browser got it.
type response struct {
	Status int
	Header http.Header
	Body   string
}

func (b *browser) get(path string, header ...string) response {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.base+path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.do(req)
}

func (b *browser) post(path string, form url.Values) response {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.base)
	return b.do(req)
}

func (b *browser) do(req *http.Request) response {
	b.t.Helper()
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: string(raw)}
}

var (
	csrfField      = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	challengeField = regexp.MustCompile(`id="challenge">([A-Z2-7-]+)<`)
)

// field extracts the first match of re in a page.
func field(t *testing.T, re *regexp.Regexp, body string) string {
	t.Helper()
	m := re.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no %s in the page:\n%s", re, body)
	}
	return m[1]
}

// loginAuditor logs b in as the world's auditor, the way the console asks.
func (w *hubWorld) loginAuditor(t *testing.T, b *browser) {
	t.Helper()
	page := b.get("/console/login")
	answer, err := SignAuditorLogin(w.auditorKey, w.auditorID, w.hub.ID(), field(t, challengeField, page.Body), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	res := b.post("/console/login/auditor", url.Values{"csrf": {field(t, csrfField, page.Body)}, "answer": {answer}})
	if res.Status != http.StatusSeeOther || res.Header.Get("Location") != "/console/audit" {
		t.Fatalf("auditor login: %d %s\n%s", res.Status, res.Header.Get("Location"), res.Body)
	}
}

func newTLSServer(t *testing.T, h http.Handler) *httptest.Server {
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	return srv
}
