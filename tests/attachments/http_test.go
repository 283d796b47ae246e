package attachments

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/relais-hub/relais/contracts/seal"
)

// request sends one request to the hub as agency id (or with the admin
// token when id is "admin"), bypassing the client, for what a well-behaved
// client never does.
func (w *world) request(t testing.TB, id, method, path string, body io.Reader, headers map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, w.hub.URL()+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	token := w.adminToken
	if id != "admin" {
		token, err = seal.IssueToken(w.keys[id].Signing, id, "relais-hub", time.Minute, time.Now())
		if err != nil {
			t.Fatal(err)
		}
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// problemCode reads the code of a problem+json answer.
func problemCode(t testing.TB, resp *http.Response) string {
	t.Helper()
	var doc struct {
		Code string `json:"code"`
	}
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &doc); err != nil {
		return "status " + resp.Status
	}
	return doc.Code
}
