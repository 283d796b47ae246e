package protocol

// HTTP helpers: requests to the hub under test and problem+json checks.

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
)

// response is an HTTP answer, with its body decoded as a JSON object when
// it is one.
type response struct {
	Status int
	Header http.Header
	Body   []byte
	Doc    map[string]any
}

func (w *world) do(t *testing.T, method, path string, body []byte, headers map[string]string) response {
	t.Helper()
	return w.doReader(t, method, path, bytes.NewReader(body), headers)
}
func (w *world) doReader(t *testing.T, method, path string, body io.Reader, headers map[string]string) response {
	t.Helper()
	req, err := http.NewRequest(method, w.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := w.srv.Client().Do(req)
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

// submit posts a message with the given Content-Type and Accept-Language
// (none when empty).
func (w *world) submit(t *testing.T, jws []byte, contentType, lang string) response {
	t.Helper()
	h := map[string]string{}
	if contentType != "" {
		h["Content-Type"] = contentType
	}
	if lang != "" {
		h["Accept-Language"] = lang
	}
	return w.do(t, http.MethodPost, "/v1/messages", jws, h)
}

// accepted submits a message that must be accepted and returns the hub's
// answer.
func (w *world) accepted(t *testing.T, jws []byte) response {
	t.Helper()
	r := w.submit(t, jws, joseType, "")
	if r.Status != http.StatusAccepted {
		t.Fatalf("submission refused: %d %s", r.Status, r.Body)
	}
	return r
}

// token issues a fresh agency token for the hub.
func (p *party) token(t *testing.T) string {
	t.Helper()
	tok, err := seal.IssueToken(p.Keys.Signing, p.ID, testHubID, 2*time.Minute, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

// assertProblem checks an RFC 9457 refusal: status, stable code, and the
// title in the language asked for (French unless English is asked).
func assertProblem(t *testing.T, r response, status int, code contracts.Code, lang string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d (%s): %s", r.Status, status, code, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Errorf("Content-Type %q, want application/problem+json", ct)
	}
	if got := r.Doc["code"]; got != string(code) {
		t.Fatalf("code %v, want %s: %s", got, code, r.Body)
	}
	if got, _ := r.Doc["status"].(float64); int(got) != status {
		t.Errorf("problem status member %v, want %d", r.Doc["status"], status)
	}
	want := "fr"
	if strings.HasPrefix(lang, "en") {
		want = "en"
	}
	title, _ := r.Doc["title"].(string)
	if title != code.Title(want) {
		t.Errorf("title %q, want the %s title %q", title, want, code.Title(want))
	}
	if code.Title("fr") == code.Title("en") {
		t.Errorf("code %s has the same French and English title: the language check proves nothing", code)
	}
	if got := r.Header.Get("Content-Language"); got != want {
		t.Errorf("Content-Language %q, want %q", got, want)
	}
}
