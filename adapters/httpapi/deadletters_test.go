package httpapi_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/relais-hub/relais/adapters/httpapi"
	"github.com/relais-hub/relais/adapters/sqlstore"
	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/hub/audit"
)

const adminToken = "test-admin-token-0123456789abcdef"

// deadLetterAPI serves a hub on SQLite whose in-process transport the test
// can publish undeliverable deliveries to.
func deadLetterAPI(t *testing.T) (*httptest.Server, *gochannel.GoChannel) {
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
	caseKey := make([]byte, 32)
	rand.Read(caseKey)
	ch := gochannel.NewGoChannel(gochannel.Config{BlockPublishUntilSubscriberAck: true}, watermill.NopLogger{})
	h, err := hub.New(hub.Config{ID: "test-hub", Key: key, Store: store, CaseKey: caseKey, Audit: log,
		Transport: &hub.Transport{Publisher: ch, Subscriber: ch}})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Run(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Hub: h, AdminToken: adminToken}))
	t.Cleanup(func() {
		srv.Close()
		h.Close()
		store.Close()
	})
	return srv, ch
}

func call(t *testing.T, method, url, token string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatalf("%s %s: body is not JSON: %v", method, url, err)
	}
	return resp.StatusCode, doc
}

func TestOperatorsSeeDeadLettersWithTheirReasonAndOnlyTheAdminMay(t *testing.T) {
	srv, ch := deadLetterAPI(t)
	unknown := contracts.NewMessageID()
	if err := ch.Publish(hub.DeliveriesTopic, message.NewMessage(watermill.NewUUID(), []byte(unknown))); err != nil {
		t.Fatal(err)
	}

	status, doc := call(t, http.MethodGet, srv.URL+"/v1/admin/dead-letters", adminToken)
	if status != http.StatusOK {
		t.Fatalf("list: %d %v", status, doc)
	}
	letters, _ := doc["dead_letters"].([]any)
	if len(letters) != 1 {
		t.Fatalf("listed %v, want one dead letter", doc)
	}
	dl, _ := letters[0].(map[string]any)
	if dl["message_id"] != unknown || dl["reason"] != hub.ReasonUnknownMessage || dl["state"] != hub.DeadLetterUnknown {
		t.Errorf("dead letter %v, want %s with reason and state %s", dl, unknown, hub.ReasonUnknownMessage)
	}
	if doc["more"] != false || doc["cursor"] == "" {
		t.Errorf("page %v, want a cursor and more=false", doc)
	}

	for name, tc := range map[string]struct {
		method, path, token string
		status              int
		code                contracts.Code
	}{
		"a list without a token":          {http.MethodGet, "/v1/admin/dead-letters", "", 401, contracts.CodeUnauthenticated},
		"a list with a wrong token":       {http.MethodGet, "/v1/admin/dead-letters", "not-the-admin", 401, contracts.CodeTokenInvalid},
		"a replay without a token":        {http.MethodPost, "/v1/admin/dead-letters/" + unknown + "/replay", "", 401, contracts.CodeUnauthenticated},
		"a list with a bad limit":         {http.MethodGet, "/v1/admin/dead-letters?limit=501", adminToken, 400, contracts.CodeBadRequest},
		"a list with a bad cursor":        {http.MethodGet, "/v1/admin/dead-letters?cursor=-1", adminToken, 400, contracts.CodeBadRequest},
		"a replay of a message not held":  {http.MethodPost, "/v1/admin/dead-letters/" + unknown + "/replay", adminToken, 404, contracts.CodeNotFound},
		"a replay of something not an id": {http.MethodPost, "/v1/admin/dead-letters/x/replay", adminToken, 400, contracts.CodeBadRequest},
		"a replay by GET":                 {http.MethodGet, "/v1/admin/dead-letters/" + unknown + "/replay", adminToken, 405, contracts.CodeMethodNotAllowed},
	} {
		status, doc := call(t, tc.method, srv.URL+tc.path, tc.token)
		if status != tc.status || doc["code"] != string(tc.code) {
			t.Errorf("%s: %d %v, want %d %s", name, status, doc["code"], tc.status, tc.code)
		}
	}
}
