package audit_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/relais-hub/relais/contracts/seal"
	"github.com/relais-hub/relais/hub/audit"
)

// call makes one HTTP request to the hub and decodes a JSON answer.
func (w *world) call(t *testing.T, method, path, token string, body []byte) (int, map[string]any, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, w.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var doc map[string]any
	_ = json.Unmarshal(raw, &doc)
	return resp.StatusCode, doc, raw
}

// token is a fresh single-use access token of iss signed with key.
func token(t *testing.T, key jwk.Key, iss string) string {
	t.Helper()
	tok, err := seal.IssueToken(key, iss, testHubID, time.Minute, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (w *world) auditorToken(t *testing.T) string {
	t.Helper()
	key, err := seal.ReadKeyFile(filepath.Join(w.auditorKeys, "signing.jwk"))
	if err != nil {
		t.Fatal(err)
	}
	return token(t, key, auditorID)
}

func (w *world) agencyToken(t *testing.T, id string) string {
	t.Helper()
	return token(t, w.agencies[id].Keys.Signing, id)
}

// auditEndpoints are every auditor API route with valid parameters.
func auditEndpoints(transfer string) [][2]string {
	return [][2]string{
		{http.MethodGet, "/v1/audit/events?transfer=" + transfer},
		{http.MethodGet, "/v1/audit/checkpoint"},
		{http.MethodPost, "/v1/audit/checkpoint"},
		{http.MethodGet, "/v1/audit/proof/inclusion?index=0"},
		{http.MethodGet, "/v1/audit/proof/consistency?from=0"},
		{http.MethodGet, "/v1/audit/bundle?transfer=" + transfer},
		{http.MethodGet, "/v1/audit/key"},
	}
}

func TestWhoMayUseWhichAPI(t *testing.T) {
	w := newWorld(t)
	transfer := w.exchange(t, ciID, mlID, "CI-ABJ-2026-0042")

	t.Run("an agency token is refused on every auditor endpoint", func(t *testing.T) {
		for _, e := range auditEndpoints(transfer) {
			status, doc, _ := w.call(t, e[0], e[1], w.agencyToken(t, ciID), nil)
			if status != http.StatusForbidden || doc["code"] != "forbidden" {
				t.Errorf("%s %s with ci's token: %d %v", e[0], e[1], status, doc["code"])
			}
		}
		status, _, _ := w.call(t, http.MethodPost, "/v1/auditors", w.agencyToken(t, ciID), []byte(`{}`))
		if status != http.StatusForbidden {
			t.Errorf("an agency registered an auditor: %d", status)
		}
	})

	t.Run("an auditor token is refused on agency and admin endpoints", func(t *testing.T) {
		for _, e := range []struct {
			method, path string
			status       int
		}{
			{http.MethodGet, "/v1/inbox", http.StatusForbidden},
			{http.MethodPost, "/v1/agencies", http.StatusForbidden},
			{http.MethodPost, "/v1/auditors", http.StatusForbidden},
			// A trail is its parties' business: to an auditor it does not exist.
			{http.MethodGet, "/v1/transfers/" + transfer + "/trail", http.StatusNotFound},
		} {
			if status, doc, _ := w.call(t, e.method, e.path, w.auditorToken(t), []byte(`{}`)); status != e.status {
				t.Errorf("%s %s with the auditor's token: %d %v, want %d", e.method, e.path, status, doc["code"], e.status)
			}
		}
	})

	t.Run("an auditor and the admin may use every auditor endpoint", func(t *testing.T) {
		for _, who := range []string{"auditor", "admin"} {
			for _, e := range auditEndpoints(transfer) {
				tok := adminToken
				if who == "auditor" {
					tok = w.auditorToken(t)
				}
				if status, doc, _ := w.call(t, e[0], e[1], tok, nil); status != http.StatusOK {
					t.Errorf("%s: %s %s: %d %v", who, e[0], e[1], status, doc)
				}
			}
		}
	})

	t.Run("auditor tokens are single-use and bound to a registered auditor key", func(t *testing.T) {
		tok := w.auditorToken(t)
		if status, _, _ := w.call(t, http.MethodGet, "/v1/audit/key", tok, nil); status != http.StatusOK {
			t.Fatalf("first use: %d", status)
		}
		if status, doc, _ := w.call(t, http.MethodGet, "/v1/audit/key", tok, nil); doc["code"] != "token_replayed" {
			t.Errorf("replayed token: %d %v", status, doc["code"])
		}
		// An agency's key cannot sign for an auditor, nor for an unknown one.
		for name, tok := range map[string]string{
			"an agency key claiming to be the auditor": token(t, w.agencies[ciID].Keys.Signing, auditorID),
			"an unregistered auditor":                  token(t, w.agencies[ciID].Keys.Signing, "auditor:nobody"),
		} {
			if status, doc, _ := w.call(t, http.MethodGet, "/v1/audit/key", tok, nil); doc["code"] != "token_invalid" {
				t.Errorf("%s: %d %v", name, status, doc["code"])
			}
		}
	})

	t.Run("a misspelt filter is refused, not ignored", func(t *testing.T) {
		status, doc, _ := w.call(t, http.MethodGet, "/v1/audit/events?tranfser="+transfer, w.auditorToken(t), nil)
		if status != http.StatusBadRequest || doc["code"] != "bad_request" {
			t.Errorf("unknown parameter: %d %v", status, doc["code"])
		}
	})
}

// TestEveryAuditorQueryIsItselfLogged runs the auditor's tools and raw
// proof requests, then reads the log as the admin: each request is there
// as one auditor_query by the auditor, with its parameters and nothing
// personal.
func TestEveryAuditorQueryIsItselfLogged(t *testing.T) {
	w := newWorld(t)
	transfer := w.exchange(t, ciID, mlID, "CI-ABJ-2026-0042")
	state := filepath.Join(w.dir, "state")
	keyFile := filepath.Join(w.dir, "key.txt")
	commands := [][]string{
		{"audit", "key", "--out", keyFile},
		{"audit", "checkpoint", "--publish"},
		{"audit", "events", "--transfer", transfer, "--from", "2026-01-01T00:00:00Z"},
		{"audit", "bundle", "--transfer", transfer, "--out", filepath.Join(w.dir, "b.json")},
		{"audit", "watch", "--once", "--state", state, "--hub-key", keyFile},
	}
	for _, c := range commands {
		mustRelais(t, w.as(c...)...)
	}
	for _, path := range []string{"/v1/audit/proof/inclusion?index=1&size=2", "/v1/audit/proof/consistency?from=1&to=2"} {
		if status, doc, _ := w.call(t, http.MethodGet, path, w.auditorToken(t), nil); status != http.StatusOK {
			t.Fatalf("%s: %d %v", path, status, doc)
		}
	}
	const requests = 7 // one per command above (watch: one checkpoint), two proofs

	status, doc, raw := w.call(t, http.MethodGet, "/v1/audit/events?"+url.Values{"agency": {auditorID}}.Encode(), adminToken, nil)
	if status != http.StatusOK {
		t.Fatalf("admin search: %d %v", status, doc)
	}
	var page struct {
		Events []struct {
			Event audit.Event `json:"event"`
		} `json:"events"`
	}
	if err := json.Unmarshal(raw, &page); err != nil {
		t.Fatal(err)
	}
	endpoints := map[string]map[string]string{}
	queries := 0
	for _, e := range page.Events {
		ev := e.Event
		if ev.Type != audit.TypeAuditorQuery {
			continue // the auditor's registration (an admin_action) involves it too
		}
		if ev.Actor != auditorID {
			t.Errorf("query by %q in the auditor's search", ev.Actor)
		}
		queries++
		endpoints[ev.Extra["endpoint"]] = ev.Extra
		for _, v := range ev.Extra {
			for _, secret := range append(personalStrings, "CI-ABJ-2026-0042") {
				if strings.Contains(v, secret) {
					t.Errorf("query parameter %q holds personal data", v)
				}
			}
		}
	}
	if queries != requests {
		t.Errorf("%d auditor queries logged, want %d: %v", queries, requests, endpoints)
	}
	for _, want := range []string{"key", "publish_checkpoint", "events", "bundle", "checkpoint", "inclusion_proof", "consistency_proof"} {
		if endpoints[want] == nil {
			t.Errorf("no %s query logged (got %v)", want, endpoints)
		}
	}
	if endpoints["events"]["transfer"] != transfer || endpoints["events"]["from"] != "2026-01-01T00:00:00Z" {
		t.Errorf("the events query logged %v", endpoints["events"])
	}
	if endpoints["bundle"]["transfer"] != transfer {
		t.Errorf("the bundle query logged %v", endpoints["bundle"])
	}
	if endpoints["inclusion_proof"]["index"] != "1" || endpoints["consistency_proof"]["to"] != "2" {
		t.Errorf("proof queries logged %v and %v", endpoints["inclusion_proof"], endpoints["consistency_proof"])
	}
}
