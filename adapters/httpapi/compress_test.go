package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
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
	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/hub/audit"
)

// compressLimit is the message limit of the test server: small, so that a
// bomb is cheap to build and the limit is clearly the server's.
const compressLimit = 64 << 10

// compressWorld is a hub on SQLite behind the HTTP API with two registered
// agencies; the sender can seal referrals for the recipient.
type compressWorld struct {
	URL    string
	sender *agency.Client
	to     string
}

func newCompressWorld(t *testing.T) *compressWorld {
	t.Helper()
	ctx := context.Background()
	key, err := seal.GenerateSigningKey("hub#sig")
	if err != nil {
		t.Fatal(err)
	}
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
	t.Cleanup(func() { _ = store.Close() })
	caseKey := make([]byte, 32)
	_, _ = rand.Read(caseKey)
	h, err := hub.New(hub.Config{ID: "test-hub", Key: key, Store: store, CaseKey: caseKey, Audit: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Run(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Hub: h, AdminToken: adminToken, MaxMessageBytes: compressLimit}))
	t.Cleanup(srv.Close)
	w := &compressWorld{URL: srv.URL, to: "ml.test-recipient"}
	senderKeys := registerForCompress(t, srv.URL, "ci.test-sender")
	registerForCompress(t, srv.URL, w.to)
	w.sender = agency.New(srv.URL, senderKeys)
	return w
}

func registerForCompress(t *testing.T, url, id string) agency.Keys {
	t.Helper()
	keys, err := agency.Init(id, filepath.Join(t.TempDir(), id))
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := keys.PublicJWKS()
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"id": id, "country": contracts.AgencyCountry(id), "name": id, "jwks": json.RawMessage(jwks)})
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/agencies", bytes.NewReader(body))
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
	return keys
}

func (w *compressWorld) sealReferral(t *testing.T) []byte {
	t.Helper()
	cats := []string{"identity"}
	_, jws, err := w.sender.Seal(context.Background(), agency.Draft{
		Kind: "referral.request", To: w.to, Case: "CI-TEST-0001", Purpose: "protection_referral", DataCategories: cats,
		Consent: &contracts.Consent{Ref: "CONS-1", Basis: "consent", GivenBy: "child", ChildAssent: true, AgeBand: "12-14",
			Recipients: []string{"ml"}, Purposes: []string{"protection_referral"}, DataCategories: cats,
			ObtainedAt: time.Now().UTC().Add(-time.Hour).Truncate(time.Second)},
		Body: json.RawMessage(`{"child":{"given_names":"Awa","sex":"f","estimated_age":13},"urgency":"high"}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	return jws
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// rawClient never asks for nor decodes compressed responses itself, so the
// test sees the bytes the server sent.
var rawClient = &http.Client{Transport: &http.Transport{DisableCompression: true}}

type answer struct {
	Status   int
	Code     string
	Title    string
	Encoding string
	Accepts  string
	Body     []byte
}

func do(t *testing.T, req *http.Request) answer {
	t.Helper()
	resp, err := rawClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{Status: resp.StatusCode, Encoding: resp.Header.Get("Content-Encoding"), Accepts: resp.Header.Get("Accept-Encoding"), Body: raw}
	if a.Encoding == "" {
		var p struct{ Code, Title string }
		if json.Unmarshal(raw, &p) == nil {
			a.Code, a.Title = p.Code, p.Title
		}
	}
	return a
}

func postMessage(t *testing.T, url string, body []byte, encoding, lang string) answer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/messages", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/jose")
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	if lang != "" {
		req.Header.Set("Accept-Language", lang)
	}
	return do(t, req)
}

func TestCompressedRequestBodies(t *testing.T) {
	w := newCompressWorld(t)
	// A bomb: a megabyte of zeros squeezed into about a kilobyte, sixteen
	// times the limit once decompressed.
	bomb := gzipped(t, make([]byte, 1<<20))
	if len(bomb) > compressLimit/16 {
		t.Fatalf("the bomb is %d bytes compressed: not a bomb", len(bomb))
	}
	// Random bytes do not compress: past the limit before decompression.
	incompressible := make([]byte, compressLimit+1024)
	_, _ = rand.Read(incompressible)

	cases := []struct {
		name     string
		body     []byte
		encoding string
		lang     string
		status   int
		code     contracts.Code
		title    string
	}{
		{name: "a gzip-compressed referral is accepted like a plain one", body: gzipped(t, w.sealReferral(t)), encoding: "gzip", status: http.StatusAccepted},
		{name: "a plain referral is still accepted", body: w.sealReferral(t), status: http.StatusAccepted},
		{name: "a body that decompresses past the limit is refused as a decompression bomb", body: bomb, encoding: "gzip", lang: "en",
			status: http.StatusRequestEntityTooLarge, code: contracts.CodeDecompressedTooLarge, title: "The decompressed body exceeds the size limit"},
		{name: "the bomb refusal speaks French by default", body: bomb, encoding: "gzip",
			status: http.StatusRequestEntityTooLarge, code: contracts.CodeDecompressedTooLarge, title: "Le contenu décompressé dépasse la taille autorisée"},
		{name: "a compressed body already over the limit is refused as too large", body: gzipped(t, incompressible), encoding: "gzip",
			status: http.StatusRequestEntityTooLarge, code: contracts.CodePayloadTooLarge},
		{name: "a body announced as gzip that is not gzip is a bad request", body: []byte("eyJhbGciOiJFZERTQSJ9.e30.c2ln"), encoding: "gzip",
			status: http.StatusBadRequest, code: contracts.CodeBadRequest},
		{name: "a truncated gzip stream is a bad request", body: gzipped(t, w.sealReferral(t))[:200], encoding: "gzip",
			status: http.StatusBadRequest, code: contracts.CodeBadRequest},
		{name: "another coding is refused as unsupported", body: []byte("whatever"), encoding: "br",
			status: http.StatusUnsupportedMediaType, code: contracts.CodeUnsupportedEncoding},
		{name: "gzip applied twice is refused as unsupported", body: gzipped(t, gzipped(t, w.sealReferral(t))), encoding: "gzip, gzip",
			status: http.StatusUnsupportedMediaType, code: contracts.CodeUnsupportedEncoding},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := postMessage(t, w.URL, c.body, c.encoding, c.lang)
			if a.Status != c.status || contracts.Code(a.Code) != c.code {
				t.Fatalf("got %d %q, want %d %q (%s)", a.Status, a.Code, c.status, c.code, a.Body)
			}
			if !strings.HasPrefix(a.Title, c.title) {
				t.Errorf("title %q, want it to start with %q", a.Title, c.title)
			}
			if a.Accepts != "gzip" {
				t.Errorf("Accept-Encoding %q, want gzip advertised on every response", a.Accepts)
			}
		})
	}
}

func TestCompressedResponses(t *testing.T) {
	w := newCompressWorld(t)
	get := func(path, acceptEncoding string) answer {
		req, _ := http.NewRequest(http.MethodGet, w.URL+path, nil)
		if acceptEncoding != "" {
			req.Header.Set("Accept-Encoding", acceptEncoding)
		}
		return do(t, req)
	}
	plain := get("/v1/directory", "")
	if len(plain.Body) < 1024 {
		t.Fatalf("the directory is %d bytes: too small for this test", len(plain.Body))
	}
	cases := []struct {
		name, path, accept string
		gzipped            bool
	}{
		{name: "a JSON response of a kilobyte or more is gzipped for a client that accepts it", path: "/v1/directory", accept: "gzip", gzipped: true},
		{name: "quality weights are honoured", path: "/v1/directory", accept: "br;q=1.0, gzip;q=0.5", gzipped: true},
		{name: "a client that refuses gzip with q=0 gets it plain", path: "/v1/directory", accept: "gzip;q=0"},
		{name: "a client that does not ask gets it plain", path: "/v1/directory"},
		{name: "a small response is not worth compressing", path: "/healthz", accept: "gzip"},
		{name: "a problem document is JSON too, but small ones stay plain", path: "/v1/nowhere", accept: "gzip"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := get(c.path, c.accept)
			if got := a.Encoding == "gzip"; got != c.gzipped {
				t.Fatalf("Content-Encoding %q, want gzip: %v", a.Encoding, c.gzipped)
			}
			if !c.gzipped {
				return
			}
			zr, err := gzip.NewReader(bytes.NewReader(a.Body))
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(zr)
			if err != nil {
				t.Fatal(err)
			}
			if len(a.Body) >= len(body) {
				t.Errorf("compressed %d bytes into %d", len(body), len(a.Body))
			}
			var doc map[string]any
			if err := json.Unmarshal(body, &doc); err != nil || doc["hub"] == nil {
				t.Errorf("the decompressed body is not the directory: %v", err)
			}
		})
	}
}
