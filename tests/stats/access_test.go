package stats_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
)

// Who may read statistics: national statistics authorities, auditors and
// the admin — and a statistics authority may read nothing else.
func TestOnlyStatisticsAuthoritiesAuditorsAndTheAdminReadStatistics(t *testing.T) {
	w := newWorld(t, "sqlite", simStart, nil)
	w.run(t, plan(7, 12))

	stat := func() string { return w.token(t, w.statsKeys, statsID) }
	cases := []struct {
		name   string
		path   string
		query  url.Values
		token  func() string
		status int
		code   contracts.Code
	}{
		{"a statistics authority reads a release", "/v1/stats", nil, stat, http.StatusOK, ""},
		{"an auditor reads a release", "/v1/stats", nil, func() string { return w.token(t, w.auditorKeys, auditorID) }, http.StatusOK, ""},
		{"the admin reads a release", "/v1/stats", nil, func() string { return adminToken }, http.StatusOK, ""},
		{"an agency may not read statistics", "/v1/stats", nil, func() string { return w.agencyToken(t, "ml.dnpef") }, http.StatusForbidden, contracts.CodeForbidden},
		{"nobody without a token", "/v1/stats", nil, func() string { return "" }, http.StatusUnauthorized, contracts.CodeUnauthenticated},
		{"a statistics authority may not search the audit log", "/v1/audit/events", nil, stat, http.StatusForbidden, contracts.CodeForbidden},
		{"a statistics authority has no inbox", "/v1/inbox", nil, stat, http.StatusForbidden, contracts.CodeForbidden},
		{"a statistics authority lists no transfers", "/v1/transfers", nil, stat, http.StatusForbidden, contracts.CodeForbidden},
		{"the same dimension twice is refused", "/v1/stats", url.Values{"dimensions": {"corridor,corridor"}}, stat, http.StatusBadRequest, contracts.CodeBadRequest},
		{"three dimensions are refused", "/v1/stats", url.Values{"dimensions": {"corridor,purpose,quarter"}}, stat, http.StatusBadRequest, contracts.CodeBadRequest},
		{"an unknown dimension is refused", "/v1/stats", url.Values{"dimensions": {"sex"}}, stat, http.StatusBadRequest, contracts.CodeBadRequest},
		{"an unknown parameter is refused", "/v1/stats", url.Values{"agency": {"ml.dnpef"}}, stat, http.StatusBadRequest, contracts.CodeBadRequest},
		{"a window the wrong way round is refused", "/v1/stats", url.Values{"from": {"2026-01-01"}, "to": {"2025-01-01"}}, stat, http.StatusBadRequest, contracts.CodeBadRequest},
		{"a window reaching into the quarter under way is refused", "/v1/stats", url.Values{"to": {"2099-01-01"}}, stat, http.StatusBadRequest, contracts.CodeBadRequest},
		{"a window not made of whole quarters is refused", "/v1/stats", url.Values{"from": {"2025-01-15"}, "to": {"2025-04-01"}}, stat, http.StatusBadRequest, contracts.CodeBadRequest},
		{"an unknown format is refused", "/v1/stats", url.Values{"format": {"xlsx"}}, stat, http.StatusBadRequest, contracts.CodeBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, _, raw := w.get(t, tc.path, tc.query, tc.token(), nil)
			if status != tc.status || (tc.code != "" && problemCode(raw) != string(tc.code)) {
				t.Fatalf("%s: %d %s, want %d %s", tc.path, status, raw, tc.status, tc.code)
			}
		})
	}

	t.Run("a statistics token is single-use", func(t *testing.T) {
		tok := stat()
		if status, _, raw := w.get(t, "/v1/stats", nil, tok, nil); status != http.StatusOK {
			t.Fatalf("first use: %d %s", status, raw)
		}
		if status, _, raw := w.get(t, "/v1/stats", nil, tok, nil); status != http.StatusUnauthorized || problemCode(raw) != string(contracts.CodeTokenReplayed) {
			t.Fatalf("replay: %d %s", status, raw)
		}
	})

	t.Run("a statistics authority cannot see a transfer's trail", func(t *testing.T) {
		status, _, raw := w.get(t, "/v1/transfers/"+w.anyTransfer(t)+"/trail", nil, stat(), nil)
		if status != http.StatusNotFound {
			t.Fatalf("trail: %d %s", status, raw)
		}
	})

	t.Run("registering statistics authorities is for the admin, once each", func(t *testing.T) {
		key, err := seal.GenerateSigningKey(seal.NewKID("statistics:ansd-sn#sig"))
		if err != nil {
			t.Fatal(err)
		}
		set, _ := seal.PublicSet(key)
		jwks, _ := json.Marshal(set)
		body := map[string]any{"id": "statistics:ansd-sn", "name": "Agence nationale de la statistique et de la démographie", "jwks": json.RawMessage(jwks)}
		if status, _, raw := w.do(t, http.MethodPost, "/v1/statistics/readers", body, w.agencyToken(t, "sn.dpe-dakar"), nil); status != http.StatusForbidden {
			t.Fatalf("by an agency: %d %s", status, raw)
		}
		if status, _, raw := w.do(t, http.MethodPost, "/v1/statistics/readers", body, adminToken, nil); status != http.StatusCreated {
			t.Fatalf("by the admin: %d %s", status, raw)
		}
		if status, _, raw := w.do(t, http.MethodPost, "/v1/statistics/readers", body, adminToken, nil); status != http.StatusConflict || problemCode(raw) != string(contracts.CodeStatsReaderExists) {
			t.Fatalf("twice: %d %s", status, raw)
		}
		body["id"] = "auditor:ansd-sn"
		if status, _, raw := w.do(t, http.MethodPost, "/v1/statistics/readers", body, adminToken, nil); status != http.StatusUnprocessableEntity || problemCode(raw) != string(contracts.CodeStatsReaderInvalid) {
			t.Fatalf("an auditor's id: %d %s", status, raw)
		}
	})
}

// anyTransfer is the id of some transfer the hub holds.
func (w *world) anyTransfer(t *testing.T) string {
	t.Helper()
	facts, err := w.store.Facts(t.Context(), windowEnd)
	if err != nil || len(facts) == 0 {
		t.Fatalf("no transfer: %v", err)
	}
	return facts[0].Transfer
}
