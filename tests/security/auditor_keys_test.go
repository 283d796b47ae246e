package security

// Auditor key rotation and revocation, end to end: an auditor created and
// registered with the CLI rotates its signing key as the runbook says (the
// auditor makes the key, the operator adds its public half, the auditor
// installs it, the operator revokes the old one); both keys verify during
// the overlap; a token signed with the revoked key is refused; the
// revocation is in the audit log; and the admin endpoints refuse agencies,
// auditors (even for their own keys) and keys that would weaken the set.

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
	"github.com/relais-hub/relais/hub/audit"
	"github.com/relais-hub/relais/tests/internal/relaistest"
)

const keysAuditorID = "auditor:cdp-bf"

// cliAuditor is an auditor whose keys the CLI created in Dir.
type cliAuditor struct {
	ID  string
	Dir string
}

// newCLIAuditor runs `relais auditor init` and `relais auditor register`.
func newCLIAuditor(t *testing.T, w *keysWorld, id string) cliAuditor {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "auditor")
	relaistest.MustRun(t, relaisBin, "auditor", "init", "--id", id, "--out", dir)
	relaistest.MustRun(t, relaisBin, "auditor", "register", "--hub", w.srv.URL, "--keys", dir,
		"--name", "Commission de l'informatique et des libertés", "--admin-token", keysAdminToken)
	return cliAuditor{ID: id, Dir: dir}
}

// key reads one of the auditor's private key files.
func (a cliAuditor) key(t *testing.T, file string) jwk.Key {
	t.Helper()
	k, err := seal.ReadKeyFile(filepath.Join(a.Dir, file))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func auditorToken(t *testing.T, id string, key jwk.Key) string {
	t.Helper()
	tok, err := seal.IssueToken(key, id, keysHubID, time.Minute, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// readsTheLog reports the answer to GET /v1/audit/checkpoint with a fresh
// token signed by key.
func (w *keysWorld) readsTheLog(t *testing.T, id string, key jwk.Key) keysResponse {
	t.Helper()
	return w.request(t, http.MethodGet, "/v1/audit/checkpoint", nil, auditorToken(t, id, key))
}

func kidOf(k jwk.Key) string {
	kid, _ := k.KeyID()
	return kid
}

// loggedKeyEvents are the key_rotated and key_revoked events about the
// auditor, as the audit API answers them to token.
func (w *keysWorld) loggedKeyEvents(t *testing.T, auditorID, token string) []audit.Event {
	t.Helper()
	r := w.request(t, http.MethodGet, "/v1/audit/events?agency="+url.QueryEscape(auditorID), nil, token)
	if r.Status != http.StatusOK {
		t.Fatalf("audit events: %d %s", r.Status, r.Body)
	}
	var page struct {
		Events []struct {
			Event *audit.Event `json:"event"`
		} `json:"events"`
	}
	if err := json.Unmarshal(r.Body, &page); err != nil {
		t.Fatal(err)
	}
	var out []audit.Event
	for _, e := range page.Events {
		if e.Event != nil && (e.Event.Type == audit.TypeKeyRotated || e.Event.Type == audit.TypeKeyRevoked) {
			out = append(out, *e.Event)
		}
	}
	return out
}

func TestAnAuditorRotatesItsKeyWithOverlapAndTheRevokedKeyIsRefused(t *testing.T) {
	w := newKeysWorld(t)
	a := newCLIAuditor(t, w, keysAuditorID)
	first := a.key(t, "signing.jwk")
	if r := w.readsTheLog(t, a.ID, first); r.Status != http.StatusOK {
		t.Fatalf("a token signed with the registered key: %d %s", r.Status, r.Body)
	}

	// The auditor makes its next key; until the operator adds it, the hub
	// does not know it and installing it changes nothing.
	out := relaistest.MustRun(t, relaisBin, "auditor", "key", "new", "--keys", a.Dir, "--lang", "en")
	second := a.key(t, "signing.pending.jwk")
	if !strings.Contains(out.Stdout, kidOf(second)) {
		t.Errorf("`auditor key new` printed %q, want the new kid %s", out.Stdout, kidOf(second))
	}
	early := relaistest.Run(t, relaisBin, "auditor", "key", "install", "--hub", w.srv.URL, "--keys", a.Dir, "--lang", "en")
	if early.Code == 0 || !strings.Contains(early.Stderr, "must add it first") {
		t.Errorf("installing a key the hub does not know: exit %d, %q", early.Code, early.Output())
	}
	if kidOf(a.key(t, "signing.jwk")) != kidOf(first) {
		t.Fatal("a refused install replaced the auditor's signing key")
	}

	relaistest.MustRun(t, relaisBin, "auditor", "key", "add", "--hub", w.srv.URL, "--admin-token", keysAdminToken,
		"--auditor", a.ID, "--jwk", filepath.Join(a.Dir, "signing.pending.public.jwk"))
	for name, k := range map[string]jwk.Key{"old": first, "new": second} {
		if r := w.readsTheLog(t, a.ID, k); r.Status != http.StatusOK {
			t.Errorf("during the overlap, a token signed with the %s key: %d %s", name, r.Status, r.Body)
		}
	}
	relaistest.MustRun(t, relaisBin, "auditor", "key", "install", "--hub", w.srv.URL, "--keys", a.Dir)
	if kidOf(a.key(t, "signing.jwk")) != kidOf(second) {
		t.Fatal("after `auditor key install` the auditor does not sign with the new key")
	}
	if _, err := os.Stat(filepath.Join(a.Dir, "signing.pending.jwk")); !os.IsNotExist(err) {
		t.Errorf("the pending key file is still there: %v", err)
	}

	since := time.Now().Add(-2 * time.Hour).UTC().Truncate(time.Second)
	relaistest.MustRun(t, relaisBin, "auditor", "key", "revoke", "--hub", w.srv.URL, "--admin-token", keysAdminToken,
		"--auditor", a.ID, "--kid", kidOf(first), "--since", since.Format(time.RFC3339))

	r := w.readsTheLog(t, a.ID, first)
	if r.Status != http.StatusUnauthorized || r.Doc["code"] != string(contracts.CodeTokenInvalid) {
		t.Errorf("a token signed with the revoked key: %d %s, want 401 %s", r.Status, r.Body, contracts.CodeTokenInvalid)
	}
	if r := w.readsTheLog(t, a.ID, second); r.Status != http.StatusOK {
		t.Errorf("a token signed with the new key after the revocation: %d %s", r.Status, r.Body)
	}

	t.Run("the rotation and the revocation are in the audit log", func(t *testing.T) {
		events := w.loggedKeyEvents(t, a.ID, auditorToken(t, a.ID, second))
		if len(events) != 2 {
			t.Fatalf("%d key events about %s, want 2: %+v", len(events), a.ID, events)
		}
		rot, rev := events[0], events[1]
		if rot.Type != audit.TypeKeyRotated || rot.Actor != audit.ActorAdmin || rot.To != a.ID ||
			rot.Extra["kid"] != kidOf(second) || rot.Extra["previous_kid"] != kidOf(first) {
			t.Errorf("rotation event %+v", rot)
		}
		if rev.Type != audit.TypeKeyRevoked || rev.Actor != audit.ActorAdmin || rev.To != a.ID ||
			rev.Extra["kid"] != kidOf(first) || rev.Extra["revoked_at"] != since.Format(time.RFC3339Nano) {
			t.Errorf("revocation event %+v", rev)
		}
	})
	t.Run("the auditor lists its keys and the revocation", func(t *testing.T) {
		out := relaistest.MustRun(t, relaisBin, "auditor", "key", "list", "--hub", w.srv.URL, "--keys", a.Dir, "--lang", "en")
		for _, want := range []string{"current    " + kidOf(second), "revoked    " + kidOf(first) + "  revoked as of " + since.Format(time.RFC3339)} {
			if !strings.Contains(out.Stdout, want) {
				t.Errorf("`auditor key list` printed %q, want a line with %q", out.Stdout, want)
			}
		}
		r := w.request(t, http.MethodGet, "/v1/auditors/"+a.ID+"/keys", nil, keysAdminToken)
		var doc struct {
			Keys []struct {
				KID, Status string
			} `json:"keys"`
			Revoked []struct {
				KID       string    `json:"kid"`
				RevokedAt time.Time `json:"revoked_at"`
			} `json:"revoked"`
		}
		if r.Status != http.StatusOK || json.Unmarshal(r.Body, &doc) != nil {
			t.Fatalf("admin's list: %d %s", r.Status, r.Body)
		}
		if len(doc.Keys) != 1 || doc.Keys[0].KID != kidOf(second) || doc.Keys[0].Status != "current" ||
			len(doc.Revoked) != 1 || doc.Revoked[0].KID != kidOf(first) || !doc.Revoked[0].RevokedAt.Equal(since) {
			t.Errorf("admin's list: %s", r.Body)
		}
	})
	t.Run("the public directory lists agencies' revocations only", func(t *testing.T) {
		// Only the hub verifies auditors' tokens, and the directory does
		// not say which auditors exist: their revocations stay out of it.
		if d := w.directory(t); len(d.Revoked) != 0 {
			t.Errorf("directory revocations = %+v, want none (no agency key was revoked)", d.Revoked)
		}
	})
}

// p256JWK is a public P-256 signing JWK: of the profile, but not Ed25519.
func p256JWK(t *testing.T, kid string) json.RawMessage {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := priv.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	doc, _ := json.Marshal(map[string]string{"kty": "EC", "crv": "P-256", "x": b64(raw[1:33]), "y": b64(raw[33:]), "kid": kid, "alg": "ES256", "use": "sig"})
	return doc
}

func jwkBody(t *testing.T, k any) []byte {
	t.Helper()
	raw, err := json.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]json.RawMessage{"jwk": raw})
	return body
}

func TestAuditorKeyAdministrationRefusals(t *testing.T) {
	w := newKeysWorld(t)
	a := newCLIAuditor(t, w, keysAuditorID)
	other := newCLIAuditor(t, w, "auditor:secretariat")
	key := a.key(t, "signing.jwk")
	ciKeys := w.ci.client(t, w).Keys
	agencyToken := func() string {
		tok, err := seal.IssueToken(ciKeys.Signing, w.ci.ID, keysHubID, time.Minute, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}

	fresh, err := seal.GenerateSigningKey(seal.NewKID(a.ID + "#sig"))
	if err != nil {
		t.Fatal(err)
	}
	freshPub, _ := seal.PublicKey(fresh)
	addBody := jwkBody(t, freshPub)
	agencyPub, _ := seal.PublicKey(ciKeys.Signing)
	keysPath := "/v1/auditors/" + a.ID + "/keys"
	revokePath := keysPath + "/" + url.PathEscape(kidOf(key)) + "/revoke"

	cases := []struct {
		name   string
		method string
		path   string
		body   []byte
		token  string
		status int
		code   contracts.Code
	}{
		{"an agency token cannot add auditor keys", http.MethodPost, keysPath, addBody, agencyToken(), http.StatusForbidden, contracts.CodeForbidden},
		{"an agency token cannot revoke auditor keys", http.MethodPost, revokePath, nil, agencyToken(), http.StatusForbidden, contracts.CodeForbidden},
		{"the auditor cannot add a key to itself", http.MethodPost, keysPath, addBody, auditorToken(t, a.ID, key), http.StatusForbidden, contracts.CodeForbidden},
		{"the auditor cannot revoke its own key", http.MethodPost, revokePath, nil, auditorToken(t, a.ID, key), http.StatusForbidden, contracts.CodeForbidden},
		{"no token cannot add auditor keys", http.MethodPost, keysPath, addBody, "", http.StatusUnauthorized, contracts.CodeUnauthenticated},
		{"a P-256 key is refused", http.MethodPost, keysPath, jwkBody(t, p256JWK(t, a.ID+"#sig-p256")), keysAdminToken, http.StatusUnprocessableEntity, contracts.CodeAuditorInvalid},
		{"a kid an agency uses is refused", http.MethodPost, keysPath, jwkBody(t, agencyPub), keysAdminToken, http.StatusUnprocessableEntity, contracts.CodeAuditorInvalid},
		{"a private key is refused", http.MethodPost, keysPath, jwkBody(t, fresh), keysAdminToken, http.StatusUnprocessableEntity, contracts.CodeAuditorInvalid},
		{"a key for an unknown auditor is refused", http.MethodPost, "/v1/auditors/auditor:nobody/keys", addBody, keysAdminToken, http.StatusNotFound, contracts.CodeNotFound},
		{"the last key cannot be revoked", http.MethodPost, revokePath, nil, keysAdminToken, http.StatusConflict, contracts.CodeLastValidKey},
		{"a revocation in the future is refused", http.MethodPost, revokePath, []byte(`{"revoked_at":"2999-01-01T00:00:00Z"}`), keysAdminToken, http.StatusBadRequest, contracts.CodeBadRequest},
		{"an unknown kid cannot be revoked", http.MethodPost, keysPath + "/nope/revoke", nil, keysAdminToken, http.StatusNotFound, contracts.CodeNotFound},
		{"an agency token cannot list auditor keys", http.MethodGet, keysPath, nil, agencyToken(), http.StatusForbidden, contracts.CodeForbidden},
		{"another auditor cannot list them", http.MethodGet, keysPath, nil, auditorToken(t, other.ID, other.key(t, "signing.jwk")), http.StatusForbidden, contracts.CodeForbidden},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := w.request(t, c.method, c.path, c.body, c.token)
			if r.Status != c.status || r.Doc["code"] != string(c.code) {
				t.Errorf("got %d %v, want %d %s: %s", r.Status, r.Doc["code"], c.status, c.code, r.Body)
			}
		})
	}
	if r := w.request(t, http.MethodGet, keysPath, nil, auditorToken(t, a.ID, key)); r.Status != http.StatusOK {
		t.Errorf("the auditor reading its own keys: %d %s", r.Status, r.Body)
	}
	if events := w.loggedKeyEvents(t, a.ID, keysAdminToken); len(events) != 0 {
		t.Errorf("key events logged after refusals only: %+v", events)
	}
	if r := w.readsTheLog(t, a.ID, key); r.Status != http.StatusOK {
		t.Errorf("after the refusals the auditor's key no longer works: %d %s", r.Status, r.Body)
	}

	t.Run("refusals are in French by default", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, w.srv.URL+revokePath, bytes.NewReader(nil))
		req.Header.Set("Authorization", "Bearer "+keysAdminToken)
		resp, err := w.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var p map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&p)
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") ||
			p["title"] != contracts.CodeLastValidKey.Title("fr") {
			t.Errorf("answer %s %v, want the French title of %s", ct, p, contracts.CodeLastValidKey)
		}
	})
	t.Run("the CLI shows the hub's refusal in the chosen language", func(t *testing.T) {
		res := relaistest.Run(t, relaisBin, "auditor", "key", "revoke", "--hub", w.srv.URL, "--admin-token", keysAdminToken,
			"--auditor", a.ID, "--kid", kidOf(key), "--lang", "en")
		if res.Code == 0 || !strings.Contains(res.Stderr, contracts.CodeLastValidKey.Title("en")) || !strings.Contains(res.Stderr, string(contracts.CodeLastValidKey)) {
			t.Errorf("exit %d, %q", res.Code, res.Output())
		}
	})
}
